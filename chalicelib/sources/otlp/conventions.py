"""What a span's attributes and events mean under OpenInference and the OpenTelemetry GenAI conventions.

Messages are read from the first convention a span uses, in this order:
OpenInference flattened ``llm.input_messages.N.message.*``; GenAI JSON ``gen_ai.input.messages``
(with ``gen_ai.system_instructions``); OpenLLMetry flattened ``gen_ai.prompt.N.*``; the legacy
``gen_ai.prompt`` attribute or ``gen_ai.content.prompt`` event; the GenAI per-message events
(``gen_ai.user.message`` ...); and for LLM spans at last ``input.value`` itself. Outputs
likewise (``llm.output_messages``, ``gen_ai.output.messages``, ``gen_ai.completion.N``,
``gen_ai.completion``, ``gen_ai.choice`` events, ``output.value``).
"""

from __future__ import annotations

import json
import re
from typing import Any

from chalicelib.sources.common import number_or_none
from chalicelib.traces.models import Message, StepType, Usage

OPENINFERENCE_KINDS: dict[str, StepType] = {
    "LLM": "llm",
    "TOOL": "tool",
    "CHAIN": "chain",
    "AGENT": "agent",
    "RETRIEVER": "retriever",
    "RERANKER": "retriever",
    "EMBEDDING": "span",
    "GUARDRAIL": "span",
    "EVALUATOR": "span",
    "PROMPT": "span",
    "UNKNOWN": "span",
}
GENAI_OPERATIONS: dict[str, StepType] = {
    "chat": "llm",
    "text_completion": "llm",
    "generate_content": "llm",
    "completion": "llm",
    "execute_tool": "tool",
    "invoke_agent": "agent",
    "create_agent": "agent",
    "embeddings": "span",
}
GENAI_MESSAGE_EVENTS = {
    "gen_ai.system.message": "system",
    "gen_ai.user.message": "user",
    "gen_ai.assistant.message": "assistant",
    "gen_ai.tool.message": "tool",
}
TOOL_CALL_ID_KEYS = ("tool_call.id", "gen_ai.tool.call.id", "tool.call_id", "tool_call_id")
CONSUMED_PREFIXES = (
    "llm.input_messages.", "llm.output_messages.", "llm.token_count.", "llm.cost.", "llm.tools.",
    "gen_ai.prompt", "gen_ai.completion", "gen_ai.input.messages", "gen_ai.output.messages",
    "gen_ai.system_instructions", "gen_ai.tool.definitions", "gen_ai.usage.",
)
CONSUMED_KEYS = {
    "openinference.span.kind", "input.value", "input.mime_type", "output.value", "output.mime_type",
    "metadata", "tag.tags", "session.id", "user.id", "llm.model_name", "tool.name",
    "gen_ai.tool.name", "gen_ai.tool.call.arguments", "gen_ai.tool.call.result", *TOOL_CALL_ID_KEYS,
}
_ROLES = {
    "user": "user", "human": "user", "assistant": "assistant", "ai": "assistant", "model": "assistant",
    "system": "system", "developer": "system", "tool": "tool", "function": "tool", "ipython": "tool",
}
_INDEXED = re.compile(r"^(\d+)\.(.+)$")


def step_type_of(attrs: dict[str, Any]) -> tuple[StepType, str | None]:
    """The unified step type of a span, and the source kind when it maps to a plain span."""
    kind = attrs.get("openinference.span.kind")
    if isinstance(kind, str) and kind:
        step_type = OPENINFERENCE_KINDS.get(kind.upper(), "span")
        return step_type, kind.upper() if step_type == "span" or kind.upper() == "RERANKER" else None
    operation = attrs.get("gen_ai.operation.name")
    if isinstance(operation, str) and operation:
        step_type = GENAI_OPERATIONS.get(operation.lower(), "span")
        return step_type, operation if step_type == "span" else None
    if attrs.get("gen_ai.tool.name") is not None:
        return "tool", None
    if attrs.get("gen_ai.request.model") is not None or attrs.get("gen_ai.system") is not None:
        return "llm", None
    return "span", None


def io_value(attrs: dict[str, Any], which: str) -> Any:
    """``input.value`` / ``output.value``, decoded when its mime type says JSON."""
    value = attrs.get(f"{which}.value")
    mime = str(attrs.get(f"{which}.mime_type") or "").lower()
    if isinstance(value, str) and "json" in mime:
        return parse_json(value)
    return value


