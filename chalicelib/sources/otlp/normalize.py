"""One trace's OTLP spans (OpenInference / OpenTelemetry GenAI) -> the unified trace.

The input is a raw trace as ``grouping.group_spans`` builds it: ``{"id": <traceId hex>,
"spans": [{"line", "resource", "scope", "span"}]}``, span being one OTLP/JSON span.

Conversation and pairing follow the Langfuse normalizer: each LLM span's input messages
repeat the history, so ``messages`` grows span by span (in start order) with only the input
messages the conversation does not hold yet, then the span's output messages; results of
TOOL spans after the last LLM span close it. Each tool call an LLM output asks for is paired
with the first unclaimed TOOL span that starts no earlier than the LLM span and carries the
same call id (``tool_call.id`` / ``gen_ai.tool.call.id``), else the same tool name; a TOOL
span no call claims becomes a call of its own. A step is in error when its status code is
2 (the status message, else the exception event's message) or when it recorded an
exception event and its status is not OK.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from chalicelib.ids import trace_id_for
from chalicelib.sources.otlp import conventions as conv
from chalicelib.sources.otlp.values import (
    STATUS_ERROR,
    STATUS_OK,
    OtlpFormatError,
    decode_attributes,
    decode_events,
    decode_id,
    decode_status_code,
    decode_time,
)
from chalicelib.sources.common import fill_results_from_messages, message_key, new_messages
from chalicelib.traces.models import Message, Step, ToolCall, TraceSource, TraceStats, UnifiedTrace, Usage

PLATFORM = "otlp"
_FAR_FUTURE = datetime.max.replace(tzinfo=timezone.utc)


@dataclass
class _Span:
    step: Step
    attrs: dict[str, Any]
    resource: dict[str, Any]
    start: datetime | None
    end: datetime | None
    inputs: list[Message] = field(default_factory=list)
    outputs: list[Message] = field(default_factory=list)
    call_id: str | None = None


def normalize_otlp_trace(raw: dict[str, Any], *, integration_id: str | None) -> UnifiedTrace:
    """Turn one trace's grouped OTLP spans into a UnifiedTrace (OtlpFormatError when a span is malformed)."""
    if not isinstance(raw, dict) or not raw.get("id") or not isinstance(raw.get("spans"), list) or not raw["spans"]:
        raise OtlpFormatError("an OTLP trace needs an 'id' and a non-empty 'spans' list")
    external_id = str(raw["id"])
    several_lines = len(raw.get("lines") or []) > 1
    spans = _sorted_unique([_parse_entry(entry, several_lines) for entry in raw["spans"]])
    steps = [span.step for span in spans]
    step_ids = {step.id for step in steps}

    tool_calls, requested = _pair_tool_calls(spans)
    for span in spans:
        if span.step.type == "llm":
            span.step.tool_calls = requested.get(span.step.id, [])
        elif span.step.type == "tool":
            span.step.tool_calls = [call for call in tool_calls if call.step_id == span.step.id]
    messages = _conversation(spans, tool_calls)
    roots = [span for span in spans if span.step.parent_id is None or span.step.parent_id not in step_ids]
    root = roots[0]
    if not messages:
        messages = conv.messages_from(root.step.input, "user") + conv.messages_from(root.step.output, "assistant")
    fill_results_from_messages(tool_calls, messages, {step.id for step in steps if step.type == "llm"})

    trace_input = root.step.input
    if trace_input is None:
        trace_input = next((m.content for m in messages if m.role == "user"), None)
    trace_output = root.step.output
    if trace_output is None:
        trace_output = next((m.content for m in reversed(messages) if m.role == "assistant" and m.content), None)

    return UnifiedTrace(
        id=trace_id_for(integration_id or "upload", external_id),
        source=TraceSource(platform=PLATFORM, integration_id=integration_id, external_id=external_id),
        name=root.step.name,
        timestamp=root.step.start_time or next((step.start_time for step in steps if step.start_time), None),
        user_id=_first_attr(root, spans, "user.id"),
        session_id=_first_attr(root, spans, "session.id", "gen_ai.conversation.id"),
        tags=_tags(spans),
        metadata=_trace_metadata(root),
        input=trace_input,
        output=trace_output,
        messages=messages,
        tool_calls=tool_calls,
        steps=steps,
        stats=_stats(spans, roots, tool_calls),
        error=next((span.step.error for span in roots if span.step.error), None),
    )


