"""Step Functions tasks of the import state machine (infra/statemachines/import_traces.asl.json).

Each call imports one page and returns the cursor of the next; the state machine loops
until ``done``. Counters live on the job record, so a retried page never loses counts
(re-importing a page is an upsert: the second time its traces count as skipped).
"""

from __future__ import annotations

import json
from typing import Any, Callable

from pydantic import BaseModel, Field
from pydantic import ValidationError as PydanticValidationError

from chalicelib.errors import Conflict
from chalicelib.ids import trace_id_for
from chalicelib.jobs.repository import MAX_FAILURES_KEPT, JobRepository
from chalicelib.jsonlimits import JsonTooDeep, loads_bounded
from chalicelib.sources.langfuse.normalize import normalize_langfuse_trace
from chalicelib.sources.langsmith.normalize import normalize_langsmith_trace
from chalicelib.sources.models import ImportFilters, SourcePage
from chalicelib.sources.otlp import group_otlp_page, normalize_otlp_trace
from chalicelib.timeutil import now_iso
from chalicelib.traces.models import UnifiedTrace
from chalicelib.traces.repository import TraceRepository

UPLOAD_LINES_PER_PAGE = 200


class ImportPageInput(BaseModel):
    job_id: str
    workspace_id: str
    params: dict[str, Any]
    cursor: str | None = None
    page: int = 0
    done: bool = False


class ImportPageOutput(ImportPageInput):
    processed: int = Field(default=0, description="traces handled so far")


def import_page(inp: ImportPageInput, *, jobs: JobRepository, traces: TraceRepository,
                fetch: Callable[[str | None], SourcePage], fmt: str = "langfuse") -> ImportPageOutput:
    """Import one page: fetch, normalize, upsert, count, report progress."""
    key = (inp.workspace_id, inp.job_id)
    if not jobs.mark_running(*key):
        return ImportPageOutput(**inp.model_dump(exclude={"done"}), done=True)
    page = fetch(inp.cursor)
    integration_id = inp.params.get("integration_id")
    normalized: list[UnifiedTrace] = []
    failures: list[dict] = [{"external_id": f.external_id, "reason": f.reason} for f in page.failures]
    for raw in page.traces:
        where = raw.pop("__line__", None) if isinstance(raw, dict) else None
        try:
            normalized.append(_normalize(raw, fmt=fmt, integration_id=integration_id))
        except (PydanticValidationError, ValueError, KeyError, TypeError) as exc:
            reason = f"line {where}: {_reason(exc)}" if where else _reason(exc)
            failures.append({"external_id": _external_id(raw), "line": where, "reason": reason})
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
    progress = min(99, int(100 * processed / total)) if total else None
    try:
        kept = failures[: max(0, MAX_FAILURES_KEPT - so_far.get("failed", 0))]
        jobs.add_counts(*key, counts, progress=progress, failures=kept)
    except Conflict:
        return ImportPageOutput(**inp.model_dump(exclude={"done"}), done=True)
    jobs.append_event(key, f"page {inp.page + 1}: {counts['imported']} new, {counts['updated']} updated, "
                           f"{counts['skipped']} unchanged, {counts['failed']} failed",
                      progress=progress, data={**counts, "processed": processed, "total": total})
    return ImportPageOutput(job_id=inp.job_id, workspace_id=inp.workspace_id, params=inp.params,
                            cursor=page.next_cursor, page=inp.page + 1, done=page.next_cursor is None,
                            processed=processed)


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


def read_upload_page(body: bytes, cursor: str | None, *, lines_per_page: int = UPLOAD_LINES_PER_PAGE,
                     total_lines: int | None = None) -> SourcePage:
    """One page of an uploaded JSON Lines file; the cursor is the next line number (1-based)."""
    start = int(cursor or 1)
    lines = body.decode("utf-8").splitlines()
    chunk = lines[start - 1: start - 1 + lines_per_page]
    traces: list[dict] = []
    failures: list = []
    from chalicelib.sources.models import SourceFailure

    for offset, line in enumerate(chunk):
        number = start + offset
        if not line.strip():
            continue
        try:
            doc = loads_bounded(line)
        except (json.JSONDecodeError, JsonTooDeep) as exc:
            failures.append(SourceFailure(external_id=f"line {number}", reason=f"line {number}: malformed JSON: {exc.msg}"))
            continue
        if isinstance(doc, dict):
            doc["__line__"] = number
            traces.append(doc)
        else:
            failures.append(SourceFailure(external_id=f"line {number}", reason=f"line {number}: not a JSON object"))
    nxt = start + len(chunk)
    return SourcePage(traces=traces, failures=failures, next_cursor=str(nxt) if nxt <= len(lines) else None,
                      total=total_lines or len([x for x in lines if x.strip()]))


def read_otlp_upload_page(body: bytes, cursor: str | None, *,
                          traces_per_page: int = UPLOAD_LINES_PER_PAGE) -> SourcePage:
    """One page of the traces in an uploaded OTLP JSON Lines file. Every line is read and its spans
    grouped by traceId before paging, so a trace whose spans sit on distant lines arrives whole;
    the cursor is the index of the next grouped trace, and line failures come with the first page."""
    whole = group_otlp_page(read_upload_page(body, None, lines_per_page=len(body) + 1))
    start = int(cursor or 0)
    end = start + traces_per_page
    return SourcePage(traces=whole.traces[start:end], failures=whole.failures if start == 0 else [],
                      next_cursor=str(end) if end < len(whole.traces) else None, total=len(whole.traces))


def finish_import(workspace_id: str, job_id: str, *, jobs: JobRepository) -> dict[str, Any]:
    """The import's result from the job's counters (the job_finish task for imports)."""
    item = jobs.get_item(workspace_id, job_id)
    counters = item.get("counters") or {}
    return {k: int(counters.get(k, 0)) for k in ("imported", "updated", "skipped", "failed")} | {
        "failures": item.get("failures", [])}