def usage_of(attrs: dict[str, Any]) -> Usage:
    """Token counts of a span (OpenInference ``llm.token_count.*`` or GenAI ``gen_ai.usage.*``)."""
    return Usage(
        input_tokens=_first_count(attrs, "llm.token_count.prompt", "gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens"),
        output_tokens=_first_count(attrs, "llm.token_count.completion", "gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens"),
    )


def cost_of(attrs: dict[str, Any]) -> float | None:
    """Cost in USD when the span carries OpenInference ``llm.cost.*``."""
    total = number_or_none(attrs.get("llm.cost.total"))
    if total is not None:
        return total
    parts = [number_or_none(attrs.get(key)) for key in ("llm.cost.prompt", "llm.cost.completion")]
    known = [part for part in parts if part is not None]
    return sum(known) if known else None


def model_of(attrs: dict[str, Any]) -> str | None:
    """The model name a span used."""
    for key in ("llm.model_name", "gen_ai.response.model", "gen_ai.request.model", "embedding.model_name"):
        if attrs.get(key):
            return str(attrs[key])
    return None


def tool_call_id_of(attrs: dict[str, Any]) -> str | None:
    """The id of the tool call a TOOL span answers, when it carries one."""
    for key in TOOL_CALL_ID_KEYS:
        if attrs.get(key):
            return str(attrs[key])
    return None


def tool_arguments_of(attrs: dict[str, Any]) -> Any:
    """A TOOL span's arguments: ``input.value``, else ``gen_ai.tool.call.arguments``, else ``tool.parameters``."""
    for key in ("input.value", "gen_ai.tool.call.arguments", "tool.parameters"):
        if attrs.get(key) is not None:
            return arguments(attrs[key])
    return {}


def input_messages(attrs: dict[str, Any], events: list[dict[str, Any]], *, is_llm: bool) -> list[Message]:
    """The messages a span was sent, by the first convention it uses."""
    if _has_prefix(attrs, "llm.input_messages."):
        return _openinference_messages(attrs, "llm.input_messages", "user")
    if attrs.get("gen_ai.input.messages") is not None:
        system = _json_value(attrs.get("gen_ai.system_instructions"))
        head = [Message(role="system", content=_parts_content(system))] if system else []
        return head + messages_from(_json_value(attrs["gen_ai.input.messages"]), "user")
    if _has_prefix(attrs, "gen_ai.prompt."):
        return [message for item in _indexed(attrs, "gen_ai.prompt") for message in _flat_message(item, "user")]
    legacy = attrs.get("gen_ai.prompt")
    if legacy is None:
        legacy = next((event["attributes"].get("gen_ai.prompt") for event in events if event["name"] == "gen_ai.content.prompt"), None)
    if legacy is not None:
        return messages_from(_json_value(legacy), "user")
    from_events = [message for event in events if event["name"] in GENAI_MESSAGE_EVENTS for message in _event_message(event)]
    if from_events:
        return from_events
    if is_llm:
        return messages_from(io_value_or_json(attrs, "input"), "user")
    return []


def output_messages(attrs: dict[str, Any], events: list[dict[str, Any]], *, is_llm: bool) -> list[Message]:
    """The messages a span produced, by the first convention it uses."""
    if _has_prefix(attrs, "llm.output_messages."):
        return _openinference_messages(attrs, "llm.output_messages", "assistant")
    if attrs.get("gen_ai.output.messages") is not None:
        return messages_from(_json_value(attrs["gen_ai.output.messages"]), "assistant")
    if _has_prefix(attrs, "gen_ai.completion."):
        return [message for item in _indexed(attrs, "gen_ai.completion") for message in _flat_message(item, "assistant")]
    legacy = attrs.get("gen_ai.completion")
    if legacy is None:
        legacy = next((event["attributes"].get("gen_ai.completion") for event in events if event["name"] == "gen_ai.content.completion"), None)
    if legacy is not None:
        return messages_from(_json_value(legacy), "assistant")
    choices = [event for event in events if event["name"] == "gen_ai.choice"]
    if choices:
        return [message for event in choices for message in _choice_message(event)]
    if is_llm:
        return messages_from(io_value_or_json(attrs, "output"), "assistant")
    return []