def to_utc_iso(moment: datetime | None) -> str | None:
    """An ISO 8601 UTC string with milliseconds and a Z, or None."""
    if moment is None:
        return None
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


# --- spans -> steps --------------------------------------------------------------------------


def _parse_entry(entry: Any, several_lines: bool) -> _Span:
    if not isinstance(entry, dict) or not isinstance(entry.get("span"), dict):
        raise OtlpFormatError("a grouped span entry needs a 'span' object")
    span = entry["span"]
    label = f"span {span.get('spanId') or span.get('name') or '?'}"
    if several_lines and entry.get("line") is not None:
        label += f" (line {entry['line']})"
    try:
        resource = entry.get("resource") or {}
        if not isinstance(resource, dict):
            raise OtlpFormatError("resource must be an object")
        return _parse_span(span, resource)
    except OtlpFormatError as exc:
        raise OtlpFormatError(f"{label}: {exc}") from exc


def _parse_span(span: dict[str, Any], resource: dict[str, Any]) -> _Span:
    span_id = decode_id(span.get("spanId"), size=8, field="spanId")
    if span_id is None:
        raise OtlpFormatError("no spanId")
    parent_id = decode_id(span.get("parentSpanId"), size=8, field="parentSpanId")
    attrs = decode_attributes(span.get("attributes"))
    events = decode_events(span.get("events"))
    status = span.get("status") or {}
    if not isinstance(status, dict):
        raise OtlpFormatError("status must be an object")
    start = decode_time(span.get("startTimeUnixNano"), field="startTimeUnixNano")
    end = decode_time(span.get("endTimeUnixNano"), field="endTimeUnixNano")
    if start is not None and end is not None and end < start:
        raise OtlpFormatError("endTimeUnixNano is before startTimeUnixNano")

    step_type, source_kind = conv.step_type_of(attrs)
    is_llm = step_type == "llm"
    inputs = conv.input_messages(attrs, events, is_llm=is_llm)
    outputs = conv.output_messages(attrs, events, is_llm=is_llm)
    step_input = conv.io_value(attrs, "input")
    step_output = conv.io_value(attrs, "output")
    if step_type == "tool":
        if step_input is None and attrs.get("gen_ai.tool.call.arguments") is not None:
            step_input = conv.arguments(attrs["gen_ai.tool.call.arguments"])
        if step_output is None:
            step_output = attrs.get("gen_ai.tool.call.result")
    elif is_llm:
        if step_input is None and inputs:
            step_input = [message.model_dump(exclude_defaults=True) for message in inputs]
        if step_output is None and outputs:
            step_output = [message.model_dump(exclude_defaults=True) for message in outputs]
    name = span.get("name")
    if step_type == "tool":
        name = attrs.get("tool.name") or attrs.get("gen_ai.tool.name") or name
    step = Step(
        id=span_id,
        parent_id=parent_id,
        type=step_type,
        name=None if name in (None, "") else str(name),
        start_time=to_utc_iso(start),
        end_time=to_utc_iso(end),
        latency_ms=round((end - start).total_seconds() * 1000) if start and end else None,
        input=step_input,
        output=step_output,
        messages=outputs if is_llm else [],
        model=conv.model_of(attrs),
        usage=conv.usage_of(attrs),
        cost_usd=conv.cost_of(attrs),
        error=_error(decode_status_code(status.get("code")), status.get("message"), events),
        metadata=_step_metadata(attrs, events, source_kind),
    )
    return _Span(step=step, attrs=attrs, resource=resource, start=start, end=end, inputs=inputs, outputs=outputs,
                 call_id=conv.tool_call_id_of(attrs))


