"""Eval versions and their executions."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from chalicelib.ids import ObjectId

EvalStatus = Literal["draft", "active", "archived"]
ResultKind = Literal["pass", "fail", "error", "timeout"]
GeneratorChoice = Literal["auto", "anthropic", "offline"]


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
    metrics: dict[str, Any] = Field(default_factory=dict, description="metrics over the set's rated traces")
    generation: dict[str, Any] = Field(default_factory=dict, description="training/held-out accuracy, kappa, flags")
    flags: list[str] = Field(default_factory=list, description="low_confidence, names_trace_ids, copies_literals")
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
