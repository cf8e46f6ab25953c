"""Powertools on every deployed function: structured JSON logs with correlation ids, CloudWatch
metrics as EMF, X-Ray tracing. :func:`instrument` applies them to the API (a Chalice middleware,
registered by chalicelib/web.py) and :func:`observed` to each ``@app.lambda_function`` (a
decorator under Chalice's: Lambda calls it through Chalice's wrapper, the local stack directly),
so no handler body changes.

- **Logger**: one ``iofold`` service logger. Each invocation's keys (``request_id``, ``function``,
  ``job_id``, ``workspace_id``, ``eval_id``; the API adds ``workspace_id`` once the caller is
  known) are context-local (``thread_safe_append_keys``): the local stack runs handlers
  concurrently in one process, and a key must never leak into another invocation's lines.
- **Metrics**: one EMF blob per invocation, printed to stdout where Lambda ships it to CloudWatch
  Logs. The namespace comes from ``POWERTOOLS_METRICS_NAMESPACE`` (the template sets it on every
  function; without it nothing is emitted); the one dimension is ``service``. The template's
  alarms and dashboard name the metrics below.
- **Tracer**: Powertools' X-Ray tracer (functions run with Active tracing). Outside Lambda, or
  with ``POWERTOOLS_TRACE_DISABLED``, it is disabled and sends nothing.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import os
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import AmazonCloudWatchEMFProvider

SERVICE = "iofold"
NAMESPACE_VAR = "POWERTOOLS_METRICS_NAMESPACE"

# Metric names: infra/template.py's alarms and dashboard read these.
TRACES_IMPORTED = "TracesImported"  # new or changed traces stored by a finished import
TRACES_IMPORT_FAILED = "TracesImportFailed"  # traces an import could not read or normalize
EXECUTIONS = {"pass": "ExecutionsPassed", "fail": "ExecutionsFailed", "error": "ExecutionsErrored",
              "timeout": "ExecutionsTimedOut"}  # eval results written by execute chunks
SANDBOX_FAILED_CLOSED = "SandboxFailedClosed"  # the sandbox refused to run (a layer missing, no lockdown)
SANDBOX_VIOLATIONS = "SandboxViolations"  # a child killed by the seccomp filter or breaking the result protocol
SANDBOX_FAILURES = "SandboxFailures"  # a caller's sandbox invoke failed: nothing ran for that task
GENERATIONS = "Generations"
GENERATION_COST = "GenerationCostUSD"
GENERATION_DURATION = "GenerationDuration"
GENERATION_TOKENS = "GenerationTokens"
TASK_ERRORS = "TaskErrors"  # a task raised (the state machine retries or catches it)

# Reasons the sandbox runner gives a trace whose child broke a wall (chalicelib/sandbox/runner.py).
_VIOLATION_REASONS = ("sandbox protocol violation", "killed by SIGSYS")

logger = Logger(service=SERVICE)
_warm: set[str] = set()  # functions this process has run once (the rest start cold)
_current: contextvars.ContextVar[AmazonCloudWatchEMFProvider | None] = contextvars.ContextVar(
    "iofold_metrics", default=None)


@functools.cache
def tracer() -> Tracer:
    """The process's tracer, built on first use (it reads the environment and, in Lambda, patches
    botocore so every AWS call is a subsegment)."""
    return Tracer(service=SERVICE)


def _provider() -> AmazonCloudWatchEMFProvider | None:
    namespace = os.environ.get(NAMESPACE_VAR)
    if not namespace:
        return None
    return AmazonCloudWatchEMFProvider(namespace=namespace, service=SERVICE, metric_set={}, dimension_set={},
                                       metadata_set={})


def put_metric(name: str, value: float, unit: MetricUnit = MetricUnit.Count) -> None:
    """Add a value to this invocation's EMF blob (flushed when it ends); outside an invocation it is
    emitted at once. Nothing without a namespace."""
    current = _current.get()
    if current is not None:
        current.add_metric(name=name, unit=unit, value=value)
        return
    provider = _provider()
    if provider is not None:
        provider.add_metric(name=name, unit=unit, value=value)
        provider.flush_metrics()


def record_import(result: dict[str, Any]) -> None:
    """A finished import's counts (traces/tasks.finish_import's result)."""
    put_metric(TRACES_IMPORTED, int(result.get("imported", 0)) + int(result.get("updated", 0)))
    put_metric(TRACES_IMPORT_FAILED, int(result.get("failed", 0)))


def record_generation(outcome: dict[str, Any]) -> None:
    """One generation's cost, duration and tokens (GenerationOutcome's fields)."""
    put_metric(GENERATIONS, 1)
    put_metric(GENERATION_COST, float(outcome.get("cost_usd") or 0.0), MetricUnit.NoUnit)
    put_metric(GENERATION_DURATION, float(outcome.get("duration_s") or 0.0), MetricUnit.Seconds)
    put_metric(GENERATION_TOKENS, int(outcome.get("input_tokens") or 0) + int(outcome.get("output_tokens") or 0))


def _record_executions(event: Any, result: Any) -> None:
    if isinstance(result, dict) and not result.get("skipped"):
        for kind, name in EXECUTIONS.items():
            if isinstance(result.get(kind), int):
                put_metric(name, result[kind])


def _record_sandbox(event: Any, result: Any) -> None:
    if not isinstance(result, dict):
        return
    if result.get("action") == "probe" and not result.get("ok"):
        put_metric(SANDBOX_FAILED_CLOSED, 1)
    results = result.get("results")
    if isinstance(results, list):
        put_metric(SANDBOX_VIOLATIONS, sum(
            1 for r in results if isinstance(r, dict) and r.get("result") == "error"
            and any(v in str(r.get("reason", "")) for v in _VIOLATION_REASONS)))


# What a task's own result says, by function name.
_RESULT_METRICS: dict[str, Callable[[Any, Any], None]] = {
    "execute_chunk": _record_executions,
    "sandbox": _record_sandbox,
}


def _event_keys(event: Any) -> dict[str, str]:
    if not isinstance(event, dict):
        return {}
    keys = {k: event[k] for k in ("job_id", "workspace_id") if isinstance(event.get(k), str)}
    params = event.get("params")
    if isinstance(params, dict) and isinstance(params.get("eval_id"), str):
        keys["eval_id"] = params["eval_id"]
    return keys


@contextlib.contextmanager
def invocation(function: str, request_id: str | None = None, **keys: str) -> Iterator[None]:
    """One invocation's correlation ids, metrics blob and trace subsegment."""
    logger.thread_safe_clear_keys()
    logger.thread_safe_append_keys(function=function, request_id=request_id or str(uuid.uuid4()), **keys)
    cold = function not in _warm
    _warm.add(function)
    provider = _provider()
    token = _current.set(provider)
    try:
        with tracer().provider.in_subsegment(name=f"## {function}") as subsegment:
            if subsegment is not None:  # None when Lambda gave no trace header
                for key, value in {"ColdStart": cold, "Service": SERVICE, **keys}.items():
                    subsegment.put_annotation(key=key, value=value)
            yield
    finally:
        _current.reset(token)
        if provider is not None and provider.metric_set:
            provider.flush_metrics()


