// An eval set's scope (API: `scope` on eval sets): which traces its review queue offers and its
// generation trains on. The fields, a one-line summary, and the form's value.

import { api } from "./api.js";
import { field, h } from "./ui.js";

const SOURCES = [["", "any source"], ["langfuse", "Langfuse"], ["langsmith", "LangSmith"], ["openai", "OpenAI"],
  ["otlp", "OTLP / OpenInference"], ["upload", "uploaded files"], ["integration", "any integration"]];

/** "2025-03-01T12:00:00.000Z" -> the value of a datetime-local input in the browser's time zone. */
function toLocalInput(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "";
  return new Date(d.getTime() - d.getTimezoneOffset() * 60000).toISOString().slice(0, 16);
}

/** A datetime-local value (local time) -> ISO 8601 UTC, or null. */
function fromLocalInput(value) {
  if (!value) return null;
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? null : d.toISOString();
}

/** Plain words for a scope; "" for every trace. */
export function scopeSummary(scope) {
  if (!scope) return "";
  const parts = [];
  if (scope.name) parts.push(`named “${scope.name}”`);
  if (scope.source) parts.push(`from ${SOURCES.find(([v]) => v === scope.source)?.[1] || scope.source}`);
  if (scope.integration_id) parts.push(`through integration ${scope.integration_id}`);
  if (scope.tags?.length) parts.push(`tagged ${scope.tags.join(", ")}`);
  const when = (iso) => new Date(iso).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
  if (scope.from_timestamp && scope.to_timestamp) parts.push(`between ${when(scope.from_timestamp)} and ${when(scope.to_timestamp)}`);
  else if (scope.from_timestamp) parts.push(`since ${when(scope.from_timestamp)}`);
  else if (scope.to_timestamp) parts.push(`until ${when(scope.to_timestamp)}`);
  return parts.length ? `Only traces ${parts.join(", ")}.` : "";
}

/** The scope's inputs in a fieldset; `.value()` is the API's scope object. */
export function scopeFields(scope = {}) {
  const name = h("input", { type: "text", name: "scope_name", maxlength: "500", value: scope.name || "", placeholder: "any name" });
  const source = h("select", { name: "scope_source" }, SOURCES.map(([v, label]) =>
    h("option", { value: v, selected: v === (scope.source || "") }, label)));
  const integration = h("select", { name: "scope_integration" }, h("option", { value: "" }, "any integration"));
  const tags = h("input", { type: "text", name: "scope_tags", value: (scope.tags || []).join(", "), placeholder: "any tags" });
  const from = h("input", { type: "datetime-local", name: "scope_from", value: toLocalInput(scope.from_timestamp) });
  const to = h("input", { type: "datetime-local", name: "scope_to", value: toLocalInput(scope.to_timestamp) });
  api.get("/integrations", { limit: 200 }).then((page) => {
    for (const i of page.items || []) {
      const label = `${i.name} (${i.platform})`;
      const known = [...integration.options].find((o) => o.value === i.id);
      if (known) known.textContent = label;
      else integration.append(h("option", { value: i.id }, label));
    }
  }).catch(() => {}); // the select keeps "any integration"
  if (scope.integration_id) integration.append(h("option", { value: scope.integration_id, selected: true }, scope.integration_id));
  const box = h("fieldset", { class: "scope-fields" },
    h("legend", {}, "Scope: which traces this set is about"),
    h("p", { class: "hint" }, "Review offers only these traces, and generation learns only from their ratings. Leave empty for every trace."),
    h("div", { class: "form-grid" }, field("Trace name", name), field("Source", source), field("Integration", integration),
      field("Tags", tags, "All of these, comma-separated."), field("From", from), field("To", to)));
  box.value = () => {
    const out = {};
    if (name.value.trim()) out.name = name.value.trim();
    if (source.value) out.source = source.value;
    if (integration.value) out.integration_id = integration.value;
    const list = tags.value.split(",").map((t) => t.trim()).filter(Boolean);
    if (list.length) out.tags = list;
    if (fromLocalInput(from.value)) out.from_timestamp = fromLocalInput(from.value);
    if (fromLocalInput(to.value)) out.to_timestamp = fromLocalInput(to.value);
    return out;
  };
  return box;
}
