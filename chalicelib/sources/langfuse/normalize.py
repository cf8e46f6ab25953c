"""Langfuse ``TraceWithFullDetails`` -> the unified trace.

How the conversation is rebuilt: each GENERATION's input holds the history so far, so
``messages`` is grown generation by generation, appending only the input messages the
conversation does not hold yet, then the generation's output. Customer messages logged
after the last generation (``EVENT`` named like a user message) and tool results that
no later generation repeated close the conversation.

How tool calls are paired: every call an assistant output asks for (OpenAI ``tool_calls``,
legacy ``function_call``, Anthropic ``tool_use``) is matched to the first unpaired TOOL
observation that starts no earlier than its generation and carries the same call id in
its metadata, else the same name. Ids are not trusted to be unique (tau-bench reuses
them). A TOOL observation no call claims becomes a tool call of its own.

An LLM step's ``messages`` are the messages it produced (its output); what it was sent
stays in its raw ``input``; repeating every history per step would double a trace's size.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from chalicelib.errors import ValidationError
from chalicelib.ids import trace_id_for
from chalicelib.sources.common import fill_results_from_messages, message_key, new_messages, number_or_none
from chalicelib.traces.models import (
    Message,
    Step,
    StepType,
    ToolCall,
    TraceSource,
    TraceStats,
    UnifiedTrace,
    Usage,
)

PLATFORM = "langfuse"

STEP_TYPES: dict[str, StepType] = {
    "GENERATION": "llm",
    "TOOL": "tool",
    "RETRIEVER": "retriever",
    "AGENT": "agent",
    "CHAIN": "chain",
    "EVENT": "event",
    "SPAN": "span",
}
USER_EVENT_NAMES = {"user_message", "user-message", "user_input", "user-input", "user"}
TOOL_CALL_ID_KEYS = ("tool_call_id", "toolCallId", "tool_use_id", "call_id")
_ROLES = {
    "user": "user",
    "human": "user",
    "assistant": "assistant",
    "ai": "assistant",
    "model": "assistant",
    "system": "system",
    "developer": "system",
    "tool": "tool",
    "function": "tool",
    "ipython": "tool",
}


def normalize_langfuse_trace(raw: dict[str, Any], *, integration_id: str | None, base_url: str | None = None) -> UnifiedTrace:
    """Turn one Langfuse trace with its observations into a UnifiedTrace."""
    if not isinstance(raw, dict) or not raw.get("id"):
        raise ValidationError("a Langfuse trace needs an 'id'")
    external_id = str(raw["id"])
    observations = _sorted_observations(raw.get("observations"))
    steps = [_step(obs) for obs in observations]
    step_ids = {step.id for step in steps}

    llm_outputs = {
        step.id: _messages_from(obs.get("output"), "assistant") for obs, step in zip(observations, steps) if step.type == "llm"
    }
    tool_calls, requested = _pair_tool_calls(observations, steps, llm_outputs)
    for step in steps:
        if step.type == "llm":
            step.tool_calls = requested.get(step.id, [])
        elif step.type == "tool":
            step.tool_calls = [call for call in tool_calls if call.step_id == step.id]
    messages = _conversation(observations, steps, llm_outputs, tool_calls)
    if not messages:
        messages = _messages_without_generations(raw)
    fill_results_from_messages(tool_calls, messages, {step.id for step in steps if step.type == "llm"})

    trace_input = raw.get("input")
    if trace_input is None:
        trace_input = next((m.content for m in messages if m.role == "user"), None)
    trace_output = raw.get("output")
    if trace_output is None:
        trace_output = next((m.content for m in reversed(messages) if m.role == "assistant" and m.content), None)

    roots = [step for step in steps if step.parent_id is None or step.parent_id not in step_ids]
    error = next((step.error for step in roots if step.error), None)

    return UnifiedTrace(
        id=trace_id_for(integration_id or "upload", external_id),
        source=TraceSource(
            platform=PLATFORM,
            integration_id=integration_id,
            external_id=external_id,
            url=_trace_url(base_url, raw.get("htmlPath")),
        ),
        name=_str_or_none(raw.get("name")),
        timestamp=to_utc_iso(raw.get("timestamp")) or (steps[0].start_time if steps else None),
        user_id=_str_or_none(raw.get("userId")),
        session_id=_str_or_none(raw.get("sessionId")),
        tags=[str(tag) for tag in raw.get("tags") or [] if tag is not None],
        metadata=_as_dict(raw.get("metadata")),
        input=trace_input,
        output=trace_output,
        messages=messages,
        tool_calls=tool_calls,
        steps=steps,
        stats=_stats(raw, steps, roots, tool_calls),
        error=error,
    )


def to_utc_iso(value: Any) -> str | None:
    """An ISO 8601 UTC string with milliseconds and a Z (sorts as text), or None when unparseable."""
    moment = _parse_time(value)
    if moment is None:
        return None
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


# --- steps ---------------------------------------------------------------------------------


def _sorted_observations(value: Any) -> list[dict[str, Any]]:
    observations = [obs for obs in value or [] if isinstance(obs, dict) and obs.get("id")]
    far_future = datetime.max.replace(tzinfo=timezone.utc)

    def order(item: tuple[int, dict[str, Any]]) -> tuple[datetime, int]:
        index, obs = item
        return _parse_time(obs.get("startTime")) or _parse_time(obs.get("endTime")) or far_future, index

    seen: set[str] = set()
    unique = []
    for _, obs in sorted(enumerate(observations), key=order):
        if str(obs["id"]) not in seen:
            seen.add(str(obs["id"]))
            unique.append(obs)
    return unique


def _step(obs: dict[str, Any]) -> Step:
    source_type = str(obs.get("type") or "SPAN").upper()
    step_type = STEP_TYPES.get(source_type, "span")
    metadata = _as_dict(obs.get("metadata"))
    if step_type == "span" and source_type != "SPAN":
        metadata.setdefault("langfuse_type", source_type)
    level = obs.get("level")
    if level and level not in ("DEFAULT", "ERROR"):
        metadata.setdefault("langfuse_level", level)
    start, end = to_utc_iso(obs.get("startTime")), to_utc_iso(obs.get("endTime"))
    messages = _messages_from(obs.get("output"), "assistant") if step_type == "llm" else []
    return Step(
        id=str(obs["id"]),
        parent_id=_str_or_none(obs.get("parentObservationId")),
        type=step_type,
        name=_str_or_none(obs.get("name")),
        start_time=start,
        end_time=end,
        latency_ms=_latency_ms(obs),
        input=obs.get("input"),
        output=obs.get("output"),
        messages=messages,
        model=_str_or_none(obs.get("model") or obs.get("providedModelName")),
        usage=_usage(obs),
        cost_usd=_cost(obs),
        error=_error(obs),
        metadata=metadata,
    )


def _latency_ms(obs: dict[str, Any]) -> int | None:
    start, end = _parse_time(obs.get("startTime")), _parse_time(obs.get("endTime"))
    if start is not None and end is not None:
        return max(0, round((end - start).total_seconds() * 1000))
    latency = number_or_none(obs.get("latency"))
    return round(latency * 1000) if latency is not None and latency >= 0 else None


def _usage(obs: dict[str, Any]) -> Usage:
    details = obs.get("usageDetails") if isinstance(obs.get("usageDetails"), dict) else {}
    legacy = obs.get("usage") if isinstance(obs.get("usage"), dict) else {}

    def first_int(*candidates: Any) -> int:
        for candidate in candidates:
            number = number_or_none(candidate)
            if number is not None and number >= 0:
                return int(number)
        return 0

    return Usage(
        input_tokens=first_int(
            details.get("input"), details.get("input_tokens"), details.get("prompt_tokens"),
            legacy.get("input"), legacy.get("promptTokens"), obs.get("promptTokens"), obs.get("inputUsage"),
        ),
        output_tokens=first_int(
            details.get("output"), details.get("output_tokens"), details.get("completion_tokens"),
            legacy.get("output"), legacy.get("completionTokens"), obs.get("completionTokens"), obs.get("outputUsage"),
        ),
    )


def _cost(obs: dict[str, Any]) -> float | None:
    details = obs.get("costDetails") if isinstance(obs.get("costDetails"), dict) else {}
    total = number_or_none(details.get("total"))
    if total is not None:
        return total
    parts = [number_or_none(value) for key, value in details.items() if key != "total"]
    parts = [part for part in parts if part is not None]
    if parts:
        return sum(parts)
    legacy = obs.get("usage") if isinstance(obs.get("usage"), dict) else {}
    for candidate in (obs.get("calculatedTotalCost"), obs.get("totalCost"), legacy.get("totalCost")):
        number = number_or_none(candidate)
        if number is not None and number >= 0:
            return number
    return None


def _error(obs: dict[str, Any]) -> str | None:
    if str(obs.get("level") or "").upper() != "ERROR":
        return None
    message = obs.get("statusMessage")
    return str(message) if message not in (None, "") else "error"


# --- messages ------------------------------------------------------------------------------


def _messages_from(value: Any, default_role: str) -> list[Message]:
    """Messages from a generation's input or output, whatever shape the SDK logged."""
    if value is None or value == [] or value == {}:
        return []
    if isinstance(value, str):
        return [Message(role=default_role, content=value)] if value != "" else []  # type: ignore[arg-type]
    if isinstance(value, list):
        if value and all(isinstance(item, dict) and _looks_like_message(item) for item in value):
            return [message for item in value for message in _message(item, default_role)]
        if all(isinstance(item, dict) and "type" in item for item in value):
            return _message({"role": default_role, "content": value}, default_role)
        return [Message(role=default_role, content=value)]  # type: ignore[arg-type]
    if isinstance(value, dict):
        if isinstance(value.get("messages"), list):
            system = value.get("system")
            head = _messages_from(system, "system") if isinstance(system, (str, list)) else []
            return head + _messages_from(value["messages"], default_role)
        choices = value.get("choices")
        if isinstance(choices, list) and choices and isinstance(choices[0], dict) and isinstance(choices[0].get("message"), dict):
            return _message(choices[0]["message"], "assistant")
        if "role" in value or "content" in value or "tool_calls" in value or "function_call" in value:
            return _message(value, default_role)
        return [Message(role=default_role, content=value)]  # type: ignore[arg-type]
    return [Message(role=default_role, content=value)]  # type: ignore[arg-type]


