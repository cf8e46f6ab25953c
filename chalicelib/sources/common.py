"""Normalization pieces every source shares (Langfuse, OTLP, …)."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from chalicelib.errors import SourceError
from chalicelib.jsonlimits import loads_bounded
from chalicelib.traces.models import Message, ToolCall


def number_or_none(value: Any) -> float | None:
    """A float from a number or numeric string; None for anything else (bools included)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def fill_results_from_messages(tool_calls: list[ToolCall], messages: list[Message], llm_step_ids: set[str]) -> None:
    """Calls no tool step answered take their result from the tool message that answers them."""
    waiting = [call for call in tool_calls if call.step_id in llm_step_ids]
    for message in messages:
        if message.role != "tool" or not waiting:
            continue
        match = next((call for call in waiting if message.tool_call_id and call.id == message.tool_call_id), None)
        if match is None and not message.tool_call_id and message.name:
            match = next((call for call in waiting if call.name == message.name), None)
        if match is not None:
            match.result = message.content
            waiting.remove(match)


def message_key(message: Message) -> str:
    """What makes two messages the same turn (role, content, tool calls), for de-duplication."""
    content = message.content.strip() if isinstance(message.content, str) else message.content
    if content in (None, "", []):
        content = ""
    calls = [(call.get("id"), call.get("name"), call.get("arguments")) for call in message.tool_calls]
    return json.dumps([message.role, content, message.tool_call_id, calls], sort_keys=True, default=str)


def new_messages(known: list[str], candidate: list[Message]) -> list[Message]:
    """The messages of an LLM call's input that the conversation (``known`` keys) does not hold yet:
    each call repeats the history, so only what follows it is new."""
    keys = [message_key(message) for message in candidate]
    if keys[: len(known)] == known:
        return candidate[len(known):]
    new: list[Message] = []
    cursor = 0
    for key, message in zip(keys, candidate):
        try:
            cursor = known.index(key, cursor) + 1
        except ValueError:
            new.append(message)
    return new


def pack_cursor(state: dict[str, Any]) -> str:
    """An opaque import cursor holding a source's paging state."""
    raw = json.dumps(state, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def unpack_cursor(cursor: str, source: str) -> dict[str, Any]:
    """The paging state of a cursor made by pack_cursor; SourceError when it is not one."""
    try:
        state = loads_bounded(base64.urlsafe_b64decode((cursor + "=" * (-len(cursor) % 4)).encode()))
    except (ValueError, binascii.Error) as exc:
        raise SourceError(f"invalid {source} page cursor {cursor!r}") from exc
    if not isinstance(state, dict):
        raise SourceError(f"invalid {source} page cursor {cursor!r}")
    return state
