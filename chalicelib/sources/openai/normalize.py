"""OpenAI stored chat completions (one or a group sharing a metadata value) as a unified trace.

Each completion becomes an LLM step (its request messages in, its first choice out, its
usage and model), in the order they were created; the group is then shaped as a Langfuse
trace and goes through the Langfuse normalizer, so the conversation is de-duplicated and tool
calls are paired with their results the same way for every source.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from chalicelib.errors import ValidationError
from chalicelib.sources.langfuse.normalize import normalize_langfuse_trace
from chalicelib.traces.models import UnifiedTrace

PLATFORM = "openai"
SESSION_KEYS = ("session_id", "thread_id", "conversation_id")


def normalize_openai_trace(raw: dict[str, Any], *, integration_id: str | None,
                           base_url: str | None = None) -> UnifiedTrace:
    """Turn ``{"id", "group_by", "completions": [completion + its "messages"]}`` into a UnifiedTrace."""
    if not isinstance(raw, dict) or not raw.get("id"):
        raise ValidationError("an OpenAI trace needs an 'id'")
    completions = sorted((c for c in raw.get("completions") or [] if isinstance(c, dict) and c.get("id")),
                         key=lambda c: (c.get("created") or 0, str(c["id"])))
    if not completions:
        raise ValidationError(f"OpenAI trace {raw['id']} has no completions")
    metadata: dict[str, Any] = {}
    for completion in completions:
        metadata.update(completion.get("metadata") or {})
    first = completions[0]
    langfuse_shaped = {
        "id": str(raw["id"]),
        "name": metadata.get("name") or first.get("model") or "chat.completion",
        "timestamp": _iso(first.get("created")),
        "userId": metadata.get("user_id") or first.get("user"),
        "sessionId": next((str(metadata[k]) for k in SESSION_KEYS if metadata.get(k)), None),
        "tags": [],
        "metadata": {**metadata, "completion_ids": [str(c["id"]) for c in completions]},
        "observations": [_generation(c) for c in completions],
    }
    trace = normalize_langfuse_trace(langfuse_shaped, integration_id=integration_id, base_url=base_url)
    source = trace.source.model_copy(update={"platform": PLATFORM, "url": None})
    return trace.model_copy(update={"source": source})


def _generation(completion: dict[str, Any]) -> dict[str, Any]:
    usage = completion.get("usage") or {}
    choice = next((c for c in completion.get("choices") or [] if isinstance(c, dict)), {})
    created = _iso(completion.get("created"))
    return {
        "id": str(completion["id"]),
        "type": "GENERATION",
        "name": completion.get("model") or "chat.completion",
        "startTime": created,
        "endTime": created,
        "model": completion.get("model"),
        "input": [_message(m) for m in completion.get("messages") or [] if isinstance(m, dict)],
        "output": _message(choice.get("message") or {}),
        "usageDetails": {"input": usage.get("prompt_tokens"), "output": usage.get("completion_tokens")},
        "metadata": {"finish_reason": choice.get("finish_reason"), **(completion.get("metadata") or {})},
        "level": "DEFAULT",
    }


def _message(message: dict[str, Any]) -> dict[str, Any]:
    """A stored message as a chat message (drops the store's own id; text parts joined)."""
    content = message.get("content")
    if content is None and isinstance(message.get("content_parts"), list):
        content = "".join(str(p.get("text", "")) for p in message["content_parts"] if isinstance(p, dict))
    out: dict[str, Any] = {"role": message.get("role") or "assistant", "content": content}
    for key in ("tool_calls", "tool_call_id", "name"):
        if message.get(key):
            out[key] = message[key]
    return out


def _iso(created: Any) -> str | None:
    if not isinstance(created, (int, float)) or isinstance(created, bool):
        return None
    return datetime.fromtimestamp(created, tz=timezone.utc).isoformat().replace("+00:00", "Z")
