"""The offline generator: deterministic, readable, refuses one class, recovers relational rules."""

from __future__ import annotations

import ast
import random
from collections import Counter
from typing import Any

import pytest

from chalicelib.errors import GenerationError
from chalicelib.generation.base import GenerationRequest, LabeledTrace
from chalicelib.generation.features import Feature, candidate_features
from chalicelib.generation.offline import (
    Condition,
    OfflineGenerator,
    Rule,
    Scorecard,
    build_conditions,
    cross_validate_code,
    emit_code,
    load_eval,
    rank_models,
    significantly_better,
)
from chalicelib.traces.models import UnifiedTrace

from chalicelib.sandbox.validate import validate_code


def make_trace(trace_id: str, events: list[tuple[Any, ...]]) -> dict[str, Any]:
    """A unified trace from ("user", text) / ("assistant", text) / ("call", name, result, error) events."""
    messages: list[dict[str, Any]] = []
    calls: list[dict[str, Any]] = []
    for event in events:
        if event[0] in ("user", "assistant"):
            messages.append({"role": event[0], "content": event[1]})
        else:
            _, name, result, error = event
            call_id = f"c{len(calls)}"
            messages.append({"role": "assistant", "content": None, "tool_calls": [{"id": call_id, "name": name}]})
            messages.append({"role": "tool", "content": str(error or result), "tool_call_id": call_id, "name": name})
            calls.append({"id": call_id, "name": name, "arguments": {}, "result": result, "error": error})
    final = next((m["content"] for m in reversed(messages) if m["role"] == "assistant" and m["content"]), None)
    trace = UnifiedTrace(
        id=trace_id,
        source={"platform": "upload", "external_id": f"ext-{trace_id}"},
        input=messages[0]["content"] if messages else None,
        output=final,
        messages=messages,
        tool_calls=calls,
        stats={"tool_calls": len(calls), "tool_errors": sum(1 for c in calls if c["error"]), "steps": len(messages)},
    )
    return trace.model_dump(mode="json")


def refund_trace(trace_id: str, good: bool, rng: random.Random) -> dict[str, Any]:
    """Good: the order was checked before the refund. Bad: refund first (maybe checked afterwards)."""
    events: list[tuple[Any, ...]] = [("user", rng.choice(["I want my money back", "refund please", "hello, order issue"]))]
    if rng.random() < 0.5:
        events.append(("call", "get_customer", {"tier": rng.choice(["gold", "silver"])}, None))
    if good:
        events.append(("call", "check_order", {"status": "delivered"}, None))
        events.append(("call", "refund", {"ok": True}, None))
    else:
        events.append(("call", "refund", {"ok": True}, None))
        if rng.random() < 0.6:
            events.append(("call", "check_order", {"status": "delivered"}, None))
    for _ in range(rng.randint(0, 2)):
        events.append(("user", rng.choice(["thanks", "ok", "anything else?"])))
        events.append(("assistant", rng.choice(["You are welcome.", "Done.", "Glad to help."])))
    events.append(("assistant", "Your refund has been issued."))
    return make_trace(trace_id, events)


def consent_trace(trace_id: str, good: bool, rng: random.Random) -> dict[str, Any]:
    """Good: cancel_booking called right after the user said yes. Bad: called after an unrelated turn."""
    events: list[tuple[Any, ...]] = [("user", rng.choice(["yes hi, I need help", "hi, cancel my trip", "hello"]))]
    events.append(("call", "get_booking", {"booking": "B1"}, None))
    events.append(("assistant", "Do you want me to cancel it?"))
    events.append(("user", "yes, go on" if good else rng.choice(["what would the fee be", "hmm, let me think"])))
    events.append(("call", "cancel_booking", {"ok": True}, None))
    events.append(("assistant", "The booking is cancelled."))
    if rng.random() < 0.5:
        events.append(("user", rng.choice(["yes thanks", "thanks"])))
    return make_trace(trace_id, events)


