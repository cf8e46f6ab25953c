"""LambdaSandbox sends each trace JSON-encoded once, in payloads under the limit, and gets results in order."""

from __future__ import annotations

import io
import json

import pytest

from chalicelib.evals.sandbox_client import LambdaSandbox, SandboxUnavailable
from chalicelib.sandbox import SandboxUnavailable as RunnerSandboxUnavailable
from chalicelib.sandbox.tasks import run_sandbox

CODE = "def eval_x(trace):\n    return (len(trace['text']) % 2 == 0, trace['id'] + ':' + trace['text'][:3])\n"


class FakeLambda:
    """The Lambda client's invoke, answered by the sandbox task in this process; records payload sizes."""

    def __init__(self, fail: bool = False):
        self.sizes: list[int] = []
        self.fail = fail

    def invoke(self, FunctionName: str, Payload: str) -> dict:  # noqa: N803 (boto3's names)
        self.sizes.append(len(Payload.encode()))
        if self.fail:
            body = {"errorType": "SandboxUnavailable", "errorMessage": "seccomp not applied"}
            return {"FunctionError": "Unhandled", "Payload": io.BytesIO(json.dumps(body).encode())}
        out = run_sandbox(json.loads(Payload), env={})
        return {"Payload": io.BytesIO(json.dumps(out).encode())}


def test_traces_are_split_into_payloads_under_the_limit_and_results_stay_in_order():
    traces = [{"id": f"t{i}", "text": 'quote " back\\slash é ' + "x" * (i * 37 % 900)} for i in range(60)]
    fake = FakeLambda()
    results = LambdaSandbox(fake, "sandbox", max_payload_bytes=8_000).run(CODE, traces)
    assert [r.trace_id for r in results] == [t["id"] for t in traces]
    assert [r.reason for r in results] == [t["id"] + ":" + t["text"][:3] for t in traces]
    assert [r.result for r in results] == ["pass" if len(t["text"]) % 2 == 0 else "fail" for t in traces]
    assert len(fake.sizes) > 3 and max(fake.sizes) <= 8_000


def test_a_trace_larger_than_the_payload_limit_is_its_own_error():
    fake = FakeLambda()
    results = LambdaSandbox(fake, "sandbox", max_payload_bytes=3_000).run(
        CODE, [{"id": "big", "text": "y" * 5_000}, {"id": "ok", "text": "ab"}])
    assert [(r.trace_id, r.result) for r in results] == [("big", "error"), ("ok", "pass")]
    assert "payload limit" in results[0].reason


def test_a_failed_sandbox_function_raises_the_retryable_sandbox_unavailable():
    assert SandboxUnavailable is RunnerSandboxUnavailable
    with pytest.raises(SandboxUnavailable, match="seccomp not applied"):
        LambdaSandbox(FakeLambda(fail=True), "sandbox").run(CODE, [{"id": "a", "text": ""}])
