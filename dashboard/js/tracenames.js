// Trace names for lists that only carry trace ids (feedback, flipped traces): one paged list call for
// every rated trace of an eval set (GET /v1/traces?eval_set_id=&rated=true), not one call per trace.

import { listAll } from "./api.js";
import { h } from "./ui.js";

/** id -> trace summary ({name, timestamp, …}) of an eval set's rated traces. */
export async function ratedTraces(evalSetId, max = 1000) {
  const items = await listAll("/traces", { eval_set_id: evalSetId, rated: "true" }, max);
  return new Map(items.map((t) => [t.id, t]));
}

/** A link to a trace showing its name and a short id (the full id in the title). */
export function traceRef(traceId, summary) {
  const short = traceId.length > 12 ? `${traceId.slice(0, 11)}…` : traceId;
  return h("a", { href: `#/traces/${encodeURIComponent(traceId)}`, class: "trace-ref", title: traceId },
    h("span", { class: "trace-ref-name" }, summary ? summary.name || "(unnamed trace)" : "(trace not found)"), " ",
    h("code", { class: "muted small" }, short));
}
