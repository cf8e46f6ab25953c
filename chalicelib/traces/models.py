"""The unified trace: one schema for every source, exactly what an eval function receives.

API.md ("The unified trace") is the contract; field names here must not drift from it.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from chalicelib.ids import ObjectId
from chalicelib.sources.models import ImportFilters

StepType = Literal["llm", "tool", "retriever", "agent", "chain", "span", "event"]
Role = Literal["user", "assistant", "system", "tool"]

SCHEMA_VERSION = 1


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TraceSource(_Model):
    """Where a trace came from."""

    platform: str = Field(description="langfuse, langsmith, openai, otlp, upload")
    integration_id: str | None = Field(default=None, description="integration that imported it")
    external_id: str = Field(description="the trace's id in the source system")
    url: str | None = Field(default=None, description="link to the trace in the source UI")
    kind: Literal["integration", "upload"] | None = Field(
        default=None, description="how it arrived: imported through an integration, or uploaded as a file")


class Message(_Model):
    """One turn of the conversation."""

    role: Role
    content: Any = Field(default=None, description="text, or the source's structured content")
    tool_calls: list[dict[str, Any]] = Field(default_factory=list, description="calls the assistant asked for")
    tool_call_id: str | None = Field(default=None, description="for role=tool: the call it answers")
    name: str | None = Field(default=None, description="for role=tool: the tool's name")


class ToolCall(_Model):
    """A tool call paired with its result or error."""

    id: str
    name: str
    arguments: Any = Field(default_factory=dict, description="decoded arguments (dict when JSON)")
    result: Any = Field(default=None, description="what the tool returned")
    error: str | None = Field(default=None, description="the tool's error message, if it failed")
    step_id: str | None = Field(default=None, description="the step that ran or asked for the call")


class Usage(_Model):
    input_tokens: int = 0
    output_tokens: int = 0


class Step(_Model):
    """One observation/run/span of the trace, in a tree by parent_id."""

    id: str
    parent_id: str | None = None
    type: StepType
    name: str | None = None
    start_time: str | None = None
    end_time: str | None = None
    latency_ms: int | None = None
    input: Any = None
    output: Any = None
    messages: list[Message] = Field(default_factory=list)
    tool_calls: list[ToolCall] = Field(default_factory=list)
    model: str | None = None
    usage: Usage = Field(default_factory=Usage)
    cost_usd: float | None = None
    error: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)


class TraceStats(_Model):
    steps: int = 0
    llm_calls: int = 0
    tool_calls: int = 0
    tool_errors: int = 0
    latency_ms: int | None = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float | None = None


class UnifiedTrace(_Model):
    """A trace normalized from any source."""

    id: str = Field(description="iofold trace id, deterministic from (integration, external id)")
    schema_version: int = SCHEMA_VERSION
    source: TraceSource
    name: str | None = None
    timestamp: str | None = Field(default=None, description="ISO 8601 UTC")
    user_id: str | None = None
    session_id: str | None = None
    tags: list[str] = Field(default_factory=list)
    metadata: dict[str, Any] = Field(default_factory=dict)
    input: Any = None
    output: Any = None
    messages: list[Message] = Field(default_factory=list)
    tool_calls: list[ToolCall] = Field(default_factory=list)
    steps: list[Step] = Field(default_factory=list)
    stats: TraceStats = Field(default_factory=TraceStats)
    error: str | None = None


# --- requests and responses of the trace routes (no storage imports: the Python client uses them too)

UploadFormat = Literal["langfuse", "unified", "otlp"]


class ImportRequest(BaseModel):
    """POST /v1/traces/import: which integration, and which of its traces."""

    model_config = ConfigDict(extra="forbid")
    integration_id: ObjectId
    filters: ImportFilters = Field(default_factory=ImportFilters)


class CreateUploadRequest(BaseModel):
    """A file to send straight to S3 (past the API's 6 MB request limit)."""

    model_config = ConfigDict(extra="forbid")
    format: UploadFormat = Field(description="what each line holds: langfuse, unified or otlp")
    filename: str = Field(default="upload.jsonl", min_length=1, max_length=255, description="for your records")
    content_encoding: Literal["gzip", "identity"] | None = Field(
        default=None, description="gzip files are detected by their content either way")


class UploadTicket(BaseModel):
    """Where and how to PUT the file, then how to import it."""

    upload_id: str
    put_url: str = Field(description="presigned S3 URL: PUT the file's bytes here")
    method: Literal["PUT"] = "PUT"
    headers: dict[str, str] = Field(description="headers to send with the PUT")
    expires_at: str = Field(description="the put_url stops working after this time")
    max_bytes: int = Field(description="largest accepted file (after decompression too)")
    import_path: str = Field(description="POST here once the PUT succeeded: starts the import job")
