"""Creating and rating eval sets, and choosing what to rate next."""

from __future__ import annotations

from typing import Any, Iterable, Protocol

from chalicelib.auth.models import Caller
from chalicelib.errors import Conflict, NotFound
from chalicelib.evalsets.cleanup import DeletedSets
from chalicelib.evalsets.models import (
    MAX_HISTORY, CreateEvalSetRequest, EvalSet, EvalSetDetail, Feedback, HistoryEntry, RateRequest, ReviewItem,
    UpdateEvalSetRequest,
)
from chalicelib.evalsets.readiness import assess_eval_set
from chalicelib.evalsets.repository import EvalSetRepository, StaleFeedback
from chalicelib.evalsets.review import (
    NewestMixedPrioritizer, ReviewPrioritizer, candidate_pool_size, select_review_items,
)
from chalicelib.ids import new_id
from chalicelib.paging import Page
from chalicelib.timeutil import now_iso
from chalicelib.traces.repository import TraceRepository

MAX_WRITE_ATTEMPTS = 8
MAX_TRACE_ID_CHARS = 256
DEFAULT_PRIORITIZER = NewestMixedPrioritizer()


def create_eval_set(caller: Caller, req: CreateEvalSetRequest, *, eval_sets: EvalSetRepository) -> EvalSetDetail:
    """A new, empty eval set (409 when the name is taken in the workspace)."""
    now = now_iso()
    record = EvalSet(id=new_id("es"), workspace_id=caller.workspace_id, name=req.name,
                     description=req.description, criteria=req.criteria, thresholds=req.thresholds,
                     scope=req.scope, created_at=now, updated_at=now, created_by=caller.key_id)
    eval_sets.add(record)
    return assess_eval_set(record, [])


def list_eval_sets(caller: Caller, *, limit: int, cursor: str | None, eval_sets: EvalSetRepository) -> Page[EvalSet]:
    """The caller's eval sets (without counts: GET one set for those)."""
    items, nxt = eval_sets.list(caller.workspace_id, limit=limit, cursor=cursor)
    return Page[EvalSet](items=items, next_cursor=nxt)


def get_eval_set(caller: Caller, eval_set_id: str, *, eval_sets: EvalSetRepository) -> EvalSetDetail:
    """The set with exact counts, readiness and warnings."""
    record = eval_sets.get(caller.workspace_id, eval_set_id)
    return assess_eval_set(record, eval_sets.rating_rows(record.id))


def update_eval_set(caller: Caller, eval_set_id: str, req: UpdateEvalSetRequest, *,
                    eval_sets: EvalSetRepository) -> EvalSetDetail:
    """Change the fields sent (an empty body changes nothing)."""
    record = eval_sets.get(caller.workspace_id, eval_set_id)
    changes = req.model_dump(mode="json", exclude_unset=True)
    changes = {k: v for k, v in changes.items() if v != record.model_dump(mode="json").get(k)}
    if changes:
        changes["updated_at"] = now_iso()
        eval_sets.update(record, changes)
    return get_eval_set(caller, eval_set_id, eval_sets=eval_sets)


class SetContents(Protocol):
    """The versions of an eval set (their results go after the set: evalsets/cleanup.py)."""

    def all_for_set(self, eval_set_id: str, *, include_rejected: bool = False) -> list[Any]: ...

    def delete_versions(self, eval_set_id: str, eval_ids: Iterable[str]) -> None: ...


def delete_eval_set(caller: Caller, eval_set_id: str, *, eval_sets: EvalSetRepository, contents: SetContents,
                    deleted_sets: DeletedSets) -> None:
    """Delete the set and its version records now, marked so that ``evalset_cleanup`` removes its ratings,
    results and trend counters after (evalsets/cleanup.py): nothing of the set is reachable on return."""
    eval_sets.get(caller.workspace_id, eval_set_id)  # 404 before anything is written
    eval_ids = [v.id for v in contents.all_for_set(eval_set_id, include_rejected=True)]
    deleted_sets.mark(caller.workspace_id, eval_set_id, eval_ids)
    eval_sets.delete(caller.workspace_id, eval_set_id)
    contents.delete_versions(eval_set_id, eval_ids)


