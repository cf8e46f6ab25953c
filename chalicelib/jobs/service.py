"""Starting, watching and cancelling jobs. A job record exists before its execution starts;
reading a job reconciles it with its execution, so a job never stays ``running`` after its
execution timed out, failed or vanished (e.g. the local stack restarted)."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.auth.models import Caller
from chalicelib.errors import Conflict
from chalicelib.ids import new_id
from chalicelib.jobs.failures import FailureLog
from chalicelib.jobs.files import JobFiles
from chalicelib.jobs.models import FINAL_STATUSES, Job, JobEvent, JobFailure, JobType
from chalicelib.jobs.repository import JobRepository
from chalicelib.paging import Page
from chalicelib.timeutil import now_iso
from chalicelib.traces.summary import trace_labels

_EXECUTION_FAILURES = {"FAILED": "failed", "TIMED_OUT": "timeout", "ABORTED": "aborted"}


def start_job(workspace_id: str, job_type: JobType, params: dict[str, Any], *, state_machine_arn: str,
              jobs: JobRepository, sfn: Any, extra_input: dict[str, Any] | None = None,
              job_id: str | None = None) -> Job:
    """Record a queued job, then start its state machine (execution name = job id; ``job_id`` when the
    caller already wrote files of the job)."""
    job = Job(id=job_id or new_id("job"), type=job_type, status="queued", created_at=now_iso(), params=params)
    jobs.add(workspace_id, job)
    execution_input = {"job_id": job.id, "workspace_id": workspace_id, "params": params, **(extra_input or {})}
    try:
        arn = sfn.start_execution(stateMachineArn=state_machine_arn, name=job.id,
                                  input=json.dumps(execution_input))["executionArn"]
    except ClientError as exc:
        jobs.transition(workspace_id, job.id, to="failed", allowed_from=("queued",),
                        fields={"error": f"could not start: {exc.response['Error']['Message']}",
                                "finished_at": now_iso()})
        raise
    jobs.set_execution(workspace_id, job.id, arn)
    return job


MAX_NAMED_TRACES = 200
"""Traces a job's page names at most (one BatchGet of 100 keys per 100)."""


def get_job(caller: Caller, job_id: str, *, jobs: JobRepository, sfn: Any, traces: Any = None) -> Job:
    """The job, reconciled with its execution; with ``traces`` (the trace repository), the traces its items
    name are labelled with their name and first user message."""
    item = jobs.get_item(caller.workspace_id, job_id)
    if item["status"] not in FINAL_STATUSES and item.get("execution_arn"):
        reconcile(caller.workspace_id, item, jobs=jobs, sfn=sfn)
    job = jobs.get(caller.workspace_id, job_id)
    if traces is not None:
        ids = item_trace_ids(job)[:MAX_NAMED_TRACES]
        job.traces = trace_labels(traces, caller.workspace_id, ids) if ids else {}
    return job


def item_trace_ids(job: Job) -> list[str]:
    """Trace ids a job's items carry: a refinement's fixed and broken traces, failures with a trace id, and
    the traces a run was asked for; in that order, each once."""
    result = job.result or {}
    comparison = result.get("comparison") or {}
    ids = [*(comparison.get("fixed") or []), *(comparison.get("broken") or []),
           *(f.get("trace_id") for f in result.get("failures") or [] if isinstance(f, dict)),
           *(job.params.get("trace_ids") or [])]
    return list(dict.fromkeys(i for i in ids if isinstance(i, str) and i))


def reconcile(workspace_id: str, item: dict, *, jobs: JobRepository, sfn: Any) -> None:
    """Mark a job failed when its execution ended without the job's own final step."""
    try:
        execution = _latest_execution(workspace_id, item, jobs=jobs, sfn=sfn)
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ExecutionDoesNotExist":
            raise
        reason = "interrupted: its execution no longer exists (the local stack restarted?)"
    else:
        status = execution["status"]
        if status not in _EXECUTION_FAILURES:
            return
        reason = _EXECUTION_FAILURES[status]
        if status == "FAILED" and execution.get("error"):
            reason = f"failed: {execution['error']}: {execution.get('cause', '')}"[:2000]
    jobs.transition(workspace_id, item["job_id"], to="failed", allowed_from=("queued", "running"),
                    fields={"error": reason, "finished_at": now_iso()})


