"""A version's estimate on the set's current ratings: the generation's held-out estimate for the rated traces it
was written from, its own agreement on the rated traces it never saw; what refinement and the diff compare."""

from chalicelib.evals.estimate import DESIGN_EFFECT, estimate_on_ratings, metrics_with_estimate, version_estimate
from chalicelib.evals.models import EvalVersion
from chalicelib.evals.refinement import judge_refinement
from chalicelib.metrics import wilson_bounds

CODE = "def eval_x(trace):\n    return True, 'ok'\n"


def _version(training: list[str], heldout: float | None = 0.6, generator: str = "offline", code: str = CODE,
             interval: tuple[float, float] | None = (0.4, 0.8)) -> EvalVersion:
    return EvalVersion(id="ev_1", eval_set_id="es_1", version=1, name="eval_x", code=code, generator=generator,
                       training_trace_ids=training, created_by="k", created_at="2026-12-07T00:00:00Z",
                       generation={"heldout_accuracy": heldout, "heldout_interval": interval})


def test_rated_traces_the_version_never_saw_are_scored_and_weighed_against_the_trained_ones():
    est = estimate_on_ratings(0.6, (0.4, 0.8), 10, [True] * 9 + [False])
    assert est.estimate == round((10 * 0.6 + 9) / 20, 4) == 0.75
    assert (est.estimate_trained, est.estimate_unseen, est.estimate_unseen_accuracy) == (10, 10, 0.9)
    lo, hi = wilson_bounds(0.75, 20 / DESIGN_EFFECT)
    assert est.estimate_interval == (round(lo, 4), round(hi, 4))


def test_without_unseen_ratings_it_is_the_generations_estimate_and_interval():
    est = estimate_on_ratings(0.6, (0.4, 0.8), 10, [])
    assert (est.estimate, est.estimate_interval, est.estimate_unseen) == (0.6, (0.4, 0.8), 0)
    assert estimate_on_ratings(None, None, 10, []) is None


def test_without_a_generation_estimate_the_unseen_ratings_alone_make_it():
    est = estimate_on_ratings(None, None, 10, [True, True, False, True])
    assert est.estimate == 0.75 and est.estimate_trained == 0 and est.estimate_unseen == 4


def test_version_estimate_counts_training_traces_as_trained_and_errors_as_disagreeing():
    ratings = [("a", "positive"), ("b", "negative"), ("c", "positive"), ("d", "negative"), ("e", "positive"),
               ("f", "neutral"), ("g", "positive")]
    results = {"a": "fail", "b": "pass", "c": "pass", "d": "fail", "e": "error", "f": "pass"}  # g has not run
    est = version_estimate(_version(["a", "b"]), ratings, results)
    # a, b trained (their wrong results do not count: the held-out estimate stands for them); c, d agree; e errs
    assert (est.estimate_trained, est.estimate_unseen, est.estimate_unseen_accuracy) == (2, 3, round(2 / 3, 4))
    assert est.estimate == round((2 * 0.6 + 2) / 5, 4)
    assert version_estimate(_version(["a", "b"], generator="human"), ratings, results) is None


def test_metrics_carry_the_estimate_next_to_the_agreement_on_all_ratings():
    metrics = metrics_with_estimate(_version(["a"]), [("a", "positive"), ("b", "negative")], {"a": "pass", "b": "fail"})
    assert metrics["accuracy"] == 1.0 and metrics["estimate_unseen"] == 1 and metrics["estimate"] == 0.8


def test_a_refinement_is_judged_against_its_parent_on_the_current_ratings():
    parent = _version(["a"], heldout=0.9)
    # stored estimates would reject it (0.7 < 0.9); on the current ratings the parent is lower than the refinement
    assert judge_refinement(parent, CODE + "X = 1\n", 0.7, keep=False).outcome == "rejected"
    verdict = judge_refinement(parent, CODE + "X = 1\n", 0.7, keep=False, parent_now=0.55)
    assert verdict.outcome == "accepted" and verdict.parent_estimate == 0.55
    assert judge_refinement(parent, CODE, 0.7, keep=False, parent_now=0.55).outcome == "identical"