def rate_trace(caller: Caller, eval_set_id: str, trace_id: str, req: RateRequest, *, eval_sets: EvalSetRepository,
               traces: TraceRepository) -> Feedback:
    """Upsert the rating of a trace of the caller's workspace, appending to its history."""
    record = eval_sets.get(caller.workspace_id, eval_set_id)
    if len(trace_id) > MAX_TRACE_ID_CHARS or not traces.summaries(caller.workspace_id, [trace_id]):
        raise NotFound(f"trace {trace_id} not found")
    for _ in range(MAX_WRITE_ATTEMPTS):
        current = eval_sets.get_feedback(record.id, trace_id)
        if current is not None and (current.rating, current.notes) == (req.rating, req.notes):
            return current
        updated = next_feedback(current, trace_id, req, by=caller.key_id, at=now_iso())
        try:
            eval_sets.put_feedback(record.id, caller.workspace_id, updated,
                                   expected_version=current.version if current else None)
        except StaleFeedback:
            continue
        eval_sets.mark_ratings_changed(caller.workspace_id, record.id, updated.updated_at)
        return updated
    raise Conflict(f"the rating of trace {trace_id} keeps changing concurrently; try again")


def next_feedback(current: Feedback | None, trace_id: str, req: RateRequest, *, by: str, at: str) -> Feedback:
    """The feedback after one more change by ``by`` at ``at``."""
    entry = HistoryEntry(by=by, at=at, from_=current.rating if current else None, to=req.rating, notes=req.notes)
    if current is None:
        return Feedback(trace_id=trace_id, rating=req.rating, notes=req.notes, author=by, created_at=at,
                        updated_at=at, history=[entry], changes=0, version=1)
    return current.model_copy(update={
        "rating": req.rating, "notes": req.notes, "author": by, "updated_at": at,
        "history": [*current.history, entry][-MAX_HISTORY:],
        "changes": current.changes + (current.rating != req.rating), "version": current.version + 1})


def list_feedback(caller: Caller, eval_set_id: str, *, limit: int, cursor: str | None,
                  eval_sets: EvalSetRepository) -> Page[Feedback]:
    """The set's ratings, most recently changed first."""
    record = eval_sets.get(caller.workspace_id, eval_set_id)
    items, nxt = eval_sets.list_feedback(record.id, limit=limit, cursor=cursor)
    return Page[Feedback](items=items, next_cursor=nxt)


def delete_feedback(caller: Caller, eval_set_id: str, trace_id: str, *, eval_sets: EvalSetRepository) -> None:
    """Forget the rating of one trace (404 when it is not rated in the set)."""
    record = eval_sets.get(caller.workspace_id, eval_set_id)
    if len(trace_id) > MAX_TRACE_ID_CHARS:
        raise NotFound(f"trace {trace_id} has no feedback in eval set {eval_set_id}")
    eval_sets.delete_feedback(record.id, trace_id)
    eval_sets.mark_ratings_changed(caller.workspace_id, record.id, now_iso())


def rated_trace_ids(caller: Caller, eval_set_id: str, *, eval_sets: EvalSetRepository) -> set[str]:
    """Ids of the traces rated in the caller's eval set (for GET /v1/traces?eval_set_id=&rated=)."""
    record = eval_sets.get(caller.workspace_id, eval_set_id)
    return {r.trace_id for r in eval_sets.rating_rows(record.id)}


def review_queue(caller: Caller, eval_set_id: str, *, limit: int, eval_sets: EvalSetRepository,
                 traces: TraceRepository, prioritizer: ReviewPrioritizer = DEFAULT_PRIORITIZER) -> Page[ReviewItem]:
    """Unrated traces of the set's scope in the order worth rating next."""
    record = eval_sets.get(caller.workspace_id, eval_set_id)
    rated = {r.trace_id for r in eval_sets.rating_rows(record.id)}
    scope = record.scope
    pool, _ = traces.list(caller.workspace_id, limit=candidate_pool_size(limit), cursor=None, since=scope.since,
                          until=scope.until, keep=lambda s: s.id not in rated and scope.keep(s))
    return Page[ReviewItem](items=select_review_items(record, pool, limit=limit, prioritizer=prioritizer))
