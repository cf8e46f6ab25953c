"""Whether an eval set's ratings are enough to generate an eval, and what to worry about in them."""

from __future__ import annotations

from collections import Counter
from typing import Iterable

from chalicelib.evalsets.models import ClassNeeds, EvalSet, EvalSetDetail, RatingCounts, RatingRow, RatingWarning

IMBALANCE_RATIO = 4.0
"""Warn when one of positive/negative outnumbers the other this many times or more."""
HELDOUT_MIN = 10
"""Below this many positive + negative ratings a held-out accuracy estimate is mostly noise."""
MAX_WARNING_TRACES = 50


def count_ratings(rows: Iterable[RatingRow]) -> RatingCounts:
    """Positive, negative and neutral ratings among ``rows``."""
    tally = Counter(r.rating for r in rows)
    return RatingCounts(positive=tally["positive"], negative=tally["negative"], neutral=tally["neutral"])


def assess_eval_set(record: EvalSet, rows: list[RatingRow]) -> EvalSetDetail:
    """The set with its counts, readiness (against its thresholds) and warnings."""
    counts = count_ratings(rows)
    labeled = counts.positive + counts.negative
    t = record.thresholds
    missing = []
    if labeled < t.min_rated:
        missing.append(f"rate {t.min_rated - labeled} more traces positive or negative "
                       f"(have {labeled}, need {t.min_rated}; neutral ratings do not count)")
    if counts.positive < t.min_positive:
        missing.append(f"needs {t.min_positive - counts.positive} more positive rating(s)")
    if counts.negative < t.min_negative:
        missing.append(f"needs {t.min_negative - counts.negative} more negative rating(s)")
    return EvalSetDetail(**record.model_dump(), counts=counts, ready=not missing, missing=missing,
                         warnings=rating_warnings(counts, rows), more_for_heldout=more_for_heldout(counts))


def more_for_heldout(counts: RatingCounts) -> ClassNeeds:
    """More positive and negative ratings that would make a held-out estimate worth trusting: at least
    half of HELDOUT_MIN of each class, and the fewer class above 1 / IMBALANCE_RATIO of the other."""
    def need(have: int, other: int) -> int:
        return max(0, max(HELDOUT_MIN // 2, int(other // IMBALANCE_RATIO) + 1) - have)

    return ClassNeeds(positive=need(counts.positive, counts.negative), negative=need(counts.negative, counts.positive))


def rating_warnings(counts: RatingCounts, rows: list[RatingRow]) -> list[RatingWarning]:
    """Class imbalance, ratings flipped back and forth, and too few examples for a held-out estimate."""
    warnings = []
    major, minor = max(counts.positive, counts.negative), min(counts.positive, counts.negative)
    if minor > 0 and major / minor >= IMBALANCE_RATIO:
        more, fewer = ("positive", "negative") if counts.positive >= counts.negative else ("negative", "positive")
        warnings.append(RatingWarning(code="class_imbalance", message=(
            f"ratings are imbalanced: {major} {more} to {minor} {fewer} ({format_ratio(major / minor)} : 1); "
            f"rate more {fewer} traces so the eval does not learn to always say {'pass' if more == 'positive' else 'fail'}")))
    flipped = sorted(r.trace_id for r in rows if r.changes > 1)
    if flipped:
        warnings.append(RatingWarning(code="rating_flips", trace_ids=flipped[:MAX_WARNING_TRACES], message=(
            f"{len(flipped)} trace(s) had their rating changed back and forth; "
            "the criteria may be ambiguous for them")))
    labeled = counts.positive + counts.negative
    if labeled < HELDOUT_MIN:
        warnings.append(RatingWarning(code="few_examples", message=(
            f"only {labeled} positive/negative ratings: a held-out accuracy over fewer than {HELDOUT_MIN} "
            f"examples is too noisy to trust; rate {HELDOUT_MIN - labeled} more")))
    return warnings


def format_ratio(ratio: float) -> str:
    """4.0 -> '4', 4.5 -> '4.5', 4.333 -> '4.3'."""
    return f"{ratio:.1f}".rstrip("0").rstrip(".")
