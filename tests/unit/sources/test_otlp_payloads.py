"""Hand-built OTLP/JSON payloads (shared with tests/api/test_upload_otlp.py), and the decoding of their encoding."""

from __future__ import annotations

import json
from typing import Any

import pytest

from chalicelib.sources.models import SourcePage
from chalicelib.sources.otlp import OtlpFormatError, group_otlp_page
from chalicelib.sources.otlp.values import decode_attributes, decode_id, decode_status_code, decode_time

T0_NS = 1_714_557_600_000_000_000  # 2024-05-01T10:00:00Z
AGENT_TRACE = "5b8efff798038103d269b633813fc60c"
OTHER_TRACE = "0af7651916cd43dd8448eb211c80319c"


def any_value(value: Any) -> dict[str, Any]:
    """The OTLP AnyValue of a Python value."""
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    if isinstance(value, float):
        return {"doubleValue": value}
    if isinstance(value, list):
        return {"arrayValue": {"values": [any_value(item) for item in value]}}
    if isinstance(value, dict):
        return {"kvlistValue": {"values": attributes(value)}}
    return {"stringValue": str(value)}


def attributes(values: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"key": key, "value": any_value(value)} for key, value in values.items()]


def span(trace_id: str, span_id: str, name: str, *, parent: str | None = None, start_ms: int, end_ms: int,
         attrs: dict[str, Any] | None = None, status: dict[str, Any] | None = None,
         events: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "traceId": trace_id, "spanId": span_id, "parentSpanId": parent or "", "name": name, "kind": 1,
        "startTimeUnixNano": str(T0_NS + start_ms * 1_000_000), "endTimeUnixNano": T0_NS + end_ms * 1_000_000,
        "attributes": attributes(attrs or {}),
    }
    if status is not None:
        body["status"] = status
    if events is not None:
        body["events"] = events
    return body


def request(spans: list[dict[str, Any]], *, service: str = "support-agent") -> dict[str, Any]:
    """An ExportTraceServiceRequest holding the spans."""
    return {"resourceSpans": [{
        "resource": {"attributes": attributes({"service.name": service})},
        "scopeSpans": [{"scope": {"name": "openinference.instrumentation.test", "version": "1.0"}, "spans": spans}],
    }]}


def messages(prefix: str, items: list[dict[str, Any]]) -> dict[str, Any]:
    """OpenInference flattened message attributes."""
    flat: dict[str, Any] = {}
    for index, item in enumerate(items):
        head = f"{prefix}.{index}.message"
        flat[f"{head}.role"] = item["role"]
        if item.get("content") is not None:
            flat[f"{head}.content"] = item["content"]
        if item.get("tool_call_id"):
            flat[f"{head}.tool_call_id"] = item["tool_call_id"]
        for number, call in enumerate(item.get("tool_calls", [])):
            flat[f"{head}.tool_calls.{number}.tool_call.id"] = call["id"]
            flat[f"{head}.tool_calls.{number}.tool_call.function.name"] = call["name"]
            flat[f"{head}.tool_calls.{number}.tool_call.function.arguments"] = json.dumps(call["arguments"])
    return flat


def llm_attrs(history: list[dict[str, Any]], answer: dict[str, Any], prompt: int, completion: int) -> dict[str, Any]:
    return {
        "openinference.span.kind": "LLM", "llm.model_name": "gpt-4o-mini",
        **messages("llm.input_messages", history), **messages("llm.output_messages", [answer]),
        "llm.token_count.prompt": prompt, "llm.token_count.completion": completion,
        "llm.token_count.total": prompt + completion,
    }


