// The versions of an eval set as a list: status, generator, metrics and flags, each linking to its page.

import { badge, fmtAgo, h } from "./ui.js";
import { evalStatusBadge, metricsLine } from "./metrics.js";

/** A list of eval versions (newest first); `current` marks the one on screen. */
export function versionsList(versions, { current = null } = {}) {
  const sorted = [...versions].sort((a, b) => (b.version ?? 0) - (a.version ?? 0));
  return h("ul", { class: "feedback-list versions-list" }, sorted.map((e) => h("li", {
    "data-eval-id": e.id, "data-status": e.status || "draft", class: e.id === current ? "is-current" : null,
  },
  evalStatusBadge(e.status),
  h("a", { href: `#/evals/${encodeURIComponent(e.id)}`, "aria-current": e.id === current ? "page" : null },
    h("code", {}, `${e.id} v${e.version ?? "?"}`)),
  h("span", { class: "version-metrics" }, metricsLine(e.metrics && { ...e.metrics,
    heldout_accuracy: e.generation?.heldout_accuracy ?? e.metrics.heldout_accuracy })),
  h("span", { class: "muted small" }, `${e.generator || ""}${e.created_at ? ` · ${fmtAgo(e.created_at)}` : ""}`),
  (e.flags || []).map((f) => badge(f.replaceAll("_", " "), "warn")))));
}
