"""The sandbox Lambda task: a plain function, wrapped by ``app.py`` as ``@app.lambda_function``.

The function runs with the profile, required layers and spawn mode from its environment
(IOFOLD_SANDBOX_PROFILE, IOFOLD_SANDBOX_REQUIRE, IOFOLD_SANDBOX_SPAWN). An event is either one
eval over a chunk of traces, or ``{"action": "probe"}``: start one real child, report the layers
it applied (the deploy step fails the deployment unless ``ok``). After every invocation the
function wipes its scratch space.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from chalicelib.errors import ValidationError
from chalicelib.sandbox import limits
from chalicelib.sandbox.runner import (DEFAULT_TIMEOUT_S, PROFILE_ENV, REQUIRE_ENV, SPAWN_ENV, Budget, EncodedTrace,
                                       parse_required_layers, probe_layers, run_batch_dicts, sandbox_profile,
                                       spawn_mode, zygote_workdir)

LAMBDA_REQUIRED = "seccomp"  # SECURITY.md: in Lambda, check that seccomp works and fail closed if not


class SandboxEvent(BaseModel):
    """One invocation: one eval, one workspace, a chunk of traces (as dicts, or already JSON-encoded)."""

    model_config = ConfigDict(extra="forbid")

    code: str
    traces: list[dict[str, Any]] = Field(default_factory=list, description="unified trace dicts")
    trace_ids: list[str] = Field(default_factory=list, description="ids of the traces in trace_lines, in order")
    trace_lines: list[str] = Field(default_factory=list,
                                   description="each trace as one JSON object, passed to the child unparsed")
    timeout_s: float = Field(default=DEFAULT_TIMEOUT_S, gt=0, le=30)
    budget_ms: int | None = Field(default=None, gt=0, description="the caller's own time left for this call: "
                                  "stop (returning the rest as not run) before it passes, as before this "
                                  "function's own timeout")

    @model_validator(mode="after")
    def _one_form(self) -> SandboxEvent:
        if len(self.trace_ids) != len(self.trace_lines):
            raise ValueError("trace_ids and trace_lines must have the same length")
        if self.traces and self.trace_lines:
            raise ValueError("send traces or trace_lines, not both")
        return self


def required_layers(env: Mapping[str, str]) -> frozenset[str]:
    """Optional layers this function must have: IOFOLD_SANDBOX_REQUIRE, else seccomp when running in AWS Lambda."""
    spec = env.get(REQUIRE_ENV)
    if spec is None and env.get("AWS_LAMBDA_FUNCTION_NAME"):
        spec = LAMBDA_REQUIRED
    return parse_required_layers(spec)


def run_sandbox(event: dict, env: Mapping[str, str] | None = None, context: Any = None) -> dict:
    """Validate and run one eval over the event's traces; SandboxUnavailable when a required layer is missing.
    ``{"action": "probe"}`` answers :func:`runner.probe_layers`' report instead.

    The answer is ``{"results": [TraceResult-shaped dicts, in order]}``; when time runs short (the Lambda
    ``context``'s remaining time, or the event's ``budget_ms``) or the results would pass the response
    budget (Lambda answers at most 6 MB), it stops early: the results are then those of the first traces,
    ``not_run`` lists the ids of the others and ``stopped`` says why ("time" or "size")."""
    env = os.environ if env is None else env
    required = required_layers(env)
    spawn = spawn_mode(env.get(SPAWN_ENV) or "zygote")
    profile = sandbox_profile(env.get(PROFILE_ENV) or "host")
    try:
        if type(event) is dict and "action" in event:
            if event != {"action": "probe"}:
                raise ValidationError('bad sandbox event: the only action is {"action": "probe"}')
            return {"action": "probe", **probe_layers(spawn, profile, required)}
        try:
            parsed = SandboxEvent.model_validate(event)
        except ValueError as error:
            raise ValidationError(f"bad sandbox event: {error}") from None
        traces: list = parsed.traces or [EncodedTrace(trace_id, line)
                                         for trace_id, line in zip(parsed.trace_ids, parsed.trace_lines)]
        budget = response_budget(context, parsed.budget_ms)
        results = run_batch_dicts(parsed.code, traces, validate=True, timeout_s=parsed.timeout_s, require=required,
                                  spawn=spawn, profile=profile, budget=budget)
        if len(results) == len(traces):
            return {"results": results}
        ids = parsed.trace_ids or [str(t["id"]) if t.get("id") is not None else "" for t in parsed.traces]
        return {"results": results, "not_run": ids[len(results):], "stopped": budget.stopped}
    finally:
        wipe_scratch(env)


def response_budget(context: Any, budget_ms: int | None) -> Budget:
    """Stop ``limits.STOP_MARGIN_MS`` before this invocation's end (or the caller's ``budget_ms``), and
    before the results pass ``limits.RESPONSE_BUDGET_BYTES``."""
    left = [budget_ms] if budget_ms is not None else []
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if remaining is not None:
        left.append(int(remaining()))
    deadline = time.monotonic() + (min(left) - limits.STOP_MARGIN_MS) / 1000 if left else None
    return Budget(deadline=deadline, max_bytes=limits.RESPONSE_BUDGET_BYTES)


def wipe_scratch(env: Mapping[str, str]) -> None:
    """Empty this process's sandbox scratch space: the zygote's working directory (children start
    there; they cannot write, but nothing they could have left survives the invocation) and, in
    AWS Lambda (AWS_LAMBDA_RUNTIME_API set), everything else in /tmp, which belongs to this
    function alone. Elsewhere the temp directory is shared, so only our own directory is touched."""
    workdir = zygote_workdir()
    keep = Path(workdir) if workdir else None
    if keep is not None:
        _empty(keep)
    if env.get("AWS_LAMBDA_RUNTIME_API"):
        tmp = Path(tempfile.gettempdir())
        for entry in tmp.iterdir():
            if entry != keep:
                _remove(entry)


def _empty(directory: Path) -> None:
    try:
        entries = list(directory.iterdir())
    except OSError:
        return
    for entry in entries:
        _remove(entry)


def _remove(path: Path) -> None:
    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    except OSError:
        pass
