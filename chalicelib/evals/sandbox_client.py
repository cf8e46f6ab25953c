"""How task code runs eval code: never in its own process, always through the sandbox
function (a separate Lambda on AWS; locally moto routes the invoke to the same handler,
which starts the locked-down child)."""

from __future__ import annotations

import json
from typing import Any, Protocol

from chalicelib.sandbox.runner import TraceResult

MAX_PAYLOAD_BYTES = 5_000_000  # Lambda's synchronous payload limit is 6 MB


class SandboxUnavailable(Exception):
    """The sandbox function failed as a whole (not one trace); the task may be retried."""


class Sandbox(Protocol):
    def run(self, code: str, traces: list[dict]) -> list[TraceResult]:
        """One result per trace, in order."""
        ...


class LambdaSandbox:
    """Invokes the sandbox Lambda with batches that fit its payload limit."""

    def __init__(self, lambda_client: Any, function_name: str, *, max_payload_bytes: int = MAX_PAYLOAD_BYTES):
        self._lambda = lambda_client
        self._function = function_name
        self._max = max_payload_bytes

    def run(self, code: str, traces: list[dict]) -> list[TraceResult]:
        results: list[TraceResult] = []
        for batch in _batches(traces, self._max - len(code.encode()) - 1024):
            if len(batch) == 1 and len(json.dumps(batch[0])) > self._max:
                results.append(TraceResult(trace_id=str(batch[0].get("id")), result="error", duration_ms=0,
                                           reason="trace too large for the sandbox payload limit"))
                continue
            results += self._invoke(code, batch)
        return results

    def _invoke(self, code: str, traces: list[dict]) -> list[TraceResult]:
        response = self._lambda.invoke(FunctionName=self._function, Payload=json.dumps({"code": code, "traces": traces}))
        payload = json.loads(response["Payload"].read() or b"{}")
        if response.get("FunctionError"):
            raise SandboxUnavailable(f"sandbox failed: {payload.get('errorType')}: {payload.get('errorMessage')}")
        results = [TraceResult.model_validate(r) for r in payload.get("results", [])]
        if len(results) != len(traces):
            raise SandboxUnavailable(f"sandbox returned {len(results)} results for {len(traces)} traces")
        return results


def _batches(traces: list[dict], budget: int) -> list[list[dict]]:
    batches: list[list[dict]] = []
    current: list[dict] = []
    size = 0
    for trace in traces:
        n = len(json.dumps(trace, separators=(",", ":")))
        if current and size + n > budget:
            batches.append(current)
            current, size = [], 0
        current.append(trace)
        size += n
    if current:
        batches.append(current)
    return batches
