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

/** True when the API gave the version's estimate on the set's current ratings (`metrics.estimate`; hand-edited
 * versions have none). */
export function hasEstimate(m) {
  return typeof m?.estimate === "number";
}

/** "84% (70–93%)": the estimate on the current ratings with its 95% interval. */
export function fmtEstimate(m) {
  if (!hasEstimate(m)) return "—";
  const ci = m.estimate_interval;
  return ci ? `${fmtPct(m.estimate)} (${fmtPct(ci[0])}–${fmtPct(ci[1])})` : fmtPct(m.estimate);
}

/** What the estimate is made of, in plain words: "Estimated agreement on your current 9 ratings: written from 7,
 * checked on 2 it never saw (agreed on 50%)." */
export function estimateExplanation(m) {
  if (!hasEstimate(m)) return "";
  const trained = m.estimate_trained ?? 0;
  const unseen = m.estimate_unseen ?? 0;
  const total = trained + unseen;
  const agreed = unseen && m.estimate_unseen_accuracy !== null && m.estimate_unseen_accuracy !== undefined
    ? ` (agreed on ${fmtPct(m.estimate_unseen_accuracy)})` : "";
  if (!trained) {  // no held-out estimate at generation: only the ratings it never saw count
    return `Estimated agreement on your current ratings: checked on ${unseen} it never saw${agreed}; `
      + "no held-out estimate stands for the ones it was written from.";
  }
  if (!unseen) {  // every current rating trained it: the held-out estimate at generation stands for all of them
    return `Estimated from the ${trained} rating${trained === 1 ? "" : "s"} it was written from (held out in turn); `
      + "ratings you add from now on will be checked directly.";
  }
  return `Estimated agreement on your current ${total} rating${total === 1 ? "" : "s"}: written from ${trained}, `
    + `checked on ${unseen} it never saw${agreed}.`;
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

/** Generation flags as a warnings list (null when there are none). With the eval set, the low-confidence
 * warning says what to do: how many more ratings of each class (the API's `more_for_heldout`). */
export function flagWarnings(flags, set = null) {
  if (!flags || !flags.length) return null;
  return h("ul", { class: "warnings flag-warnings", "aria-label": "Warnings" },
    flags.map((f) => h("li", { "data-flag": f }, "⚠ ",
      (f === "low_confidence" && lowConfidenceAdvice(set)) || FLAG_TEXT[f] || f.replaceAll("_", " "))));
}

/** What to do about a low held-out confidence, from the set's counts; null when the API gives no numbers. */
export function lowConfidenceAdvice(set) {
  const more = set?.more_for_heldout;
  if (!more) return null;
  const asks = [more.positive ? `${more.positive} more good` : "", more.negative ? `${more.negative} more bad` : ""]
    .filter(Boolean);
  const review = h("a", { href: `#/eval-sets/${encodeURIComponent(set.id)}/review` }, "Review traces");
  if (!asks.length) {
    return h("span", { class: "advice" }, "Low confidence: the held-out agreement is weak although the set has enough good and bad ",
      "ratings. Refine this version from its contradictions, or sharpen the criteria and rate the unclear traces again.");
  }
  const counts = set.counts || {};
  return h("span", { class: "advice" }, `Low confidence: rate ${asks.join(" and ")} trace${more.positive + more.negative === 1 ? "" : "s"}`,
    `, then generate again. The set has ${counts.positive ?? 0} good and ${counts.negative ?? 0} bad; a held-out estimate needs `,
    "at least 5 of each, and no more than 4 of one for each of the other. ", review);
}

/** The stats of one version as a definition list. */
export function metricsList(m, { generation = true } = {}) {
  if (!m || m.n === undefined) return h("p", { class: "muted" }, "Not measured yet: run it on the rated traces.");
  const rows = [
    ["Accuracy on rated traces (95% CI)", fmtAccuracy(m)],
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
  if (generation && hasEstimate(m)) rows.push(["Estimate on current ratings (95% CI)", fmtEstimate(m)]);
  if (generation && m.heldout_accuracy !== undefined) rows.push(["Held-out accuracy (cross-validated)", fmtPct(m.heldout_accuracy)]);
  if (generation && m.training_accuracy !== undefined) rows.push(["Accuracy on training ratings", fmtPct(m.training_accuracy)]);
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

/** A compact one-line summary: "estimate 84% (70–93%) · accuracy on rated 90% · κ 0.80 · n 40", with the
 * generation's held-out figure instead when the version has no estimate on the current ratings. */
export function metricsLine(m) {
  if (!m || m.n === undefined) return "not measured";
  const parts = [];
  if (hasEstimate(m)) parts.push(`estimate ${fmtEstimate(m)}`);
  else if (m.heldout_accuracy !== undefined && m.heldout_accuracy !== null) parts.push(`held-out ${fmtPct(m.heldout_accuracy)}`);
  parts.push(`accuracy on rated ${fmtPct(m.accuracy)}`, `κ ${fmtNum(m.cohen_kappa)}`, `n ${m.n}`);
  if (m.errors) parts.push(`${m.errors} errors`);
  if (m.timeouts) parts.push(`${m.timeouts} timeouts`);
  return parts.join(" · ");
}
