// One eval version: status, metrics, flags, the highlighted code (and an editor for a hand-edited
// version), the diff against another version, and run / refine / activate / archive / export.

import { api, downloadFile, listAll } from "../api.js";
import { jobPanel } from "../jobwatch.js";
import {
  confusionMatrix, estimateExplanation, evalStatusBadge, flagWarnings, fmtEstimate, fmtNum, fmtPct, hasEstimate, metricsList,
} from "../metrics.js";
import { codeView } from "../pyhighlight.js";
import { handoff } from "../state.js";
import { actionButton, badge, errorState, fmtCost, fmtTime, h, hashQuery, loading, ratingLabels, toast,
  toastError } from "../ui.js";
import { versionsList } from "../versions.js";
import { ratedTraces, traceRef } from "../tracenames.js";
import { trendSection } from "../trend.js";
import { cellKind } from "./matrix.js";

const INDENT = "    ";

export async function renderEval(main, evalId) {
  const enc = encodeURIComponent(evalId);
  main.append(loading("Loading eval…"));
  let v;
  let siblings;
  let set;
  async function fetchAll() {
    v = await api.get(`/evals/${enc}`);
    [siblings, set] = await Promise.all([
      listAll("/evals", { eval_set_id: v.eval_set_id }, 400).catch(() => [v]),
      api.get(`/eval-sets/${encodeURIComponent(v.eval_set_id)}`).catch(() => ({ id: v.eval_set_id, name: "Eval set" })),
    ]);
  }
  try {
    await fetchAll();
  } catch (err) {
    main.replaceChildren(h("p", { class: "crumbs" }, h("a", { href: "#/eval-sets" }, "← Eval sets")),
      err.status === 404 ? errorState(new Error("This eval version does not exist in your workspace.")) : errorState(err));
    return;
  }

  const jobs = h("div", { class: "eval-jobs" });
  const head = h("div", {});
  const body = h("div", {});
  const compareBox = h("div", { class: "diff-box" });
  let editing = false;
  let alive = true;
  const panels = [];

  main.replaceChildren(head, jobs, body);

  function setEnc() {
    return encodeURIComponent(v.eval_set_id);
  }

  function render() {
    const active = siblings.find((s) => s.status === "active" && s.id !== v.id);
    const rollback = active && active.version > v.version;
    const rejected = v.status === "rejected";
    const activate = actionButton(rejected ? "Activate anyway" : rollback ? `Roll back to v${v.version}` : "Activate",
      doActivate, {
        class: "btn activate-btn", disabled: v.status === "active",
        title: v.status === "active" ? "Already the active version"
          : rejected ? `Rejected refinement: ${v.rejected_reason || "its estimate is lower than its parent's"}`
          : rollback ? `Make v${v.version} active again instead of v${active.version}` : "Make this the set's active version",
      });
    const archive = actionButton("Archive", doArchive, { class: "btn btn-ghost archive-btn",
      disabled: v.status !== "draft", title: v.status === "active" ? "Activate another version before archiving this one"
        : v.status === "archived" ? "Already archived" : "Hide this version from the matrix" });
    head.replaceChildren(
      h("p", { class: "crumbs" }, h("a", { href: `#/eval-sets/${setEnc()}` }, `← ${set.name}`)),
      h("div", { class: "page-head" },
        h("div", {},
          h("h1", { class: "page-title", tabindex: "-1" }, `${v.name} v${v.version} `, evalStatusBadge(v.status)),
          h("p", { class: "muted" }, `written by ${v.generator}${v.model ? ` (${v.model})` : ""} · ${fmtTime(v.created_at)}`,
            v.parent_id ? [" · from ", h("a", { href: `#/evals/${encodeURIComponent(v.parent_id)}` },
              `v${siblings.find((s) => s.id === v.parent_id)?.version ?? "?"}`)] : null)),
        h("div", { class: "actions" },
          actionButton("Run", doRun, { class: "btn btn-primary run-btn", title: "Run this version on every trace" }),
          actionButton("Refine", doRefine, { class: "btn refine-btn",
            title: "Write a new version from the training examples plus this version's contradictions" }),
          activate, archive,
          h("a", { class: "btn", href: `#/eval-sets/${setEnc()}/matrix` }, "Matrix"))),
      flagWarnings(v.flags, set) || "");

    const gen = v.generation || {};
    const m = v.metrics || {};
    body.replaceChildren(
      h("div", { class: "eval-grid" },
        h("section", { class: "card eval-metrics" }, h("h2", {}, "Metrics"),
          accuracyHeadline(gen, m),
          h("p", { class: "hint" }, "Agreement with all the set's human ratings, the training ones included."),
          metricsList(m, { generation: false })),
        h("section", { class: "card" }, h("h2", {}, "Confusion"),
          m.confusion ? confusionMatrix(m.confusion, "Human rating × eval result") : h("p", { class: "muted" }, "Not measured yet."),
          h("h3", {}, "Generation"),
          h("dl", { class: "kv" },
            h("dt", {}, "Held-out κ"), h("dd", {}, fmtNum(gen.heldout_kappa)),
            h("dt", {}, "Trained on"), h("dd", {}, `${(v.training_trace_ids || []).length} traces`),
            h("dt", {}, "Cost"), h("dd", {}, `${fmtCost(v.cost_usd)} · ${v.input_tokens || 0} in / ${v.output_tokens || 0} out tokens`)))),
      trendSection(v.id),
      codeSection(),
      h("section", { class: "card compare" }, h("h2", {}, "Compare with another version"), compareControls(), compareBox),
      h("section", { class: "card" }, h("h2", {}, "Versions"), versionsList(siblings, { current: v.id })));
  }

  function codeSection() {
    const box = h("section", { class: "card code-section" });
    const showViewer = () => {
      editing = false;
      box.replaceChildren(
        h("div", { class: "set-card-head" }, h("h2", {}, "Code"),
          h("div", { class: "actions" },
            actionButton("Export .py", () => doExport("python"), { class: "btn btn-sm export-python" }),
            actionButton("Export pytest", () => doExport("pytest"), { class: "btn btn-sm export-pytest" }),
            h("button", { type: "button", class: "btn btn-sm edit-btn", onclick: showEditor }, "Edit code"))),
        codeView(v.code, { label: `Code of ${v.name} v${v.version}` }));
    };
    const showEditor = () => {
      editing = true;
      const editor = codeEditor(v.code, {
        onCancel: () => { showViewer(); box.querySelector(".edit-btn")?.focus(); },
        onSave: async (code) => {
          const saved = await api.post(`/evals/${enc}/versions`, { code });
          if (saved.scoring_job_id) handoff.set(saved.id, { jobId: saved.scoring_job_id, title: `Scoring v${saved.version} on the rated traces` });
          toast(`Saved as v${saved.version}.`, "ok");
          location.hash = `#/evals/${encodeURIComponent(saved.id)}`;
        },
      });
      box.replaceChildren(h("h2", {}, `Edit code (saves as a new version)`), editor);
      editor.querySelector("textarea").focus();
    };
    showViewer();
    return box;
  }

  function compareControls() {
    const others = siblings.filter((s) => s.id !== v.id).sort((a, b) => b.version - a.version);
    if (!others.length) return h("p", { class: "muted" }, "This is the only version so far.");
    const wanted = hashQuery().get("against");
    const preferred = others.find((s) => s.id === wanted) || others.find((s) => s.id === v.parent_id)
      || others.find((s) => s.version < v.version) || others[0];
    const select = h("select", { "aria-label": "Version to compare with", class: "compare-select" },
      others.map((s) => h("option", { value: s.id, selected: s.id === preferred.id }, `v${s.version} (${s.status})`)));
    const go = actionButton("Show diff", () => showDiff(select.value), { class: "btn compare-btn" });
    if (wanted) queueMicrotask(() => showDiff(preferred.id));
    return h("div", { class: "input-row compare-row" }, select, go);
  }

  async function showDiff(againstId) {
    compareBox.replaceChildren(loading("Comparing…"));
    try {
      const [d, traces] = await Promise.all([api.get(`/evals/${enc}/diff`, { against: againstId }),
        ratedTraces(v.eval_set_id).catch(() => new Map())]);
      compareBox.replaceChildren(diffView(d, traces));
    } catch (err) {
      compareBox.replaceChildren(errorState(err));
    }
  }

  function watch(jobId, title, onDone) {
    const panel = jobPanel(jobId, title);
    panels.push(panel);
    jobs.prepend(panel);
    panel.done.then(async (job) => {
      if (!alive) return;
      await onDone(job);
    }).catch(toastError);
    return panel;
  }

  async function refresh() {
    await fetchAll();
    if (!alive) return;
    const wasEditing = editing;
    if (!wasEditing) render();
  }

  async function doRun() {
    const accepted = await api.post(`/evals/${enc}/execute`, {});
    watch(accepted.job_id, `Running v${v.version}`, async (job) => {
      if (job.status === "succeeded") {
        const r = job.result || {};
        toast(`Ran v${v.version} on ${r.executed ?? r.total ?? "the"} traces.`, "ok");
      } else toast(`The run ${job.status}: ${job.error || ""}`, "error");
      await refresh();
    });
  }

  async function doRefine() {
    const accepted = await api.post(`/evals/${enc}/refine`, {});
    watch(accepted.job_id, `Refining v${v.version}`, async (job) => {
      if (job.status === "succeeded" && job.result?.saved === false) {
        toast(`Refinement: ${job.result.message}.`, "info");  // identical to this version: nothing new
        return;
      }
      if (job.status !== "succeeded" || !job.result?.eval_id) {
        toast(`Refinement ${job.status}: ${job.error || ""}`, "error");
        return;
      }
      const summary = job.result.comparison?.summary;
      if (job.result.status === "rejected") {
        toast(`v${job.result.version} was saved as rejected: ${job.result.message}.`, "error");
      } else {
        toast(`v${job.result.version} is ready${summary ? `: ${summary}` : ""}.`, "ok");
      }
      location.hash = `#/evals/${encodeURIComponent(job.result.eval_id)}?against=${enc}`;
    });
  }

  async function doActivate() {
    const wasActive = siblings.find((s) => s.status === "active" && s.id !== v.id);
    await api.post(`/evals/${enc}/activate${v.status === "rejected" ? "?force=true" : ""}`, {});
    toast(wasActive && wasActive.version > v.version
      ? `Rolled back: v${v.version} is active, v${wasActive.version} is a draft again.` : `v${v.version} is active.`, "ok");
    await refresh();
    head.querySelector(".page-title")?.focus();
  }

  async function doArchive() {
    await api.post(`/evals/${enc}/archive`, {});
    toast(`v${v.version} archived.`, "ok");
    await refresh();
  }

  async function doExport(format) {
    const filename = format === "pytest" ? `test_${v.name}.py` : `${v.name}.py`;
    await downloadFile(`/evals/${enc}/export`, { format }, filename);
    toast(`Downloaded ${filename}.`, "ok", { timeoutMs: 2500 });
  }

  render();
  const pending = handoff.get(v.id);
  if (pending) {
    handoff.delete(v.id);
    watch(pending.jobId, pending.title, async () => refresh());
  }
  return () => {
    alive = false;
    for (const p of panels) p.stop();
  };
}