def _looks_like_message(item: dict[str, Any]) -> bool:
    return "role" in item or (str(item.get("type") or "").lower() in _ROLES and "content" in item)


def _message(item: dict[str, Any], default_role: str) -> list[Message]:
    role = _ROLES.get(str(item.get("role") or item.get("type") or default_role).lower())
    if role is None:
        role = default_role
    content = item.get("content")
    extra = item.get("additional_kwargs") if isinstance(item.get("additional_kwargs"), dict) else {}
    raw_calls = item.get("tool_calls") or extra.get("tool_calls") or []
    tool_calls = [call for call in (_openai_call(raw) for raw in raw_calls) if call]
    if isinstance(item.get("function_call"), dict):
        legacy = _openai_call({"function": item["function_call"]})
        if legacy:
            tool_calls.append(legacy)
    results: list[Message] = []
    if isinstance(content, list):
        kept: list[Any] = []
        for part in content:
            kind = part.get("type") if isinstance(part, dict) else None
            if kind == "tool_use":
                tool_calls.append({"id": _str_or_none(part.get("id")), "name": str(part.get("name") or ""), "arguments": _arguments(part.get("input"))})
            elif kind == "tool_result":
                results.append(
                    Message(role="tool", content=_text_or_parts(part.get("content")), tool_call_id=_str_or_none(part.get("tool_use_id")))
                )
            else:
                kept.append(part)
        content = _text_or_parts(kept) if kept else None
    if results and content is None and not tool_calls:
        return results
    own = Message(
        role=role,  # type: ignore[arg-type]
        content=content,
        tool_calls=tool_calls,
        tool_call_id=_str_or_none(item.get("tool_call_id")),
        name=_str_or_none(item.get("name")) if role == "tool" else None,
    )
    return [*results, own]