QUESTION = "Where is my order 42?"
FINAL = "Your order 42 shipped on May 1st with UPS."
SYSTEM = {"role": "system", "content": "You are a support agent."}
USER = {"role": "user", "content": QUESTION}
ASK_1 = {"role": "assistant", "content": "", "tool_calls": [
    {"id": "call_1", "name": "get_order", "arguments": {"order_id": 42}},
    {"id": "call_2", "name": "refund_policy", "arguments": {}},
]}
RESULT_1 = {"role": "tool", "content": '{"status": "shipped"}', "tool_call_id": "call_1"}
RESULT_2 = {"role": "tool", "content": "TimeoutError: policy service timed out", "tool_call_id": "call_2"}
ASK_2 = {"role": "assistant", "content": "Let me check the carrier.", "tool_calls": [
    {"id": "call_3", "name": "lookup_shipping", "arguments": {"order_id": 42}},
]}
RESULT_3 = {"role": "tool", "content": "shipped 2024-05-01 via UPS", "tool_call_id": "call_3"}
ANSWER = {"role": "assistant", "content": FINAL}


def agent_spans(trace_id: str = AGENT_TRACE) -> list[dict[str, Any]]:
    """A small agent: root AGENT, three LLM calls, three TOOL spans (one failing), a final answer."""
    root = "a000000000000001"
    return [
        span(trace_id, root, "support-agent", start_ms=0, end_ms=5000, attrs={
            "openinference.span.kind": "AGENT", "input.value": QUESTION, "output.value": FINAL,
            "session.id": "sess-1", "user.id": "user-7", "tag.tags": ["prod", "support"],
            "metadata": json.dumps({"env": "test"}),
        }, status={"code": 1}),
        span(trace_id, "b000000000000001", "ChatCompletion", parent=root, start_ms=100, end_ms=900,
             attrs=llm_attrs([SYSTEM, USER], ASK_1, 120, 30)),
        span(trace_id, "c000000000000001", "get_order", parent=root, start_ms=1000, end_ms=1200, attrs={
            "openinference.span.kind": "TOOL", "tool.name": "get_order", "tool_call.id": "call_1",
            "input.value": '{"order_id": 42}', "input.mime_type": "application/json",
            "output.value": '{"status": "shipped"}', "output.mime_type": "application/json",
        }),
        span(trace_id, "c000000000000002", "refund_policy", parent=root, start_ms=1200, end_ms=1300, attrs={
            "openinference.span.kind": "TOOL", "tool.name": "refund_policy", "tool_call.id": "call_2",
            "input.value": "{}", "input.mime_type": "application/json",
        }, status={"code": 2, "message": ""}, events=[{
            "timeUnixNano": str(T0_NS + 1_299_000_000), "name": "exception",
            "attributes": attributes({"exception.type": "TimeoutError", "exception.message": "policy service timed out"}),
        }]),
        span(trace_id, "b000000000000002", "ChatCompletion", parent=root, start_ms=1400, end_ms=2000,
             attrs=llm_attrs([SYSTEM, USER, ASK_1, RESULT_1, RESULT_2], ASK_2, 200, 20)),
        span(trace_id, "c000000000000003", "lookup_shipping", parent=root, start_ms=2100, end_ms=2300, attrs={
            "openinference.span.kind": "TOOL", "tool.name": "lookup_shipping",
            "input.value": '{"order_id": 42}', "output.value": "shipped 2024-05-01 via UPS",
        }),
        span(trace_id, "b000000000000003", "ChatCompletion", parent=root, start_ms=2400, end_ms=3000,
             attrs=llm_attrs([SYSTEM, USER, ASK_1, RESULT_1, RESULT_2, ASK_2, RESULT_3], ANSWER, 300, 15)),
    ]


def simple_spans(trace_id: str = OTHER_TRACE, *, question: str = "hi") -> list[dict[str, Any]]:
    """A one-LLM-call trace."""
    return [
        span(trace_id, "d000000000000001", "chat", start_ms=0, end_ms=400,
             attrs=llm_attrs([{"role": "user", "content": question}], {"role": "assistant", "content": "hello"}, 5, 2)),
    ]


# --- the OTLP/JSON encoding ------------------------------------------------------------------


