"""Step Functions tasks of the import state machine (infra/statemachines/import_traces.asl.json).

Each call imports source pages (up to TRACES_PER_CALL traces, within the Lambda's remaining time: few
state transitions per trace) and returns the cursor of the next; the state machine loops until
``done``, continuing in a new execution of itself (``continue_as_new``) every ``pages_per_execution``
pages so no execution nears Step Functions' history limit. Counters live
on the job record and each page adds to them once (keyed by its cursor), so a retried page neither
loses nor doubles counts (re-importing a page is an upsert).

Source pages are small (a connector's 50 traces); they are read on until ``batch_traces`` traces are in
hand and stored and counted as one (``_fetch_batch``): one page object, a few time-index items and one
job update per batch rather than per source page. A retried call reads the same pages from the same
cursor, so its batch is the one counted before.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any, Callable

from pydantic import BaseModel, Field
from pydantic import ValidationError as PydanticValidationError

from chalicelib.errors import Conflict
from chalicelib.ids import trace_id_for
from chalicelib.jobs.failures import FAILURES_INLINE, FailureLog, part_name
from chalicelib.jobs.repository import JobRepository
from chalicelib.sources.langfuse.normalize import normalize_langfuse_trace
from chalicelib.sources.langsmith.normalize import normalize_langsmith_trace
from chalicelib.sources.openai.normalize import normalize_openai_trace
from chalicelib.sources.models import SourcePage, TransientSourceError
from chalicelib.sources.otlp import normalize_otlp_trace
from chalicelib.timeutil import now_iso
from chalicelib.traces.models import UnifiedTrace
from chalicelib.traces.repository import TraceRepository
from chalicelib.traces.uploads import failure_record


class ImportPageInput(BaseModel):
    job_id: str
    workspace_id: str
    params: dict[str, Any]
    cursor: str | None = None
    page: int = 0
    done: bool = False
    run_pages: int = Field(default=0, description="pages imported by this execution (a continued one starts at 0)")
    continued_from: str | None = Field(default=None, description="the execution this one continues")


_INPUT_FIELDS = set(ImportPageInput.model_fields)
TRACES_PER_CALL = 1000  # one import_page call goes on to the next source page until it has handled this many
BATCH_SECONDS = 60  # a batch stops reading source pages after this long (a slow source) with what it has
TIME_RESERVE_MS = 10_000  # … or until the Lambda's remaining time is below this plus three of its slowest pages,
KEEP_TIME_SHARE = 0.6  # or below this share of what it had at the start (a page whose source retries runs long)


class ImportPageOutput(ImportPageInput):
    processed: int = Field(default=0, description="traces handled so far")
    continue_as_new: bool = Field(default=False, description="more pages, and this execution has imported its share")
    prepare: bool = Field(default=False, description="the upload's file must be prepared (PrepareUpload) first")


def import_page(inp: ImportPageInput, *, jobs: JobRepository, traces: TraceRepository,
                fetch: Callable[[str | None], SourcePage], failure_log: FailureLog,
                fmt: str = "langfuse", pages_per_execution: int = 100,
                traces_per_call: int = TRACES_PER_CALL, remaining_ms: Callable[[], int] | None = None,
                batch_traces: int = 1) -> ImportPageOutput:
    """Import source pages one after another (each as ``_import_one_page``) until the source is done, this
    execution has imported its ``pages_per_execution`` pages (``continue_as_new``), ``traces_per_call``
    traces were handled, or the Lambda's ``remaining_ms`` would not fit another page (less than
    KEEP_TIME_SHARE of the call's time left: a later page gets most of what a first one gets). Each page is
    counted once on its own, so a retry of the whole call (from its first cursor) counts nothing twice;
    a source's transient error after a page went through ends the call there, and the next call meets
    it again under the state machine's retries."""
    started = time.monotonic()
    keep_ms = KEEP_TIME_SHARE * remaining_ms() if remaining_ms is not None else 0
    out, handled = _import_one_page(inp, jobs=jobs, traces=traces, fetch=fetch, failure_log=failure_log, fmt=fmt,
                                    pages_per_execution=pages_per_execution, batch_traces=batch_traces)
    slowest = time.monotonic() - started
    while not (out.done or out.continue_as_new or handled >= traces_per_call):
        if remaining_ms is not None and remaining_ms() < max(keep_ms, TIME_RESERVE_MS + 3000 * slowest):
            break
        page_started = time.monotonic()
        try:
            out, n = _import_one_page(ImportPageInput.model_validate(out.model_dump(include=_INPUT_FIELDS)),
                                      jobs=jobs, traces=traces, fetch=fetch, failure_log=failure_log, fmt=fmt,
                                      pages_per_execution=pages_per_execution, batch_traces=batch_traces)
        except TransientSourceError:
            break
        handled += n
        slowest = max(slowest, time.monotonic() - page_started)
    return out