def _text_or_parts(content: Any) -> Any:
    """Join text-only content parts into one string; keep other structured content as is."""
    if isinstance(content, list) and content and all(
        isinstance(part, str) or (isinstance(part, dict) and part.get("type") in ("text", "input_text", "output_text") and isinstance(part.get("text"), str))
        for part in content
    ):
        return "\n".join(part if isinstance(part, str) else part["text"] for part in content)
    return content


def _openai_call(raw: Any) -> dict[str, Any] | None:
    if not isinstance(raw, dict):
        return None
    function = raw.get("function") if isinstance(raw.get("function"), dict) else raw
    name = function.get("name")
    if not name:
        return None
    return {"id": _str_or_none(raw.get("id")), "name": str(name), "arguments": _arguments(function.get("arguments", function.get("input", function.get("args"))))}


def _arguments(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value) if value.strip() else {}
        except ValueError:
            return value
    return {} if value is None else value


def _conversation(
    observations: list[dict[str, Any]],
    steps: list[Step],
    llm_outputs: dict[str, list[Message]],
    tool_calls: list[ToolCall],
) -> list[Message]:
    conversation: list[Message] = []
    keys: list[str] = []

    def add(message: Message) -> None:
        conversation.append(message)
        keys.append(message_key(message))

    last_llm = max((index for index, step in enumerate(steps) if step.type == "llm"), default=None)
    for obs, step in zip(observations, steps):
        if step.type != "llm":
            continue
        for message in new_messages(keys, _messages_from(obs.get("input"), "user")):
            add(message)
        for message in llm_outputs.get(step.id, []):
            add(message)
    if last_llm is None:
        return conversation

    by_step = {call.step_id: call for call in tool_calls}
    for obs, step in list(zip(observations, steps))[last_llm + 1 :]:
        if step.type == "tool":
            call = by_step.get(step.id)
            call_id = call.id if call else None
            add(Message(role="tool", content=_tool_content(step.output), tool_call_id=call_id, name=step.name))
        elif step.type == "event" and (step.name or "").lower() in USER_EVENT_NAMES:
            text = _event_text(obs)
            if text is not None:
                add(Message(role="user", content=text))
    return conversation


