// Trace names for lists that only carry trace ids (feedback, flipped traces): one paged list call for
// every rated trace of an eval set (GET /v1/traces?eval_set_id=&rated=true), not one call per trace.
// A job's items come labelled by GET /v1/jobs/{id} itself (its `traces`).

import { listAll } from "./api.js";
import { h } from "./ui.js";

/** id -> trace summary ({name, timestamp, …}) of an eval set's rated traces. */
export async function ratedTraces(evalSetId, max = 1000) {
  const items = await listAll("/traces", { eval_set_id: evalSetId, rated: "true" }, max);
  return new Map(items.map((t) => [t.id, t]));
}

/** A link to a trace showing its name, a short id (the full id in the title) and its first user message
 * (`summary`: a trace summary or a job's trace label, {name, input_preview}). */
export function traceRef(traceId, summary) {
  const short = traceId.length > 12 ? `${traceId.slice(0, 11)}…` : traceId;
  return h("a", { href: `#/traces/${encodeURIComponent(traceId)}`, class: "trace-ref", title: traceId },
    h("span", { class: "trace-ref-name" }, summary ? summary.name || "(unnamed trace)" : "(trace not found)"), " ",
    h("code", { class: "muted small" }, short),
    summary?.input_preview ? h("span", { class: "trace-ref-preview muted small" }, summary.input_preview) : null);
}
