// Renders a unified trace (API.md "The unified trace"): stats, input/output, the conversation
// as chat bubbles, and the collapsible step tree with tool calls and errors.

import { badge, codeBlock, fmtCost, fmtInt, fmtMs, fmtValue, h } from "./ui.js";

export function statsBar(stats = {}) {
  const item = (label, value, kind = "") => h("div", { class: `stat ${kind}` }, h("span", { class: "stat-value" }, value),
    h("span", { class: "stat-label" }, label));
  return h("div", { class: "stats" },
    item("latency", fmtMs(stats.latency_ms)),
    item("tokens in / out", `${fmtInt(stats.input_tokens)} / ${fmtInt(stats.output_tokens)}`),
    item("cost", fmtCost(stats.cost_usd)),
    item("LLM calls", fmtInt(stats.llm_calls)),
    item("tool calls", fmtInt(stats.tool_calls)),
    item("tool errors", fmtInt(stats.tool_errors), stats.tool_errors ? "stat-bad" : ""),
    item("steps", fmtInt(stats.steps)));
}

/** Text as a paragraph, anything else as indented JSON. */
export function valueView(value, { empty = "—" } = {}) {
  if (value === null || value === undefined || value === "") return h("p", { class: "muted" }, empty);
  if (typeof value === "string") return h("div", { class: "text-block" }, value);
  return codeBlock(value);
}

function contentView(content) {
  if (content === null || content === undefined || content === "") return null;
  if (typeof content === "string") return h("div", { class: "bubble-text" }, content);
  if (Array.isArray(content)) {
    return content.map((part) => {
      if (part && typeof part === "object" && part.type === "text" && typeof part.text === "string") {
        return h("div", { class: "bubble-text" }, part.text);
      }
      if (part && typeof part === "object" && part.type === "tool_use") {
        return toolCallChip({ name: part.name, arguments: part.input, id: part.id });
      }
      if (part && typeof part === "object" && part.type === "tool_result") {
        return h("div", { class: "bubble-text" }, fmtValue(part.content));
      }
      return codeBlock(part);
    });
  }
  return codeBlock(content);
}

function toolCallChip(call, paired) {
  const error = paired && paired.error;
  return h("div", { class: `tool-chip ${error ? "is-error" : ""}` },
    h("div", { class: "tool-chip-head" }, h("span", { class: "tool-icon", "aria-hidden": "true" }, "⚙"),
      h("code", {}, call.name || "tool"), error ? badge("error", "bad") : null),
    h("pre", { class: "code code-sm", "aria-label": "arguments" }, fmtValue(call.arguments ?? call.function?.arguments ?? {})));
}

