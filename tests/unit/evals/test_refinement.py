"""Refinement helpers: contradictions, the examples a refine job trains on, and no CV leak; repeated CV."""

import pytest

from chalicelib.evals.generation import generate_candidates
from chalicelib.evals.refinement import find_contradictions
from chalicelib.evals.results import agrees
from chalicelib.evals.tasks import refinement_examples
from chalicelib.generation.base import GenerationRequest, LabeledTrace
from chalicelib.generation.scripted import ScriptedGenerator

CODE = "def eval_x(trace):\n    return True, 'ok'\n"


def test_agreement_is_undefined_for_neutral_errors_and_missing_results():
    assert agrees("positive", "pass") is True and agrees("negative", "fail") is True
    assert agrees("positive", "fail") is False and agrees("negative", "pass") is False
    assert {agrees("neutral", "pass"), agrees("positive", "error"), agrees("negative", "timeout"),
            agrees("positive", None), agrees(None, "pass")} == {None}


def test_contradictions_are_false_passes_and_false_fails():
    ratings = [("a", "positive"), ("b", "negative"), ("c", "negative"), ("d", "neutral"), ("e", "positive"),
               ("f", "positive")]
    results = {"a": "fail", "b": "pass", "c": "fail", "d": "pass", "e": "error"}
    assert find_contradictions(ratings, results) == ["a", "b"]


def test_refinement_trains_on_the_parents_examples_and_its_contradictions():
    ratings = [{"trace_id": t, "rating": r, "notes": ""} for t, r in
               [("a", "positive"), ("b", "negative"), ("c", "positive"), ("d", "neutral")]]
    doc = refinement_examples(ratings, {"training_trace_ids": ["a", "b"], "contradiction_ids": ["c", "d"],
                                        "previous_code": CODE})
    assert [r["trace_id"] for r in doc["ratings"]] == ["a", "b"]
    assert [r["trace_id"] for r in doc["failures"]] == ["c"]
    assert doc["previous_code"] == CODE


def test_cross_validation_folds_never_train_on_their_held_out_failures():
    examples = [LabeledTrace(trace={"id": f"t{i}"}, rating="positive" if i % 2 else "negative") for i in range(8)]
    request = GenerationRequest(eval_name="x", examples=examples, previous_code=CODE,
                                previous_failures=examples[:4])
    generator = ScriptedGenerator([CODE], repeat_last=True)
    generated = generate_candidates(request, generator)
    assert generated.folds and len(generator.requests) == 1 + len(generated.folds)
    assert [f.trace["id"] for f in generator.requests[0].previous_failures] == ["t0", "t1", "t2", "t3"]
    for fold, req in zip(generated.folds, generator.requests[1:]):
        held = {examples[i].trace["id"] for i in fold.held_out}
        used = {e.trace["id"] for e in req.examples} | {f.trace["id"] for f in req.previous_failures}
        assert not held & used and req.previous_code == CODE


def test_repeated_cross_validation_partitions_the_examples_once_per_repeat():
    from chalicelib.generation.base import GenerationRequest as Request

    examples = [LabeledTrace(trace={"id": f"t{i}", "session_id": f"s{i // 2}"}, rating="positive" if i % 3 else
                             "negative") for i in range(24)]
    code = "def eval_x(trace: dict) -> tuple[bool, str]:\n    return True, \"ok\"\n"
    generated = generate_candidates(Request(eval_name="x", examples=examples, candidates=1),
                                    ScriptedGenerator([code], repeat_last=True), repeats=3)
    assert {f.repeat for f in generated.folds} == {0, 1, 2}
    assignments = []
    for r in range(3):
        held = [i for f in generated.folds if f.repeat == r for i in f.held_out]
        assert sorted(held) == list(range(24))  # each repeat holds every example out exactly once
        assignments.append(sorted(tuple(f.held_out) for f in generated.folds if f.repeat == r))
        for f in (f for f in generated.folds if f.repeat == r):  # a session never straddles a fold
            sessions_in = {examples[i].trace["session_id"] for i in f.held_out}
            assert all(examples[i].trace["session_id"] not in sessions_in for i in range(24) if i not in f.held_out)
    assert len({tuple(a) for a in assignments}) > 1  # different fold assignments, not the same one thrice


def test_the_estimate_is_shrunk_toward_the_majority_rate_more_at_small_n():
    from chalicelib.evals.estimate import PRIOR_EXAMPLES, heldout_estimate

    small, large = heldout_estimate([0.5, 0.5, 0.5], 10, 0.8), heldout_estimate([0.5, 0.5, 0.5], 40, 0.8)
    assert small.raw == large.raw == 0.5
    assert small.accuracy == pytest.approx((10 * 0.5 + PRIOR_EXAMPLES * 0.8) / (10 + PRIOR_EXAMPLES), abs=1e-4)
    assert 0.5 < large.accuracy < small.accuracy < 0.8  # pulled toward what a rule that learned nothing scores
    assert heldout_estimate([0.9], 20, 0.3).accuracy < 0.9  # the majority here is the negative class (0.7)
    assert heldout_estimate([], 20, 0.5) is None


def test_the_interval_is_wider_than_wilson_at_n_and_covers_every_repeat():
    from chalicelib.evals.estimate import heldout_estimate
    from chalicelib.metrics import wilson_interval

    estimate = heldout_estimate([0.75, 0.75, 0.75], 20, 0.5)
    lo, hi = estimate.interval
    at_n = wilson_interval(round(estimate.accuracy * 20), 20)
    assert lo < at_n[0] and hi > at_n[1]  # rated traces are not the only source of error
    assert lo < estimate.accuracy < hi
    spread = heldout_estimate([0.3, 0.95, 0.8], 20, 0.5)
    assert spread.interval[0] <= 0.3 and spread.interval[1] >= 0.95


def test_a_fold_that_would_train_on_one_class_is_skipped_not_fatal():
    from chalicelib.generation.offline import OfflineGenerator

    # both negatives are one session: the fold holding that session out has no negative to train on
    examples = [LabeledTrace(trace={"id": f"t{i}", "session_id": "s-neg" if i < 2 else f"s{i}", "output": "x"},
                             rating="negative" if i < 2 else "positive") for i in range(10)]
    request = GenerationRequest(eval_name="x", examples=examples, candidates=1)
    generated = generate_candidates(request, OfflineGenerator(), repeats=2)
    for fold in generated.folds:
        trained = {examples[i].rating for i in range(10) if i not in fold.held_out}
        assert trained == {"positive", "negative"}
    assert all(0 not in f.held_out for f in generated.folds)  # the negatives' session is never held out
