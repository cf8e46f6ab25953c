"""bench/agent_bench.py's synthetic agents (helpdesk, returns): seeded unified traces the upload accepts,
50 tasks x 4 attempts, every tool call paired with its tool message."""

from __future__ import annotations

import pytest

from bench import helpdesk_traces, returns_traces
from chalicelib.traces.models import UnifiedTrace

AGENTS = pytest.mark.parametrize("make_traces", [helpdesk_traces.make_traces, returns_traces.make_traces],
                                 ids=["helpdesk", "returns"])


@AGENTS
def test_the_same_seed_gives_the_same_traces_and_another_seed_others(make_traces):
    first, again, other = make_traces(0), make_traces(0), make_traces(1)
    assert [c.trace for c in first] == [c.trace for c in again]
    assert [c.trace for c in first] != [c.trace for c in other]
    assert len(first) == 200 and len({c.group for c in first}) == 50


@AGENTS
def test_every_trace_is_a_valid_unified_trace_with_paired_calls(make_traces):
    for case in make_traces(0)[:40]:
        UnifiedTrace.model_validate(case.trace)
        tool_messages = [m for m in case.trace["messages"] if m["role"] == "tool"]
        assert [m["tool_call_id"] for m in tool_messages] == [c["id"] for c in case.trace["tool_calls"]]