/** A tool result that is a JSON string, indented; anything else unchanged. */
function prettyJson(value) {
  if (typeof value !== "string" || !/^\s*[[{]/.test(value)) return value;
  try {
    return JSON.stringify(JSON.parse(value), null, 2);
  } catch {
    return value;
  }
}

/** A conversation as chat bubbles; `calls` pairs tool-call ids with results and errors. */
export function conversation(messages = [], calls = []) {
  const byId = new Map(calls.map((c) => [c.id, c]));
  if (!messages.length) return h("p", { class: "muted" }, "No messages.");
  return h("ol", { class: "chat" }, messages.map((m) => {
    const role = m.role || "assistant";
    const paired = m.tool_call_id ? byId.get(m.tool_call_id) : null;
    const isError = role === "tool" && paired && paired.error;
    const label = role === "tool" ? `tool · ${m.name || paired?.name || ""}` : role;
    const content = role === "tool" ? prettyJson(m.content) : m.content;
    const body = [contentView(content)];
    if (isError) body.push(h("div", { class: "error-text" }, paired.error));
    for (const call of m.tool_calls || []) body.push(toolCallChip(call, byId.get(call.id)));
    if (role === "system") {
      return h("li", { class: "msg msg-system" }, h("details", {}, h("summary", {}, "System prompt"), body));
    }
    const onlyCalls = (content === null || content === undefined || content === "") && (m.tool_calls || []).length;
    return h("li", { class: `msg msg-${role} ${isError ? "is-error" : ""}` },
      h("div", { class: "msg-role" }, label), h("div", { class: onlyCalls ? "bubble bubble-calls" : "bubble" }, body));
  }));
}

function isMessageList(value) {
  return Array.isArray(value) && value.length > 0 && value.every((m) => m && typeof m === "object" && "role" in m);
}

function stepBody(step) {
  const parts = [];
  if (step.error) parts.push(h("div", { class: "error-box", role: "note" }, h("strong", {}, "Error: "), step.error));
  if (step.type === "llm") {
    if (isMessageList(step.input)) {
      parts.push(h("details", { class: "sub" }, h("summary", {}, `Prompt (${step.input.length} messages)`),
        conversation(step.input.map((m) => ({ ...m, tool_calls: m.tool_calls || [] })))));
    } else if (step.input !== null && step.input !== undefined) {
      parts.push(codeBlock(step.input, { summary: "Prompt", open: false }));
    }
    if (step.messages && step.messages.length) parts.push(conversation(step.messages, step.tool_calls || []));
    else if (step.output !== null && step.output !== undefined) parts.push(codeBlock(step.output, { summary: "Response" }));
  } else if (step.type === "tool") {
    parts.push(h("div", { class: "io-grid" },
      h("div", {}, h("h4", {}, "Arguments"), valueView(step.input)),
      h("div", {}, h("h4", {}, step.error ? "Result (failed)" : "Result"), valueView(step.output))));
  } else {
    if (step.input !== null && step.input !== undefined) parts.push(codeBlock(step.input, { summary: "Input", open: false }));
    if (step.output !== null && step.output !== undefined) parts.push(codeBlock(step.output, { summary: "Output", open: false }));
  }
  if (step.metadata && Object.keys(step.metadata).length) {
    parts.push(codeBlock(step.metadata, { summary: "Metadata", open: false }));
  }
  return parts;
}

function stepSummary(step) {
  const tokens = step.usage && (step.usage.input_tokens || step.usage.output_tokens)
    ? `${fmtInt(step.usage.input_tokens)} / ${fmtInt(step.usage.output_tokens)} tok` : null;
  return h("summary", { class: "step-summary" },
    h("span", { class: `step-type step-${step.type}` }, step.type),
    h("span", { class: "step-name" }, step.name || step.id),
    step.model ? h("span", { class: "muted step-model" }, step.model) : null,
    step.error ? badge("error", "bad") : null,
    h("span", { class: "step-meta" },
      tokens ? h("span", {}, tokens) : null,
      step.cost_usd ? h("span", {}, fmtCost(step.cost_usd)) : null,
      h("span", {}, fmtMs(step.latency_ms))));
}

/** The steps as a tree by parent_id; each step is a <details> that opens to its body. */
export function stepTree(steps = []) {
  if (!steps.length) return h("p", { class: "muted" }, "No steps recorded.");
  const ids = new Set(steps.map((s) => s.id));
  const children = new Map();
  for (const step of steps) {
    const parent = step.parent_id && ids.has(step.parent_id) ? step.parent_id : null;
    if (!children.has(parent)) children.set(parent, []);
    children.get(parent).push(step);
  }
  const build = (parent, depth) => h("ul", { class: depth ? "step-children" : "step-tree", role: depth ? "group" : "tree",
    "aria-label": depth ? null : "Steps" },
  (children.get(parent) || []).map((step) => {
    const kids = children.get(step.id) || [];
    const open = depth === 0 || Boolean(step.error);
    return h("li", { class: `step ${step.error ? "is-error" : ""}`, role: "treeitem", "data-step-type": step.type },
      h("details", { open }, stepSummary(step), h("div", { class: "step-body" }, stepBody(step)),
        kids.length ? build(step.id, depth + 1) : null));
  }));
  return build(null, 0);
}

/** Input, output, error, conversation and steps of a trace (used by detail and review). */
export function traceBody(trace, { compact = false } = {}) {
  return h("div", { class: "trace-body" },
    trace.error ? h("div", { class: "error-box", role: "note" }, h("strong", {}, "Trace error: "), trace.error) : null,
    statsBar(trace.stats),
    h("div", { class: "io-grid" },
      h("section", { class: "card" }, h("h2", {}, "Input"), valueView(trace.input)),
      h("section", { class: "card" }, h("h2", {}, "Output"), valueView(trace.output))),
    h("section", { class: "card" }, h("h2", {}, "Conversation"), conversation(trace.messages, trace.tool_calls)),
    h("section", { class: "card" }, h("h2", {}, "Steps"), stepTree(trace.steps)),
    compact ? null : h("section", { class: "card" }, h("h2", {}, "Metadata"),
      h("dl", { class: "kv" },
        kv("Trace id", trace.id), kv("Source", `${trace.source?.platform || "—"} · ${trace.source?.external_id || ""}`),
        kv("User", trace.user_id), kv("Session", trace.session_id), kv("Tags", (trace.tags || []).join(", "))),
      Object.keys(trace.metadata || {}).length ? codeBlock(trace.metadata) : null));
}

function kv(label, value) {
  return [h("dt", {}, label), h("dd", {}, value || "—")];
}