/** The headline: the estimate on the set's current ratings (`metrics.estimate`) with its interval and what it is
 * made of; without one (hand-edited versions) the generation's held-out (cross-validated) accuracy. Training
 * accuracy secondary and labeled as such. */
function accuracyHeadline(gen, m) {
  const heldout = gen.heldout_accuracy ?? m.heldout_accuracy;
  const training = gen.training_accuracy ?? m.training_accuracy;
  if (hasEstimate(m)) {
    return h("div", { class: "headline-metric" },
      h("div", { class: "headline-label", id: "estimate-label" }, "Estimated accuracy on unseen traces (95% CI)"),
      h("div", { class: "headline-value", "data-metric": "estimate", "aria-labelledby": "estimate-label" }, fmtEstimate(m)),
      h("p", { class: "muted small", "data-metric": "estimate-explanation" }, estimateExplanation(m)),
      h("p", { class: "headline-secondary", "data-metric": "training" },
        `held-out ${fmtPct(heldout)} at generation · ${fmtPct(training)} on training ratings`));
  }
  const measured = heldout !== null && heldout !== undefined;
  return h("div", { class: "headline-metric" },
    h("div", { class: "headline-label", id: "heldout-label" }, "Held-out accuracy (cross-validated)"),
    h("div", { class: "headline-value", "data-metric": "heldout", "aria-labelledby": "heldout-label" }, fmtPct(heldout)),
    h("p", { class: "muted small" }, measured
      ? `On ratings the code was not written from${gen.folds ? `, over ${gen.folds} folds` : ""}.`
      : "Not measured: too few ratings to hold some out, or the code was written by hand."),
    h("p", { class: "headline-secondary", "data-metric": "training" },
      `${fmtPct(training)} on training ratings`));
}

