// The comparison matrix of an eval set: one row per rated trace, the human rating, then one column
// per eval version (green agrees, red contradicts, yellow error/timeout); filters, cursor paging,
// per-version stats with confusion matrices, a drill-down drawer per cell and a CSV download.

import { loadEvalSet } from "./evalsets.js";
import { api, downloadFile, listAll } from "../api.js";
import { confusionMatrix, evalStatusBadge, metricsList } from "../metrics.js";
import { codeView } from "../pyhighlight.js";
import { actionButton, badge, clear, emptyState, errorState, field, fmtMs, fmtTime, h, hashQuery, loading,
  ratingLabels, toastError } from "../ui.js";

const FILTERS = [["all", "All"], ["contradictions", "Contradictions"], ["errors", "Errors"]];
const QUERY_KEYS = ["filter", "rating", "from", "to", "source", "eval_ids"];
const RATING_KIND = { positive: "good", negative: "bad", neutral: "warn" };
const KIND_ICON = { agree: "✓", contradict: "✗", error: "⚠", neutral: "·" };
const PAGE = 50;

/** How a cell reads: {kind: agree|contradict|error|neutral|missing, text}. */
export function cellKind(cell) {
  if (!cell) return { kind: "missing", text: "not run" };
  if (cell.result === "error" || cell.result === "timeout") return { kind: "error", text: `${cell.result}` };
  if (cell.agrees === true) return { kind: "agree", text: "agrees with the human" };
  if (cell.agrees === false) return { kind: "contradict", text: "contradicts the human" };
  return { kind: "neutral", text: "human was unsure" };
}

