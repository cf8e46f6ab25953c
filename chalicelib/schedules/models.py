"""Scheduled imports: one schedule per integration."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from chalicelib.schedules.expressions import parse_expression
from chalicelib.sources.models import ImportFilters


class ScheduleRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    expression: str = Field(min_length=1, max_length=200, description="rate(1 hour) or cron(0 6 * * ? *)")
    filters: ImportFilters = Field(default_factory=ImportFilters)
    run_active_evals: bool = Field(default=False, description="after each import, run every active eval on new traces")

    @field_validator("expression")
    @classmethod
    def _valid(cls, value: str) -> str:
        parse_expression(value)
        return value.strip()


class Schedule(ScheduleRequest):
    """A schedule as stored on its integration and returned by the API."""

    model_config = ConfigDict(extra="ignore")
    created_at: str
    updated_at: str
    last_run_at: str | None = None
    last_job_id: str | None = None
