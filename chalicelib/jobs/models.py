"""Jobs: long work (import, generate, execute) run by Step Functions, polled by clients."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from chalicelib.traces.summary import TraceLabel

JobType = Literal["import", "upload", "generate", "execute", "refine"]
JobStatus = Literal["queued", "running", "succeeded", "failed", "cancelled"]
FINAL_STATUSES = ("succeeded", "failed", "cancelled")


class Job(BaseModel):
    """A job as the API returns it."""

    id: str
    type: JobType
    status: JobStatus
    progress: int = Field(default=0, ge=0, le=100, description="percent done")
    result: dict[str, Any] | None = Field(default=None, description="type-specific outcome")
    error: str | None = Field(default=None, description="why it failed")
    created_at: str
    started_at: str | None = None
    finished_at: str | None = None
    params: dict[str, Any] = Field(default_factory=dict, description="what was asked")
    counters: dict[str, int] = Field(default_factory=dict, description="running counts (imported, failed …)")
    traces: dict[str, TraceLabel] = Field(default_factory=dict, description=(
        "name and first user message of each trace the job's items name (a refinement's fixed and broken traces, "
        "failures with a trace_id, the traces a run was asked for); only on GET /v1/jobs/{id}"))


class JobEvent(BaseModel):
    """One progress event; ``seq`` increases from 1."""

    seq: int
    at: str
    message: str
    progress: int | None = None
    data: dict[str, Any] = Field(default_factory=dict)


class JobAccepted(BaseModel):
    job_id: str


class JobFailure(BaseModel):
    """One thing a job could not do (an import's trace or line), with why."""

    external_id: str | None = Field(default=None, description="the source's id of the trace, or 'line N'")
    reason: str
    line: int | None = Field(default=None, description="the line of an uploaded file, when it came from one")
