from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from chalicelib.errors import ValidationError
from chalicelib.ids import trace_id_for
from chalicelib.sources.langfuse.normalize import normalize_langfuse_trace, to_utc_iso
from chalicelib.traces.models import UnifiedTrace

# --- tau-bench airline: 200 real agent conversations ---------------------------------------


def _observations(raw: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return sorted((obs for obs in raw["observations"] if obs["type"] == kind), key=lambda obs: obs["startTime"])


def test_all_taubench_traces_normalize_to_valid_unified_traces(taubench_traces):
    ids = set()
    for raw in taubench_traces:
        trace = normalize_langfuse_trace(raw, integration_id="int_tau", base_url="https://langfuse.example")
        dumped = trace.model_dump(mode="json")
        assert UnifiedTrace.model_validate(json.loads(json.dumps(dumped))) == trace
        assert trace.id == trace_id_for("int_tau", raw["id"])
        assert trace.source.url == f"https://langfuse.example/project/demo/traces/{raw['id']}"
        assert trace.timestamp and trace.timestamp.endswith("Z")
        assert all(step.start_time.endswith("Z") for step in trace.steps)
        ids.add(trace.id)
    assert len(ids) == len(taubench_traces) == 200


def test_taubench_tool_calls_equal_generation_requests_paired_with_tool_observations(taubench_traces):
    for raw in taubench_traces:
        trace = normalize_langfuse_trace(raw, integration_id="int_tau")
        requested = [
            (call["function"]["name"], json.loads(call["function"]["arguments"]))
            for gen in _observations(raw, "GENERATION")
            for call in gen["output"].get("tool_calls") or []
        ]
        tools = _observations(raw, "TOOL")
        assert [(call.name, call.arguments) for call in trace.tool_calls] == requested
        assert [call.result for call in trace.tool_calls] == [tool["output"] for tool in tools]
        assert [call.step_id for call in trace.tool_calls] == [tool["id"] for tool in tools]
        errors = [tool for tool in tools if tool["level"] == "ERROR"]
        assert trace.stats.tool_errors == len(errors)
        assert [call.error for call in trace.tool_calls if call.error] == [tool["statusMessage"] for tool in errors]


def test_taubench_messages_hold_the_conversation_once_in_order(taubench_traces):
    for raw in taubench_traces:
        trace = normalize_langfuse_trace(raw, integration_id=None)
        generations = _observations(raw, "GENERATION")
        last = generations[-1]
        expected_prefix = len(last["input"]) + 1
        user_events = [obs["input"] for obs in _observations(raw, "EVENT") if obs["name"] == "user_message"]

        assert sum(1 for m in trace.messages if m.role == "assistant") == len(generations)
        assert [m.content for m in trace.messages if m.role == "user"] == user_events
        assert sum(1 for m in trace.messages if m.role == "system") == 1
        assert [m.content for m in trace.messages[: len(last["input"])]] == [m.get("content") for m in last["input"]]
        assert trace.messages[expected_prefix - 1].role == "assistant"
        tool_messages = [m for m in trace.messages if m.role == "tool"]
        assert [m.content for m in tool_messages] == [tool["output"] for tool in _observations(raw, "TOOL")]


def test_taubench_first_trace_matches_a_hand_check(taubench_traces):
    raw = next(t for t in taubench_traces if t["id"] == "a50765fc-9cf6-5e5e-b3c0-be4f3b80175a")
    trace = normalize_langfuse_trace(raw, integration_id="int_tau")

    assert [call.name for call in trace.tool_calls] == [
        "get_user_details",
        "search_direct_flight",
        "search_onestop_flight",
        "calculate",
        "book_reservation",
        "think",
        "calculate",
        "book_reservation",
    ]
    # tau-bench reuses call ids: the second use of call_oIHaz… is the calculate call, answered 255.0
    assert trace.tool_calls[3].id == trace.tool_calls[0].id == "call_oIHazX6yQrB8hUwl4cRilFKj"
    assert trace.tool_calls[3].result == "255.0"
    assert trace.tool_calls[4].error == "Error: payment amount does not add up, total price is 305, but paid 255"
    assert trace.tool_calls[7].error is None
    assert trace.stats.model_dump() == {
        "steps": 32,
        "llm_calls": 15,
        "tool_calls": 8,
        "tool_errors": 1,
        "latency_ms": 96000,
        "input_tokens": 0,
        "output_tokens": 0,
        "cost_usd": None,
    }
    assert len(trace.messages) == 32
    assert trace.messages[-1].role == "user" and "###STOP###" in trace.messages[-1].content
    assert trace.input.startswith("Hi! I'm looking to book a flight")
    assert trace.output.startswith("Your flight from New York (JFK) to Seattle (SEA) has been successfully booked")
    assert trace.user_id == "mia_li_3668" and trace.tags == ["airline", "gpt-4o"]
    assert trace.metadata == {"task_id": 0, "trial": 0}
    root = trace.steps[0]
    assert root.type == "agent" and root.parent_id is None and root.latency_ms == 96000
    assert {step.type for step in trace.steps} == {"agent", "event", "llm", "tool"}
    llm = next(step for step in trace.steps if step.type == "llm" and step.tool_calls)
    assert llm.model == "gpt-4o" and llm.tool_calls[0].name == "get_user_details"
    assert llm.messages[0].role == "assistant" and llm.messages[0].tool_calls[0]["arguments"] == {"user_id": "mia_li_3668"}


def test_normalization_is_deterministic_and_trace_id_depends_on_integration(taubench_traces):
    raw = taubench_traces[5]
    first = normalize_langfuse_trace(copy.deepcopy(raw), integration_id="int_a")
    again = normalize_langfuse_trace(copy.deepcopy(raw), integration_id="int_a")
    other = normalize_langfuse_trace(raw, integration_id="int_b")
    upload = normalize_langfuse_trace(raw, integration_id=None)
    assert first == again
    assert first.id != other.id
    assert upload.id == trace_id_for("upload", raw["id"])
    assert upload.source.integration_id is None and upload.source.url is None


# --- hand-made traces ---------------------------------------------------------------------


def _obs(obs_id: str, kind: str, start: str, end: str | None = None, **fields: Any) -> dict[str, Any]:
    base = {
        "id": obs_id,
        "traceId": "t1",
        "type": kind,
        "name": fields.pop("name", kind.lower()),
        "startTime": start,
        "endTime": end or start,
        "model": None,
        "input": None,
        "output": None,
        "metadata": {},
        "level": "DEFAULT",
        "statusMessage": None,
        "parentObservationId": "root",
        "usageDetails": {},
        "costDetails": {},
    }
    base.update(fields)
    return base


def _trace(observations: list[dict[str, Any]], **fields: Any) -> dict[str, Any]:
    root = _obs("root", "AGENT", "2025-01-01T10:00:00Z", "2025-01-01T10:00:10Z", parentObservationId=None)
    trace = {
        "id": "t1",
        "timestamp": "2025-01-01T10:00:00Z",
        "name": "hand-made",
        "input": None,
        "output": None,
        "userId": None,
        "sessionId": None,
        "tags": [],
        "metadata": None,
        "htmlPath": "/project/p/traces/t1",
        "latency": None,
        "totalCost": None,
        "observations": [root, *observations],
        "scores": [],
    }
    trace.update(fields)
    return trace


def test_dict_and_string_inputs_build_one_conversation():
    first = _obs(
        "g1",
        "GENERATION",
        "2025-01-01T10:00:01Z",
        "2025-01-01T10:00:02Z",
        input={"messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}]},
        output="hello!",
    )
    second = _obs(
        "g2",
        "GENERATION",
        "2025-01-01T10:00:05Z",
        "2025-01-01T10:00:06Z",
        input={
            "messages": [
                {"role": "system", "content": "be brief"},
                {"role": "user", "content": "hi"},
                {"role": "assistant", "content": [{"type": "text", "text": "hello!"}]},
                {"role": "user", "content": "bye"},
            ]
        },
        output={"role": "assistant", "content": "bye!"},
    )
    trace = normalize_langfuse_trace(_trace([second, first]), integration_id="i")
    assert [(m.role, m.content) for m in trace.messages] == [
        ("system", "be brief"),
        ("user", "hi"),
        ("assistant", "hello!"),
        ("user", "bye"),
        ("assistant", "bye!"),
    ]
    assert trace.input == "hi" and trace.output == "bye!"


def test_plain_string_generation_input_becomes_a_user_message():
    gen = _obs("g1", "GENERATION", "2025-01-01T10:00:01Z", input="What is 2+2?", output="4")
    trace = normalize_langfuse_trace(_trace([gen]), integration_id="i")
    assert [(m.role, m.content) for m in trace.messages] == [("user", "What is 2+2?"), ("assistant", "4")]


def test_anthropic_content_parts_become_tool_calls_and_tool_messages():
    history = [{"role": "user", "content": [{"type": "text", "text": "weather in Oslo?"}]}]
    call = {"role": "assistant", "content": [{"type": "text", "text": "Let me check."}, {"type": "tool_use", "id": "toolu_1", "name": "weather", "input": {"city": "Oslo"}}]}
    result = {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": [{"type": "text", "text": "-3C"}]}]}
    gen1 = _obs("g1", "GENERATION", "2025-01-01T10:00:01Z", input={"system": "sys", "messages": history}, output=call)
    gen2 = _obs(
        "g2",
        "GENERATION",
        "2025-01-01T10:00:03Z",
        input={"system": "sys", "messages": [*history, call, result]},
        output={"role": "assistant", "content": [{"type": "text", "text": "It is -3C."}]},
    )
    trace = normalize_langfuse_trace(_trace([gen1, gen2]), integration_id="i")
    assert [(m.role, m.content, m.tool_call_id) for m in trace.messages] == [
        ("system", "sys", None),
        ("user", "weather in Oslo?", None),
        ("assistant", "Let me check.", None),
        ("tool", "-3C", "toolu_1"),
        ("assistant", "It is -3C.", None),
    ]
    assert trace.messages[2].tool_calls == [{"id": "toolu_1", "name": "weather", "arguments": {"city": "Oslo"}}]
    [tool_call] = trace.tool_calls
    assert (tool_call.id, tool_call.name, tool_call.arguments, tool_call.result, tool_call.step_id) == ("toolu_1", "weather", {"city": "Oslo"}, "-3C", "g1")


def test_tool_calls_pair_with_tool_observations_by_id_then_name():
    output = {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "lookup", "arguments": '{"q": "a"}'}},
            {"id": "c2", "type": "function", "function": {"name": "refund", "arguments": '{"amount": 5}'}},
        ],
    }
    gen = _obs("g1", "GENERATION", "2025-01-01T10:00:01Z", "2025-01-01T10:00:02Z", input=[{"role": "user", "content": "go"}], output=output)
    refund = _obs("t2", "TOOL", "2025-01-01T10:00:03Z", name="refund", metadata={"tool_call_id": "c2"}, level="ERROR", statusMessage="declined", output={"error": "declined"})
    lookup = _obs("t1", "TOOL", "2025-01-01T10:00:04Z", name="lookup", output="found")
    stray = _obs("t3", "TOOL", "2025-01-01T10:00:05Z", name="audit_log", input='{"x": 1}', output="ok", level="ERROR")
    trace = normalize_langfuse_trace(_trace([gen, refund, lookup, stray]), integration_id="i")

    assert [(c.id, c.name, c.arguments, c.result, c.error, c.step_id) for c in trace.tool_calls] == [
        ("c1", "lookup", {"q": "a"}, "found", None, "t1"),
        ("c2", "refund", {"amount": 5}, {"error": "declined"}, "declined", "t2"),
        ("t3", "audit_log", {"x": 1}, "ok", "error", "t3"),
    ]
    assert trace.stats.tool_calls == 3 and trace.stats.tool_errors == 2
    by_id = {step.id: step for step in trace.steps}
    assert [c.id for c in by_id["g1"].tool_calls] == ["c1", "c2"]
    assert [c.id for c in by_id["t3"].tool_calls] == ["t3"]
    # tool results no later generation repeated still close the conversation
    assert [(m.role, m.tool_call_id) for m in trace.messages[-3:]] == [("tool", "c2"), ("tool", "c1"), ("tool", "t3")]