def _sorted_unique(spans: list[_Span]) -> list[_Span]:
    """Spans in start order (input order breaks ties); a span id sent twice keeps its first copy."""
    seen: set[str] = set()
    unique = []
    for span in spans:
        if span.step.id not in seen:
            seen.add(span.step.id)
            unique.append(span)
    return [span for _, span in sorted(enumerate(unique), key=lambda item: (item[1].start or _FAR_FUTURE, item[0]))]


def _error(code: int, message: Any, events: list[dict[str, Any]]) -> str | None:
    exception = next((event["attributes"] for event in events if event["name"] == "exception"), None)
    if code != STATUS_ERROR and (exception is None or code == STATUS_OK):
        return None
    if message not in (None, ""):
        return str(message)
    if exception is not None:
        text = exception.get("exception.message")
        kind = exception.get("exception.type")
        if text not in (None, ""):
            return f"{kind}: {text}" if kind else str(text)
        if kind:
            return str(kind)
    return "error"


def _step_metadata(attrs: dict[str, Any], events: list[dict[str, Any]], source_kind: str | None) -> dict[str, Any]:
    metadata = _as_dict(attrs.get("metadata"))
    if source_kind:
        metadata.setdefault("span_kind", source_kind)
    leftover = conv.leftover_attributes(attrs)
    if leftover:
        metadata.setdefault("attributes", leftover)
    others = conv.other_events(events)
    if others:
        metadata.setdefault("events", [
            {"name": event["name"], "time": to_utc_iso(decode_time(event["time_unix_nano"], field="timeUnixNano")),
             "attributes": event["attributes"]}
            for event in others
        ])
    return metadata


# --- conversation and tool calls ---------------------------------------------------------------


def _conversation(spans: list[_Span], tool_calls: list[ToolCall]) -> list[Message]:
    conversation: list[Message] = []
    keys: list[str] = []
    for span in spans:
        if span.step.type != "llm":
            continue
        for message in [*new_messages(keys, span.inputs), *span.outputs]:
            conversation.append(message)
            keys.append(message_key(message))
    last_llm = max((index for index, span in enumerate(spans) if span.step.type == "llm"), default=None)
    if last_llm is None:
        return conversation
    by_step = {call.step_id: call for call in tool_calls}
    for span in spans[last_llm + 1:]:
        if span.step.type == "tool":
            call = by_step.get(span.step.id)
            output = span.step.output
            content = output if isinstance(output, str) or output is None else json.dumps(output, default=str)
            conversation.append(Message(role="tool", content=content, tool_call_id=call.id if call else None, name=span.step.name))
    return conversation


def _pair_tool_calls(spans: list[_Span]) -> tuple[list[ToolCall], dict[str, list[ToolCall]]]:
    """All tool calls in order, and the calls each LLM step asked for."""
    tools = [(index, span) for index, span in enumerate(spans) if span.step.type == "tool"]
    claimed: set[int] = set()
    placed: list[tuple[int, int, ToolCall]] = []
    requested_by: dict[str, list[ToolCall]] = {}
    for index, span in enumerate(spans):
        if span.step.type != "llm":
            continue
        for order, call in enumerate(call for message in span.outputs for call in message.tool_calls):
            call_id = call.get("id") or f"{span.step.id}:{order}"
            match = _match_tool(tools, claimed, index, span.step.start_time, call)
            if match is None:
                paired = ToolCall(id=call_id, name=call["name"], arguments=call["arguments"], step_id=span.step.id)
            else:
                claimed.add(match[0])
                tool = match[1].step
                paired = ToolCall(id=call_id, name=call["name"], arguments=call["arguments"], result=tool.output,
                                  error=tool.error, step_id=tool.id)
            placed.append((index, order, paired))
            requested_by.setdefault(span.step.id, []).append(paired)
    for index, span in tools:
        if index not in claimed:
            tool = span.step
            placed.append((index, 0, ToolCall(id=span.call_id or tool.id, name=tool.name or "tool",
                                              arguments=conv.tool_arguments_of(span.attrs), result=tool.output,
                                              error=tool.error, step_id=tool.id)))
    placed.sort(key=lambda item: (item[0], item[1]))
    return [call for _, _, call in placed], requested_by