export async function renderMatrix(main, setId) {
  const enc = encodeURIComponent(setId);
  const q = hashQuery();
  const query = Object.fromEntries(QUERY_KEYS.map((k) => [k, q.get(k) || ""]));
  if (!FILTERS.some(([v]) => v === query.filter)) query.filter = "all";
  const pageSize = q.get("limit") ? Math.min(200, Math.max(1, Number(q.get("limit")) || PAGE)) : null;
  main.append(loading("Loading the matrix…"));
  const set = await loadEvalSet(main, setId);
  if (!set) return;

  let cursor = null;
  let columns = [];
  let shown = 0;
  let seq = 0;
  const stats = h("section", { class: "matrix-stats", "aria-label": "Metrics per version" });
  const tableWrap = h("div", { class: "matrix-wrap", tabindex: "0", role: "region", "aria-label": "Matrix" });
  const status = h("p", { class: "hint matrix-status", role: "status" });
  const more = actionButton("Load more", () => loadPage(false), { class: "btn load-more", hidden: true });
  const drawer = executionDrawer();
  const picker = h("details", { class: "columns-picker" });
  let allVersions = null;

  const filterButtons = FILTERS.map(([value, label]) => h("button", { type: "button", class: "btn btn-sm seg",
    "data-filter": value, "aria-pressed": String(query.filter === value),
    onclick: () => { query.filter = value; apply(); } }, label));
  const rating = h("select", { name: "rating" },
    h("option", { value: "" }, "Any rating"),
    ["positive", "negative", "neutral"].map((r) => h("option", { value: r, selected: query.rating === r }, ratingLabels[r])));
  const from = h("input", { type: "date", name: "from", value: query.from });
  const to = h("input", { type: "date", name: "to", value: query.to });
  const source = h("input", { type: "text", name: "source", value: query.source, placeholder: "langfuse, or an integration id",
    list: "matrix-sources", autocomplete: "off" });
  const form = h("form", { class: "card matrix-filters", role: "search", "aria-label": "Matrix filters",
    onsubmit: (e) => { e.preventDefault(); apply(); } },
  h("div", { class: "filter-top" }, h("div", { class: "seg-group", role: "group", "aria-label": "Show" }, filterButtons), picker),
  h("div", { class: "filters" },
    field("Rating", rating), field("From", from), field("To", to),
    field("Source", h("div", {}, source, h("datalist", { id: "matrix-sources" },
      ["langfuse", "langsmith", "openai", "upload"].map((p) => h("option", { value: p }))))),
    h("div", { class: "filter-actions" },
      h("button", { type: "submit", class: "btn btn-primary" }, "Apply"),
      h("button", { type: "button", class: "btn btn-ghost", onclick: reset }, "Reset"))));
  rating.addEventListener("change", apply);

  const csv = actionButton("Download CSV", async () => {
    await downloadFile(`/eval-sets/${enc}/matrix.csv`, apiQuery(), `${setId}-matrix.csv`);
  }, { class: "btn csv-download", title: "The rows matching these filters, as CSV" });

  main.replaceChildren(
    h("p", { class: "crumbs" }, h("a", { href: `#/eval-sets/${enc}` }, `← ${set.name}`)),
    h("div", { class: "page-head" },
      h("div", {}, h("h1", { class: "page-title", tabindex: "-1" }, `Matrix: ${set.name}`),
        h("p", { class: "muted" }, "Each rated trace against each eval version. Select a cell for the details.")),
      h("div", { class: "actions" }, csv)),
    form, stats,
    h("div", { class: "legend", "aria-hidden": "true" },
      h("span", { class: "cell cell-agree" }, "✓ agrees"), h("span", { class: "cell cell-contradict" }, "✗ contradicts"),
      h("span", { class: "cell cell-error" }, "⚠ error / timeout"), h("span", { class: "cell cell-neutral" }, "· human unsure")),
    tableWrap, h("div", { class: "matrix-foot" }, status, more), drawer);

  function apiQuery() {
    const out = {};
    for (const k of QUERY_KEYS) if (query[k] && !(k === "filter" && query[k] === "all")) out[k] = query[k];
    return out;
  }

  function apply() {
    Object.assign(query, { rating: rating.value, from: from.value, to: to.value, source: source.value.trim() });
    for (const b of filterButtons) b.setAttribute("aria-pressed", String(b.dataset.filter === query.filter));
    const params = new URLSearchParams({ ...apiQuery(), ...(pageSize ? { limit: pageSize } : {}) }).toString();
    history.replaceState(null, "", `#/eval-sets/${enc}/matrix${params ? `?${params}` : ""}`);
    loadPage(true);
  }

  function reset() {
    query.filter = "all";
    query.eval_ids = "";
    rating.value = from.value = to.value = source.value = "";
    apply();
  }

  async function loadPage(first) {
    const mine = ++seq;
    if (first) {
      cursor = null;
      shown = 0;
      tableWrap.replaceChildren(loading("Loading rows…"));
      more.hidden = true;
    }
    let page;
    try {
      page = await api.get(`/eval-sets/${enc}/matrix`, { ...apiQuery(), limit: pageSize || PAGE, cursor });
    } catch (err) {
      if (mine !== seq) return;
      if (first) tableWrap.replaceChildren(errorState(err, () => loadPage(true)));
      else toastError(err);
      return;
    }
    if (mine !== seq) return;
    if (first) {
      columns = page.evals || [];
      renderStats(page);
      renderPicker();
      if (!columns.length) {
        tableWrap.replaceChildren(emptyState("No eval versions yet", "Generate an eval from your ratings first.",
          h("a", { class: "btn btn-primary", href: `#/eval-sets/${enc}` }, "Back to the eval set")));
        status.textContent = "";
        return;
      }
      tableWrap.replaceChildren(table());
    }
    const body = tableWrap.querySelector("tbody");
    for (const row of page.rows || []) body.append(rowEl(row));
    shown += (page.rows || []).length;
    cursor = page.next_cursor || null;
    more.hidden = !cursor;
    const what = query.filter === "all" ? "rated traces" : query.filter;
    status.textContent = shown ? `Showing ${shown} ${what}${cursor ? " (more available)" : ""}.`
      : `No ${query.filter === "all" ? "rated traces" : query.filter} match these filters.`;
    tableWrap.dataset.rows = String(shown);
  }

  async function renderPicker() {
    if (!allVersions) allVersions = await listAll("/evals", { eval_set_id: setId }, 400).catch(() => []);
    const shownIds = new Set(columns.map((c) => c.id));
    const boxes = [...allVersions].sort((a, b) => b.version - a.version).map((v) => {
      const box = h("input", { type: "checkbox", value: v.id, checked: shownIds.has(v.id) });
      box.addEventListener("change", () => {
        const ids = boxes.filter((b) => b.checked).map((b) => b.value);
        query.eval_ids = ids.slice(0, 10).join(",");
        apply();
      });
      h("label", { class: "pick" }, box, ` v${v.version} `, evalStatusBadge(v.status)); // the label holds the box
      return box;
    });
    const focused = picker.contains(document.activeElement) ? document.activeElement.value : null;
    picker.replaceChildren(h("summary", {}, `Versions shown (${columns.length} of ${allVersions.length})`),
      h("div", { class: "pick-list", role: "group", "aria-label": "Versions shown" }, boxes.map((b) => b.parentElement)));
    picker.hidden = allVersions.length < 2;
    if (focused) boxes.find((b) => b.value === focused)?.focus();
  }

  function renderStats(page) {
    clear(stats);
    if (!columns.length) return;
    const narrow = window.matchMedia("(max-width: 720px)").matches;
    stats.append(h("details", { class: "stats-details", open: !narrow },
      h("summary", {}, h("h2", {}, "Metrics per version")), h("p", { class: "hint" },
        "Over all the set's rated traces, whatever the filters. Positive rating = should pass."),
      h("div", { class: "stats-grid" }, columns.map((c) => {
      const m = page.stats?.[c.id];
      return h("article", { class: "card version-stats", "data-eval-id": c.id },
        h("div", { class: "set-card-head" },
          h("h3", {}, h("a", { href: `#/evals/${encodeURIComponent(c.id)}` }, `v${c.version}`), " ",
            h("span", { class: "muted small" }, c.generator)),
          evalStatusBadge(c.status)),
        metricsList(m), m ? confusionMatrix(m.confusion, `v${c.version}: human rating × eval result`) : null);
    }))));
  }

  function table() {
    return h("table", { class: "matrix" },
      h("caption", { class: "sr-only" }, `Rated traces of ${set.name} against ${columns.length} eval versions`),
      h("thead", {}, h("tr", {},
        h("th", { scope: "col", class: "col-trace" }, "Trace"),
        h("th", { scope: "col", class: "col-human" }, "Human"),
        columns.map((c) => h("th", { scope: "col", class: "col-eval", "data-eval-id": c.id },
          h("a", { href: `#/evals/${encodeURIComponent(c.id)}` }, `v${c.version}`), " ", evalStatusBadge(c.status))))),
      h("tbody", {}));
  }

  function rowEl(row) {
    const t = row.trace;
    const name = t ? t.name || "(unnamed trace)" : "(deleted trace)";
    return h("tr", { "data-trace-id": row.trace_id },
      h("th", { scope: "row", class: "col-trace" },
        h("a", { href: `#/traces/${encodeURIComponent(row.trace_id)}`, class: "trace-name" }, name),
        h("span", { class: "muted small" }, t ? ` ${fmtTime(t.timestamp)}` : ""),
        t?.input_preview ? h("span", { class: "matrix-preview muted" }, t.input_preview) : null),
      h("td", { class: "col-human" }, badge(ratingLabels[row.human.rating] || row.human.rating, RATING_KIND[row.human.rating]),
        row.human.notes ? h("span", { class: "notes matrix-notes", title: row.human.notes }, row.human.notes) : null),
      columns.map((c) => {
        const cell = row.results?.[c.id];
        const { kind, text } = cellKind(cell);
        if (!cell) return h("td", { class: "col-eval" }, h("span", { class: "cell cell-missing", title: "not run on this trace" }, "—"));
        return h("td", { class: "col-eval" }, h("button", {
          type: "button", class: `cell cell-${kind}`, "data-kind": kind, "data-eval-id": c.id,
          "aria-label": `v${c.version} ${cell.result}: ${text}. Show details`, title: cell.reason || cell.result,
          onclick: () => drawer.openFor(c, row),
        }, `${KIND_ICON[kind]} ${cell.result}`));
      }));
  }

  await loadPage(true);
  return () => drawer.shut();
}

