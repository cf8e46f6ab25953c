"""A LangSmith trace (its root run plus every run of the trace) -> the unified trace.

The runs are mapped to Langfuse-shaped observations (llm -> GENERATION with plain chat
messages as input and the assistant message as output, tool -> TOOL with the tool call id
in its metadata, …) and the Langfuse normalizer builds the steps, the conversation, the
tool-call pairing and the stats, so both sources follow one set of rules.

What the mapping unwraps: LangChain-serialized messages (``{"lc": 1, "kwargs": {…}}``),
batched chat inputs (``inputs.messages == [[…]]``), ``outputs.generations`` (``[[{message}]]``),
``outputs.messages`` and OpenAI-wrapper outputs (``outputs.choices``). Only llm runs carry
token usage and cost: LangSmith also rolls them up onto parent chains, which would double count.
"""

from __future__ import annotations

from typing import Any

from chalicelib.errors import ValidationError
from chalicelib.sources.common import number_or_none
from chalicelib.sources.langfuse.normalize import normalize_langfuse_trace
from chalicelib.traces.models import UnifiedTrace

PLATFORM = "langsmith"

OBSERVATION_TYPES = {"llm": "GENERATION", "tool": "TOOL", "retriever": "RETRIEVER", "chain": "CHAIN"}
SESSION_KEYS = ("session_id", "thread_id", "conversation_id")
_LC_ROLES = {
    "HumanMessage": "user",
    "HumanMessageChunk": "user",
    "AIMessage": "assistant",
    "AIMessageChunk": "assistant",
    "SystemMessage": "system",
    "ToolMessage": "tool",
    "FunctionMessage": "tool",
}
_LC_TYPES = {"human": "user", "ai": "assistant", "system": "system", "tool": "tool", "function": "tool"}


def normalize_langsmith_trace(raw: dict[str, Any], *, integration_id: str | None, base_url: str | None = None) -> UnifiedTrace:
    """Turn one LangSmith root run with all runs of its trace (``raw["runs"]``) into a UnifiedTrace."""
    if not isinstance(raw, dict) or not raw.get("id"):
        raise ValidationError("a LangSmith trace needs the root run's 'id'")
    root = {key: value for key, value in raw.items() if key != "runs"}
    runs = [run for run in raw.get("runs") or [] if isinstance(run, dict) and run.get("id")]
    if not any(str(run["id"]) == str(root["id"]) for run in runs):
        runs.insert(0, root)
    metadata = _metadata(root)
    has_llm = any(str(run.get("run_type") or "").lower() == "llm" for run in runs)
    langfuse_shaped = {
        "id": str(root["id"]),
        "name": root.get("name"),
        "timestamp": root.get("start_time"),
        "userId": metadata.get("user_id"),
        "sessionId": next((metadata[key] for key in SESSION_KEYS if metadata.get(key)), None),
        "tags": root.get("tags") or [],
        "metadata": metadata,
        "input": _trace_io(root.get("inputs"), has_llm),
        "output": _trace_io(root.get("outputs"), has_llm),
        "totalCost": root.get("total_cost"),
        "htmlPath": root.get("app_path"),
        "observations": [_observation(run) for run in runs],
    }
    trace = normalize_langfuse_trace(langfuse_shaped, integration_id=integration_id, base_url=base_url)
    source = trace.source.model_copy(update={"platform": PLATFORM})
    return trace.model_copy(update={"source": source})


def lc_message(item: Any) -> Any:
    """A plain chat message dict from a LangChain-serialized message; anything else is returned as is."""
    if not isinstance(item, dict):
        return item
    if item.get("lc") is not None and isinstance(item.get("kwargs"), dict):
        kwargs = dict(item["kwargs"])
        path = item.get("id")
        class_name = str(path[-1]) if isinstance(path, list) and path else ""
        role = kwargs.get("role") or _LC_ROLES.get(class_name) or kwargs.get("type")
        return _with_role(kwargs, role)
    if "role" not in item and isinstance(item.get("type"), str) and "content" in item:
        return _with_role(item, item["type"])
    return item


def plain_messages(value: Any) -> Any:
    """``value`` with every LangChain-serialized message inside it replaced by a plain chat message dict."""
    if isinstance(value, list):
        return [plain_messages(item) for item in value]
    if isinstance(value, dict):
        if value.get("lc") is not None and isinstance(value.get("kwargs"), dict):
            return plain_messages(lc_message(value))
        return {key: plain_messages(item) for key, item in value.items()}
    return value


# --- runs -> observations ------------------------------------------------------------------


