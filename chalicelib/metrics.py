"""Agreement between human ratings and eval results, computed in one place.

A positive rating means the trace should pass. Neutral ratings are counted and left out
of scoring; ``error`` and ``timeout`` results are reported apart (never counted as fails)
and left out of ``n``; a result of ``None`` means the eval has not run on that trace.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from pydantic import BaseModel, Field

RATINGS = ("positive", "negative", "neutral")
RESULTS = ("pass", "fail", "error", "timeout", None)


class Confusion(BaseModel):
    """Counts of scored traces, with positive = rated good (should pass)."""

    tp: int = Field(default=0, description="rated positive, eval passed")
    fp: int = Field(default=0, description="rated negative, eval passed")
    tn: int = Field(default=0, description="rated negative, eval failed")
    fn: int = Field(default=0, description="rated positive, eval failed")


class Metrics(BaseModel):
    """How well an eval's results agree with human ratings."""

    n: int = Field(description="scored traces: rated positive or negative with a pass/fail result")
    accuracy: float | None = Field(description="share of scored traces where eval and human agree; None when n is 0")
    precision: float | None = Field(description="of the traces that passed, the share rated positive; None if none passed")
    recall: float | None = Field(description="of the positive traces, the share that passed; None if none is positive")
    f1: float | None = Field(description="harmonic mean of precision and recall; None when either is undefined")
    cohen_kappa: float | None = Field(description="agreement beyond chance; None when n is 0 or chance agreement is 1")
    confusion: Confusion = Field(description="tp/fp/tn/fn over the scored traces")
    errors: int = Field(description="rated (non-neutral) traces whose eval raised or returned a wrong shape")
    timeouts: int = Field(description="rated (non-neutral) traces whose eval ran past its time limit")
    neutral: int = Field(description="traces rated neutral: shown, never scored")
    coverage: float | None = Field(description="scored traces / rated non-neutral traces; None when nothing is rated")
    accuracy_ci95: tuple[float, float] | None = Field(description="Wilson 95% interval on accuracy; None when n is 0")


def pct_text(value: float | None) -> str:
    """A share as a whole percent, for messages; n/a for None."""
    return "n/a" if value is None else f"{value:.0%}"


def wilson_interval(k: int, n: int, z: float = 1.96) -> tuple[float, float] | None:
    """Wilson score interval for k successes in n trials; None when n is 0."""
    if n <= 0:
        return None
    if not 0 <= k <= n:
        raise ValueError(f"k must lie in [0, n], got k={k}, n={n}")
    return wilson_bounds(k / n, n, z)


def wilson_bounds(p: float, n: float, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval for an observed rate p at a (possibly fractional, effective) size n > 0."""
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def cohen_kappa(confusion: Confusion) -> float | None:
    """Cohen's kappa of a 2x2 confusion; None when empty or when chance agreement is 1."""
    n = confusion.tp + confusion.fp + confusion.tn + confusion.fn
    if n == 0:
        return None
    observed = (confusion.tp + confusion.tn) / n
    human_pos = (confusion.tp + confusion.fn) / n
    eval_pos = (confusion.tp + confusion.fp) / n
    expected = human_pos * eval_pos + (1 - human_pos) * (1 - eval_pos)
    if math.isclose(expected, 1.0):
        return None
    return (observed - expected) / (1 - expected)


def compute_metrics(pairs: Iterable[tuple[str, str | None]], *, rated_total: int | None = None) -> Metrics:
    """Metrics from (rating, result) pairs; rated_total overrides the non-neutral count used for coverage."""
    confusion = Confusion()
    errors = timeouts = neutral = rated = 0
    for rating, result in pairs:
        if rating not in RATINGS:
            raise ValueError(f"unknown rating {rating!r}")
        if result not in RESULTS:
            raise ValueError(f"unknown result {result!r}")
        if rating == "neutral":
            neutral += 1
            continue
        rated += 1
        if result == "error":
            errors += 1
        elif result == "timeout":
            timeouts += 1
        elif result == "pass":
            if rating == "positive":
                confusion.tp += 1
            else:
                confusion.fp += 1
        elif result == "fail":
            if rating == "positive":
                confusion.fn += 1
            else:
                confusion.tn += 1
    n = confusion.tp + confusion.fp + confusion.tn + confusion.fn
    agree = confusion.tp + confusion.tn
    predicted_pos = confusion.tp + confusion.fp
    actual_pos = confusion.tp + confusion.fn
    precision = confusion.tp / predicted_pos if predicted_pos else None
    recall = confusion.tp / actual_pos if actual_pos else None
    f1 = None
    if precision is not None and recall is not None:
        f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    denominator = rated if rated_total is None else rated_total
    return Metrics(
        n=n,
        accuracy=agree / n if n else None,
        precision=precision,
        recall=recall,
        f1=f1,
        cohen_kappa=cohen_kappa(confusion),
        confusion=confusion,
        errors=errors,
        timeouts=timeouts,
        neutral=neutral,
        coverage=n / denominator if denominator else None,
        accuracy_ci95=wilson_interval(agree, n),
    )