def test_attributes_decode_every_any_value_kind():
    decoded = decode_attributes([
        {"key": "s", "value": {"stringValue": "x"}},
        {"key": "i", "value": {"intValue": "42"}},
        {"key": "d", "value": {"doubleValue": 0.5}},
        {"key": "b", "value": {"boolValue": True}},
        {"key": "a", "value": {"arrayValue": {"values": [{"stringValue": "p"}, {"intValue": 3}]}}},
        {"key": "k", "value": {"kvlistValue": {"values": [{"key": "n", "value": {"stringValue": "v"}}]}}},
        {"key": "empty", "value": {}},
    ])
    assert decoded == {"s": "x", "i": 42, "d": 0.5, "b": True, "a": ["p", 3], "k": {"n": "v"}, "empty": None}


def test_ids_accept_hex_and_protobuf_base64_and_reject_garbage():
    assert decode_id("5B8EFFF798038103D269B633813FC60C", size=16, field="traceId") == AGENT_TRACE
    assert decode_id("W47/95gDgQPSabYzgT/GDA==", size=16, field="traceId") == AGENT_TRACE
    assert decode_id("", size=8, field="parentSpanId") is None
    for bad in ("xyz", "00000000000000000000000000000000", 42):
        with pytest.raises(OtlpFormatError):
            decode_id(bad, size=16, field="traceId")


def test_times_accept_strings_and_ints_of_nanoseconds():
    assert decode_time(str(T0_NS + 1_500_000), field="t").isoformat() == "2024-05-01T10:00:00.001500+00:00"
    assert decode_time(T0_NS, field="t") == decode_time(str(T0_NS), field="t")
    assert decode_time("0", field="t") is None
    with pytest.raises(OtlpFormatError):
        decode_time("soon", field="t")
    for infinite in (float("inf"), float("-inf"), json.loads("Infinity")):  # Python's json reads Infinity
        with pytest.raises(OtlpFormatError):
            decode_time(infinite, field="t")


def test_status_codes_accept_numbers_and_enum_names():
    assert [decode_status_code(v) for v in (None, 0, 1, "2", "STATUS_CODE_ERROR")] == [0, 0, 1, 2, 2]
    with pytest.raises(OtlpFormatError):
        decode_status_code(7)


# --- grouping lines into traces --------------------------------------------------------------


def _page(*docs: Any) -> SourcePage:
    lines = []
    for number, doc in enumerate(docs, start=1):
        if isinstance(doc, dict):
            doc = {**doc, "__line__": number}
        lines.append(doc)
    return SourcePage(traces=lines, total=len(docs))


def test_spans_of_one_trace_on_several_lines_are_merged_and_lines_with_two_traces_split():
    agent = agent_spans()
    page = group_otlp_page(_page(request(agent[:3] + simple_spans()), request(agent[3:])))
    assert page.failures == []
    assert [trace["id"] for trace in page.traces] == [AGENT_TRACE, OTHER_TRACE]
    merged = page.traces[0]
    assert merged["__line__"] == 1 and merged["lines"] == [1, 2]
    assert len(merged["spans"]) == len(agent)
    assert page.traces[1]["lines"] == [1]


def test_a_line_that_is_no_export_request_or_a_span_without_trace_id_fails_alone():
    orphan = span("", "e000000000000001", "orphan", start_ms=0, end_ms=1)
    page = group_otlp_page(_page({"id": "a-langfuse-trace"}, request([orphan] + simple_spans()),
                                 {"resourceSpans": [{"scopeSpans": "nope"}]}))
    assert [trace["id"] for trace in page.traces] == [OTHER_TRACE]
    reasons = [failure.reason for failure in page.failures]
    assert reasons[0].startswith("line 1: not an OTLP export request: no 'resourceSpans'")
    assert reasons[1].startswith("line 2: span 1 ('orphan'): no traceId")
    assert reasons[2].startswith("line 3: not an OTLP export request")