def _observation(run: dict[str, Any]) -> dict[str, Any]:
    run_type = str(run.get("run_type") or "chain").lower()
    kind = OBSERVATION_TYPES.get(run_type, "SPAN")
    metadata = _metadata(run)
    if kind == "SPAN":
        metadata.setdefault("langsmith_run_type", run_type)
    if run.get("tags"):
        metadata.setdefault("tags", run["tags"])
    obs: dict[str, Any] = {
        "id": str(run["id"]),
        "parentObservationId": run.get("parent_run_id"),
        "type": kind,
        "name": run.get("name"),
        "startTime": run.get("start_time"),
        "endTime": run.get("end_time"),
        "input": plain_messages(run.get("inputs")),
        "output": plain_messages(run.get("outputs")),
        "metadata": metadata,
        "level": "ERROR" if run.get("error") else "DEFAULT",
        "statusMessage": run.get("error"),
    }
    if kind == "GENERATION":
        obs["input"] = _llm_input(run.get("inputs"))
        obs["output"] = _llm_output(run.get("outputs"))
        obs["model"] = _model(run)
        obs["usageDetails"] = {"input": run.get("prompt_tokens"), "output": run.get("completion_tokens")}
        cost = number_or_none(run.get("total_cost"))
        if cost is not None:
            obs["calculatedTotalCost"] = cost
    elif kind == "TOOL":
        obs["input"] = plain_messages(_unwrap_io(run.get("inputs")))
        obs["output"] = _tool_output(run.get("outputs"))
        call_id = _tool_call_id(run)
        if call_id:
            metadata["tool_call_id"] = call_id
    return obs


def _llm_input(inputs: Any) -> Any:
    if not isinstance(inputs, dict):
        return inputs
    messages = inputs.get("messages")
    if isinstance(messages, list):
        if messages and all(isinstance(batch, list) for batch in messages):
            messages = messages[0]
        return [lc_message(message) for message in messages]
    prompts = inputs.get("prompts")
    if isinstance(prompts, list) and prompts:
        return [{"role": "user", "content": prompts[0]}]
    return inputs


def _llm_output(outputs: Any) -> Any:
    if not isinstance(outputs, dict):
        return outputs
    generations = outputs.get("generations")
    if isinstance(generations, list) and generations:
        first = generations[0]
        if isinstance(first, list):
            first = first[0] if first else None
        if isinstance(first, dict):
            if isinstance(first.get("message"), dict):
                return _assistant(lc_message(first["message"]))
            if first.get("text") is not None:
                return {"role": "assistant", "content": first["text"]}
        return outputs
    messages = outputs.get("messages")
    if isinstance(messages, list) and messages:
        return _assistant(lc_message(messages[-1]))
    if isinstance(outputs.get("choices"), list):
        return outputs
    if "role" in outputs or "content" in outputs or outputs.get("lc") is not None:
        return _assistant(lc_message(outputs))
    output = outputs.get("output")
    if isinstance(output, (dict, str)):
        return _assistant(lc_message(output)) if isinstance(output, dict) else {"role": "assistant", "content": output}
    return outputs


def _assistant(message: Any) -> Any:
    if isinstance(message, dict):
        return {**message, "role": message.get("role") or "assistant"}
    return message


def _tool_output(outputs: Any) -> Any:
    value = _unwrap_io(outputs)
    message = lc_message(value)
    if isinstance(message, dict) and message.get("role") == "tool":
        return message.get("content")
    return plain_messages(value)


def _tool_call_id(run: dict[str, Any]) -> str | None:
    candidates: list[Any] = []
    outputs = run.get("outputs")
    if isinstance(outputs, dict):
        message = lc_message(outputs.get("output", outputs))
        if isinstance(message, dict):
            candidates.append(message.get("tool_call_id"))
    inputs = run.get("inputs")
    if isinstance(inputs, dict):
        candidates.append(inputs.get("tool_call_id"))
        if isinstance(inputs.get("input"), dict):
            candidates.append(inputs["input"].get("id"))
    candidates.append(_metadata(run).get("tool_call_id"))
    return next((str(value) for value in candidates if value), None)


def _trace_io(value: Any, has_llm: bool) -> Any:
    """The root run's io for the trace: with llm runs, a bare ``{"messages": […]}`` is left to the conversation (None)."""
    if has_llm and isinstance(value, dict) and set(value) == {"messages"} and isinstance(value["messages"], list):
        return None
    return plain_messages(_unwrap_io(value))


def _unwrap_io(value: Any) -> Any:
    """``{"input": x}`` / ``{"output": x}`` -> x; other values unchanged."""
    if isinstance(value, dict) and len(value) == 1:
        key = next(iter(value))
        if key in ("input", "output"):
            return value[key]
    return value


def _model(run: dict[str, Any]) -> str | None:
    extra = run.get("extra") if isinstance(run.get("extra"), dict) else {}
    invocation = extra.get("invocation_params") if isinstance(extra.get("invocation_params"), dict) else {}
    metadata = _metadata(run)
    for candidate in (metadata.get("ls_model_name"), invocation.get("model"), invocation.get("model_name")):
        if candidate:
            return str(candidate)
    return None


def _metadata(run: dict[str, Any]) -> dict[str, Any]:
    extra = run.get("extra") if isinstance(run.get("extra"), dict) else {}
    metadata = extra.get("metadata")
    return dict(metadata) if isinstance(metadata, dict) else {}


def _with_role(message: dict[str, Any], role: Any) -> dict[str, Any]:
    plain = {key: value for key, value in message.items() if key not in ("type", "lc", "id")}
    plain["role"] = _LC_TYPES.get(str(role), str(role or "user"))
    return plain