def test_call_without_tool_observation_takes_result_from_tool_message():
    call = {"role": "assistant", "content": None, "tool_calls": [{"id": "c9", "function": {"name": "add", "arguments": '{"a": 1, "b": 2}'}}]}
    gen1 = _obs("g1", "GENERATION", "2025-01-01T10:00:01Z", input=[{"role": "user", "content": "1+2"}], output=call)
    gen2 = _obs(
        "g2",
        "GENERATION",
        "2025-01-01T10:00:02Z",
        input=[{"role": "user", "content": "1+2"}, call, {"role": "tool", "tool_call_id": "c9", "content": "3"}],
        output={"role": "assistant", "content": "3"},
    )
    trace = normalize_langfuse_trace(_trace([gen1, gen2]), integration_id="i")
    [tool_call] = trace.tool_calls
    assert (tool_call.result, tool_call.error, tool_call.step_id) == ("3", None, "g1")


def test_observation_types_map_to_step_types_keeping_the_original():
    kinds = ["SPAN", "EVALUATOR", "EMBEDDING", "GUARDRAIL", "RETRIEVER", "CHAIN", "EVENT", "TOOL", "AGENT"]
    observations = [_obs(f"o{i}", kind, f"2025-01-01T10:00:0{i}Z") for i, kind in enumerate(kinds)]
    trace = normalize_langfuse_trace(_trace(observations), integration_id="i")
    steps = {step.id: step for step in trace.steps}
    assert [steps[f"o{i}"].type for i in range(len(kinds))] == ["span", "span", "span", "span", "retriever", "chain", "event", "tool", "agent"]
    assert steps["o1"].metadata["langfuse_type"] == "EVALUATOR"
    assert steps["o3"].metadata["langfuse_type"] == "GUARDRAIL"
    assert "langfuse_type" not in steps["o0"].metadata
    assert steps["o4"].parent_id == "root"