def observed(handler: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    """Decorate a Lambda task handler ``(event, context)``: one invocation per call, named after the
    handler (the name ``@app.lambda_function`` deploys it under)."""
    name = handler.__name__

    @functools.wraps(handler)
    def run(event: Any, context: Any) -> Any:
        with invocation(name, getattr(context, "aws_request_id", None), **_event_keys(event)):
            start = time.monotonic()
            try:
                result = handler(event, context)
            except Exception as exc:
                _record_failure(name, exc)
                logger.warning("task failed", extra={"error_type": type(exc).__name__, "error": str(exc)[:500],
                                                     "duration_ms": round((time.monotonic() - start) * 1000)})
                raise
            if name in _RESULT_METRICS:
                _RESULT_METRICS[name](event, result)
            logger.info("task done", extra={"duration_ms": round((time.monotonic() - start) * 1000)})
            return result

    run.__iofold_observed__ = True  # type: ignore[attr-defined]
    return run


def _record_failure(function: str, exc: BaseException) -> None:
    from chalicelib.sandbox.runner import SandboxUnavailable

    put_metric(TASK_ERRORS, 1)
    if isinstance(exc, SandboxUnavailable):
        put_metric(SANDBOX_FAILED_CLOSED if function == "sandbox" else SANDBOX_FAILURES, 1)


def _api_middleware(event: Any, get_response: Callable[[Any], Any]) -> Any:
    context = getattr(event, "lambda_context", None)
    with invocation("api_handler", str((event.context or {}).get("requestId") or "") or
                    getattr(context, "aws_request_id", None)):
        return get_response(event)


def is_observed(handler: Any) -> bool:
    return bool(getattr(handler, "__iofold_observed__", False))


def instrument(app: Any) -> None:
    """Observe the API's requests (a Chalice http middleware)."""
    app.register_middleware(_api_middleware, "http")


def bind_caller(workspace_id: str) -> None:
    """Add the authenticated caller's workspace to this request's log lines."""
    logger.thread_safe_append_keys(workspace_id=workspace_id)