def _latest_execution(workspace_id: str, item: dict, *, jobs: JobRepository, sfn: Any) -> dict:
    """The job's execution, following continuations: an import that continued in a new execution ended
    its own with ``{"continued_as": <arn>}``; the job then records the newer one."""
    execution = sfn.describe_execution(executionArn=item["execution_arn"])
    while execution["status"] == "SUCCEEDED":
        try:
            nxt = json.loads(execution.get("output") or "{}").get("continued_as")
        except (TypeError, ValueError, AttributeError):
            return execution
        if not isinstance(nxt, str):
            return execution
        jobs.set_execution(workspace_id, item["job_id"], nxt)
        execution = sfn.describe_execution(executionArn=nxt)
    return execution


def list_jobs(caller: Caller, *, limit: int, cursor: str | None, jobs: JobRepository) -> Page[Job]:
    items, nxt = jobs.list(caller.workspace_id, limit=limit, cursor=cursor)
    return Page[Job](items=items, next_cursor=nxt)


def list_events(caller: Caller, job_id: str, *, after: int, limit: int, jobs: JobRepository) -> Page[JobEvent]:
    jobs.get(caller.workspace_id, job_id)
    events = jobs.list_events(job_id, after=after, limit=limit)
    return Page[JobEvent](items=events, next_cursor=str(events[-1].seq) if len(events) == limit else None)


def list_failures(caller: Caller, job_id: str, *, limit: int, cursor: str | None, jobs: JobRepository,
                  files: JobFiles) -> Page[JobFailure]:
    """Every failure of a job, in order, a page at a time (the job item keeps only the first few)."""
    item = jobs.get_item(caller.workspace_id, job_id)
    found, nxt = FailureLog(files).page(caller.workspace_id, job_id, limit=limit, cursor=cursor)
    if not found and cursor is None:  # a job from before failures went to S3 keeps them on its item
        found = item.get("failures") or []
    return Page[JobFailure](items=[JobFailure.model_validate(f) for f in found], next_cursor=nxt)


def cancel_job(caller: Caller, job_id: str, *, jobs: JobRepository, sfn: Any) -> Job:
    """Stop the execution and mark the job cancelled; 409 when it already ended."""
    item = jobs.get_item(caller.workspace_id, job_id)
    if not jobs.transition(caller.workspace_id, job_id, to="cancelled", allowed_from=("queued", "running"),
                           fields={"finished_at": now_iso(), "error": "cancelled by the user"}):
        raise Conflict(f"job {job_id} already ended ({item['status']})")
    if item.get("execution_arn"):
        try:
            arn = _latest_execution(caller.workspace_id, item, jobs=jobs, sfn=sfn)["executionArn"]
            sfn.stop_execution(executionArn=arn, error="Cancelled", cause="cancelled by the user")
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ExecutionDoesNotExist":
                raise
    jobs.append_event((caller.workspace_id, job_id), "cancelled by the user")
    return jobs.get(caller.workspace_id, job_id)


def finish_job(workspace_id: str, job_id: str, result: dict[str, Any], *, jobs: JobRepository) -> bool:
    """running → succeeded with the result (task side)."""
    done = jobs.transition(workspace_id, job_id, to="succeeded", allowed_from=("queued", "running"),
                           fields={"result": result, "progress": 100, "finished_at": now_iso()})
    if done:
        jobs.append_event((workspace_id, job_id), "done", progress=100, data=result)
    return done


def fail_job(workspace_id: str, job_id: str, reason: str, *, jobs: JobRepository,
             result: dict[str, Any] | None = None) -> bool:
    """→ failed with the reason (task side, from a Catch)."""
    fields: dict[str, Any] = {"error": reason[:4000], "finished_at": now_iso()}
    if result is not None:
        fields["result"] = result
    done = jobs.transition(workspace_id, job_id, to="failed", allowed_from=("queued", "running"), fields=fields)
    if done:
        jobs.append_event((workspace_id, job_id), f"failed: {reason[:500]}")
    return done
