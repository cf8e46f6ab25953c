"""The matrix response (API.md "Matrix response") and its query."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from chalicelib.evals.models import EvalStatus, ResultKind
from chalicelib.metrics import Metrics

MatrixFilter = Literal["all", "contradictions", "errors"]
MATRIX_FILTERS: tuple[str, ...] = ("all", "contradictions", "errors")


class MatrixQuery(BaseModel):
    """GET /v1/eval-sets/{id}/matrix query, parsed."""

    eval_ids: list[str] | None = Field(default=None, description="columns; default: the active version and the two newest")
    filter: MatrixFilter = "all"
    rating: Literal["positive", "negative", "neutral"] | None = None
    from_: str | None = Field(default=None, description="trace timestamp ≥ this (ISO 8601)")
    to: str | None = Field(default=None, description="trace timestamp ≤ this (ISO 8601; a date covers the whole day)")
    source: str | None = Field(default=None, description="the trace's platform or integration id")
    limit: int = 50
    stats: Literal["stored", "fresh", "none"] = Field(
        default="stored", description="stored: each version's metrics as of its last run or scoring (fast); "
                                      "fresh: recomputed over every rated trace now; none: no stats")
    cursor: str | None = None


class MatrixEval(BaseModel):
    """A column: one eval version."""

    id: str
    version: int
    status: EvalStatus
    name: str
    generator: str


class MatrixTrace(BaseModel):
    name: str | None = None
    timestamp: str | None = None
    input_preview: str = ""
    platform: str | None = None


class MatrixHuman(BaseModel):
    rating: Literal["positive", "negative", "neutral"]
    notes: str = ""


class MatrixCell(BaseModel):
    """One version's result on one trace."""

    result: ResultKind
    reason: str = ""
    duration_ms: int = 0
    agrees: bool | None = Field(description="agrees with the human rating; null when neutral, error or timeout")


class MatrixRow(BaseModel):
    trace_id: str
    trace: MatrixTrace | None = Field(description="null when the trace was deleted after it was rated")
    human: MatrixHuman
    results: dict[str, MatrixCell] = Field(description="eval id -> result; a version that has not run on the trace "
                                                       "is absent")


class Matrix(BaseModel):
    """GET /v1/eval-sets/{id}/matrix: rows are the set's rated traces, most recently rated first."""

    evals: list[MatrixEval]
    rows: list[MatrixRow]
    stats: dict[str, Metrics] = Field(description="eval id -> metrics over all of the set's rated traces (whatever "
                                                  "the filters); on the first page only (no cursor), {} after")
    stats_mode: str = Field(default="stored", description="how stats were obtained: stored, fresh or none")
    next_cursor: str | None = None
