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
"""

from __future__ import annotations

from pydantic import BaseModel, Field

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
