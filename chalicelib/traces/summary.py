"""The summary of a trace kept in its index item and returned by list endpoints."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, Field

from chalicelib.traces.models import TraceSource, TraceStats, UnifiedTrace

PREVIEW_CHARS = 280


class TraceSummary(BaseModel):
    id: str
    name: str | None = None
    timestamp: str | None = None
    source: TraceSource
    tags: list[str] = Field(default_factory=list)
    user_id: str | None = None
    session_id: str | None = None
    input_preview: str = Field(default="", description="the first characters of the input")
    output_preview: str = Field(default="", description="the first characters of the output")
    stats: TraceStats = Field(default_factory=TraceStats)
    error: str | None = None
    imported_at: str


class TraceLabel(BaseModel):
    """How a trace is shown where a list would otherwise carry its bare id: its name and first user message."""

    name: str | None = None
    input_preview: str = Field(default="", description="the first characters of the first user input")


def trace_labels(traces: Any, workspace_id: str, trace_ids: list[str]) -> dict[str, TraceLabel]:
    """Labels by id of the traces that exist (``traces``: the trace repository; one projected BatchGet)."""
    rows = traces.row_summaries(workspace_id, list(dict.fromkeys(trace_ids)))
    return {trace_id: TraceLabel(name=row.name, input_preview=row.input_preview) for trace_id, row in rows.items()}


def preview(value: Any, limit: int = PREVIEW_CHARS) -> str:
    """A short one-line text for any JSON value."""
    if value is None:
        return ""
    if isinstance(value, list) and value and isinstance(value[-1], dict) and "content" in value[-1]:
        value = value[-1]["content"]
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def summarize(trace: UnifiedTrace, *, imported_at: str) -> TraceSummary:
    """The summary of a unified trace."""
    return TraceSummary(
        id=trace.id, name=trace.name, timestamp=trace.timestamp, source=trace.source, tags=trace.tags,
        user_id=trace.user_id, session_id=trace.session_id, input_preview=preview(trace.input),
        output_preview=preview(trace.output), stats=trace.stats, error=trace.error, imported_at=imported_at,
    )
