"""Step Functions task entry points: event dict in, dict out. ``app.py`` wraps each in a
three-line ``@app.lambda_function``; errors propagate as typed exceptions whose class names
the ASL ``Retry``/``Catch`` blocks match."""

from __future__ import annotations

import itertools
import json
from typing import Any, Iterator

from chalicelib import observability, wiring

from chalicelib.jobs import service as jobs_service
from chalicelib.jobs.failures import FailureLog
from chalicelib.timeutil import now_iso
from chalicelib.traces import tasks as trace_tasks
from chalicelib.traces.fetchers import page_fetcher


def import_page(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """Import pages from the event's cursor, within the Lambda ``context``'s remaining time; after the last
    page, finish the job (as ``job_finish``: one state, one transition fewer per job). An upload whose file
    needs preparing first (OTLP, gzip) is handed to the PrepareUpload step (``prepare``)."""
    from chalicelib.config import get_settings

    inp = trace_tasks.ImportPageInput.model_validate(event)
    if not inp.done and inp.params.get("upload_key") and "file_key" not in inp.params:
        return trace_tasks.ImportPageOutput(**inp.model_dump(), prepare=True).model_dump(mode="json")
    if inp.done:  # PrepareUpload found the job no longer running
        finish_job(inp.workspace_id, inp.job_id)
        return trace_tasks.ImportPageOutput(**inp.model_dump()).model_dump(mode="json")
    with page_fetcher(inp.workspace_id, inp.params) as fetch:
        out = trace_tasks.import_page(inp, jobs=wiring.job_repo(), traces=wiring.trace_repo(), fetch=fetch,
                                      failure_log=FailureLog(wiring.job_files()),
                                      fmt=inp.params.get("format", "langfuse"),
                                      pages_per_execution=get_settings().import_pages_per_execution,
                                      batch_traces=get_settings().import_batch_traces,
                                      remaining_ms=getattr(context, "get_remaining_time_in_millis", None))
    if out.done:
        finish_job(inp.workspace_id, inp.job_id)
    return out.model_dump(mode="json")


def upload_prepare(event: dict[str, Any]) -> dict[str, Any]:
    """The import's first step for an upload: decompress / group once, name the file pages read."""
    from chalicelib.traces.uploads import prepare_upload

    inp = trace_tasks.ImportPageInput.model_validate(event)
    params = prepare_upload(inp.workspace_id, inp.job_id, inp.params, jobs=wiring.job_repo(),
                            uploads=wiring.upload_store(), failure_log=FailureLog(wiring.job_files()))
    out = trace_tasks.ImportPageOutput(**inp.model_dump(exclude={"params", "done"}), params=params or inp.params,
                                       done=params is None)
    return out.model_dump(mode="json")


def job_finish(event: dict[str, Any]) -> dict[str, Any]:
    """Mark the job succeeded with its type's result (the generate and execute machines' last step)."""
    return finish_job(event["workspace_id"], event["job_id"], event.get("result"))


def finish_job(workspace_id: str, job_id: str, task_result: dict[str, Any] | None = None) -> dict[str, Any]:
    """Mark the job succeeded with its type's result: an import's from its counters (NothingImported for an
    upload that stored no trace, which fails the job through the machine's Catch), else ``task_result``."""
    jobs = wiring.job_repo()
    job = jobs.get(workspace_id, job_id)
    if job.type in ("import", "upload"):
        if job.status not in ("queued", "running"):  # ended already (cancelled, or finished by an earlier call):
            return {"job_id": job_id, "status": job.status}  # no second status update, metric or run of evals
        result = trace_tasks.finish_import(workspace_id, job_id, jobs=jobs)
        if job.type == "upload" and job.status == "running":
            trace_tasks.check_upload_result(result)
        if job.params.get("integration_id"):
            wiring.integration_repo().update_status(workspace_id, job.params["integration_id"], last_sync_at=now_iso(),
                                                    status="ok", status_detail=_import_detail(result))
        observability.record_import(result)
        if job.params.get("run_active_evals"):
            result["eval_jobs"] = run_active_evals(workspace_id)
    else:
        result = task_result or {}
    jobs_service.finish_job(workspace_id, job_id, result, jobs=jobs)
    return {"job_id": job_id, "status": "succeeded"}


def job_fail(event: dict[str, Any]) -> dict[str, Any]:
    """Mark the job failed with the reason the state machine caught."""
    workspace_id, job_id = event["workspace_id"], event["job_id"]
    reason = describe_error(event.get("error") or {})
    jobs = wiring.job_repo()
    job = jobs.get(workspace_id, job_id)
    partial = trace_tasks.finish_import(workspace_id, job_id, jobs=jobs) if job.type in ("import", "upload") else None
    if partial:
        observability.record_import(partial)
    jobs_service.fail_job(workspace_id, job_id, reason, jobs=jobs, result=partial)
    if job.type == "import" and job.params.get("integration_id"):
        wiring.integration_repo().update_status(workspace_id, job.params["integration_id"], status="error",
                                                status_detail=reason[:1000])
    return {"job_id": job_id, "status": "failed", "reason": reason}


def describe_error(error: dict[str, Any]) -> str:
    """A caught Step Functions error {Error, Cause} as one readable line."""
    name = error.get("Error", "Error")
    if name == "States.Timeout":
        return "timeout"
    cause = error.get("Cause", "")
    try:
        parsed = json.loads(cause)
        if isinstance(parsed, dict) and "errorMessage" in parsed:
            cause = parsed["errorMessage"]
    except (TypeError, ValueError):
        pass
    return f"{name}: {cause}" if cause else name


def _import_detail(result: dict[str, Any]) -> str:
    return (f"last import: {result['imported']} new, {result['updated']} updated, {result['skipped']} unchanged, "
            f"{result['failed']} failed")





# --- generate_eval.asl.json --------------------------------------------------------------

def _job(event: dict[str, Any]):
    from chalicelib.evals.tasks import JobEvent

    return JobEvent.model_validate(event)


def generate_load(event: dict[str, Any]) -> dict[str, Any]:
    from chalicelib.evals import tasks

    tasks.generate_load(_job(event), eval_sets=wiring.eval_set_ratings(), traces=wiring.trace_repo(),
                        jobs=wiring.job_repo(), files=wiring.job_files())
    return event


def generate_candidates(event: dict[str, Any]) -> dict[str, Any]:
    from chalicelib.evals import tasks

    ev = _job(event)
    generator, reason = wiring.generator(ev.params.get("generator", "auto"), ev.workspace_id)
    tasks.generate_write(ev, generator=generator, reason=reason, traces=wiring.trace_repo(), jobs=wiring.job_repo(),
                         files=wiring.job_files())
    return event


def generate_test(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    from chalicelib.evals import tasks

    out = tasks.generate_test(_job(event), sandbox=wiring.sandbox(context), traces=wiring.trace_repo(),
                              jobs=wiring.job_repo(), files=wiring.job_files())
    observability.record_generation(out)
    return event


def generate_save(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    from chalicelib.evals import tasks

    out = tasks.generate_save(_job(event), evals=wiring.eval_repo(), eval_sets=wiring.eval_set_ratings(),
                              sandbox=wiring.sandbox(context), traces=wiring.trace_repo(), jobs=wiring.job_repo(),
                              files=wiring.job_files())
    return {**event, **out}


# --- execute_eval.asl.json ---------------------------------------------------------------

def execute_prepare(event: dict[str, Any]) -> dict[str, Any]:
    from chalicelib.config import get_settings
    from chalicelib.evals import tasks

    settings = get_settings()
    out = tasks.execute_prepare(_job(event), evals=wiring.eval_repo(), traces=wiring.trace_repo(),
                                jobs=wiring.job_repo(), files=wiring.job_files(),
                                chunk_size=settings.execute_chunk_size, trace_id_pages=trace_id_pages,
                                max_concurrency=settings.execute_max_concurrency,
                                tolerated_failure_percent=settings.execute_tolerated_failure_percent)
    return {**event, **out}


def trace_id_pages(workspace_id: str, filters: dict | None) -> Iterator[tuple[list[str], list[str | None] | None]]:
    """The ids of the workspace's traces matching GET /v1/traces-style filters, a page at a time: with the
    time-index slot of each when only the time range filters (``index_entries``, the items unread), else
    checked against the items the summary filters read (None)."""
    from chalicelib.traces.service import TraceFilters

    f = TraceFilters.model_validate(filters or {})
    repo = wiring.trace_repo()
    if not any([f.source, f.tag, f.name, f.integration_id]):
        entries = repo.index_entries(workspace_id, since=f.from_, until=f.to)
        while batch := list(itertools.islice(entries, 1000)):
            yield [trace_id for trace_id, _ in batch], [slot for _, slot in batch]
        return
    cursor = None
    while True:
        page, cursor = repo.list(workspace_id, limit=1000, cursor=cursor, since=f.from_, until=f.to, keep=f.keep)
        yield [s.id for s in page], None
        if not cursor:
            return


def execute_chunk(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    from chalicelib.evals import tasks

    return tasks.execute_chunk(_job(event), int(event["chunk"]), evals=wiring.eval_repo(), traces=wiring.trace_repo(),
                               sandbox=wiring.sandbox(context), jobs=wiring.job_repo(), files=wiring.job_files(),
                               total=event.get("total"))


def execute_aggregate(event: dict[str, Any]) -> dict[str, Any]:
    from chalicelib.evals import tasks

    out = tasks.execute_aggregate(_job(event), result_manifest=event["map_run"]["ResultWriterDetails"]["Key"],
                                  evals=wiring.eval_repo(), eval_sets=wiring.eval_set_ratings(),
                                  jobs=wiring.job_repo(), files=wiring.job_files())
    return {"job_id": event["job_id"], "workspace_id": event["workspace_id"], "params": event["params"], **out}


# --- scheduled imports ---------------------------------------------------------------------

def scheduled_import(event: dict[str, Any]) -> dict[str, Any]:
    """What an EventBridge schedule (or the local scheduler) invokes."""
    from chalicelib.schedules.service import run_scheduled_import

    job = run_scheduled_import(event["workspace_id"], event["integration_id"], repo=wiring.integration_repo(),
                               jobs=wiring.job_repo(), sfn=wiring.sfn(),
                               state_machine_arn=wiring.state_machine_arn("import_traces"))
    return {"job_id": job.id}


def run_active_evals(workspace_id: str) -> list[str]:
    """Start a run of every eval set's active version over the traces it has not seen yet."""
    from chalicelib.auth.models import Caller
    from chalicelib.evals import service as evals_service
    from chalicelib.evals.models import ExecuteRequest

    system = Caller(workspace_id=workspace_id, role="member", key_id="schedule")
    job_ids = []
    cursor = None
    while True:
        sets, cursor = wiring.eval_set_repo().list(workspace_id, limit=200, cursor=cursor)
        for eval_set in sets:
            active = [v for v in wiring.eval_repo().all_for_set(eval_set.id) if v.status == "active"]
            for version in active:
                job = evals_service.start_execution(system, version.id, ExecuteRequest(only_missing=True),
                                                    evals=wiring.eval_repo(), traces=wiring.trace_repo(),
                                                    jobs=wiring.job_repo(), sfn=wiring.sfn(),
                                                    state_machine_arn=wiring.state_machine_arn("execute_eval"))
                job_ids.append(job.id)
        if not cursor:
            return job_ids


def otlp_assemble(event: dict[str, Any]) -> dict[str, Any]:
    """Assemble received OTLP spans into traces once each trace is quiet or its root has ended."""
    from datetime import datetime, timezone

    from chalicelib.config import get_settings
    from chalicelib.otlp.tasks import assemble_ready_traces

    settings = get_settings()
    out = assemble_ready_traces(datetime.now(timezone.utc), quiet_seconds=settings.otlp_quiet_seconds,
                                spans=wiring.span_store(), traces=wiring.trace_repo())
    if settings.otlp_run_active_evals:
        out.eval_jobs = [job_id for workspace_id in out.changed_workspaces for job_id in run_active_evals(workspace_id)]
    return out.model_dump(mode="json")


def evalset_cleanup(event: dict[str, Any]) -> dict[str, Any]:
    """Remove a bounded batch of deleted eval sets' ratings, results and trend counters."""
    from datetime import datetime, timezone

    from chalicelib.evalsets.cleanup import clean_deleted_sets

    return clean_deleted_sets(datetime.now(timezone.utc), markers=wiring.deleted_sets(),
                              eval_sets=wiring.eval_set_repo(), evals=wiring.eval_repo()).model_dump(mode="json")