def _import_one_page(inp: ImportPageInput, *, jobs: JobRepository, traces: TraceRepository,
                     fetch: Callable[[str | None], SourcePage], failure_log: FailureLog,
                     fmt: str, pages_per_execution: int, batch_traces: int = 1) -> tuple[ImportPageOutput, int]:
    """Import one batch of source pages (``_fetch_batch``): fetch, normalize, upsert, count (every failure to
    the job's files, the first few on the job), report progress; after ``pages_per_execution`` source pages
    in this execution, ask for a new one (``continue_as_new``). With the traces the batch held."""
    key = (inp.workspace_id, inp.job_id)
    if not jobs.mark_running(*key):
        return ImportPageOutput(**inp.model_dump(exclude={"done"}), done=True), 0
    page, pages = _fetch_batch(fetch, inp.cursor, batch_traces)
    integration_id = inp.params.get("integration_id")
    kind = "upload" if inp.params.get("upload_key") else "integration"
    normalized: list[UnifiedTrace] = []
    failures: list[dict] = [failure_record(f.reason, line=f.line, external_id=f.external_id) for f in page.failures]
    for raw in page.traces:
        where = raw.pop("__line__", None) if isinstance(raw, dict) else None
        try:
            trace = _normalize(raw, fmt=fmt, integration_id=integration_id)
            trace = trace.model_copy(update={"source": trace.source.model_copy(
                update={"kind": kind, "integration_id": integration_id})})
            traces.check_size(trace)
            normalized.append(trace)
        except (PydanticValidationError, ValueError, KeyError, TypeError, RecursionError) as exc:
            reason = f"line {where}: {_reason(exc)}" if where else _reason(exc)
            failures.append(failure_record(reason, line=where, external_id=_external_id(raw)))
    seen: set[str] = set()
    unique: list[UnifiedTrace] = []
    for trace in normalized:
        if trace.id not in seen:
            seen.add(trace.id)
            unique.append(trace)
    outcomes = traces.upsert_many(inp.workspace_id, unique, imported_at=now_iso())
    counts = {"imported": outcomes.count("imported"), "updated": outcomes.count("updated"),
              "skipped": outcomes.count("skipped") + (len(normalized) - len(unique)), "failed": len(failures)}
    so_far = jobs.get(*key).counters
    processed = sum(so_far.get(k, 0) for k in ("imported", "updated", "skipped", "failed")) + sum(counts.values())
    total = page.total
    if page.done_fraction is not None:
        progress: int | None = min(99, int(100 * page.done_fraction))
    else:
        progress = min(99, int(100 * processed / total)) if total else None
    stats = {"pages": pages} | ({"bytes_read": page.bytes_read} if page.bytes_read is not None else {})
    if failures:
        failure_log.write(inp.workspace_id, inp.job_id, part_name(inp.page, inp.cursor), failures)
    try:
        kept = failures[: max(0, FAILURES_INLINE - so_far.get("failed", 0))]
        counted = jobs.add_counts(*key, counts | stats, progress=progress, failures=kept, once=page_key(inp.cursor))
    except Conflict:
        return ImportPageOutput(**inp.model_dump(exclude={"done"}), done=True), 0
    if not counted:  # a retried page, counted by its first attempt (its traces now come back as unchanged)
        processed -= sum(counts.values())
    else:
        where = f"page {inp.page + 1}" if pages == 1 else f"pages {inp.page + 1}-{inp.page + pages}"
        jobs.append_event(key, f"{where}: {counts['imported']} new, {counts['updated']} updated, "
                               f"{counts['skipped']} unchanged, {counts['failed']} failed",
                          progress=progress, data={**counts, "processed": processed, "total": total})
    done = page.next_cursor is None
    return ImportPageOutput(job_id=inp.job_id, workspace_id=inp.workspace_id, params=inp.params,
                            cursor=page.next_cursor, page=inp.page + pages, done=done, processed=processed,
                            run_pages=inp.run_pages + pages, continued_from=inp.continued_from,
                            continue_as_new=not done and inp.run_pages + pages >= pages_per_execution
                            ), sum(counts.values())