/** The drill-down drawer: one execution (GET /v1/executions/{eval_id}/{trace_id}). */
function executionDrawer() {
  const body = h("div", { class: "drawer-body" });
  const closeButton = h("button", { type: "button", class: "btn btn-ghost btn-sm drawer-close", "aria-label": "Close details" }, "✕");
  const title = h("h2", { id: "drawer-title" }, "Result");
  const dialog = h("dialog", { class: "drawer", "aria-labelledby": "drawer-title" },
    h("div", { class: "drawer-head" }, title, closeButton), body);
  closeButton.addEventListener("click", () => dialog.close());
  dialog.addEventListener("click", (e) => { if (e.target === dialog) dialog.close(); }); // the backdrop
  let returnFocus = null;
  dialog.addEventListener("close", () => returnFocus?.focus?.());
  dialog.openFor = async (column, row) => {
    returnFocus = document.activeElement;
    title.textContent = `v${column.version} on ${row.trace?.name || row.trace_id}`;
    body.replaceChildren(loading("Loading the result…"));
    if (!dialog.hasAttribute("open")) dialog.showModal();
    closeButton.focus();
    try {
      const x = await api.get(`/executions/${encodeURIComponent(column.id)}/${encodeURIComponent(row.trace_id)}`);
      body.replaceChildren(h("div", {}, executionDetail(x)));
    } catch (err) {
      body.replaceChildren(errorState(err));
    }
  };
  dialog.shut = () => { if (dialog.hasAttribute("open")) dialog.close(); };
  return dialog;
}

