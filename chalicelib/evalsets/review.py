"""Which unrated traces to rate next.

The seam: a ``ReviewPrioritizer`` orders candidate traces. Today's default puts the newest
first and interleaves sources so one integration cannot crowd the queue; the engine can
later pass one that puts first the traces where the set's eval versions disagree or the
latest version errs.
"""

from __future__ import annotations

from typing import Protocol, Sequence

from chalicelib.evalsets.models import EvalSet, ReviewItem
from chalicelib.traces.summary import TraceSummary


class ReviewPrioritizer(Protocol):
    def prioritize(self, eval_set: EvalSet, candidates: Sequence[TraceSummary]) -> list[ReviewItem]:
        """The candidates (unrated, newest first) in the order worth rating, best first; may drop some."""
        ...


class NewestMixedPrioritizer:
    """Newest first, taking one trace from each source (platform + integration) in turn."""

    def prioritize(self, eval_set: EvalSet, candidates: Sequence[TraceSummary]) -> list[ReviewItem]:
        """Round-robin over sources, each newest first; sources ordered by their newest trace."""
        groups: dict[tuple[str, str], list[TraceSummary]] = {}
        for summary in candidates:
            groups.setdefault(source_key(summary), []).append(summary)
        ordered: list[ReviewItem] = []
        queues = list(groups.values())
        for depth in range(max((len(q) for q in queues), default=0)):
            for queue in queues:
                if depth < len(queue):
                    s = queue[depth]
                    ordered.append(ReviewItem(**s.model_dump(), reason=f"newest unrated from {s.source.platform}"))
        return ordered


def source_key(summary: TraceSummary) -> tuple[str, str]:
    """What counts as one source when mixing: the platform and the integration (or upload)."""
    return summary.source.platform, summary.source.integration_id or ""


def select_review_items(eval_set: EvalSet, candidates: Sequence[TraceSummary], *, limit: int,
                        prioritizer: ReviewPrioritizer) -> list[ReviewItem]:
    """The first ``limit`` traces the prioritizer ranks, never one outside ``candidates`` nor twice."""
    allowed = {c.id for c in candidates}
    chosen: list[ReviewItem] = []
    for item in prioritizer.prioritize(eval_set, candidates):
        if item.id in allowed:
            allowed.discard(item.id)
            chosen.append(item)
            if len(chosen) == limit:
                break
    return chosen


def candidate_pool_size(limit: int) -> int:
    """How many unrated traces to read so sources can be mixed: 4 x limit, at least 100, at most 1000."""
    return min(max(limit * 4, 100), 1000)
