from __future__ import annotations

from collections import Counter

from chalicelib.sources.langfuse.normalize import normalize_langfuse_trace
from infra.local.demo_traces import SCENARIOS, make_demo_cases, make_demo_traces


def test_demo_traces_are_deterministic_for_a_seed():
    assert make_demo_traces(10, seed=3) == make_demo_traces(10, seed=3)
    assert make_demo_traces(10, seed=3) != make_demo_traces(10, seed=4)
    assert len(make_demo_traces()) == 36


def test_every_demo_trace_normalizes_cleanly():
    for case in make_demo_cases(60, seed=11):
        trace = normalize_langfuse_trace(case.trace, integration_id="int_demo")
        assert trace.stats.llm_calls >= 1
        assert trace.messages[0].role == "system" and trace.messages[1].role == "user"
        assert trace.stats.tool_calls == sum(1 for s in trace.steps if s.type == "tool")
        assert all(call.result is not None or call.error for call in trace.tool_calls)
        assert trace.stats.input_tokens > 0 and trace.stats.cost_usd and trace.stats.cost_usd > 0
        assert (trace.error is not None) == (case.scenario == "model_failure")
        keys = [(m.role, str(m.content), m.tool_call_id, str(m.tool_calls)) for m in trace.messages]
        assert len(keys) == len(set(keys)), f"duplicated message in {case.scenario}"


def test_demo_covers_every_scenario_with_both_message_styles():
    cases = make_demo_cases()
    assert set(Counter(case.scenario for case in cases)) == set(SCENARIOS)
    models = {case.trace["observations"][1]["model"] for case in cases}
    assert "claude-3-5-haiku" in models and models & {"gpt-4o", "gpt-4o-mini"}
    ratings = Counter(case.rating for case in cases)
    assert ratings["positive"] >= 8 and ratings["negative"] >= 8


def test_unchecked_refunds_skip_the_order_lookup():
    for case in make_demo_cases(60):
        trace = normalize_langfuse_trace(case.trace, integration_id=None)
        names = [call.name for call in trace.tool_calls]
        if case.scenario == "refund_unchecked":
            assert names == ["issue_refund"]
        if case.scenario == "refund_checked":
            assert names.index("get_order") < names.index("issue_refund")
        if case.scenario in ("refund_tool_error_honest", "refund_tool_error_claimed"):
            assert trace.stats.tool_errors == 1 and trace.tool_calls[2].error
