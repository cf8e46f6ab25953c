"""Version lineage: hand-edited versions, activation (one active per set; rollback = activating an
older one), archiving, the diff between two versions, and the drill-down into one result."""

from __future__ import annotations

import difflib
from typing import Any, Protocol

from chalicelib.auth.models import Caller
from chalicelib.errors import Conflict, NotFound, Unprocessable, ValidationError
from chalicelib.evals.models import (
    EvalVersion, ExecutionDetail, FlippedTrace, HumanRating, SavedVersion, SaveVersionRequest, VersionDiff,
    VersionSide,
)
from chalicelib.evals.estimate import metrics_with_estimate
from chalicelib.evals.repository import EvalRepository
from chalicelib.evals.results import agrees
from chalicelib.ids import new_id
from chalicelib.jobs import service as jobs_service
from chalicelib.jobs.repository import JobRepository
from chalicelib.sandbox.validate import validate_code
from chalicelib.timeutil import now_iso
from chalicelib.traces.summary import preview

MAX_FLIPPED = 200
EXCERPT_CHARS = 4000
MAX_AUTO_SCORE_TRACES = 5000
"""A hand-edited version is scored automatically on up to this many rated traces (the job input stays small)."""


class RatedSets(Protocol):
    """What versions need of eval sets (EvalSetRepository provides it)."""

    def get(self, workspace_id: str, eval_set_id: str) -> Any: ...

    def rating_rows(self, eval_set_id: str) -> list[Any]: ...

    def get_feedback(self, eval_set_id: str, trace_id: str) -> Any | None: ...


class TraceBodies(Protocol):
    def get(self, workspace_id: str, trace_id: str) -> dict: ...


def save_version(caller: Caller, eval_id: str, req: SaveVersionRequest, *, evals: EvalRepository,
                 eval_sets: RatedSets, jobs: JobRepository, sfn: Any, state_machine_arn: str) -> SavedVersion:
    """Validate hand-edited code (422 with the line), save it as a draft child of ``eval_id``, start scoring it."""
    parent = evals.get(caller.workspace_id, eval_id)
    name = validate_code(req.code)
    version = EvalVersion(
        id=new_id("ev"), eval_set_id=parent.eval_set_id, version=evals.next_version(caller.workspace_id,
                                                                                   parent.eval_set_id),
        parent_id=parent.id, status="draft", name=name, code=req.code, generator="human",
        training_trace_ids=parent.training_trace_ids, created_by=caller.key_id, created_at=now_iso())
    evals.add(caller.workspace_id, version)
    rated = [r.trace_id for r in eval_sets.rating_rows(parent.eval_set_id)]
    job_id = None
    if rated and len(rated) <= MAX_AUTO_SCORE_TRACES:
        params = {"eval_id": version.id, "eval_set_id": version.eval_set_id, "trace_ids": rated, "filters": None,
                  "only_missing": False}
        job_id = jobs_service.start_job(caller.workspace_id, "execute", params, state_machine_arn=state_machine_arn,
                                        jobs=jobs, sfn=sfn).id
    return SavedVersion(**version.model_dump(), scoring_job_id=job_id)


def activate_version(caller: Caller, eval_id: str, *, evals: EvalRepository, force: bool = False) -> EvalVersion:
    """Make a version its set's one active version (the previous active one becomes a draft); a
    rejected refinement only with ``force`` (409 otherwise, with the reason it was rejected)."""
    target = evals.get(caller.workspace_id, eval_id)
    if target.status == "active":
        return target
    if target.status == "rejected" and not force:
        raise Conflict(f"eval {eval_id} is a rejected refinement ({target.rejected_reason}); "
                       f"activate it with ?force=true if you mean to")
    previous = [v for v in evals.all_for_set(target.eval_set_id) if v.status == "active" and v.id != target.id]
    evals.activate(caller.workspace_id, target, previous)
    return target.model_copy(update={"status": "active"})