function executionDetail(x) {
  const { kind, text } = cellKind(x);
  const traceLink = `#/traces/${encodeURIComponent(x.trace_id)}`;
  return [
    h("p", { class: "drawer-verdict" },
      h("span", { class: `cell cell-${kind}`, "data-kind": kind }, `${KIND_ICON[kind] || ""} ${x.result}`), " ",
      h("span", {}, text), x.human ? [" · human: ", badge(ratingLabels[x.human.rating] || x.human.rating,
        RATING_KIND[x.human.rating])] : " · not rated"),
    x.human?.notes ? h("p", { class: "notes" }, `“${x.human.notes}”`) : null,
    h("h3", {}, "Reason"),
    h("div", { class: "text-block drawer-reason" }, x.reason || "(no reason given)"),
    h("dl", { class: "kv" },
      h("dt", {}, "Duration"), h("dd", {}, fmtMs(x.duration_ms)),
      h("dt", {}, "Ran at"), h("dd", {}, fmtTime(x.executed_at)),
      h("dt", {}, "Version"), h("dd", {}, h("a", { href: `#/evals/${encodeURIComponent(x.eval_id)}` }, `${x.eval_name} v${x.version}`)),
      h("dt", {}, "Trace"), h("dd", {}, h("a", { href: traceLink, class: "drawer-trace-link" }, "Open the trace"))),
    x.output_excerpt ? [h("h3", {}, "Final output (excerpt)"), h("pre", { class: "code code-sm" }, x.output_excerpt)] : null,
    h("h3", {}, "stdout"),
    x.stdout ? h("pre", { class: "code code-sm drawer-stdout" }, x.stdout) : h("p", { class: "muted" }, "Nothing printed."),
    h("h3", {}, "stderr"),
    x.stderr ? h("pre", { class: "code code-sm drawer-stderr" }, x.stderr) : h("p", { class: "muted" }, "Empty."),
    h("details", { class: "code-details", open: true }, h("summary", {}, "The exact code that ran"),
      codeView(x.code, { label: `Code of ${x.eval_name} v${x.version}` })),
  ];
}