def io_value_or_json(attrs: dict[str, Any], which: str) -> Any:
    """``input.value``/``output.value`` decoded as JSON when it parses, whatever the mime type says."""
    value = attrs.get(f"{which}.value")
    return parse_json(value) if isinstance(value, str) else value


def messages_from(value: Any, default_role: str) -> list[Message]:
    """Messages from a logged payload: a list of chat messages, ``{"messages": [...]}``, a completion, or plain text."""
    if value is None or value == "" or value == [] or value == {}:
        return []
    if isinstance(value, str):
        return [Message(role=default_role, content=value)]  # type: ignore[arg-type]
    if isinstance(value, list):
        if all(isinstance(item, dict) and ("role" in item or "parts" in item) for item in value):
            return [message for item in value for message in _dict_message(item, default_role)]
        return [Message(role=default_role, content=_parts_content(value))]  # type: ignore[arg-type]
    if isinstance(value, dict):
        if isinstance(value.get("messages"), list):
            return messages_from(value["messages"], default_role)
        choices = value.get("choices")
        if isinstance(choices, list) and choices and isinstance(choices[0], dict) and isinstance(choices[0].get("message"), dict):
            return _dict_message(choices[0]["message"], "assistant")
        if "role" in value or "content" in value or "tool_calls" in value or "parts" in value:
            return _dict_message(value, default_role)
    return [Message(role=default_role, content=value)]  # type: ignore[arg-type]


def arguments(value: Any) -> Any:
    """Tool-call arguments decoded from JSON when they are a JSON string."""
    if isinstance(value, str):
        if not value.strip():
            return {}
        return parse_json(value)
    return {} if value is None else value