def archive_version(caller: Caller, eval_id: str, *, evals: EvalRepository) -> EvalVersion:
    """Archive a draft version; 409 for the active one (activate another first)."""
    target = evals.get(caller.workspace_id, eval_id)
    if target.status == "archived":
        return target
    if target.status == "active":
        raise Conflict(f"eval {eval_id} is its set's active version: activate another version before archiving it")
    evals.archive(caller.workspace_id, target)
    return target.model_copy(update={"status": "archived"})


def diff_versions(caller: Caller, eval_id: str, against_id: str | None, *, evals: EvalRepository,
                  eval_sets: RatedSets) -> VersionDiff:
    """The unified code diff from ``against`` to ``eval_id`` and the rated traces whose result flipped."""
    after = evals.get(caller.workspace_id, eval_id)
    if not against_id:
        raise ValidationError("against is required: the id of the version to compare with", [{"field": "against"}])
    before = evals.get(caller.workspace_id, against_id)
    if before.eval_set_id != after.eval_set_id:
        raise Unprocessable(f"evals {eval_id} and {against_id} belong to different eval sets")
    diff = "".join(difflib.unified_diff(before.code.splitlines(keepends=True), after.code.splitlines(keepends=True),
                                        fromfile=f"{before.name} v{before.version}",
                                        tofile=f"{after.name} v{after.version}"))
    ratings = [(r.trace_id, r.rating) for r in eval_sets.rating_rows(after.eval_set_id)]
    rated = [t for t, _ in ratings]
    kinds_after, kinds_before = evals.result_kinds(after.id, rated), evals.result_kinds(before.id, rated)
    both = [(t, r) for t, r in ratings if t in kinds_after and t in kinds_before]
    flips = [(t, r) for t, r in both if kinds_after[t] != kinds_before[t]]
    details = evals.results_for([before.id, after.id], [t for t, _ in flips[:MAX_FLIPPED]])
    flipped = []
    for trace_id, rating in flips[:MAX_FLIPPED]:
        b, a = details.get((before.id, trace_id)), details.get((after.id, trace_id))
        was, now = agrees(rating, kinds_before[trace_id]), agrees(rating, kinds_after[trace_id])
        flipped.append(FlippedTrace(
            trace_id=trace_id, rating=rating, before=kinds_before[trace_id], after=kinds_after[trace_id],
            before_reason=b.reason if b else "", after_reason=a.reason if a else "",
            fixed=None if was is None or now is None else now))
    return VersionDiff(eval=_side(after, metrics_with_estimate(after, ratings, kinds_after)),
                       against=_side(before, metrics_with_estimate(before, ratings, kinds_before)), diff=diff, flipped=flipped,
                       flipped_total=len(flips), compared=len(both))


def _side(version: EvalVersion, metrics: dict) -> VersionSide:
    return VersionSide(id=version.id, version=version.version, status=version.status, metrics=metrics)


def execution_detail(caller: Caller, eval_id: str, trace_id: str, *, evals: EvalRepository, eval_sets: RatedSets,
                     traces: TraceBodies) -> ExecutionDetail:
    """One result with the code that ran, the human rating, output excerpts and the trace."""
    version = evals.get(caller.workspace_id, eval_id)
    if len(trace_id) > 256:
        raise NotFound(f"no execution of eval {eval_id} on trace {trace_id[:64]}…")
    execution = evals.execution(eval_id, trace_id)
    feedback = eval_sets.get_feedback(version.eval_set_id, trace_id)
    try:
        trace: dict | None = traces.get(caller.workspace_id, trace_id)
    except NotFound:
        trace = None
    return ExecutionDetail(
        **execution.model_dump(exclude={"stdout", "stderr"}), stdout=execution.stdout[:EXCERPT_CHARS],
        stderr=execution.stderr[:EXCERPT_CHARS], eval_set_id=version.eval_set_id, version=version.version,
        eval_name=version.name, code=version.code,
        human=HumanRating(rating=feedback.rating, notes=feedback.notes) if feedback else None,
        agrees=agrees(feedback.rating if feedback else None, execution.result),
        output_excerpt=preview((trace or {}).get("output"), 1000), trace=trace)
