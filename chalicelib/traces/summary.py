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
