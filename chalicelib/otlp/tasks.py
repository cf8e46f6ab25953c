"""The assembly task (the ``otlp_assemble`` function, run every minute by a schedule; locally by
the scheduler thread): every trace with new spans that is quiet, or whose root span has ended,
is (re)built from all its stored spans and upserted. Rebuilding is idempotent: the same spans
give the same trace, which the repository skips as unchanged."""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel, Field

from chalicelib.otlp.spans import PendingTrace, SpanStore
from chalicelib.sources.otlp import OtlpFormatError, normalize_otlp_trace
from chalicelib.timeutil import now_iso
from chalicelib.traces.models import UnifiedTrace
from chalicelib.traces.repository import TraceRepository


class AssembleOutput(BaseModel):
    assembled: list[str] = Field(default_factory=list, description="iofold ids of traces (re)built")
    imported: int = 0
    updated: int = 0
    skipped: int = Field(default=0, description="rebuilt identical to the stored trace")
    waiting: int = Field(default=0, description="traces still receiving spans")
    failed: list[str] = Field(default_factory=list, description="traces whose spans could not be assembled, and why")
    changed_workspaces: list[str] = Field(default_factory=list, description="workspaces with new or changed traces")
    eval_jobs: list[str] = Field(default_factory=list, description="runs of active evals started over them")


def assemble_ready_traces(now: datetime, *, quiet_seconds: int, spans: SpanStore, traces: TraceRepository,
                          limit: int = 200, markers: int = 1000) -> AssembleOutput:
    """Build pending traces that are quiet for ``quiet_seconds`` or whose root span has ended, at most
    ``limit`` per run from at most ``markers`` markers read (the rest wait for the next run, within the
    function's time limit; built and failed markers are removed, so the next run reads further)."""
    out = AssembleOutput()
    built: dict[str, list[tuple[PendingTrace, UnifiedTrace]]] = {}  # by workspace: one upsert (one page object) each
    for pending in spans.pending(limit=markers):
        if not pending.root_ended and now - pending.last_modified < timedelta(seconds=quiet_seconds):
            out.waiting += 1
            continue
        entries = spans.spans(pending.workspace_id, pending.trace_id)
        if entries:
            try:
                trace = normalize_otlp_trace({"id": pending.trace_id, "spans": entries}, integration_id=None)
            except (OtlpFormatError, ValueError, TypeError) as exc:  # spans were checked one by one on arrival
                out.failed.append(f"{pending.workspace_id}/{pending.trace_id}: {exc}")
            else:
                built.setdefault(pending.workspace_id, []).append((pending, trace))
                out.assembled.append(trace.id)
                if len(out.assembled) + len(out.failed) >= limit:
                    break
                continue
        spans.clear_pending(pending)
        if len(out.assembled) + len(out.failed) >= limit:
            break
    for workspace_id, pairs in built.items():
        outcomes = traces.upsert_many(workspace_id, [trace for _, trace in pairs], imported_at=now_iso())
        for outcome in outcomes:
            setattr(out, outcome, getattr(out, outcome) + 1)
        if any(outcome != "skipped" for outcome in outcomes):
            out.changed_workspaces.append(workspace_id)
        for pending, _ in pairs:  # only once stored: a failed upsert leaves the markers for the next run
            spans.clear_pending(pending)
    return out
