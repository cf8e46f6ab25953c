"""How task code runs eval code: never in its own process, always through the sandbox
function (a separate Lambda on AWS; locally moto routes the invoke to the same handler,
which starts the locked-down child)."""

from __future__ import annotations

import json
from typing import Any, Callable, NamedTuple, Protocol

from botocore.exceptions import ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError

from chalicelib.sandbox import limits
from chalicelib.sandbox.runner import SandboxUnavailable, TraceResult

__all__ = ["EncodedTrace", "LambdaSandbox", "Sandbox", "SandboxThrottled", "SandboxUnavailable"]

MAX_PAYLOAD_BYTES = 5_000_000  # Lambda's synchronous payload limit is 6 MB

# Invoke errors that mean "not now": Lambda is throttling, or cannot yet give the function (in its VPC)
# a network interface or an address. Nothing ran; the state machine retries them with backoff.
THROTTLED_CODES = frozenset({"TooManyRequestsException", "EC2ThrottledException", "ENILimitReachedException",
                             "SubnetIPAddressLimitReachedException", "ResourceNotReadyException",
                             "ResourceConflictException"})
# Lambda's own transient faults (retried like a sandbox that could not start); any other error (the
# function missing, access denied, a broken subnet) is a deployment fault and propagates as is.
UNAVAILABLE_CODES = frozenset({"ServiceException", "EC2UnexpectedException"})


class SandboxThrottled(SandboxUnavailable):
    """Lambda refused to run the sandbox function for now (throttled, or out of network interfaces or
    addresses in its subnets); nothing ran. Its class name is the error the state machines retry."""


class EncodedTrace(NamedTuple):
    """A trace already as JSON text (as TraceRepository.get_many_text stores it), sent to the sandbox
    without being parsed and encoded again."""

    id: str
    line: str


class Sandbox(Protocol):
    def run(self, code: str, traces: list[dict]) -> list[TraceResult]:
        """One result per trace, in order."""
        ...


class LambdaSandbox:
    """Invokes the sandbox Lambda with batches that fit its payload limit and its time limit
    (``limits.MAX_TRACES_PER_INVOKE``). A sandbox that stopped early gets the rest again; when the
    caller's own time (``remaining_ms``, its Lambda context's) runs short, the traces left are
    recorded as not run, so every trace sent gets exactly one result."""

    def __init__(self, lambda_client: Any, function_name: str, *, max_payload_bytes: int = MAX_PAYLOAD_BYTES,
                 max_traces: int = limits.MAX_TRACES_PER_INVOKE, remaining_ms: Callable[[], int] | None = None):
        self._lambda = lambda_client
        self._function = function_name
        self._max = max_payload_bytes
        self._max_traces = max_traces
        self._remaining_ms = remaining_ms

    def run(self, code: str, traces: list[dict] | list[EncodedTrace]) -> list[TraceResult]:
        results: list[TraceResult] = []
        # Each trace is JSON-encoded once (here, or by its store) and reaches the sandbox child unparsed.
        encoded = [_encoded(t) for t in traces]
        for batch in _batches(encoded, self._max - len(code.encode()) - 1024, self._max_traces):
            if len(batch) == 1 and _payload_size(batch[0][1]) > self._max:
                results.append(TraceResult(trace_id=batch[0][0], result="error", duration_ms=0,
                                           reason="trace too large for the sandbox payload limit"))
                continue
            results += self._run_batch(code, batch)
        return results

    def _run_batch(self, code: str, batch: list[tuple[str, str]]) -> list[TraceResult]:
        results: list[TraceResult] = []
        while batch:
            budget_ms = self._budget_ms()
            done = [] if budget_ms is not None and budget_ms < limits.TRACE_TIMEOUT_S * 1000 + limits.STOP_MARGIN_MS \
                else self._invoke(code, batch, budget_ms)
            if not done and budget_ms is None:
                raise SandboxUnavailable(f"the sandbox ran none of the {len(batch)} traces it was sent")
            if not done:  # the caller's time is short (the sandbox stops early for it too)
                results += [TraceResult(trace_id=t[0], result="timeout", duration_ms=0,
                                        reason="not run: the task calling the sandbox ran out of time "
                                               "before this trace")
                            for t in batch]
                break
            results += done
            batch = batch[len(done):]
        return results

    def _budget_ms(self) -> int | None:
        """The caller's time left for a sandbox call (its margin for storing results kept back)."""
        if self._remaining_ms is None:
            return None
        return self._remaining_ms() - limits.CALLER_MARGIN_MS

    def _invoke(self, code: str, traces: list[tuple[str, str]], budget_ms: int | None) -> list[TraceResult]:
        """The results of the first traces the sandbox ran (all of them unless it stopped early)."""
        payload: dict[str, Any] = {"code": code, "trace_ids": [t[0] for t in traces],
                                   "trace_lines": [t[1] for t in traces]}
        if budget_ms is not None:
            payload["budget_ms"] = budget_ms
        try:
            response = self._lambda.invoke(FunctionName=self._function, Payload=json.dumps(payload))
        except ClientError as exc:
            code_name = exc.response.get("Error", {}).get("Code", "")
            if code_name in THROTTLED_CODES:
                raise SandboxThrottled(f"sandbox invoke throttled: {code_name}: {exc}") from None
            if code_name in UNAVAILABLE_CODES:
                raise SandboxUnavailable(f"sandbox invoke failed: {code_name}: {exc}") from None
            raise
        except (BotoConnectionError, HTTPClientError) as exc:  # connect or read timeout, connection dropped
            raise SandboxUnavailable(f"sandbox invoke failed: {type(exc).__name__}: {exc}") from None
        body = json.loads(response["Payload"].read() or b"{}")
        if response.get("FunctionError"):
            raise SandboxUnavailable(f"sandbox failed: {body.get('errorType')}: {body.get('errorMessage')}")
        results = [TraceResult.model_validate(r) for r in body.get("results", [])]
        not_run = body.get("not_run") or []
        ids = [t[0] for t in traces]
        if [r.trace_id for r in results] + list(not_run) != ids:
            raise SandboxUnavailable(f"sandbox returned {len(results)} results and {len(not_run)} not run "
                                     f"for {len(traces)} traces")
        return results


def _encoded(trace: dict | EncodedTrace) -> tuple[str, str]:
    """(id, ASCII JSON line): an EncodedTrace's text as it is unless it is not ASCII (the payload's size
    budget counts one byte per character), which is parsed and encoded again."""
    if isinstance(trace, EncodedTrace):
        if trace.line.isascii():
            return trace
        trace = json.loads(trace.line)
    return str(trace.get("id")), json.dumps(trace, separators=(",", ":"), default=str)


def _payload_size(line: str) -> int:
    """Bytes of an ASCII JSON line once quoted inside the payload (its id aside)."""
    return len(line) + line.count('"') + line.count("\\") + 3


def _batches(traces: list[tuple[str, str]], budget: int, max_traces: int) -> list[list[tuple[str, str]]]:
    batches: list[list[tuple[str, str]]] = []
    current: list[tuple[str, str]] = []
    size = 0
    for trace in traces:
        n = _payload_size(trace[1]) + len(trace[0]) + 8
        if current and (size + n > budget or len(current) >= max_traces):
            batches.append(current)
            current, size = [], 0
        current.append(trace)
        size += n
    if current:
        batches.append(current)
    return batches