/** A textarea for Python: Tab indents (Shift+Tab dedents); Esc then Tab leaves the editor. 422 errors show inline. */
export function codeEditor(initial, { onSave, onCancel }) {
  const area = h("textarea", { class: "code-editor", spellcheck: false, autocapitalize: "off", autocomplete: "off",
    rows: String(Math.min(30, Math.max(12, initial.split("\n").length + 2))), "aria-label": "Eval code",
    "aria-describedby": "editor-help editor-error" });
  area.value = initial;
  const error = h("div", { class: "editor-error", id: "editor-error", role: "alert" });
  let escaped = false;
  area.addEventListener("keydown", (e) => {
    if (e.key === "Escape") {
      escaped = true;
      return;
    }
    if (e.key !== "Tab" || escaped || e.ctrlKey || e.metaKey || e.altKey) {
      escaped = false;
      return;
    }
    e.preventDefault();
    indent(area, e.shiftKey);
  });
  area.addEventListener("input", () => {
    if (error.textContent) {
      error.replaceChildren();
      area.removeAttribute("aria-invalid");
    }
  });
  const save = actionButton("Save as new version", async () => {
    error.replaceChildren();
    area.removeAttribute("aria-invalid");
    try {
      await onSave(area.value);
    } catch (err) {
      if (err.status !== 422 && err.status !== 400) throw err;
      showError(err);
    }
  }, { class: "btn btn-primary save-code" });
  function showError(err) {
    const detail = (err.details || []).find((d) => d && (d.line || d.reason)) || {};
    const line = detail.line || null;
    const lines = area.value.split("\n");
    area.setAttribute("aria-invalid", "true");
    error.replaceChildren(h("div", { class: "error-box" },
      h("strong", { class: "editor-error-where" }, line ? `Line ${line}: ` : "Rejected: "),
      h("span", { class: "editor-error-reason" }, detail.reason || err.message),
      line && lines[line - 1] !== undefined ? h("pre", { class: "code code-sm editor-error-line" },
        h("span", { class: "muted" }, `${line} │ `), lines[line - 1]) : null));
    if (line) {
      const start = lines.slice(0, line - 1).reduce((n, l) => n + l.length + 1, 0);
      area.focus();
      area.setSelectionRange(start, start + (lines[line - 1] || "").length);
    }
  }
  return h("div", { class: "editor" },
    h("p", { class: "hint", id: "editor-help" }, "Tab indents, Shift+Tab dedents; press Esc then Tab to leave the editor. ",
      "Allowed imports: json re typing math statistics collections datetime itertools functools string difflib."),
    area, error,
    h("div", { class: "actions" }, save, h("button", { type: "button", class: "btn btn-ghost", onclick: onCancel }, "Cancel")));
}