def test_usage_cost_and_latency_are_read_from_details_and_legacy_fields():
    modern = _obs(
        "g1",
        "GENERATION",
        "2025-01-01T10:00:01.250Z",
        "2025-01-01T10:00:02.000Z",
        model="gpt-4o",
        usageDetails={"input": 100, "output": 20, "total": 120},
        costDetails={"input": 0.001, "output": 0.002},
    )
    legacy = _obs(
        "g2",
        "GENERATION",
        "2025-01-01T10:00:03Z",
        "2025-01-01T10:00:04Z",
        usageDetails={},
        usage={"input": 7, "output": 3, "total": 10, "unit": "TOKENS"},
        calculatedTotalCost=0.5,
    )
    trace = normalize_langfuse_trace(_trace([modern, legacy]), integration_id="i")
    steps = {step.id: step for step in trace.steps}
    assert steps["g1"].usage.model_dump() == {"input_tokens": 100, "output_tokens": 20}
    assert steps["g1"].cost_usd == pytest.approx(0.003)
    assert steps["g1"].latency_ms == 750
    assert steps["g2"].usage.model_dump() == {"input_tokens": 7, "output_tokens": 3}
    assert steps["g2"].cost_usd == 0.5
    assert (trace.stats.input_tokens, trace.stats.output_tokens) == (107, 23)
    assert trace.stats.cost_usd == pytest.approx(0.503)
    assert trace.stats.latency_ms == 10000  # the root span, no trace latency given

    with_totals = normalize_langfuse_trace(_trace([modern, legacy], totalCost=1.25, latency=12.5), integration_id="i")
    assert with_totals.stats.cost_usd == 1.25 and with_totals.stats.latency_ms == 12500