def _messages_without_generations(raw: dict[str, Any]) -> list[Message]:
    messages: list[Message] = []
    for obs in _sorted_observations(raw.get("observations")):
        if str(obs.get("type") or "").upper() == "EVENT" and str(obs.get("name") or "").lower() in USER_EVENT_NAMES:
            text = _event_text(obs)
            if text is not None:
                messages.append(Message(role="user", content=text))
    if not messages and raw.get("input") is not None:
        messages.extend(_messages_from(raw.get("input"), "user"))
    if raw.get("output") is not None and not any(m.role == "assistant" for m in messages):
        messages.extend(_messages_from(raw.get("output"), "assistant"))
    return messages


def _event_text(obs: dict[str, Any]) -> Any:
    value = obs.get("input")
    if isinstance(value, dict):
        value = value.get("content", value.get("text", value.get("message", value)))
    return value


def _tool_content(output: Any) -> Any:
    return output if isinstance(output, str) or output is None else json.dumps(output, default=str)


# --- tool calls ----------------------------------------------------------------------------


def _tool_call_id_of(obs: dict[str, Any]) -> str | None:
    metadata = obs.get("metadata") if isinstance(obs.get("metadata"), dict) else {}
    for key in TOOL_CALL_ID_KEYS:
        if metadata.get(key):
            return str(metadata[key])
    return None