def _fetch_batch(fetch: Callable[[str | None], SourcePage], cursor: str | None,
                 batch_traces: int) -> tuple[SourcePage, int]:
    """Source pages from ``cursor`` on, joined, until they hold ``batch_traces`` traces (failures included),
    the source ends or BATCH_SECONDS passed; with how many pages. A transient source error after the first
    page ends the batch before it (the next call meets it again)."""
    started = time.monotonic()
    page, pages = fetch(cursor), 1
    while (page.next_cursor is not None and len(page.traces) + len(page.failures) < batch_traces
           and time.monotonic() - started < BATCH_SECONDS):
        try:
            more = fetch(page.next_cursor)
        except TransientSourceError:
            break
        pages += 1
        read = [b for b in (page.bytes_read, more.bytes_read) if b is not None]
        page = SourcePage(traces=page.traces + more.traces, failures=page.failures + more.failures,
                          next_cursor=more.next_cursor, total=more.total if more.total is not None else page.total,
                          done_fraction=more.done_fraction, bytes_read=sum(read) if read else None)
    return page, pages


def page_key(cursor: str | None) -> str:
    """A page's id within its job, for counting it once: from the cursor that fetched it (the first page has none)."""
    return "page-" + (hashlib.sha256(cursor.encode()).hexdigest()[:24] if cursor else "first")


def _normalize(raw: Any, *, fmt: str, integration_id: str | None) -> UnifiedTrace:
    if not isinstance(raw, dict):
        raise ValueError("a trace must be a JSON object")
    if fmt == "unified":
        trace = UnifiedTrace.model_validate(raw)
        external = trace.source.external_id
        return trace.model_copy(update={"id": trace_id_for(integration_id or "upload", external)})
    if fmt == "otlp":
        return normalize_otlp_trace(raw, integration_id=integration_id)
    if fmt == "langsmith":
        return normalize_langsmith_trace(raw, integration_id=integration_id)
    if fmt == "openai":
        return normalize_openai_trace(raw, integration_id=integration_id)
    if "id" not in raw:
        raise ValueError("a Langfuse trace needs an 'id'")
    return normalize_langfuse_trace(raw, integration_id=integration_id)


def _external_id(raw: Any) -> str | None:
    if not isinstance(raw, dict):
        return None
    source = raw.get("source")
    value = source.get("external_id", raw.get("id")) if isinstance(source, dict) else raw.get("id")
    return None if value is None else str(value)


def _reason(exc: Exception) -> str:
    if isinstance(exc, PydanticValidationError):
        first = exc.errors()[0]
        return f"invalid trace: {'.'.join(str(p) for p in first['loc'])}: {first['msg']}"
    return f"invalid trace: {exc}"


class NothingImported(Exception):
    """An upload ended with no trace stored: every line failed, or it held none. Raised by the
    finishing step so the job ends failed (its result still lists the failures)."""


def finish_import(workspace_id: str, job_id: str, *, jobs: JobRepository) -> dict[str, Any]:
    """The import's result from the job's counters (its last import_page call finishes the job): counts,
    ``partial`` when some traces failed and others did not, and the first FAILURES_INLINE
    failures (``failed`` is the total; ``failures_url`` lists them all)."""
    item = jobs.get_item(workspace_id, job_id)
    counters = item.get("counters") or {}
    result: dict[str, Any] = {k: int(counters.get(k, 0)) for k in ("imported", "updated", "skipped", "failed", "pages")}
    if "bytes_read" in counters:
        result["bytes_read"] = int(counters["bytes_read"])
    stored = result["imported"] + result["updated"] + result["skipped"]
    result["partial"] = bool(result["failed"] and stored)
    result["failures"] = item.get("failures", [])
    result["failures_truncated"] = result["failed"] > len(result["failures"])
    result["failures_url"] = f"/v1/jobs/{job_id}/failures"
    return result


def check_upload_result(result: dict[str, Any]) -> None:
    """NothingImported when an upload stored no trace at all."""
    if result["imported"] + result["updated"] + result["skipped"] == 0:
        if result["failed"]:
            raise NothingImported(f"every trace of the upload failed ({result['failed']}); see the result's failures")
        raise NothingImported("the upload holds no traces")
