"""The meta-prompt: what it tells the model, and how it fits traces into a token budget."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.errors import GenerationError
from chalicelib.generation.base import GenerationRequest, LabeledTrace
from chalicelib.generation.prompt import (
    ALLOWED_IMPORTS,
    build_prompt,
    clip_text,
    estimate_tokens,
    minify_trace,
)


def make_trace(n: int, *, turns: int = 3, text_len: int = 200, tool_error: str | None = None) -> dict[str, Any]:
    history = []
    for t in range(turns):
        history.append({"role": "user", "content": f"user turn {t} of trace {n} " + "u" * text_len})
        history.append(
            {
                "role": "assistant",
                "content": f"assistant turn {t} " + "a" * text_len,
                "tool_calls": [{"id": f"call_{n}_{t}", "type": "function",
                                "function": {"name": "lookup_order", "arguments": '{"order": 7}'}}],
            }
        )
        history.append({"role": "tool", "name": "lookup_order", "tool_call_id": f"call_{n}_{t}",
                        "content": "order status shipped " + "r" * text_len})
    return {
        "id": f"tr_secret_id_{n:04d}",
        "schema_version": 1,
        "source": {"platform": "langfuse", "integration_id": "int_1", "external_id": f"ext-{n}", "url": None},
        "name": "support-chat",
        "timestamp": "2024-05-01T00:00:00Z",
        "tags": ["prod"],
        "metadata": {},
        "input": f"first input of trace {n}",
        "output": f"final answer of trace {n} " + "o" * text_len,
        "messages": history,
        "tool_calls": [
            {"id": f"call_{n}_0", "name": "issue_refund", "arguments": {"amount": 30},
             "result": None if tool_error else "refunded", "error": tool_error, "step_id": "s2"}
        ],
        "steps": [
            {"id": f"s{k}", "parent_id": None, "type": "llm", "name": "gpt-turn",
             "input": [{"role": "user", "content": "STEP_HISTORY_COPY " + "h" * text_len}],
             "output": "STEP_OUTPUT_COPY", "messages": [{"role": "user", "content": "STEP_MESSAGES_COPY"}],
             "latency_ms": 120 + k, "model": "gpt-4o", "error": None}
            for k in range(turns)
        ],
        "stats": {"steps": turns, "llm_calls": turns, "tool_calls": 1, "tool_errors": 1 if tool_error else 0,
                  "latency_ms": 999, "input_tokens": 10, "output_tokens": 5, "cost_usd": None},
        "error": None,
    }


def make_request(n_pos: int = 2, n_neg: int = 2, n_neu: int = 1, **trace_kwargs: Any) -> GenerationRequest:
    examples = []
    for i in range(n_pos):
        examples.append(LabeledTrace(trace=make_trace(i, **trace_kwargs), rating="positive",
                                     notes=f"POSNOTE{i}: checked the order before refunding"))
    for i in range(n_neg):
        examples.append(LabeledTrace(trace=make_trace(100 + i, tool_error="card declined", **trace_kwargs),
                                     rating="negative", notes=f"NEGNOTE{i}: refund failed and agent said it worked"))
    for i in range(n_neu):
        examples.append(LabeledTrace(trace=make_trace(200 + i, **trace_kwargs), rating="neutral",
                                     notes=f"NEUNOTE{i}: unclear"))
    return GenerationRequest(
        eval_name="refund_policy",
        criteria="CRITERIA-TEXT: the agent must confirm the order status before issuing a refund.",
        examples=examples,
        instructions="USER-INSTRUCTION: keep it simple",
    )


def test_prompt_states_criteria_notes_instructions_and_function_name() -> None:
    prompt = build_prompt(make_request())

    assert "CRITERIA-TEXT" in prompt.user
    assert "USER-INSTRUCTION" in prompt.user
    for note in ("POSNOTE0", "POSNOTE1", "NEGNOTE0", "NEGNOTE1", "NEUNOTE0"):
        assert note in prompt.user
    assert "eval_refund_policy" in prompt.system and "eval_refund_policy" in prompt.user
    assert prompt.function_name == "eval_refund_policy"


def test_prompt_labels_both_classes_and_marks_neutral_as_not_trained_on() -> None:
    prompt = build_prompt(make_request())

    assert prompt.user.count("rating: positive (good: your function should return True)") == 2
    assert prompt.user.count("rating: negative (bad: your function should return False)") == 2
    assert prompt.user.count("rating: neutral (shown for context only, not scored)") == 1
    assert prompt.shown == {"positive": 2, "negative": 2, "neutral": 1, "failures": 0}
    assert prompt.omitted == 0


def test_system_text_states_the_eval_function_contract() -> None:
    system = build_prompt(make_request()).system

    assert "def eval_refund_policy(trace: dict) -> tuple[bool, str]:" in system
    assert " ".join(ALLOWED_IMPORTS) in system
    assert "underscore" in system
    assert "str.format" in system
    assert "(True, reason)" in system and "(False, reason)" in system
    assert "exactly one ```python code block" in system


def test_prompt_hides_trace_ids_and_step_history_copies() -> None:
    prompt = build_prompt(make_request())

    assert "tr_secret_id_" not in prompt.user
    assert "ext-" not in prompt.user
    assert "STEP_HISTORY_COPY" not in prompt.user
    assert "STEP_OUTPUT_COPY" not in prompt.user
    assert "STEP_MESSAGES_COPY" not in prompt.user
    assert "gpt-turn" in prompt.user  # the step summary stays


@pytest.mark.parametrize("budget", [3_000, 6_000, 12_000, 30_000])
def test_prompt_fits_token_budget_with_large_traces(budget: int) -> None:
    request = make_request(n_pos=12, n_neg=12, n_neu=6, turns=40, text_len=5_000)
    raw_chars = sum(len(json.dumps(e.trace)) for e in request.examples)
    assert raw_chars // 4 > 10 * budget  # the traces alone are far over budget

    prompt = build_prompt(request, token_budget=budget)

    assert prompt.estimated_tokens <= budget
    assert estimate_tokens(prompt.system) + estimate_tokens(prompt.user) <= budget
    assert prompt.shown["positive"] >= 1 and prompt.shown["negative"] >= 1


def test_tight_budget_keeps_classes_balanced_and_drops_neutral_first() -> None:
    request = make_request(n_pos=10, n_neg=10, n_neu=10, turns=20, text_len=3_000)

    prompt = build_prompt(request, token_budget=5_000)

    assert prompt.shown["neutral"] == 0
    assert abs(prompt.shown["positive"] - prompt.shown["negative"]) <= 1
    assert prompt.omitted == 30 - prompt.shown["positive"] - prompt.shown["negative"]
    assert f"({prompt.omitted} more labeled examples were left out to fit the prompt.)" in prompt.user


def test_minified_trace_keeps_structure_when_clipped_hard() -> None:
    trace = make_trace(1, turns=30, text_len=4_000, tool_error="card declined: insufficient funds " + "x" * 500)

    text = minify_trace(trace, 2_500)
    view = json.loads(text)

    assert len(text) <= 2_500
    assert {"user", "assistant", "tool"} <= {m["role"] for m in view["messages"] if isinstance(m, dict)}
    assert any(isinstance(m, str) and "more…" in m for m in view["messages"])
    call = view["tool_calls"][0]
    assert call["name"] == "issue_refund" and call["arguments"] == {"amount": 30}
    assert call["error"].startswith("card declined")
    assert view["stats"]["tool_errors"] == 1
    assert any(isinstance(m, dict) and m.get("tool_calls", [{}])[0].get("name") == "lookup_order"
               for m in view["messages"])


def test_small_trace_is_not_clipped() -> None:
    trace = make_trace(3, turns=1, text_len=10)

    view = json.loads(minify_trace(trace, 10_000))

    assert view["output"] == trace["output"]
    assert view["messages"][0]["content"] == trace["messages"][0]["content"]
    assert "…" not in json.dumps(view, ensure_ascii=False)


def test_clip_text_keeps_head_and_tail_and_counts_the_cut() -> None:
    text = "HEAD" + "m" * 1000 + "TAIL"

    clipped = clip_text(text, 60)

    assert clipped.startswith("HEAD") and clipped.endswith("TAIL")
    assert "…[+948 chars]…" in clipped
    assert clip_text("short", 60) == "short"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=300),
    lambda children: st.lists(children, max_size=30) | st.dictionaries(st.text(max_size=10), children, max_size=15),
    max_leaves=200,
)


@pytest.mark.slow
@settings(max_examples=40, deadline=None)
@given(
    messages=st.lists(st.fixed_dictionaries({"role": st.sampled_from(["user", "assistant", "tool"]),
                                             "content": json_values}), max_size=40),
    output=json_values,
    metadata=st.dictionaries(st.text(max_size=8), json_values, max_size=20),
    max_chars=st.integers(min_value=1_200, max_value=20_000),
)
def test_minify_trace_never_exceeds_its_share_for_arbitrary_json(
    messages: list[dict[str, Any]], output: Any, metadata: dict[str, Any], max_chars: int
) -> None:
    trace = {"messages": messages, "output": output, "metadata": metadata, "stats": {"steps": 1}}

    text = minify_trace(trace, max_chars)

    assert len(text) <= max_chars
    json.loads(text)


def test_refinement_prompt_shows_previous_code_and_failures_once() -> None:
    request = make_request(n_pos=2, n_neg=2, n_neu=0)
    failed = request.examples[2]
    request = request.model_copy(
        update={
            "previous_code": "def eval_refund_policy(trace):\n    return True, 'PREVIOUS-CODE-MARKER'\n",
            "previous_failures": [failed],
        }
    )

    prompt = build_prompt(request)

    assert "PREVIOUS-CODE-MARKER" in prompt.user
    assert "## Traces the current version gets wrong" in prompt.user
    assert prompt.user.count(failed.notes) == 1
    assert prompt.shown["failures"] == 1
    assert prompt.user.index("PREVIOUS-CODE-MARKER") < prompt.user.index(failed.notes)


def test_budget_too_small_for_instructions_raises_generation_error() -> None:
    with pytest.raises(GenerationError, match="too small"):
        build_prompt(make_request(), token_budget=1_000)


def test_long_text_repeated_across_traces_is_shown_once_in_full() -> None:
    policy = "POLICY-START " + "Refunds need a verified order. " * 300 + " POLICY-END"
    request = make_request(n_pos=3, n_neg=3, n_neu=0, turns=20, text_len=2_000)
    for example in request.examples:
        example.trace["messages"].insert(0, {"role": "system", "content": policy})

    prompt = build_prompt(request, token_budget=12_000)

    assert prompt.user.count("POLICY-START") == 1 and prompt.user.count("POLICY-END") == 1
    assert "### S1 (in 6 traces)" in prompt.user
    assert prompt.user.count("«shared text S1, shown once above»") == 6
    assert prompt.estimated_tokens <= 12_000


def test_refinement_prompt_says_what_the_current_version_returned_on_each_contradiction() -> None:
    request = make_request(n_pos=2, n_neg=2, n_neu=0)
    good, bad = request.examples[0], request.examples[2]
    prompt = build_prompt(request.model_copy(update={"previous_code": "def eval_refund_policy(trace):\n"
                                                     "    return True, 'x'\n", "previous_failures": [good, bad]}))
    assert "### Trace 1 the current version gets wrong (it returned fail) — rating: positive" in prompt.user
    assert "### Trace 2 the current version gets wrong (it returned pass) — rating: negative" in prompt.user
    assert prompt.user.count(bad.notes) == 1


def test_predicates_are_asked_for_only_when_requested() -> None:
    assert "pred_<what_it_checks>" not in build_prompt(make_request()).user
    asked = build_prompt(make_request().model_copy(update={"predicates": 6})).user
    assert "up to 6 small predicates" in asked and "pred_<what_it_checks>(trace: dict) -> bool" in asked
    assert asked.index("## Predicates") < asked.index("## Your answer")
