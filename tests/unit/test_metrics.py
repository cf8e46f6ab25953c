"""compute_metrics against hand-computed cases."""

from __future__ import annotations

import math

import pytest

from chalicelib.metrics import Confusion, cohen_kappa, compute_metrics, wilson_interval


def test_hand_computed_case_matches_every_metric() -> None:
    pairs = [("positive", "pass")] * 6 + [("positive", "fail")] * 2 + [("negative", "pass")] * 1 + [("negative", "fail")] * 5
    m = compute_metrics(pairs)
    assert m.confusion == Confusion(tp=6, fn=2, fp=1, tn=5)
    assert m.n == 14
    assert m.accuracy == pytest.approx(11 / 14)
    assert m.precision == pytest.approx(6 / 7)
    assert m.recall == pytest.approx(6 / 8)
    assert m.f1 == pytest.approx(2 * (6 / 7) * (6 / 8) / ((6 / 7) + (6 / 8)))
    # po = 11/14; pe = (8/14)(7/14) + (6/14)(7/14) = 0.5
    assert m.cohen_kappa == pytest.approx((11 / 14 - 0.5) / 0.5)
    assert m.coverage == 1.0


def test_empty_input_gives_undefined_metrics_not_zero() -> None:
    m = compute_metrics([])
    assert m.n == 0
    assert m.accuracy is None and m.precision is None and m.recall is None and m.f1 is None
    assert m.cohen_kappa is None and m.accuracy_ci95 is None and m.coverage is None


def test_neutral_ratings_are_counted_but_not_scored() -> None:
    m = compute_metrics([("neutral", "pass"), ("neutral", "fail"), ("positive", "pass")])
    assert m.neutral == 2
    assert m.n == 1
    assert m.accuracy == 1.0


def test_errors_and_timeouts_are_reported_apart_and_lower_coverage() -> None:
    m = compute_metrics([("positive", "pass"), ("negative", "error"), ("positive", "timeout"), ("negative", None)])
    assert (m.errors, m.timeouts) == (1, 1)
    assert m.n == 1
    assert m.confusion.tn == 0 and m.confusion.fn == 0
    assert m.coverage == pytest.approx(1 / 4)


def test_rated_total_overrides_coverage_denominator() -> None:
    m = compute_metrics([("positive", "pass"), ("negative", "fail")], rated_total=8)
    assert m.coverage == pytest.approx(2 / 8)


def test_one_class_ratings_leave_kappa_and_precision_undefined_where_appropriate() -> None:
    all_pass = compute_metrics([("positive", "pass")] * 4)
    assert all_pass.accuracy == 1.0 and all_pass.precision == 1.0 and all_pass.recall == 1.0
    assert all_pass.cohen_kappa is None  # chance agreement is 1
    never_pass = compute_metrics([("positive", "fail"), ("negative", "fail")])
    assert never_pass.precision is None and never_pass.f1 is None
    assert never_pass.recall == 0.0
    assert never_pass.cohen_kappa == pytest.approx(0.0)
    no_positives = compute_metrics([("negative", "pass"), ("negative", "fail")])
    assert no_positives.recall is None and no_positives.precision == 0.0


def test_all_wrong_gives_negative_kappa_and_zero_f1() -> None:
    m = compute_metrics([("positive", "fail"), ("negative", "pass")])
    assert m.accuracy == 0.0
    assert m.f1 == 0.0
    assert m.cohen_kappa == pytest.approx(-1.0)


def test_wilson_interval_matches_textbook_value() -> None:
    lo, hi = wilson_interval(8, 10)
    assert lo == pytest.approx(0.4902, abs=1e-3)
    assert hi == pytest.approx(0.9433, abs=1e-3)
    assert wilson_interval(0, 0) is None
    lo, hi = wilson_interval(0, 5)
    assert lo == 0.0 and 0 < hi < 1
    with pytest.raises(ValueError):
        wilson_interval(6, 5)


def test_cohen_kappa_of_perfect_agreement_is_one() -> None:
    assert cohen_kappa(Confusion(tp=3, tn=2, fp=0, fn=0)) == pytest.approx(1.0)
    assert cohen_kappa(Confusion(tp=0, tn=0, fp=0, fn=0)) is None


def test_accuracy_interval_contains_accuracy() -> None:
    m = compute_metrics([("positive", "pass")] * 7 + [("negative", "pass")] * 3)
    lo, hi = m.accuracy_ci95
    assert lo <= m.accuracy <= hi
    assert not math.isnan(lo)


def test_unknown_rating_or_result_is_refused() -> None:
    with pytest.raises(ValueError):
        compute_metrics([("good", "pass")])
    with pytest.raises(ValueError):
        compute_metrics([("positive", "passed")])