def dataset(builder, n_good: int, n_bad: int, seed: int, prefix: str) -> list[LabeledTrace]:
    rng = random.Random(seed)
    labels = [True] * n_good + [False] * n_bad
    rng.shuffle(labels)
    return [
        LabeledTrace(trace=builder(f"{prefix}-{i:04d}-7f3a9c", good, rng), rating="positive" if good else "negative")
        for i, good in enumerate(labels)
    ]


def heldout_accuracy(code: str, examples: list[LabeledTrace]) -> float:
    check = load_eval(code)
    return sum(check(e.trace)[0] == (e.rating == "positive") for e in examples) / len(examples)


def request_for(examples: list[LabeledTrace], **kwargs: Any) -> GenerationRequest:
    return GenerationRequest(eval_name=kwargs.pop("eval_name", "refund_policy"), examples=examples, **kwargs)


def test_generation_is_deterministic() -> None:
    examples = dataset(refund_trace, 8, 8, seed=1, prefix="tr")
    first = OfflineGenerator().generate(request_for(examples))
    second = OfflineGenerator().generate(request_for(examples))
    assert [c.code for c in first.candidates] == [c.code for c in second.candidates]
    assert first.generator == "offline"


def test_relational_rule_is_recovered_and_generalizes() -> None:
    train = dataset(refund_trace, 10, 10, seed=2, prefix="tr")
    test = dataset(refund_trace, 30, 30, seed=99, prefix="te")
    code = OfflineGenerator().generate(request_for(train, candidates=1)).candidates[0].code
    assert "check_order" in code and "refund" in code
    assert "called_without_prior" in code or "called_before" in code
    assert heldout_accuracy(code, train) == 1.0
    assert heldout_accuracy(code, test) >= 0.95


def test_consent_rule_is_recovered_from_the_turn_before_the_call() -> None:
    train = dataset(consent_trace, 10, 10, seed=3, prefix="tr")
    test = dataset(consent_trace, 30, 30, seed=98, prefix="te")
    code = OfflineGenerator().generate(request_for(train, eval_name="consent", candidates=1)).candidates[0].code
    assert "cancel_booking" in code or "write_without_confirmation" in code
    assert heldout_accuracy(code, test) >= 0.9


def test_generated_code_compiles_passes_static_validation_and_has_one_eval_function() -> None:
    examples = dataset(refund_trace, 6, 6, seed=4, prefix="tr")
    candidates = OfflineGenerator().generate(request_for(examples, candidates=3)).candidates
    assert candidates
    for candidate in candidates:
        tree = ast.parse(candidate.code)
        evals = [n.name for n in tree.body if isinstance(n, ast.FunctionDef) and n.name.startswith("eval_")]
        assert evals == ["eval_refund_policy"]
        assert ".format(" not in candidate.code and "getattr" not in candidate.code
        assert validate_code(candidate.code) == "eval_refund_policy"


def test_each_rule_carries_a_comment_with_its_evidence() -> None:
    examples = dataset(refund_trace, 8, 8, seed=5, prefix="tr")
    code = OfflineGenerator().generate(request_for(examples, candidates=1)).candidates[0].code
    body = code[code.index("def eval_refund_policy") :].splitlines()
    rule_lines = [i for i, line in enumerate(body) if line.startswith("    if ") and "score >=" not in line]
    assert rule_lines
    for i in rule_lines:
        assert body[i - 1].strip().startswith("#") and " of " in body[i - 1] and "examples" in body[i - 1]


def test_reason_string_names_the_rule_that_fired() -> None:
    train = dataset(refund_trace, 8, 8, seed=6, prefix="tr")
    check = load_eval(OfflineGenerator().generate(request_for(train, candidates=1)).candidates[0].code)
    bad = refund_trace("x-bad", False, random.Random(0))
    passed, reason = check(bad)
    assert passed is False
    assert "check_order" in reason and "refund" in reason


def test_code_never_names_training_trace_ids() -> None:
    examples = dataset(refund_trace, 8, 8, seed=7, prefix="trace")
    for candidate in OfflineGenerator().generate(request_for(examples, candidates=4)).candidates:
        for example in examples:
            assert example.trace["id"] not in candidate.code
            assert example.trace["source"]["external_id"] not in candidate.code


