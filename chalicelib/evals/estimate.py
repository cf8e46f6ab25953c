"""The held-out estimate a user bets on, and its 95% interval.

Input: for the chosen candidate, the agreement of each repeat of the grouped cross-validation (each
fold's code was written without the fold's traces), the number of examples scored and the class balance.

- **Point estimate**: the mean over repeats, shrunk toward the majority-class rate by ``PRIOR_EXAMPLES``
  pseudo-examples. With 10 ratings the cross-validated agreement of one run swings by ±0.15, and the
  majority rate is what a rule that learned nothing scores on these labels: pulling small-n estimates
  toward it costs little when n is large (40 examples: 4/44 of the way) and removes some of the
  small-sample noise when it is not.
- **Interval**: a Wilson 95% interval at an effective size ``n / DESIGN_EFFECT`` around the point
  estimate, widened to cover every repeat's estimate. A Wilson interval at n only counts the noise of
  scoring n examples; the accuracy on unseen traces also moves with which traces trained the version
  (fold code is trained on fewer, different examples) and with how unseen traces differ from rated
  ones (other tasks, other users). Measured on the benchmark's development labels, the interval at n
  covered the unseen accuracy in about 0.8 of versions; the design effect is set from that
  measurement and checked on labels not used to set it (bench/calibration.py, bench/results/quality.md).

That estimate is made once, at generation, and is a cross-validation of the writing *procedure*: each fold
writes its own code, often a different rule from the version's, so it says little about which of two versions'
code is better. **On the set's current ratings** (``version_estimate``, the version's ``metrics.estimate``,
recomputed whenever the version's metrics are, compared by refinement and by the diff) a version's estimate
keeps the generation's for the rated traces it was written from and scores its own code on the rated traces it
never saw (ratings added after it was written, the traces a refinement was not given). Two versions of a set
are then measured on mostly the same traces, by what their code does.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel, Field

from chalicelib.evals.results import metrics_on
from chalicelib.metrics import wilson_bounds

PRIOR_EXAMPLES = 4.0
DESIGN_EFFECT = 2.0


class HeldoutEstimate(BaseModel):
    """The estimate of accuracy on unseen traces, with its interval and what it was made from."""

    accuracy: float = Field(description="shrunk mean over CV repeats (see the module docstring)")
    interval: tuple[float, float] = Field(description="95% interval on accuracy on unseen traces")
    raw: float = Field(description="mean cross-validated agreement over repeats, before shrinkage")
    repeats: list[float] = Field(description="each repeat's cross-validated agreement")
    n: int = Field(description="examples scored")


def heldout_estimate(repeats: list[float], n: int, positive_share: float) -> HeldoutEstimate | None:
    """The calibrated estimate from each CV repeat's agreement on ``n`` examples; None when nothing was scored."""
    if not repeats or n <= 0:
        return None
    raw = sum(repeats) / len(repeats)
    majority = max(positive_share, 1 - positive_share)
    accuracy = (n * raw + PRIOR_EXAMPLES * majority) / (n + PRIOR_EXAMPLES)
    effective = max(n / DESIGN_EFFECT, 1.0)
    lo, hi = wilson_bounds(accuracy, effective)
    # the Wilson centre sits inside [lo, hi]; keep the point estimate and every repeat inside too
    lo, hi = min(lo, accuracy, *repeats), max(hi, accuracy, *repeats)
    return HeldoutEstimate(accuracy=round(accuracy, 4), interval=(round(lo, 4), round(hi, 4)), raw=round(raw, 4),
                           repeats=[round(r, 4) for r in repeats], n=n)


ESTIMATED_GENERATORS_EXCLUDED = ("human",)
"""Versions whose estimate on the ratings is not computed: a person editing code may have read every rating."""