function indent(area, out) {
  const { value, selectionStart: s, selectionEnd: e } = area;
  const lineStart = value.lastIndexOf("\n", s - 1) + 1;
  if (!out && s === e) {
    area.setRangeText(INDENT, s, e, "end");
    return;
  }
  const blockEnd = e > s && value[e - 1] === "\n" ? e - 1 : e;
  const block = value.slice(lineStart, blockEnd);
  const changed = block.split("\n").map((l) => (out ? l.replace(/^ {1,4}|^\t/, "") : INDENT + l)).join("\n");
  area.setRangeText(changed, lineStart, blockEnd, "preserve");
  area.setSelectionRange(lineStart, lineStart + changed.length);
}

function agreesOf(rating, result) {
  if (result !== "pass" && result !== "fail") return null;
  if (rating === "positive") return result === "pass";
  if (rating === "negative") return result === "fail";
  return null;
}

// the estimate row is formatted from the side's whole metrics (with its interval); the others from their value
const DIFF_ROWS = [["estimate", "Estimate on current ratings (95% CI)", null],
  ["n", "Scored (n)", (x) => String(x ?? "—")], ["accuracy", "Accuracy", fmtPct],
  ["precision", "Precision", fmtPct], ["recall", "Recall", fmtPct], ["f1", "F1", fmtNum],
  ["cohen_kappa", "Cohen's κ", fmtNum], ["errors", "Errors", (x) => String(x ?? 0)],
  ["timeouts", "Timeouts", (x) => String(x ?? 0)], ["coverage", "Coverage", fmtPct]];

