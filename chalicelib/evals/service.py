"""Starting generation and execution jobs, and reading versions and their results."""

from __future__ import annotations

from typing import Any, Protocol

from chalicelib.auth.models import Caller
from chalicelib.errors import NotFound, Unprocessable
from chalicelib.evals.models import EvalVersion, ExecuteRequest, Execution, GenerateRequest
from chalicelib.evals.repository import EvalRepository
from chalicelib.ids import new_id
from chalicelib.jobs.files import JobFiles
from chalicelib.jobs import service as jobs_service
from chalicelib.jobs.models import Job
from chalicelib.jobs.repository import JobRepository
from chalicelib.paging import Page
from chalicelib.traces.repository import TraceRepository
from chalicelib.traces.service import parse_trace_filters


class Rating(Protocol):
    trace_id: str
    rating: str
    notes: str


class EvalSetLookup(Protocol):
    """What the engine needs from eval sets: the set (404 if not the caller's) and its ratings."""

    def get_set(self, workspace_id: str, eval_set_id: str) -> Any: ...

    def ratings(self, eval_set_id: str) -> list[Rating]: ...


def start_generation(caller: Caller, eval_set_id: str, req: GenerateRequest, *, eval_sets: EvalSetLookup,
                     jobs: JobRepository, sfn: Any, state_machine_arn: str,
                     parent_id: str | None = None, job_type: str = "generate") -> Job:
    """Check the set can train, then start the generate state machine."""
    eval_set = eval_sets.get_set(caller.workspace_id, eval_set_id)
    ratings = eval_sets.ratings(eval_set_id)
    positives = sum(r.rating == "positive" for r in ratings)
    negatives = sum(r.rating == "negative" for r in ratings)
    if not positives or not negatives:
        raise Unprocessable(f"generation needs at least one positive and one negative rating "
                            f"(eval set {eval_set_id} has {positives} positive, {negatives} negative)")
    params = {"eval_set_id": eval_set_id, **req.model_dump(), "created_by": caller.key_id, "parent_id": parent_id,
              "eval_set_name": getattr(eval_set, "name", "")}
    return jobs_service.start_job(caller.workspace_id, job_type, params, state_machine_arn=state_machine_arn,
                                  jobs=jobs, sfn=sfn)


def list_versions(caller: Caller, eval_set_id: str, *, limit: int, cursor: str | None, eval_sets: EvalSetLookup,
                  evals: EvalRepository, include_rejected: bool = False) -> Page[EvalVersion]:
    """A set's versions, newest first; rejected refinements only with ``include_rejected``."""
    eval_sets.get_set(caller.workspace_id, eval_set_id)
    items, nxt = evals.list_for_set(eval_set_id, limit=limit, cursor=cursor, include_rejected=include_rejected)
    return Page[EvalVersion](items=items, next_cursor=nxt)


INLINE_TRACE_IDS = 100  # more requested ids than this travel as a job file (the job item and the input stay small)
TRACE_IDS_FILE = "trace_ids"  # that file's name among the job's files; the params name it as trace_ids_file


def start_execution(caller: Caller, eval_id: str, req: ExecuteRequest, *, evals: EvalRepository,
                    traces: TraceRepository, jobs: JobRepository, sfn: Any, state_machine_arn: str,
                    files: JobFiles | None = None) -> Job:
    """Run a version over traces (all, the given ids, or filtered; only missing ones if asked).
    Unknown trace ids are a 404 naming them, bad filters a 400, before any job exists. Many ids are
    written to the job's files (``files``) and the params name that file instead."""
    version = evals.get(caller.workspace_id, eval_id)
    params = {"eval_id": eval_id, "eval_set_id": version.eval_set_id, **req.model_dump()}
    if req.filters is not None:
        params["filters"] = parse_trace_filters(req.filters)
    if req.trace_ids:
        missing = traces.missing_ids(caller.workspace_id, req.trace_ids)
        if missing:
            shown = ", ".join(missing[:10]) + (f" and {len(missing) - 10} more" if len(missing) > 10 else "")
            raise NotFound(f"{len(missing)} of the trace ids are not traces of this workspace: {shown}",
                           [{"field": "trace_ids", "missing": missing[:100]}])
    job_id = new_id("job")
    if req.trace_ids and len(req.trace_ids) > INLINE_TRACE_IDS:
        if files is None:
            raise ValueError("more than INLINE_TRACE_IDS trace ids need the job files to write them to")
        files.put(caller.workspace_id, job_id, TRACE_IDS_FILE, req.trace_ids)
        params.update(trace_ids=None, trace_ids_file=TRACE_IDS_FILE, trace_count=len(req.trace_ids))
    return jobs_service.start_job(caller.workspace_id, "execute", params, state_machine_arn=state_machine_arn,
                                  jobs=jobs, sfn=sfn, job_id=job_id)


def list_executions(caller: Caller, eval_id: str, *, limit: int, cursor: str | None,
                    evals: EvalRepository) -> Page[Execution]:
    evals.get(caller.workspace_id, eval_id)
    items, nxt = evals.executions(eval_id, limit=limit, cursor=cursor)
    return Page[Execution](items=items, next_cursor=nxt)


class EvalSetRatings:
    """EvalSetLookup over the eval sets repository."""

    def __init__(self, repo: Any):
        self._repo = repo

    def get_set(self, workspace_id: str, eval_set_id: str) -> Any:
        return self._repo.get(workspace_id, eval_set_id)

    def ratings(self, eval_set_id: str) -> list[Rating]:
        out: list[Rating] = []
        cursor = None
        while True:
            page, cursor = self._repo.list_feedback(eval_set_id, limit=200, cursor=cursor)
            out += page
            if not cursor:
                return out