def test_an_id_spelled_inside_the_codes_own_words_does_not_block_generation() -> None:
    # A session id such as "return" or "refund_policy" (six characters or more) appears in any generated
    # code as a keyword, a comment or the function name: only string constants can name a trace.
    examples = dataset(refund_trace, 8, 8, seed=7, prefix="trace")
    for i, example in enumerate(examples):
        example.trace["session_id"] = ["return", "refund_policy", "examples"][i % 3]
    candidates = OfflineGenerator().generate(request_for(examples)).candidates
    assert candidates and "return" in candidates[0].code


def test_one_class_is_refused() -> None:
    examples = dataset(refund_trace, 6, 0, seed=8, prefix="tr")
    with pytest.raises(GenerationError, match="positive and one negative"):
        OfflineGenerator().generate(request_for(examples))


def test_neutral_examples_do_not_count_as_a_class() -> None:
    examples = dataset(refund_trace, 5, 0, seed=9, prefix="tr")
    neutral = [LabeledTrace(trace=e.trace | {"id": e.trace["id"] + "n"}, rating="neutral") for e in examples]
    with pytest.raises(GenerationError):
        OfflineGenerator().generate(request_for(examples + neutral))


def test_five_examples_are_enough() -> None:
    examples = dataset(refund_trace, 3, 2, seed=10, prefix="tr")
    candidates = OfflineGenerator().generate(request_for(examples, candidates=2)).candidates
    assert 1 <= len(candidates) <= 2
    assert heldout_accuracy(candidates[0].code, examples) >= 0.8


def test_previous_failures_join_the_training_set_and_override_ratings() -> None:
    train = dataset(refund_trace, 4, 4, seed=11, prefix="tr")
    extra = dataset(refund_trace, 6, 6, seed=12, prefix="fx")
    code = OfflineGenerator().generate(request_for(train, previous_failures=extra, candidates=1)).candidates[0].code
    assert "20 rated traces" in code
    flipped = [LabeledTrace(trace=e.trace, rating="negative" if e.rating == "positive" else "positive") for e in train]
    code = OfflineGenerator().generate(request_for(train, previous_failures=flipped, candidates=1)).candidates[0].code
    assert heldout_accuracy(code, flipped) >= heldout_accuracy(code, train)


def test_candidates_are_distinct_and_the_first_is_the_single_rule_when_no_scorecard_beats_it() -> None:
    examples = dataset(refund_trace, 8, 8, seed=13, prefix="tr")
    candidates = OfflineGenerator().generate(request_for(examples, candidates=4)).candidates
    assert len({c.code for c in candidates}) == len(candidates)
    assert candidates[0].rationale.startswith("offline single rule")
    agreements = [int(c.rationale.split("agreement ")[1].split("/")[0]) for c in candidates]
    assert agreements[1:] == sorted(agreements[1:], reverse=True)


def card(kind: str, budget: int, correct: list[float]) -> Scorecard:
    """A fitted-model stand-in carrying only what model ranking reads."""
    model = Scorecard([], 0, budget=budget, kind=kind)
    model.cv_correct = tuple(correct)
    model.cv_agreement = sum(correct) / len(correct)
    return model


def test_significance_needs_net_wins_beyond_the_noise_of_the_disagreements() -> None:
    base = [1.0] * 10 + [0.0] * 10
    two_more = [1.0] * 12 + [0.0] * 8
    assert not significantly_better(two_more, base)  # 2 wins, 0 losses: 2 < 1.645 * sqrt(2)
    six_more = [1.0] * 16 + [0.0] * 4
    assert significantly_better(six_more, base)
    swapped = [0.0] * 4 + [1.0] * 10 + [0.0] * 6  # 4 wins, 4 losses
    assert not significantly_better(swapped, base)
    assert not significantly_better(base, base)