class RatedEstimate(BaseModel):
    """A version's estimate on its set's current ratings: the generation's held-out estimate stands for the rated
    traces the version was written from, its plain agreement for the rated traces it never saw."""

    estimate: float = Field(description="estimated accuracy on unseen traces, on the set's current ratings")
    estimate_interval: tuple[float, float] = Field(description="95% interval on it")
    estimate_trained: int = Field(description="rated traces the version was written from (its held-out estimate "
                                              "stands for them)")
    estimate_unseen: int = Field(description="rated traces the version never saw (ratings added after it was "
                                             "written, or left out of a refinement): scored directly")
    estimate_unseen_accuracy: float | None = Field(description="the version's agreement on those")


def estimate_on_ratings(heldout: float | None, interval: tuple[float, float] | list[float] | None, trained: int,
                        unseen: list[bool]) -> RatedEstimate | None:
    """Combine the generation's held-out estimate (weight: the ``trained`` rated traces it stands for) with the
    version's agreement on the rated traces it never saw (``unseen``: True = agreed). None with neither.

    Why: the generation's estimate is a cross-validation of the writing *procedure* (each fold writes its own
    code), and says little about which of two versions' specific code is better; agreement on ratings the code
    never saw is an honest measurement of that code. Two versions compared on the same current ratings share
    most of them, so their estimates differ by what their code does (bench/calibration.py: pair ordering).
    The interval is a Wilson 95% interval at an effective size ``(trained + unseen) / DESIGN_EFFECT``: rated traces
    the version never saw are still traces of the rated tasks and users, and unseen ones differ (as in
    heldout_estimate; counting them 1 each covered the unseen accuracy in only 0.76 of versions on the development
    seeds). Without unseen ratings it is the generation's interval."""
    m = len(unseen)
    if heldout is None and not m:
        return None
    agreed = sum(unseen) / m if m else None
    if not m:
        lo, hi = interval if interval else wilson_bounds(heldout, max(trained / DESIGN_EFFECT, 1.0))
        return RatedEstimate(estimate=round(heldout, 4), estimate_interval=(round(lo, 4), round(hi, 4)),
                             estimate_trained=trained, estimate_unseen=0, estimate_unseen_accuracy=None)
    weight = trained if heldout is not None else 0
    accuracy = ((heldout or 0.0) * weight + sum(unseen)) / (weight + m)
    lo, hi = wilson_bounds(accuracy, (weight + m) / DESIGN_EFFECT)
    return RatedEstimate(estimate=round(accuracy, 4), estimate_interval=(round(min(lo, accuracy), 4),
                                                                         round(max(hi, accuracy), 4)),
                         estimate_trained=weight, estimate_unseen=m, estimate_unseen_accuracy=round(agreed, 4))


def version_estimate(version: Any, ratings: Iterable[tuple[str, str]], results: Mapping[str, str]) -> RatedEstimate | None:
    """``estimate_on_ratings`` for an eval version over its set's ``(trace_id, rating)`` pairs and its results by
    trace id: rated traces in ``version.training_trace_ids`` are stood for by the generation's held-out estimate,
    the others are scored (an error or a timeout disagrees; a trace the version has not run on is left out).
    None for hand-edited versions (their author may have read every rating)."""
    if version.generator in ESTIMATED_GENERATORS_EXCLUDED:
        return None
    training = set(version.training_trace_ids)
    trained, unseen = 0, []
    for trace_id, rating in ratings:
        if rating not in ("positive", "negative"):
            continue
        if trace_id in training:
            trained += 1
        elif results.get(trace_id) is not None:
            unseen.append(results[trace_id] == ("pass" if rating == "positive" else "fail"))
    generation = version.generation or {}
    return estimate_on_ratings(generation.get("heldout_accuracy"), generation.get("heldout_interval"), trained, unseen)


def metrics_with_estimate(version: Any, ratings: list[tuple[str, str]], results: Mapping[str, str]) -> dict:
    """A version's metrics over the rated traces plus its estimate on them (``estimate``, ``estimate_interval``…)."""
    metrics = metrics_on(ratings, results)
    estimate = version_estimate(version, ratings, results)
    if estimate is not None:
        metrics.update(estimate.model_dump(mode="json"))
    return metrics