def _pair_tool_calls(
    observations: list[dict[str, Any]],
    steps: list[Step],
    llm_outputs: dict[str, list[Message]],
) -> tuple[list[ToolCall], dict[str, list[ToolCall]]]:
    """All tool calls in order, and the calls each LLM step asked for."""
    requested_by: dict[str, list[ToolCall]] = {}
    tool_steps = [(index, obs, step) for index, (obs, step) in enumerate(zip(observations, steps)) if step.type == "tool"]
    claimed: set[int] = set()
    placed: list[tuple[int, int, ToolCall]] = []

    for index, step in enumerate(steps):
        if step.type != "llm":
            continue
        requested = [call for message in llm_outputs.get(step.id, []) for call in message.tool_calls]
        for order, call in enumerate(requested):
            match = _match_tool(tool_steps, claimed, index, step.start_time, call)
            call_id = call.get("id") or f"{step.id}:{order}"
            if match is None:
                paired = ToolCall(id=call_id, name=call["name"], arguments=call["arguments"], step_id=step.id)
            else:
                tool_index, _, tool_step = match
                claimed.add(tool_index)
                paired = ToolCall(
                    id=call_id,
                    name=call["name"],
                    arguments=call["arguments"],
                    result=tool_step.output,
                    error=tool_step.error,
                    step_id=tool_step.id,
                )
            placed.append((index, order, paired))
            requested_by.setdefault(step.id, []).append(paired)

    for tool_index, obs, tool_step in tool_steps:
        if tool_index in claimed:
            continue
        placed.append(
            (
                tool_index,
                0,
                ToolCall(
                    id=_tool_call_id_of(obs) or tool_step.id,
                    name=tool_step.name or "tool",
                    arguments=_arguments(tool_step.input),
                    result=tool_step.output,
                    error=tool_step.error,
                    step_id=tool_step.id,
                ),
            )
        )
    placed.sort(key=lambda item: (item[0], item[1]))
    return [call for _, _, call in placed], requested_by


def _match_tool(
    tool_steps: list[tuple[int, dict[str, Any], Step]],
    claimed: set[int],
    llm_index: int,
    llm_start: str | None,
    call: dict[str, Any],
) -> tuple[int, dict[str, Any], Step] | None:
    candidates = [
        item
        for item in tool_steps
        if item[0] not in claimed and (item[0] > llm_index or (llm_start and item[2].start_time and item[2].start_time >= llm_start))
    ]
    if call.get("id"):
        for item in candidates:
            if _tool_call_id_of(item[1]) == call["id"]:
                return item
    for item in candidates:
        if item[2].name == call["name"] and (_tool_call_id_of(item[1]) is None or not call.get("id")):
            return item
    return None


# --- stats ---------------------------------------------------------------------------------


def _stats(raw: dict[str, Any], steps: list[Step], roots: list[Step], tool_calls: list[ToolCall]) -> TraceStats:
    costs = [step.cost_usd for step in steps if step.cost_usd is not None]
    total_cost = number_or_none(raw.get("totalCost"))
    if total_cost is None or total_cost < 0:
        total_cost = sum(costs) if costs else None
    return TraceStats(
        steps=len(steps),
        llm_calls=sum(1 for step in steps if step.type == "llm"),
        tool_calls=len(tool_calls),
        tool_errors=sum(1 for call in tool_calls if call.error is not None),
        latency_ms=_trace_latency_ms(raw, steps, roots),
        input_tokens=sum(step.usage.input_tokens for step in steps),
        output_tokens=sum(step.usage.output_tokens for step in steps),
        cost_usd=total_cost,
    )


def _trace_latency_ms(raw: dict[str, Any], steps: list[Step], roots: list[Step]) -> int | None:
    latency = number_or_none(raw.get("latency"))
    if latency is not None and latency >= 0:
        return round(latency * 1000)
    if len(roots) == 1 and roots[0].latency_ms is not None:
        return roots[0].latency_ms
    starts = [_parse_time(step.start_time) for step in steps]
    ends = [_parse_time(step.end_time) for step in steps]
    starts_known = [moment for moment in starts if moment is not None]
    ends_known = [moment for moment in ends if moment is not None]
    if not starts_known or not ends_known:
        return None
    return max(0, round((max(ends_known) - min(starts_known)).total_seconds() * 1000))


# --- small helpers -------------------------------------------------------------------------


def _parse_time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str) and value:
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            return None
    else:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def _as_dict(value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        return dict(value)
    return {} if value is None else {"value": value}


def _str_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


def _trace_url(base_url: str | None, html_path: Any) -> str | None:
    if not base_url or not isinstance(html_path, str) or not html_path:
        return None
    return base_url.rstrip("/") + "/" + html_path.lstrip("/")
