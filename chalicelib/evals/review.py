"""The engine's review-queue prioritizer: unrated traces where the set's eval versions disagree
with each other come first, then those where the latest version errs or times out; the rest keep
the default order (newest first, sources mixed). Results come from BatchGetItem on
(eval_id, trace_id) for the candidate pool only."""

from __future__ import annotations

from typing import Sequence

from chalicelib.evals.repository import EvalRepository
from chalicelib.evalsets.models import EvalSet, ReviewItem
from chalicelib.evalsets.review import NewestMixedPrioritizer, ReviewPrioritizer
from chalicelib.traces.summary import TraceSummary

MAX_VERSIONS = 3
"""Versions compared: the active one and the newest others (non-archived), at most this many."""


class EngineReviewPrioritizer:
    """Disagreeing versions first, then the latest version's errors, then ``fallback``'s order."""

    def __init__(self, evals: EvalRepository, fallback: ReviewPrioritizer | None = None):
        self._evals = evals
        self._fallback = fallback or NewestMixedPrioritizer()

    def prioritize(self, eval_set: EvalSet, candidates: Sequence[TraceSummary]) -> list[ReviewItem]:
        """Candidates in the order worth rating: disagreements, then errors of the latest version, then the rest."""
        base = self._fallback.prioritize(eval_set, candidates)
        versions = [v for v in self._evals.all_for_set(eval_set.id) if v.status != "archived"]
        versions = sorted(versions, key=lambda v: (v.status != "active", -v.version))[:MAX_VERSIONS]
        if not versions or not base:
            return base
        latest = max(versions, key=lambda v: v.version)
        results = self._evals.results_for([v.id for v in versions], [i.id for i in base])
        disagree: list[ReviewItem] = []
        errs: list[ReviewItem] = []
        rest: list[ReviewItem] = []
        for item in base:
            verdicts = {v.version: results[(v.id, item.id)].result for v in versions if (v.id, item.id) in results}
            passfail = {k: r for k, r in verdicts.items() if r in ("pass", "fail")}
            latest_result = verdicts.get(latest.version)
            if len(set(passfail.values())) > 1:
                detail = ", ".join(f"v{k} {r}" for k, r in sorted(passfail.items(), reverse=True))
                disagree.append(item.model_copy(update={"reason": f"eval versions disagree: {detail}"}))
            elif latest_result in ("error", "timeout"):
                reason = results[(latest.id, item.id)].reason
                errs.append(item.model_copy(update={
                    "reason": f"latest version v{latest.version} {'errs' if latest_result == 'error' else 'times out'}"
                              + (f": {reason[:120]}" if reason else "")}))
            else:
                rest.append(item)
        return disagree + errs + rest
