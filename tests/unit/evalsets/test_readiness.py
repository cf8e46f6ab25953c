import pytest

from chalicelib.evalsets.models import EvalSet, RatingRow, Thresholds
from chalicelib.evalsets.readiness import assess_eval_set, format_ratio


def _set(**thresholds) -> EvalSet:
    return EvalSet(id="es_1", workspace_id="ws_1", name="s", created_at="t", updated_at="t", created_by="key_1",
                   thresholds=Thresholds(**thresholds))


def _rows(positive=0, negative=0, neutral=0, flipped=()) -> list[RatingRow]:
    rows = [RatingRow(trace_id=f"p{i}", rating="positive") for i in range(positive)]
    rows += [RatingRow(trace_id=f"n{i}", rating="negative") for i in range(negative)]
    rows += [RatingRow(trace_id=f"u{i}", rating="neutral") for i in range(neutral)]
    rows += [RatingRow(trace_id=t, rating="neutral", changes=c) for t, c in flipped]
    return rows


def _codes(detail) -> set[str]:
    return {w.code for w in detail.warnings}


def test_counts_each_rating():
    detail = assess_eval_set(_set(), _rows(positive=3, negative=2, neutral=4))
    assert detail.counts.model_dump() == {"positive": 3, "negative": 2, "neutral": 4}


def test_ready_needs_min_rated_positive_and_negative_and_neutral_does_not_count():
    assert assess_eval_set(_set(), _rows(positive=3, negative=2)).ready
    not_enough = assess_eval_set(_set(), _rows(positive=3, negative=1, neutral=10))
    assert not not_enough.ready and "rate 1 more" in not_enough.missing[0]
    no_negative = assess_eval_set(_set(), _rows(positive=9))
    assert not no_negative.ready and no_negative.missing == ["needs 1 more negative rating(s)"]


def test_thresholds_are_per_set():
    assert not assess_eval_set(_set(min_rated=8, min_negative=3), _rows(positive=6, negative=2)).ready
    assert assess_eval_set(_set(min_rated=8, min_negative=3), _rows(positive=5, negative=3)).ready
    assert assess_eval_set(_set(min_rated=1, min_positive=0, min_negative=0), _rows(positive=1)).ready


@pytest.mark.parametrize("positive, negative, warned", [(10, 1, True), (4, 1, True), (8, 2, True), (7, 2, False),
                                                        (1, 4, True), (3, 1, False), (9, 0, False)])
def test_imbalance_warns_from_four_to_one(positive, negative, warned):
    assert ("class_imbalance" in _codes(assess_eval_set(_set(), _rows(positive, negative)))) is warned


def test_imbalance_message_states_the_ratio_and_the_minority():
    warning = next(w for w in assess_eval_set(_set(), _rows(positive=10, negative=1)).warnings
                   if w.code == "class_imbalance")
    assert "10 : 1" in warning.message and "rate more negative" in warning.message
    assert format_ratio(4.5) == "4.5" and format_ratio(13 / 3) == "4.3" and format_ratio(4.0) == "4"


def test_only_traces_flipped_more_than_once_are_reported():
    detail = assess_eval_set(_set(), _rows(positive=10, negative=10, flipped=[("a", 1), ("b", 2), ("c", 5)]))
    flips = next(w for w in detail.warnings if w.code == "rating_flips")
    assert flips.trace_ids == ["b", "c"] and flips.message.startswith("2 trace(s)")


def test_few_examples_below_ten_labeled():
    assert "few_examples" in _codes(assess_eval_set(_set(), _rows(positive=5, negative=4, neutral=30)))
    assert "few_examples" not in _codes(assess_eval_set(_set(), _rows(positive=5, negative=5)))


@pytest.mark.parametrize("positive, negative, more", [
    (0, 0, (5, 5)), (3, 3, (2, 2)), (5, 5, (0, 0)), (12, 1, (0, 3 + 1)), (20, 2, (0, 4)), (1, 12, (3 + 1, 0)),
    (40, 9, (0, 2)), (40, 11, (0, 0)), (9, 40, (2, 0)),
])
def test_more_for_heldout_says_how_many_of_each_class_to_rate(positive, negative, more):
    detail = assess_eval_set(_set(), _rows(positive, negative, neutral=7))
    assert (detail.more_for_heldout.positive, detail.more_for_heldout.negative) == more
    after = assess_eval_set(_set(), _rows(positive + more[0], negative + more[1]))
    assert {"class_imbalance", "few_examples"}.isdisjoint(_codes(after))  # doing it clears both warnings