def test_a_scorecard_replaces_the_single_rule_only_when_significantly_better() -> None:
    single = card("single rule", 1, [1.0] * 13 + [0.0] * 7)
    slightly_better = card("scorecard", 4, [1.0] * 15 + [0.0] * 5)
    assert rank_models([slightly_better, single])[0] is single
    much_better = card("scorecard", 6, [1.0] * 20)
    ranked = rank_models([slightly_better, much_better, single])
    assert ranked[0] is much_better
    assert ranked[1:] == [slightly_better, single]


def retry_trace(trace_id: str, good: bool, rng: random.Random) -> dict[str, Any]:
    """Good: a failed call was retried successfully. Bad: no retry (with or without an error)."""
    events: list[tuple[Any, ...]] = [("user", rng.choice(["change my seat", "update my trip", "hello"]))]
    for _ in range(rng.randint(0, 3)):
        events.append(("call", rng.choice(["get_trip", "list_seats", "get_user"]), {"ok": True}, None))
    if good:
        events += [("call", "update_trip", None, "Error: busy"), ("call", "update_trip", {"ok": True}, None)]
    elif rng.random() < 0.5:
        events.append(("call", "update_trip", None, "Error: busy"))
    else:
        events.append(("call", "update_trip", {"ok": True}, None))
    events.append(("assistant", rng.choice(["Done.", "All set.", "Sorry about that."])))
    return make_trace(trace_id, events)


def test_an_unbalanced_one_rule_label_gets_a_single_rule() -> None:
    train = dataset(retry_trace, 4, 16, seed=15, prefix="tr")
    test = dataset(retry_trace, 20, 60, seed=97, prefix="te")
    candidate = OfflineGenerator().generate(request_for(train, eval_name="retry", candidates=1)).candidates[0]
    # no criteria: a single rule. The default reading (task success) names only the sum of its signs and whether
    # the actions went through; the one sign these ratings follow (was an error retried) is found among all conditions
    assert candidate.rationale.startswith("offline single rule;")
    assert heldout_accuracy(candidate.code, test) == 1.0
    assert validate_code(candidate.code) == "eval_retry"


def test_conditions_from_large_families_carry_a_larger_prior_cost() -> None:
    examples = dataset(refund_trace, 8, 8, seed=16, prefix="tr")
    traces = [e.trace for e in examples]
    conditions = build_conditions(candidate_features(traces), traces)
    sizes = Counter(c.feature.helper for c in conditions)
    largest = max(sizes, key=lambda h: sizes[h])
    singletons = [h for h, k in sizes.items() if k == 1]
    assert sizes[largest] > 1 and singletons
    cost = {c.feature.helper: c.penalty for c in conditions}
    assert cost[largest] > cost[singletons[0]] > 0


def test_cross_validate_code_scores_a_perfect_rule_as_perfect() -> None:
    examples = dataset(refund_trace, 8, 8, seed=14, prefix="tr")
    generator = OfflineGenerator()

    def make_code(train: list[LabeledTrace]) -> str:
        return generator.generate(request_for(train, candidates=1)).candidates[0].code

    assert cross_validate_code(make_code, examples, folds=4) >= 0.9


def test_only_the_stated_reading_of_a_criteria_rule_is_said_to_tie_passing_everything() -> None:
    stated = Feature("called", ("loans.renew",), evidence='criteria words "renew"')
    weak = Rule(Condition(stated, (True,) * 20), 1, 1, 10, 17, 0, 3)  # 13 of 20 right: passing everything gets 17
    note = "the ratings cannot tell it from passing every trace; the criteria state it"
    labels = [True] * 17 + [False] * 3
    assert note in emit_code("renew", Scorecard([weak], 1, kind="criteria rule"), labels)
    assert note not in emit_code("renew", Scorecard([weak], 1, kind="scorecard", budget=4), labels)
    unnamed = Rule(Condition(Feature("latency_seconds", (), 28.0), (True,) * 20), -1, 1, 7, 17, 3, 3)
    assert note not in emit_code("renew", Scorecard([unnamed], 0, kind="criteria rule"), labels)