/** The diff of two versions: side-by-side metrics, the coloured unified diff, the flipped traces (named from
 * `traces`, id -> summary). */
export function diffView(d, traces = new Map()) {
  const a = d.against;
  const b = d.eval;
  const fixed = d.flipped.filter((f) => f.fixed === true).length;
  const broken = d.flipped.filter((f) => f.fixed === false).length;
  const resultCell = (rating, result) => {
    const { kind } = cellKind({ result, agrees: agreesOf(rating, result) });
    return h("span", { class: `cell cell-${kind}`, "data-kind": kind }, result);
  };
  return h("div", { class: "diff-view", "data-against": a.id },
    h("p", { class: "diff-summary", role: "status" },
      `v${a.version} → v${b.version}: compared on ${d.compared} rated traces; ${d.flipped_total} flipped`,
      d.flipped_total ? ` (${fixed} fixed, ${broken} broken)` : "", "."),
    h("table", { class: "diff-metrics" },
      h("caption", { class: "sr-only" }, "Metrics of both versions"),
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Metric"),
        h("th", { scope: "col" }, `v${a.version} `, evalStatusBadge(a.status)),
        h("th", { scope: "col" }, `v${b.version} `, evalStatusBadge(b.status)))),
      h("tbody", {}, DIFF_ROWS.map(([key, label, fmt]) => {
        const before = a.metrics?.[key];
        const after = b.metrics?.[key];
        const better = key === "errors" || key === "timeouts" ? after < before : after > before;
        const delta = typeof before === "number" && typeof after === "number" && before !== after;
        return h("tr", { "data-row": key }, h("th", { scope: "row" }, label), h("td", {}, fmt ? fmt(before) : fmtEstimate(a.metrics)),
          h("td", { class: delta ? (better ? "ok-text" : "error-text") : null }, fmt ? fmt(after) : fmtEstimate(b.metrics)));
      }))),
    h("h3", {}, "Code changes"),
    d.diff ? unifiedDiff(d.diff) : h("p", { class: "muted" }, "The code is identical."),
    h("h3", {}, `Flipped traces (${d.flipped_total})`),
    d.flipped.length ? h("div", { class: "table-scroll" }, h("table", { class: "flipped" },
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Trace"), h("th", { scope: "col" }, "Human"),
        h("th", { scope: "col" }, `v${a.version}`), h("th", { scope: "col" }, `v${b.version}`), h("th", { scope: "col" }, ""))),
      h("tbody", {}, d.flipped.map((f) => h("tr", { "data-trace-id": f.trace_id },
        h("td", {}, traceRef(f.trace_id, traces.get(f.trace_id))),
        h("td", {}, ratingLabels[f.rating] || f.rating),
        h("td", { title: f.before_reason }, resultCell(f.rating, f.before)),
        h("td", { title: f.after_reason }, resultCell(f.rating, f.after)),
        h("td", {}, f.fixed === true ? badge("fixed", "good") : f.fixed === false ? badge("broken", "bad") : badge("changed")))))))
      : h("p", { class: "muted" }, "No rated trace changed its result."),
    d.flipped_total > d.flipped.length ? h("p", { class: "hint" }, `Showing ${d.flipped.length} of ${d.flipped_total}.`) : null);
}

function unifiedDiff(text) {
  const lines = text.replace(/\n$/, "").split("\n");
  return h("pre", { class: "code diff", tabindex: "0", role: "region", "aria-label": "Unified diff" },
    lines.map((line) => {
      const kind = line.startsWith("+++") || line.startsWith("---") ? "file" : line.startsWith("@@") ? "hunk"
        : line.startsWith("+") ? "add" : line.startsWith("-") ? "del" : "ctx";
      return [h("span", { class: `diff-line diff-${kind}` }, line), "\n"];
    }));
}