def _match_tool(tools: list[tuple[int, _Span]], claimed: set[int], llm_index: int, llm_start: str | None,
                call: dict[str, Any]) -> tuple[int, _Span] | None:
    candidates = [
        (index, span) for index, span in tools
        if index not in claimed and (index > llm_index or (llm_start and span.step.start_time and span.step.start_time >= llm_start))
    ]
    if call.get("id"):
        for item in candidates:
            if item[1].call_id == call["id"]:
                return item
    for item in candidates:
        if item[1].step.name == call["name"] and (item[1].call_id is None or not call.get("id")):
            return item
    return None


# --- trace-level fields ------------------------------------------------------------------------


def _first_attr(root: _Span, spans: list[_Span], *keys: str) -> str | None:
    for span in [root, *spans]:
        for key in keys:
            if span.attrs.get(key) not in (None, ""):
                return str(span.attrs[key])
    for key in keys:
        value = _resource_attrs(root).get(key)
        if value not in (None, ""):
            return str(value)
    return None


def _tags(spans: list[_Span]) -> list[str]:
    tags: list[str] = []
    for span in spans:
        value = span.attrs.get("tag.tags")
        if isinstance(value, str):
            value = conv.parse_json(value) if value.startswith("[") else [value]
        for tag in value if isinstance(value, list) else []:
            if tag is not None and str(tag) not in tags:
                tags.append(str(tag))
    return tags


def _trace_metadata(root: _Span) -> dict[str, Any]:
    metadata = _as_dict(root.attrs.get("metadata"))
    service = _resource_attrs(root).get("service.name")
    if service is not None:
        metadata.setdefault("service_name", service)
    return metadata


def _resource_attrs(span: _Span) -> dict[str, Any]:
    return decode_attributes(span.resource.get("attributes"))


def _stats(spans: list[_Span], roots: list[_Span], tool_calls: list[ToolCall]) -> TraceStats:
    steps = [span.step for span in spans]
    llm_steps = [step for step in steps if step.type == "llm"]
    counted = llm_steps if any(step.usage != Usage() for step in llm_steps) else steps
    costs = [step.cost_usd for step in (llm_steps if any(s.cost_usd is not None for s in llm_steps) else steps)
             if step.cost_usd is not None]
    return TraceStats(
        steps=len(steps),
        llm_calls=len(llm_steps),
        tool_calls=len(tool_calls),
        tool_errors=sum(1 for call in tool_calls if call.error is not None),
        latency_ms=_latency_ms(spans, roots),
        input_tokens=sum(step.usage.input_tokens for step in counted),
        output_tokens=sum(step.usage.output_tokens for step in counted),
        cost_usd=sum(costs) if costs else None,
    )


def _latency_ms(spans: list[_Span], roots: list[_Span]) -> int | None:
    if len(roots) == 1 and roots[0].step.latency_ms is not None:
        return roots[0].step.latency_ms
    starts = [span.start for span in spans if span.start is not None]
    ends_known = [span.end for span in spans if span.end is not None]
    if not starts or not ends_known:
        return None
    return max(0, round((max(ends_known) - min(starts)).total_seconds() * 1000))


def _as_dict(value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        value = conv.parse_json(value)
    if isinstance(value, dict):
        return dict(value)
    return {} if value is None else {"value": value}