def parse_json(text: str) -> Any:
    """The JSON value of a string, or the string itself when it is not JSON."""
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except ValueError:
        return text


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def other_events(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Span events no convention consumed (kept in step metadata)."""
    consumed = {"exception", "gen_ai.content.prompt", "gen_ai.content.completion", "gen_ai.choice", *GENAI_MESSAGE_EVENTS}
    return [event for event in events if event["name"] not in consumed]


def leftover_attributes(attrs: dict[str, Any]) -> dict[str, Any]:
    """The attributes no mapping consumed (kept in step metadata)."""
    return {
        key: value for key, value in attrs.items()
        if key not in CONSUMED_KEYS and not key.startswith(CONSUMED_PREFIXES)
    }


# --- message shapes --------------------------------------------------------------------------


def _openinference_messages(attrs: dict[str, Any], prefix: str, default_role: str) -> list[Message]:
    messages = []
    for item in _indexed(attrs, prefix):
        role = _role(item.get("message.role"), default_role)
        content = item.get("message.content")
        if content is None:
            parts = [_content_part(part) for part in _indexed(item, "message.contents")]
            content = _parts_content(parts) if parts else None
        calls = [
            {
                "id": _str_or_none(call.get("tool_call.id")),
                "name": str(call.get("tool_call.function.name") or ""),
                "arguments": arguments(call.get("tool_call.function.arguments")),
            }
            for call in _indexed(item, "message.tool_calls")
            if call.get("tool_call.function.name")
        ]
        messages.append(
            Message(
                role=role,  # type: ignore[arg-type]
                content=content,
                tool_calls=calls,
                tool_call_id=_str_or_none(item.get("message.tool_call_id")),
                name=_str_or_none(item.get("message.name")) if role == "tool" else None,
            )
        )
    return messages


def _content_part(part: dict[str, Any]) -> Any:
    kind = part.get("message_content.type")
    if kind == "text" or (kind is None and "message_content.text" in part):
        return {"type": "text", "text": part.get("message_content.text")}
    if kind == "image":
        return {"type": "image", "url": part.get("message_content.image.image.url")}
    return {key.removeprefix("message_content."): value for key, value in part.items()}


def _flat_message(item: dict[str, Any], default_role: str) -> list[Message]:
    """An OpenLLMetry ``gen_ai.prompt.N.*`` / ``gen_ai.completion.N.*`` message."""
    calls = [
        {"id": _str_or_none(call.get("id")), "name": str(call.get("name")), "arguments": arguments(call.get("arguments"))}
        for call in _indexed(item, "tool_calls")
        if call.get("name")
    ]
    role = _role(item.get("role"), default_role)
    content = item.get("content")
    if isinstance(content, str) and content[:1] == "[" and isinstance(parse_json(content), list):
        content = _parts_content(parse_json(content))
    return [Message(role=role, content=content, tool_calls=calls,  # type: ignore[arg-type]
                    tool_call_id=_str_or_none(item.get("tool_call_id")),
                    name=_str_or_none(item.get("name")) if role == "tool" else None)]


def _dict_message(item: dict[str, Any], default_role: str) -> list[Message]:
    """An OpenAI-style chat message, or a GenAI ``{role, parts}`` message."""
    role = _role(item.get("role"), default_role)
    calls = [call for call in (_call_of(raw) for raw in item.get("tool_calls") or []) if call]
    content = item.get("content")
    results: list[Message] = []
    if isinstance(item.get("parts"), list):
        kept = []
        for part in item["parts"]:
            kind = part.get("type") if isinstance(part, dict) else None
            if kind == "tool_call":
                calls.append({"id": _str_or_none(part.get("id")), "name": str(part.get("name") or ""), "arguments": arguments(part.get("arguments"))})
            elif kind == "tool_call_response":
                results.append(Message(role="tool", content=part.get("response", part.get("result")), tool_call_id=_str_or_none(part.get("id"))))
            else:
                kept.append(part)
        content = _parts_content(kept) if kept else None
    else:
        content = _parts_content(content)
    if results and content is None and not calls:
        return results
    own = Message(role=role, content=content, tool_calls=calls,  # type: ignore[arg-type]
                  tool_call_id=_str_or_none(item.get("tool_call_id")),
                  name=_str_or_none(item.get("name")) if role == "tool" else None)
    return [*results, own]


def _event_message(event: dict[str, Any]) -> list[Message]:
    attrs = event["attributes"]
    role = _role(attrs.get("role"), GENAI_MESSAGE_EVENTS[event["name"]])
    raw_calls = _json_value(attrs.get("tool_calls")) or []
    calls = [call for call in (_call_of(raw) for raw in raw_calls if isinstance(raw_calls, list)) if call]
    return [Message(role=role, content=_parts_content(attrs.get("content")), tool_calls=calls,  # type: ignore[arg-type]
                    tool_call_id=_str_or_none(attrs.get("id")) if role == "tool" else None)]


def _choice_message(event: dict[str, Any]) -> list[Message]:
    attrs = event["attributes"]
    message = _json_value(attrs.get("message"))
    if isinstance(message, dict):
        return _dict_message({"role": "assistant", **message}, "assistant")
    return messages_from(message, "assistant")


def _call_of(raw: Any) -> dict[str, Any] | None:
    if not isinstance(raw, dict):
        return None
    function = raw.get("function") if isinstance(raw.get("function"), dict) else raw
    if not function.get("name"):
        return None
    return {"id": _str_or_none(raw.get("id")), "name": str(function["name"]), "arguments": arguments(function.get("arguments"))}


def _parts_content(content: Any) -> Any:
    """Text-only content parts joined into one string; anything else kept as is."""
    if isinstance(content, list) and content and all(
        isinstance(part, str)
        or (isinstance(part, dict) and part.get("type") in ("text", "input_text", "output_text")
            and isinstance(part.get("text", part.get("content")), str))
        for part in content
    ):
        return "\n".join(part if isinstance(part, str) else part.get("text", part.get("content")) for part in content)
    return content


# --- small helpers ---------------------------------------------------------------------------


def _indexed(attrs: dict[str, Any], prefix: str) -> list[dict[str, Any]]:
    """``prefix.N.rest`` keys as one dict per N (keys ``rest``), in index order."""
    groups: dict[int, dict[str, Any]] = {}
    head = prefix + "."
    for key, value in attrs.items():
        if key.startswith(head):
            match = _INDEXED.match(key[len(head):])
            if match:
                groups.setdefault(int(match.group(1)), {})[match.group(2)] = value
    return [groups[index] for index in sorted(groups)]


def _has_prefix(attrs: dict[str, Any], prefix: str) -> bool:
    return any(key.startswith(prefix) for key in attrs)


def _json_value(value: Any) -> Any:
    return parse_json(value) if isinstance(value, str) and value[:1] in "[{\"" else value


def _role(value: Any, default_role: str) -> str:
    return _ROLES.get(str(value or "").lower(), default_role)


def _first_count(attrs: dict[str, Any], *keys: str) -> int:
    for key in keys:
        number = number_or_none(attrs.get(key))
        if number is not None and number >= 0:
            return int(number)
    return 0


def _str_or_none(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)

