// Agreement metrics of an eval version (chalicelib/metrics.py): formatting, the stats list,
// the 2x2 confusion matrix, version status badges and generation flags as warnings.

import { badge, h } from "./ui.js";

export function fmtPct(value, digits = 0) {
  return value === null || value === undefined ? "—" : `${(value * 100).toFixed(digits)}%`;
}

export function fmtNum(value, digits = 2) {
  return value === null || value === undefined ? "—" : Number(value).toFixed(digits);
}

/** "90% (74–97%)": accuracy with its Wilson 95% interval. */
export function fmtAccuracy(m) {
  if (!m || m.accuracy === null || m.accuracy === undefined) return "—";
  const ci = m.accuracy_ci95;
  return ci ? `${fmtPct(m.accuracy)} (${fmtPct(ci[0])}–${fmtPct(ci[1])})` : fmtPct(m.accuracy);
}

const STATUS_KIND = { active: "good", draft: "info", archived: "", rejected: "bad" };

export function evalStatusBadge(status) {
  const b = badge(status || "draft", STATUS_KIND[status] ?? "");
  b.dataset.status = status || "draft";
  return b;
}

const FLAG_TEXT = {
  low_confidence: "Low confidence: the held-out estimate is weak or based on few examples. Rate more traces.",
  names_trace_ids: "The code names specific trace ids: it may memorise examples instead of generalising.",
  copies_literals: "The code copies long literals from the examples: it may not generalise.",
};

/** Generation flags as a warnings list (null when there are none). */
export function flagWarnings(flags) {
  if (!flags || !flags.length) return null;
  return h("ul", { class: "warnings flag-warnings", "aria-label": "Warnings" },
    flags.map((f) => h("li", { "data-flag": f }, "⚠ ", FLAG_TEXT[f] || f.replaceAll("_", " "))));
}

/** The stats of one version as a definition list. */
export function metricsList(m) {
  if (!m || m.n === undefined) return h("p", { class: "muted" }, "Not measured yet: run it on the rated traces.");
  const rows = [
    ["Accuracy (95% CI)", fmtAccuracy(m)],
    ["Scored (n)", String(m.n)],
    ["Precision", fmtPct(m.precision)],
    ["Recall", fmtPct(m.recall)],
    ["F1", fmtNum(m.f1)],
    ["Cohen's κ", fmtNum(m.cohen_kappa)],
    ["Errors", String(m.errors ?? 0)],
    ["Timeouts", String(m.timeouts ?? 0)],
    ["Coverage", fmtPct(m.coverage)],
    ["Neutral (not scored)", String(m.neutral ?? 0)],
  ];
  if (m.heldout_accuracy !== undefined) rows.push(["Held-out estimate", fmtPct(m.heldout_accuracy)]);
  if (m.training_accuracy !== undefined) rows.push(["Training accuracy", fmtPct(m.training_accuracy)]);
  return h("dl", { class: "metrics" }, rows.map(([k, v], i) => h("div", { class: i === 0 ? "metric metric-wide" : "metric" },
    h("dt", {}, k), h("dd", { "data-metric": k }, v))));
}

/** The 2x2 confusion matrix: rows = human rating, columns = eval result. */
export function confusionMatrix(confusion, caption = "Confusion matrix") {
  const c = { tp: 0, fp: 0, tn: 0, fn: 0, ...(confusion || {}) };
  const cell = (value, agree, label) => h("td", { class: `cm-cell ${agree ? "cm-agree" : "cm-contradict"}`,
    "data-cm": label }, String(value));
  return h("table", { class: "confusion" },
    h("caption", {}, caption),
    h("thead", {}, h("tr", {}, h("td", {}), h("th", { scope: "col" }, "Eval pass"), h("th", { scope: "col" }, "Eval fail"))),
    h("tbody", {},
      h("tr", {}, h("th", { scope: "row" }, "Human good"), cell(c.tp, true, "tp"), cell(c.fn, false, "fn")),
      h("tr", {}, h("th", { scope: "row" }, "Human bad"), cell(c.fp, false, "fp"), cell(c.tn, true, "tn"))));
}

/** A compact one-line summary: "accuracy 90% · κ 0.80 · n 40". */
export function metricsLine(m) {
  if (!m || m.n === undefined) return "not measured";
  const parts = [`accuracy ${fmtPct(m.accuracy)}`, `κ ${fmtNum(m.cohen_kappa)}`, `n ${m.n}`];
  if (m.heldout_accuracy !== undefined && m.heldout_accuracy !== null) parts.push(`held-out ${fmtPct(m.heldout_accuracy)}`);
  if (m.errors) parts.push(`${m.errors} errors`);
  if (m.timeouts) parts.push(`${m.timeouts} timeouts`);
  return parts.join(" · ");
}
