"""OTLP spans (OpenInference, OpenTelemetry GenAI) -> the unified trace."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib.ids import trace_id_for
from chalicelib.sources.otlp import OtlpFormatError, group_spans, normalize_otlp_trace
from chalicelib.traces.models import UnifiedTrace
from tests.unit.sources.test_otlp_payloads import (
    AGENT_TRACE,
    ANSWER,
    ASK_1,
    ASK_2,
    FINAL,
    QUESTION,
    RESULT_1,
    RESULT_2,
    RESULT_3,
    SYSTEM,
    USER,
    T0_NS,
    agent_spans,
    attributes,
    request,
    span,
)


def _normalize(*docs, integration_id=None) -> list[UnifiedTrace]:
    traces, failures = group_spans(enumerate(docs, start=1))
    assert failures == []
    return [normalize_otlp_trace(raw, integration_id=integration_id) for raw in traces]


@pytest.fixture(scope="module")
def agent() -> UnifiedTrace:
    return _normalize(request(agent_spans()))[0]


def _plain(message) -> dict:
    out = {"role": message.role, "content": message.content}
    if message.tool_calls:
        out["tool_calls"] = [{"id": c["id"], "name": c["name"], "arguments": c["arguments"]} for c in message.tool_calls]
    if message.tool_call_id:
        out["tool_call_id"] = message.tool_call_id
    return out


def test_trace_fields_come_from_the_root_span(agent):
    assert agent.id == trace_id_for("upload", AGENT_TRACE)
    assert agent.source.platform == "otlp" and agent.source.external_id == AGENT_TRACE
    assert agent.name == "support-agent"
    assert agent.timestamp == "2024-05-01T10:00:00.000Z"
    assert (agent.session_id, agent.user_id, agent.tags) == ("sess-1", "user-7", ["prod", "support"])
    assert agent.metadata == {"env": "test", "service_name": "support-agent"}
    assert agent.input == QUESTION and agent.output == FINAL
    assert agent.error is None


def test_the_conversation_appears_once_though_every_llm_span_repeats_it(agent):
    expected = [SYSTEM, USER, ASK_1, RESULT_1, RESULT_2, ASK_2, RESULT_3, ANSWER]
    assert [_plain(m) for m in agent.messages] == expected


def test_tool_calls_are_paired_with_tool_spans_by_id_then_name(agent):
    calls = [(c.id, c.name, c.arguments, c.result, c.error, c.step_id) for c in agent.tool_calls]
    assert calls == [
        ("call_1", "get_order", {"order_id": 42}, {"status": "shipped"}, None, "c000000000000001"),
        ("call_2", "refund_policy", {}, None, "TimeoutError: policy service timed out", "c000000000000002"),
        ("call_3", "lookup_shipping", {"order_id": 42}, "shipped 2024-05-01 via UPS", None, "c000000000000003"),
    ]


def test_steps_form_a_tree_with_mapped_types_and_times(agent):
    assert [(s.type, s.parent_id) for s in agent.steps] == [("agent", None)] + [
        (kind, "a000000000000001") for kind in ("llm", "tool", "tool", "llm", "tool", "llm")]
    first_llm = agent.steps[1]
    assert first_llm.start_time == "2024-05-01T10:00:00.100Z" and first_llm.end_time == "2024-05-01T10:00:00.900Z"
    assert first_llm.latency_ms == 800 and first_llm.model == "gpt-4o-mini"
    assert (first_llm.usage.input_tokens, first_llm.usage.output_tokens) == (120, 30)
    assert [c.id for c in first_llm.tool_calls] == ["call_1", "call_2"]
    assert [m.role for m in first_llm.messages] == ["assistant"]
    failing_tool = agent.steps[3]
    assert failing_tool.error == "TimeoutError: policy service timed out"
    assert [c.id for c in failing_tool.tool_calls] == ["call_2"]


def test_stats_count_steps_calls_errors_tokens_and_root_latency(agent):
    assert agent.stats.model_dump() == {
        "steps": 7, "llm_calls": 3, "tool_calls": 3, "tool_errors": 1, "latency_ms": 5000,
        "input_tokens": 620, "output_tokens": 65, "cost_usd": None,
    }


def test_span_order_in_the_file_and_line_splits_do_not_change_the_trace(agent):
    spans = agent_spans()
    shuffled = _normalize(request(list(reversed(spans[4:]))), request(spans[:4][::-1]))[0]
    assert shuffled.model_dump() == agent.model_dump()


def test_status_message_wins_over_the_exception_event_and_unset_status_with_exception_is_an_error():
    spans = agent_spans()
    spans[2]["status"] = {"code": "STATUS_CODE_ERROR", "message": "order db down"}
    spans[5]["events"] = [{"name": "exception", "attributes": attributes({"exception.message": "carrier 503"})}]
    trace = _normalize(request(spans))[0]
    assert [c.error for c in trace.tool_calls] == ["order db down", "TimeoutError: policy service timed out", "carrier 503"]
    assert trace.stats.tool_errors == 3


def test_an_error_on_the_root_span_is_the_trace_error():
    spans = agent_spans()
    spans[0]["status"] = {"code": 2, "message": "agent gave up"}
    assert _normalize(request(spans))[0].error == "agent gave up"


def test_integration_id_scopes_the_trace_id():
    trace = _normalize(request(agent_spans()), integration_id="in_1")[0]
    assert trace.id == trace_id_for("in_1", AGENT_TRACE) and trace.source.integration_id == "in_1"


def test_a_span_sent_twice_counts_once():
    spans = agent_spans()
    trace = _normalize(request(spans), request(spans[1:2]))[0]
    assert trace.stats.steps == 7 and trace.stats.input_tokens == 620


def test_genai_conventions_map_model_usage_messages_and_tools():
    trace_id = "11112222333344445555666677778888"
    prompt = json.dumps([{"role": "user", "content": "weather in Paris?"}])
    completion = json.dumps([{"role": "assistant", "content": None, "tool_calls": [
        {"id": "tc1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}]}])
    spans = [
        span(trace_id, "1000000000000001", "invoke_agent weather", start_ms=0, end_ms=900,
             attrs={"gen_ai.operation.name": "invoke_agent", "gen_ai.usage.input_tokens": 999}),
        span(trace_id, "1000000000000002", "chat gpt-4o", parent="1000000000000001", start_ms=10, end_ms=300, attrs={
            "gen_ai.operation.name": "chat", "gen_ai.system": "openai", "gen_ai.request.model": "gpt-4o",
            "gen_ai.usage.input_tokens": 11, "gen_ai.usage.output_tokens": 7,
        }, events=[
            {"name": "gen_ai.content.prompt", "attributes": attributes({"gen_ai.prompt": prompt})},
            {"name": "gen_ai.content.completion", "attributes": attributes({"gen_ai.completion": completion})},
        ]),
        span(trace_id, "1000000000000003", "execute_tool get_weather", parent="1000000000000001", start_ms=310,
             end_ms=400, attrs={"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "get_weather",
                                "gen_ai.tool.call.id": "tc1", "gen_ai.tool.call.result": "18C, sunny"}),
        span(trace_id, "1000000000000004", "chat gpt-4o", parent="1000000000000001", start_ms=410, end_ms=800, attrs={
            "gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o",
            "gen_ai.usage.input_tokens": 30, "gen_ai.usage.output_tokens": 9,
            "gen_ai.prompt.0.role": "user", "gen_ai.prompt.0.content": "weather in Paris?",
            "gen_ai.prompt.1.role": "assistant", "gen_ai.prompt.1.tool_calls.0.id": "tc1",
            "gen_ai.prompt.1.tool_calls.0.name": "get_weather", "gen_ai.prompt.1.tool_calls.0.arguments": '{"city": "Paris"}',
            "gen_ai.prompt.2.role": "tool", "gen_ai.prompt.2.tool_call_id": "tc1", "gen_ai.prompt.2.content": "18C, sunny",
            "gen_ai.completion.0.role": "assistant", "gen_ai.completion.0.content": "It is 18C and sunny in Paris.",
        }),
    ]
    trace = _normalize(request(spans))[0]
    assert [s.type for s in trace.steps] == ["agent", "llm", "tool", "llm"]
    assert trace.steps[1].model == "gpt-4o"
    assert [(m.role, m.content) for m in trace.messages] == [
        ("user", "weather in Paris?"), ("assistant", None), ("tool", "18C, sunny"), ("assistant", "It is 18C and sunny in Paris.")]
    assert [(c.id, c.name, c.arguments, c.result) for c in trace.tool_calls] == [("tc1", "get_weather", {"city": "Paris"}, "18C, sunny")]
    # tokens counted on LLM spans only: the agent span's aggregate is not added twice
    assert (trace.stats.input_tokens, trace.stats.output_tokens, trace.stats.llm_calls) == (41, 16, 2)
    assert trace.input == "weather in Paris?" and trace.output == "It is 18C and sunny in Paris."


def test_a_tool_span_no_llm_asked_for_is_a_call_of_its_own_and_unknown_kinds_are_spans():
    trace_id = "99990000999900009999000099990000"
    spans = [
        span(trace_id, "2000000000000001", "pipeline", start_ms=0, end_ms=100, attrs={
            "openinference.span.kind": "CHAIN", "input.value": '{"q": "x"}', "input.mime_type": "application/json",
            "output.value": "done", "custom.flag": True}),
        span(trace_id, "2000000000000002", "search", parent="2000000000000001", start_ms=10, end_ms=20, attrs={
            "openinference.span.kind": "TOOL", "tool.name": "search", "input.value": '{"query": "x"}', "output.value": "3 hits"}),
        span(trace_id, "2000000000000003", "embed", parent="2000000000000001", start_ms=20, end_ms=30,
             attrs={"openinference.span.kind": "EMBEDDING"}),
    ]
    trace = _normalize(request(spans))[0]
    assert [(c.name, c.arguments, c.result, c.step_id) for c in trace.tool_calls] == [("search", {"query": "x"}, "3 hits", "2000000000000002")]
    assert [s.type for s in trace.steps] == ["chain", "tool", "span"]
    assert trace.steps[2].metadata["span_kind"] == "EMBEDDING"
    assert trace.steps[0].metadata["attributes"] == {"custom.flag": True}
    assert trace.input == {"q": "x"} and trace.output == "done"
    assert [(m.role, m.content) for m in trace.messages] == [("user", {"q": "x"}), ("assistant", "done")]


@pytest.mark.parametrize("breakage, message", [
    (lambda s: s.update(spanId="xyz"), "spanId 'xyz'"),
    (lambda s: s.pop("spanId"), "no spanId"),
    (lambda s: s.update(startTimeUnixNano="soon"), "startTimeUnixNano"),
    (lambda s: s.update(attributes={"not": "a list"}), "attributes must be a list"),
    (lambda s: s.update(attributes=[{"key": "k", "value": {"intValue": "many"}}]), "intValue"),
    (lambda s: s.update(endTimeUnixNano=str(T0_NS - 1)), "before"),
])
def test_a_malformed_span_fails_its_trace_with_a_reason(breakage, message):
    spans = agent_spans()
    breakage(spans[3])
    traces, _ = group_spans([(1, request(spans))])
    with pytest.raises(OtlpFormatError, match=message):
        normalize_otlp_trace(traces[0], integration_id=None)


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=True) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)
_any_values = _json_values | st.builds(
    lambda kind, value: {kind: value},
    st.sampled_from(["stringValue", "intValue", "doubleValue", "boolValue", "arrayValue", "kvlistValue", "bytesValue"]),
    _json_values | st.builds(lambda v: {"values": v}, _json_values),
)
_span_fields = st.sampled_from(["traceId", "spanId", "parentSpanId", "name", "startTimeUnixNano", "endTimeUnixNano",
                                "attributes", "events", "status"])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(index=st.integers(0, 6), field=_span_fields, value=_json_values,
       attr_index=st.integers(0, 30), attr_value=_any_values)
def test_any_corruption_of_a_span_is_an_otlp_format_error_or_a_strict_json_trace(index, field, value, attr_index, attr_value):
    spans = agent_spans()
    spans[index][field] = value
    attrs = spans[(index + 1) % len(spans)]["attributes"]
    if attrs:
        attrs[attr_index % len(attrs)]["value"] = attr_value
    traces, _ = group_spans([(1, request(spans))])
    for raw in traces:
        try:
            trace = normalize_otlp_trace(raw, integration_id=None)
        except OtlpFormatError:
            continue
        json.dumps(trace.model_dump(mode="json"), allow_nan=False)