def test_failed_root_sets_trace_error_and_error_levels_set_step_errors():
    trace_raw = _trace([_obs("g1", "GENERATION", "2025-01-01T10:00:01Z", level="ERROR", statusMessage="rate limited")])
    trace_raw["observations"][0].update(level="ERROR", statusMessage="agent crashed")
    trace = normalize_langfuse_trace(trace_raw, integration_id="i")
    assert trace.error == "agent crashed"
    assert {step.id: step.error for step in trace.steps} == {"root": "agent crashed", "g1": "rate limited"}

    warning = _trace([_obs("s1", "SPAN", "2025-01-01T10:00:01Z", level="WARNING", statusMessage="slow")])
    normalized = normalize_langfuse_trace(warning, integration_id="i")
    assert normalized.error is None and normalized.steps[1].error is None
    assert normalized.steps[1].metadata["langfuse_level"] == "WARNING"


def test_timestamps_become_utc_with_milliseconds_and_z():
    assert to_utc_iso("2025-01-01T12:00:00+02:00") == "2025-01-01T10:00:00.000Z"
    assert to_utc_iso("2025-01-01T10:00:00.123456Z") == "2025-01-01T10:00:00.123Z"
    assert to_utc_iso("2025-01-01T10:00:00") == "2025-01-01T10:00:00.000Z"
    assert to_utc_iso("yesterday") is None and to_utc_iso(None) is None
    assert to_utc_iso("2025-01-01T10:00:00.500Z") > to_utc_iso("2025-01-01T10:00:00Z")


