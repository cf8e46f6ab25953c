"""The sandbox Lambda task: a plain function, wrapped by ``app.py`` as ``@app.lambda_function``."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from chalicelib.errors import ValidationError
from chalicelib.sandbox.runner import DEFAULT_TIMEOUT_S, run_batch


class SandboxEvent(BaseModel):
    """One invocation: one eval, one workspace, a chunk of traces."""

    model_config = ConfigDict(extra="forbid")

    code: str
    traces: list[dict[str, Any]]
    timeout_s: float = Field(default=DEFAULT_TIMEOUT_S, gt=0, le=30)


def run_sandbox(event: dict) -> dict:
    """Validate and run one eval over the event's traces; {"results": [TraceResult dumps]}."""
    try:
        parsed = SandboxEvent.model_validate(event)
    except ValueError as error:
        raise ValidationError(f"bad sandbox event: {error}") from None
    results = run_batch(parsed.code, parsed.traces, validate=True, timeout_s=parsed.timeout_s)
    return {"results": [result.model_dump(mode="json") for result in results]}
