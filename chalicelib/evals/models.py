"""Eval versions and their executions."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from chalicelib.ids import ObjectId

EvalStatus = Literal["draft", "active", "archived", "rejected"]
"""``rejected``: a refinement whose held-out estimate fell below its parent's; kept for the record, not listed
unless asked, activated only with ``force``."""
ResultKind = Literal["pass", "fail", "error", "timeout"]
GeneratorChoice = Literal["auto", "anthropic", "openai", "offline"]


class EvalVersion(BaseModel):
    """One version of an eval set's eval function."""

    id: str
    eval_set_id: str
    version: int = Field(description="1, 2, 3 … within the eval set")
    parent_id: str | None = Field(default=None, description="the version this one was refined or edited from")
    status: EvalStatus = "draft"
    name: str = Field(description="the function's name, eval_<…>")
    code: str
    generator: str = Field(description="offline, anthropic, human (hand-edited), scripted")
    model: str | None = None
    prompt: str | None = Field(default=None, description="the prompt sent to the LLM, if any")
    training_trace_ids: list[str] = Field(default_factory=list)
    metrics: dict[str, Any] = Field(default_factory=dict, description="metrics over the set's rated traces, with "
                                    "the generation's heldout_accuracy and heldout_interval [lo, hi] (95%), and the "
                                    "estimate on the current ratings: estimate, estimate_interval [lo, hi] (95%), "
                                    "estimate_trained (rated traces it was written from: the held-out estimate "
                                    "stands for them), estimate_unseen and estimate_unseen_accuracy (rated traces "
                                    "it never saw, scored directly); not for hand-edited versions")
    generation: dict[str, Any] = Field(default_factory=dict, description="training/held-out accuracy, kappa, "
                                       "heldout_interval [lo, hi] and heldout_repeats (repeated grouped CV), "
                                       "per-candidate scores, tokens and cost")
    flags: list[str] = Field(default_factory=list, description="low_confidence, names_trace_ids, copies_literals")
    rejected_reason: str | None = Field(default=None, description="why a refinement was saved as rejected")
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    duration_s: float = 0.0
    created_by: str = Field(description="api key id, or the job that made it")
    created_at: str


class Execution(BaseModel):
    """The result of one eval version on one trace."""

    eval_id: str
    trace_id: str
    result: ResultKind
    reason: str = ""
    duration_ms: int = 0
    stdout: str = ""
    stderr: str = ""
    executed_at: str


class GenerateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    generator: GeneratorChoice = "auto"
    model: str | None = Field(default=None, max_length=100)
    candidates: int = Field(default=3, ge=1, le=8)
    instructions: str = Field(default="", max_length=5000)


class ExecuteRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    trace_ids: list[ObjectId] | None = Field(default=None, max_length=20000)
    filters: dict[str, Any] | None = Field(default=None, description="as GET /v1/traces: source, tag, name, from, to")
    only_missing: bool = Field(default=False, description="skip traces this version already has a result for")


# --- versions, refinement, drill-down ------------------------------------------------------

class SaveVersionRequest(BaseModel):
    """POST /v1/evals/{id}/versions: a hand-edited version of ``{id}``."""

    model_config = ConfigDict(extra="forbid")
    # no length cap here: the validator's own size cap answers 422 with its reason (the body limit still applies)
    code: str = Field(min_length=1, description="the module defining one eval_<name>(trace)")


class SavedVersion(EvalVersion):
    """A new hand-edited version, and the job scoring it on the set's rated traces."""

    scoring_job_id: str | None = Field(default=None, description="the execute job running it on the rated traces")


class RefineRequest(GenerateRequest):
    """POST /v1/evals/{id}/refine: the same choices as generation, every field optional."""

    keep: bool = Field(default=False, description="save the refinement as a normal draft even when its held-out "
                                                  "estimate is lower than the parent's (else it is saved as rejected)")


class FlippedTrace(BaseModel):
    """A rated trace whose result differs between the two versions of a diff."""

    trace_id: str
    rating: str = Field(description="the human rating: positive, negative or neutral")
    before: ResultKind = Field(description="the result of the `against` version")
    after: ResultKind = Field(description="the result of this version")
    before_reason: str = ""
    after_reason: str = ""
    fixed: bool | None = Field(description="true: now agrees with the human; false: now disagrees; null: neutral or "
                                           "an error/timeout on either side")


class VersionSide(BaseModel):
    id: str
    version: int
    status: EvalStatus
    metrics: dict[str, Any] = Field(description="chalicelib.metrics over the set's rated traces, from executions")


class VersionDiff(BaseModel):
    """GET /v1/evals/{id}/diff?against=: the code diff and the rated traces whose result flipped."""

    eval: VersionSide
    against: VersionSide
    diff: str = Field(description="unified diff from `against` to this version")
    flipped: list[FlippedTrace]
    flipped_total: int = Field(description="all flips (the list is capped)")
    compared: int = Field(description="rated traces with a result from both versions")


class HumanRating(BaseModel):
    rating: str
    notes: str = ""


class ExecutionDetail(BaseModel):
    """GET /v1/executions/{eval_id}/{trace_id}: one result with what it takes to understand it."""

    eval_id: str
    trace_id: str
    result: ResultKind
    reason: str
    duration_ms: int
    stdout: str = Field(description="what the eval printed (excerpt)")
    stderr: str = Field(description="the error's traceback lines (excerpt)")
    executed_at: str
    eval_set_id: str
    version: int
    eval_name: str
    code: str = Field(description="the exact code that ran (versions are immutable)")
    human: HumanRating | None = Field(default=None, description="the set's rating of this trace, if rated")
    agrees: bool | None = Field(default=None, description="result agrees with the human; null when neutral/unrated/"
                                                          "error/timeout")
    output_excerpt: str = Field(default="", description="the first characters of the trace's final output")
    trace: dict[str, Any] | None = Field(default=None, description="the unified trace; null when it was deleted")


TrendBucket = Literal["day", "hour"]
DROP_THRESHOLD = 0.15
"""A pass rate this much (absolute) below the previous point's or the trailing mean is marked as a drop."""
TRAILING_POINTS = 7
"""How many earlier points the trailing mean takes."""


class TrendPoint(BaseModel):
    """One period's counts."""

    model_config = ConfigDict(populate_by_name=True)

    start: str = Field(description="the period's start (ISO 8601 UTC)")
    executed: int = Field(description="executions recorded in the period (all results; the total)")
    pass_: int = Field(alias="pass", description="results that passed")
    fail: int
    error: int
    timeout: int
    pass_rate: float | None = Field(description="pass / executed; null when nothing ran")
    drop: bool = Field(default=False, description=f"the pass rate fell more than {DROP_THRESHOLD} below the previous "
                       f"point's or the mean of up to {TRAILING_POINTS} points before it")
    baseline: float | None = Field(default=None, description="the trailing mean pass rate this point was compared with")


class Trend(BaseModel):
    """GET /v1/evals/{id}/trend: the periods with executions, oldest first."""

    eval_id: str
    bucket: TrendBucket
    from_: str = Field(alias="from", description="start of the first period in range")
    to: str = Field(description="end of the range (exclusive)")
    drop_threshold: float = Field(default=DROP_THRESHOLD, description="the pass-rate fall marked as a drop")
    points: list[TrendPoint]

    model_config = ConfigDict(populate_by_name=True)
