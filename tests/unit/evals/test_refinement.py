"""Refinement helpers: contradictions, the examples a refine job trains on, and no CV leak."""

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
