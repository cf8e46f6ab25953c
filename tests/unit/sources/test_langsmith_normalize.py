"""LangSmith runs -> unified trace: a hand-made agent trace with the shapes LangSmith stores."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.errors import ValidationError
from chalicelib.ids import trace_id_for
from chalicelib.sources.langsmith.normalize import lc_message, normalize_langsmith_trace

ROOT = "00000000-0000-4000-8000-000000000000"


def _lc(kind: str, **kwargs: Any) -> dict[str, Any]:
    return {"lc": 1, "type": "constructor", "id": ["langchain", "schema", "messages", kind], "kwargs": kwargs}


def _run(run_id: str, run_type: str, name: str, start: str, end: str, **fields: Any) -> dict[str, Any]:
    return {"id": run_id, "trace_id": ROOT, "parent_run_id": ROOT, "session_id": "s1", "run_type": run_type, "name": name,
            "start_time": f"2025-05-01T10:00:{start}", "end_time": f"2025-05-01T10:00:{end}", "inputs": {}, "outputs": {},
            "error": None, "extra": {}, "tags": [], **fields}


SYSTEM = _lc("SystemMessage", content="You book flights.", type="system")
HUMAN = _lc("HumanMessage", content="Book me a flight to Oslo", type="human")
ASK_SEARCH = _lc("AIMessage", content="Let me look.", type="ai",
                 tool_calls=[{"name": "search_flights", "args": {"to": "OSL"}, "id": "call_a", "type": "tool_call"},
                             {"name": "get_user", "args": {}, "id": "call_b", "type": "tool_call"}])
SEARCH_RESULT = _lc("ToolMessage", content="[SK123]", type="tool", name="search_flights", tool_call_id="call_a")
USER_RESULT = _lc("ToolMessage", content="{\"id\": \"u1\"}", type="tool", name="get_user", tool_call_id="call_b")
ASK_BOOK = _lc("AIMessage", content="", type="ai", tool_calls=[{"name": "book", "args": {"flight": "SK123"}, "id": "call_c"}])


def agent_trace() -> dict[str, Any]:
    """Root chain -> two LangChain chat calls, three tools (one failing), a retriever, a parser,
    then a final call made through the OpenAI wrapper (plain messages in, ``choices`` out)."""
    root = {**_run(ROOT, "chain", "flight-agent", "00.000000", "09.500000"), "parent_run_id": None,
            "inputs": {"messages": [HUMAN]}, "outputs": {"messages": [HUMAN, ASK_SEARCH]},
            "prompt_tokens": 999, "completion_tokens": 999, "total_cost": 0.0042, "tags": ["prod"],
            "extra": {"metadata": {"user_id": "u1", "thread_id": "th-9", "env": "prod"}}}
    runs = [
        # LangSmith returns newest first: the normalizer must order by start time
        _run("r-final", "llm", "ChatOpenAI", "08.000000", "09.000000",
             inputs={"messages": [{"role": "system", "content": "You book flights."}, {"role": "user", "content": "Book me a flight to Oslo"},
                                  {"role": "assistant", "content": "Let me look.", "tool_calls": [
                                      {"id": "call_a", "type": "function", "function": {"name": "search_flights", "arguments": "{\"to\": \"OSL\"}"}},
                                      {"id": "call_b", "type": "function", "function": {"name": "get_user", "arguments": "{}"}}]},
                                  {"role": "tool", "tool_call_id": "call_a", "content": "[SK123]"},
                                  {"role": "tool", "tool_call_id": "call_b", "content": "{\"id\": \"u1\"}"},
                                  {"role": "assistant", "content": "", "tool_calls": [
                                      {"id": "call_c", "type": "function", "function": {"name": "book", "arguments": "{\"flight\": \"SK123\"}"}}]},
                                  {"role": "tool", "tool_call_id": "call_c", "content": "seat unavailable"}]},
             outputs={"choices": [{"message": {"role": "assistant", "content": "Sorry, booking failed."}}]},
             prompt_tokens=300, completion_tokens=12, total_cost=0.002, extra={"invocation_params": {"model": "gpt-4o"}}),
        _run("r-parse", "parser", "StrOutputParser", "07.500000", "07.600000", inputs={"input": "x"}, outputs={"output": "x"}),
        _run("r-book", "tool", "book", "06.000000", "07.000000", inputs={"input": {"flight": "SK123"}}, outputs=None,
             error="ToolException: seat unavailable", extra={"metadata": {"tool_call_id": "call_c"}}),
        _run("r-llm2", "llm", "ChatOpenAI", "05.000000", "05.900000",
             inputs={"messages": [[SYSTEM, HUMAN, ASK_SEARCH, SEARCH_RESULT, USER_RESULT]]},
             outputs={"generations": [[{"text": "", "message": ASK_BOOK}]]},
             prompt_tokens=200, completion_tokens=8, total_cost=0.001, extra={"metadata": {"ls_model_name": "gpt-4o"}}),
        _run("r-docs", "retriever", "policy-docs", "04.500000", "04.800000", inputs={"query": "baggage"},
             outputs={"documents": [{"page_content": "1 bag", "metadata": {}}]}),
        _run("r-user", "tool", "get_user", "03.000000", "04.000000", inputs={"input": "{}"},
             outputs={"output": USER_RESULT}),
        _run("r-search", "tool", "search_flights", "02.000000", "03.000000", inputs={"input": {"to": "OSL"}},
             outputs={"output": SEARCH_RESULT}),
        _run("r-llm1", "llm", "ChatOpenAI", "00.100000", "01.500000",
             inputs={"messages": [[SYSTEM, HUMAN]]}, outputs={"generations": [[{"text": "Let me look.", "message": ASK_SEARCH}]]},
             prompt_tokens=100, completion_tokens=20, total_cost=0.0012, extra={"metadata": {"ls_model_name": "gpt-4o"}}),
        root,
    ]
    return {**root, "runs": runs}


@pytest.fixture()
def trace():
    return normalize_langsmith_trace(agent_trace(), integration_id="int_1")


def test_trace_identity_comes_from_the_root_run(trace):
    assert trace.id == trace_id_for("int_1", ROOT)
    assert trace.source.platform == "langsmith" and trace.source.external_id == ROOT
    assert trace.name == "flight-agent"
    assert trace.timestamp == "2025-05-01T10:00:00.000Z"
    assert (trace.user_id, trace.session_id, trace.tags) == ("u1", "th-9", ["prod"])
    assert trace.metadata["env"] == "prod"


def test_steps_follow_the_run_tree_in_start_order(trace):
    assert [step.id for step in trace.steps] == [ROOT, "r-llm1", "r-search", "r-user", "r-docs", "r-llm2", "r-book", "r-parse", "r-final"]
    assert [step.type for step in trace.steps] == ["chain", "llm", "tool", "tool", "retriever", "llm", "tool", "span", "llm"]
    assert all(step.parent_id == ROOT for step in trace.steps[1:]) and trace.steps[0].parent_id is None
    assert trace.steps[7].metadata["langsmith_run_type"] == "parser"
    assert [step.model for step in trace.steps if step.type == "llm"] == ["gpt-4o", "gpt-4o", "gpt-4o"]
    assert trace.steps[1].latency_ms == 1400


def test_conversation_holds_each_message_once_in_order(trace):
    roles = [(m.role, m.content if isinstance(m.content, str) else None) for m in trace.messages]
    assert roles == [
        ("system", "You book flights."),
        ("user", "Book me a flight to Oslo"),
        ("assistant", "Let me look."),
        ("tool", "[SK123]"),
        ("tool", "{\"id\": \"u1\"}"),
        ("assistant", ""),
        ("tool", "seat unavailable"),
        ("assistant", "Sorry, booking failed."),
    ]
    assert [c["name"] for c in trace.messages[2].tool_calls] == ["search_flights", "get_user"]
    assert trace.messages[2].tool_calls[0]["arguments"] == {"to": "OSL"}
    assert trace.input == "Book me a flight to Oslo"
    assert trace.output == "Sorry, booking failed."


def test_tool_runs_pair_with_the_calls_the_assistant_made(trace):
    calls = [(c.id, c.name, c.arguments, c.result, c.error, c.step_id) for c in trace.tool_calls]
    assert calls == [
        ("call_a", "search_flights", {"to": "OSL"}, "[SK123]", None, "r-search"),
        ("call_b", "get_user", {}, "{\"id\": \"u1\"}", None, "r-user"),
        ("call_c", "book", {"flight": "SK123"}, None, "ToolException: seat unavailable", "r-book"),
    ]
    llm1 = trace.steps[1]
    assert [c.id for c in llm1.tool_calls] == ["call_a", "call_b"]
    assert [m.content for m in llm1.messages] == ["Let me look."]


def test_stats_count_llm_usage_once_and_take_cost_from_the_root(trace):
    stats = trace.stats
    assert (stats.steps, stats.llm_calls, stats.tool_calls, stats.tool_errors) == (9, 3, 3, 1)
    assert (stats.input_tokens, stats.output_tokens) == (600, 40)  # the root's rolled-up 999s are not added
    assert stats.cost_usd == pytest.approx(0.0042)
    assert stats.latency_ms == 9500
    assert trace.steps[0].usage.input_tokens == 0 and trace.steps[1].cost_usd == pytest.approx(0.0012)


def test_a_failed_root_run_is_the_trace_error():
    raw = agent_trace()
    raw["error"] = "GraphRecursionError: limit reached"
    raw["runs"][-1] = {**raw["runs"][-1], "error": raw["error"]}
    trace = normalize_langsmith_trace(raw, integration_id=None)
    assert trace.error == "GraphRecursionError: limit reached"
    assert trace.id == trace_id_for("upload", ROOT)


def test_root_without_child_runs_still_gives_a_conversation():
    root = {"id": "solo", "run_type": "llm", "name": "ChatAnthropic", "start_time": "2025-05-01T10:00:00", "end_time": "2025-05-01T10:00:02",
            "inputs": {"messages": [[{"role": "user", "content": "hi"}]]}, "outputs": {"generations": [[{"text": "hello"}]]},
            "prompt_tokens": 3, "completion_tokens": 1, "parent_run_id": None}
    trace = normalize_langsmith_trace({**root, "runs": []}, integration_id="i")
    assert [(m.role, m.content) for m in trace.messages] == [("user", "hi"), ("assistant", "hello")]
    assert trace.stats.llm_calls == 1 and trace.stats.latency_ms == 2000


def test_trace_without_id_is_rejected():
    with pytest.raises(ValidationError):
        normalize_langsmith_trace({"runs": []}, integration_id="i")


def test_lc_message_maps_class_names_to_roles():
    assert lc_message(_lc("AIMessageChunk", content="x"))["role"] == "assistant"
    assert lc_message(_lc("HumanMessage", content="x"))["role"] == "user"
    assert lc_message({"type": "human", "content": "x"}) == {"content": "x", "role": "user"}
    assert lc_message("plain") == "plain"


def test_trace_without_llm_runs_takes_its_messages_from_the_root_io():
    root = {"id": "r", "run_type": "chain", "name": "echo", "parent_run_id": None, "start_time": "2025-05-01T10:00:00",
            "inputs": {"messages": [HUMAN]}, "outputs": {"output": "done"}}
    trace = normalize_langsmith_trace({**root, "runs": [root]}, integration_id="i")
    assert [(m.role, m.content) for m in trace.messages] == [("user", "Book me a flight to Oslo"), ("assistant", "done")]
    assert trace.output == "done"