def test_observations_are_ordered_by_start_time():
    late = _obs("late", "EVENT", "2025-01-01T10:00:09Z")
    early = _obs("early", "EVENT", "2025-01-01T10:00:01+00:00")
    trace = normalize_langfuse_trace(_trace([late, early]), integration_id="i")
    assert [step.id for step in trace.steps] == ["root", "early", "late"]


def test_trace_without_observations_uses_trace_input_and_output():
    raw = _trace([], input={"question": "status?"}, output="all good", metadata={"k": 1}, tags=["x"])
    raw["observations"] = []
    trace = normalize_langfuse_trace(raw, integration_id="i")
    assert trace.steps == [] and trace.stats.steps == 0 and trace.stats.latency_ms is None
    assert [(m.role, m.content) for m in trace.messages] == [("user", {"question": "status?"}), ("assistant", "all good")]
    assert trace.input == {"question": "status?"} and trace.metadata == {"k": 1}


def test_trace_without_id_is_rejected():
    with pytest.raises(ValidationError):
        normalize_langfuse_trace({"observations": []}, integration_id="i")


def test_langchain_style_tool_calls_are_read():
    output = {"role": "assistant", "content": "", "additional_kwargs": {"tool_calls": [{"id": "lc1", "function": {"name": "search", "arguments": '{"q": "x"}'}}]}}
    direct = {"type": "ai", "content": "", "tool_calls": [{"id": "lc2", "name": "fetch", "args": {"url": "u"}}]}
    gen1 = _obs("g1", "GENERATION", "2025-01-01T10:00:01Z", input=[{"type": "human", "content": "find x"}], output=output)
    gen2 = _obs("g2", "GENERATION", "2025-01-01T10:00:02Z", input=[{"type": "human", "content": "find x"}], output=direct)
    trace = normalize_langfuse_trace(_trace([gen1, gen2]), integration_id="i")
    assert [(c.id, c.name, c.arguments) for c in trace.tool_calls] == [("lc1", "search", {"q": "x"}), ("lc2", "fetch", {"url": "u"})]
    assert [m.role for m in trace.messages] == ["user", "assistant", "assistant"]
