"""How task code runs eval code: never in its own process, always through the sandbox
function (a separate Lambda on AWS; locally moto routes the invoke to the same handler,
which starts the locked-down child)."""

from __future__ import annotations

import json
from typing import Any, Protocol

from chalicelib.sandbox.runner import SandboxUnavailable, TraceResult

__all__ = ["LambdaSandbox", "Sandbox", "SandboxUnavailable"]

MAX_PAYLOAD_BYTES = 5_000_000  # Lambda's synchronous payload limit is 6 MB


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
        # Each trace is JSON-encoded once here and reaches the sandbox child unparsed.
        encoded = [(str(t.get("id")), json.dumps(t, separators=(",", ":"), default=str)) for t in traces]
        for batch in _batches(encoded, self._max - len(code.encode()) - 1024):
            if len(batch) == 1 and _payload_size(batch[0][1]) > self._max:
                results.append(TraceResult(trace_id=batch[0][0], result="error", duration_ms=0,
                                           reason="trace too large for the sandbox payload limit"))
                continue
            results += self._invoke(code, batch)
        return results

    def _invoke(self, code: str, traces: list[tuple[str, str]]) -> list[TraceResult]:
        payload = {"code": code, "trace_ids": [t[0] for t in traces], "trace_lines": [t[1] for t in traces]}
        response = self._lambda.invoke(FunctionName=self._function, Payload=json.dumps(payload))
        payload = json.loads(response["Payload"].read() or b"{}")
        if response.get("FunctionError"):
            raise SandboxUnavailable(f"sandbox failed: {payload.get('errorType')}: {payload.get('errorMessage')}")
        results = [TraceResult.model_validate(r) for r in payload.get("results", [])]
        if len(results) != len(traces):
            raise SandboxUnavailable(f"sandbox returned {len(results)} results for {len(traces)} traces")
        return results


def _payload_size(line: str) -> int:
    """Bytes of an ASCII JSON line once quoted inside the payload (its id aside)."""
    return len(line) + line.count('"') + line.count("\\") + 3


def _batches(traces: list[tuple[str, str]], budget: int) -> list[list[tuple[str, str]]]:
    batches: list[list[tuple[str, str]]] = []
    current: list[tuple[str, str]] = []
    size = 0
    for trace in traces:
        n = _payload_size(trace[1]) + len(trace[0]) + 8
        if current and size + n > budget:
            batches.append(current)
            current, size = [], 0
        current.append(trace)
        size += n
    if current:
        batches.append(current)
    return batches
