// Traces: filters in the hash query, pages fetched by next_cursor as the list scrolls.

import { api } from "../api.js";
import { badge, emptyState, errorState, field, fmtCost, fmtInt, fmtMs, fmtTime, h, hashQuery, loading,
  pageHeader } from "../ui.js";

const FILTERS = ["source", "tag", "name", "from", "to", "eval_set_id", "rated"];

export async function renderTraces(main) {
  const query = hashQuery();
  const current = Object.fromEntries(FILTERS.map((f) => [f, query.get(f) || ""]));
  main.append(pageHeader("Traces", "Agent runs imported from your sources."));

  const evalSetSelect = h("select", { name: "eval_set_id" }, h("option", { value: "" }, "Any eval set"));
  const form = filterForm(current, evalSetSelect);
  main.append(form);
  api.get("/eval-sets", { limit: 200 }).then((page) => {
    for (const set of page.items || []) {
      evalSetSelect.append(h("option", { value: set.id, selected: set.id === current.eval_set_id }, set.name));
    }
  }).catch(() => evalSetSelect.append(h("option", { value: "", disabled: true }, "(eval sets unavailable)")));

  const list = h("ul", { class: "trace-list", "aria-label": "Traces" });
  const status = h("div", { class: "list-status" });
  const more = h("button", { type: "button", class: "btn", hidden: true }, "Load more");
  main.append(list, status, h("div", { class: "center" }, more));

  const params = {};
  for (const [name, value] of Object.entries(current)) {
    if (!value) continue;
    if (name === "from" || name === "to") params[name] = toIsoDay(value, name === "to");
    else params[name] = value;
  }
  let cursor = null;
  let busy = false;
  let count = 0;
  let observer = null;

  async function loadPage() {
    if (busy) return;
    busy = true;
    more.hidden = true;
    status.replaceChildren(loading(count ? "Loading more…" : "Loading traces…"));
    try {
      const page = await api.get("/traces", { ...params, limit: 50, cursor });
      status.replaceChildren();
      for (const item of page.items || []) list.append(traceRow(item));
      count += (page.items || []).length;
      cursor = page.next_cursor || null;
      more.hidden = !cursor;
      if (!count) {
        const filtered = Object.keys(params).length > 0;
        status.replaceChildren(filtered
          ? emptyState("No traces match", "Try fewer filters.", h("a", { class: "btn", href: "#/traces" }, "Clear filters"))
          : emptyState("No traces yet", "Connect Langfuse, or load the demo traces from the overview.",
            h("a", { class: "btn btn-primary", href: "#/integrations" }, "Connect a source"),
            h("a", { class: "btn", href: "#/" }, "Use demo traces")));
      } else if (!cursor) {
        status.replaceChildren(h("p", { class: "muted center" }, `${count} trace${count === 1 ? "" : "s"}`));
      }
    } catch (err) {
      status.replaceChildren(errorState(err, loadPage));
    } finally {
      busy = false;
    }
  }

  more.addEventListener("click", loadPage);
  if ("IntersectionObserver" in window) {
    observer = new IntersectionObserver((entries) => {
      if (entries.some((e) => e.isIntersecting) && cursor && !busy) loadPage();
    }, { rootMargin: "400px" });
    observer.observe(more.parentElement);
  }
  await loadPage();
  return () => observer && observer.disconnect();
}

function toIsoDay(day, endOfDay) {
  return /^\d{4}-\d{2}-\d{2}$/.test(day) ? `${day}T${endOfDay ? "23:59:59.999" : "00:00:00.000"}Z` : day;
}

function filterForm(current, evalSetSelect) {
  const source = h("select", { name: "source" },
    ["", "langfuse", "langsmith", "openai", "upload"].map((v) =>
      h("option", { value: v, selected: v === current.source }, v || "Any source")));
  const tag = h("input", { type: "text", name: "tag", value: current.tag, placeholder: "e.g. production" });
  const name = h("input", { type: "text", name: "name", value: current.name, placeholder: "trace name" });
  const from = h("input", { type: "date", name: "from", value: current.from.slice(0, 10) });
  const to = h("input", { type: "date", name: "to", value: current.to.slice(0, 10) });
  const rated = h("select", { name: "rated" },
    [["", "Rated or not"], ["false", "Unrated"], ["true", "Rated"]].map(([v, label]) =>
      h("option", { value: v, selected: v === current.rated }, label)));
  const form = h("form", { class: "filters card", role: "search", "aria-label": "Filter traces",
    onsubmit: (event) => {
      event.preventDefault();
      const data = new FormData(form);
      const q = new URLSearchParams();
      for (const f of FILTERS) if (data.get(f)) q.set(f, data.get(f));
      if (q.get("rated") && !q.get("eval_set_id")) q.delete("rated");
      location.hash = `#/traces${q.toString() ? `?${q}` : ""}`;
    } },
  field("Source", source), field("Tag", tag), field("Name", name), field("From", from), field("To", to),
  field("Eval set", evalSetSelect), field("Rating", rated),
  h("div", { class: "filter-actions" }, h("button", { type: "submit", class: "btn btn-primary" }, "Apply"),
    h("a", { class: "btn btn-ghost", href: "#/traces" }, "Reset")));
  return form;
}

export function traceRow(t) {
  const stats = t.stats || {};
  return h("li", { class: "trace-item" }, h("a", { class: "trace-row", href: `#/traces/${encodeURIComponent(t.id)}` },
    h("div", { class: "trace-row-main" },
      h("div", { class: "trace-row-top" },
        h("strong", {}, t.name || "(unnamed)"),
        h("span", { class: "muted" }, fmtTime(t.timestamp)),
        t.error || stats.tool_errors ? badge(t.error ? "error" : `${stats.tool_errors} tool error${stats.tool_errors > 1 ? "s" : ""}`, "bad") : null),
      h("p", { class: "preview" }, h("span", { class: "preview-label" }, "In "), t.input_preview || "—"),
      h("p", { class: "preview muted" }, h("span", { class: "preview-label" }, "Out "), t.output_preview || "—")),
    h("div", { class: "trace-row-meta" },
      h("span", { title: "latency" }, fmtMs(stats.latency_ms)),
      h("span", { title: "steps · tool calls" }, `${fmtInt(stats.steps)} steps · ${fmtInt(stats.tool_calls)} tools`),
      h("span", { title: "tokens in / out" }, `${fmtInt(stats.input_tokens)} / ${fmtInt(stats.output_tokens)} tok`),
      h("span", { title: "cost" }, fmtCost(stats.cost_usd)),
      h("span", { class: "tags" }, (t.tags || []).slice(0, 4).map((tag) => badge(tag))))));
}
