"""LambdaSandbox sends each trace JSON-encoded once, in payloads under the limit, and gets results in order;
Lambda's throttling becomes the retried SandboxThrottled."""

from __future__ import annotations

import io
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from chalicelib import clients
from chalicelib.evals.sandbox_client import LambdaSandbox, SandboxThrottled, SandboxUnavailable
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


# --- invoke errors: throttling is the retried SandboxThrottled; the client itself never retries ---------


def _stubbed(code: str, status: int) -> LambdaSandbox:
    client = boto3.session.Session(region_name="us-east-1", aws_access_key_id="k", aws_secret_access_key="s").client(
        "lambda", config=clients.sandbox_lambda_client().meta.config)
    stubber = Stubber(client)
    stubber.add_client_error("invoke", service_error_code=code, http_status_code=status)
    stubber.activate()
    return LambdaSandbox(client, "sandbox")


@pytest.mark.parametrize("code,status", [("TooManyRequestsException", 429), ("EC2ThrottledException", 502),
                                         ("ENILimitReachedException", 502),
                                         ("SubnetIPAddressLimitReachedException", 502)])
def test_lambda_throttling_or_running_out_of_network_interfaces_raises_sandbox_throttled(code, status):
    with pytest.raises(SandboxThrottled, match=code) as raised:
        _stubbed(code, status).run(CODE, [{"id": "a", "text": ""}])
    assert type(raised.value).__name__ == "SandboxThrottled"  # the errorType the state machine retries


def test_a_lambda_service_fault_is_sandbox_unavailable_and_a_deployment_fault_propagates():
    with pytest.raises(SandboxUnavailable) as raised:
        _stubbed("ServiceException", 500).run(CODE, [{"id": "a", "text": ""}])
    assert type(raised.value) is SandboxUnavailable
    with pytest.raises(ClientError, match="ResourceNotFoundException"):
        _stubbed("ResourceNotFoundException", 404).run(CODE, [{"id": "a", "text": ""}])


class _Throttling(BaseHTTPRequestHandler):
    """Lambda's endpoint answering every invoke with 429 TooManyRequestsException."""

    requests: list[str] = []

    def do_POST(self):  # noqa: N802 (http.server's name)
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        type(self).requests.append(self.path)
        body = json.dumps({"Type": "User", "message": "Rate exceeded",
                           "Reason": "ReservedFunctionConcurrentInvocationLimitExceeded"}).encode()
        self.send_response(429)
        self.send_header("x-amzn-ErrorType", "TooManyRequestsException")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_the_real_client_tries_a_throttled_invoke_once_and_raises_sandbox_throttled(monkeypatch):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Throttling)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{server.server_port}")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "k")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s")
    clients.reset_clients()
    _Throttling.requests = []
    try:
        with pytest.raises(SandboxThrottled, match="TooManyRequestsException"):
            LambdaSandbox(clients.sandbox_lambda_client(), "sandbox").run(CODE, [{"id": "a", "text": ""}])
    finally:
        server.shutdown()
        server.server_close()
        monkeypatch.undo()
        clients.reset_clients()
    assert len(_Throttling.requests) == 1  # no botocore retry: Step Functions retries the task, with jitter
    assert _Throttling.requests[0].endswith("/functions/sandbox/invocations")


def test_traces_sent_as_stored_text_make_the_same_payloads_and_results_as_dicts():
    from chalicelib.evals.sandbox_client import EncodedTrace

    traces = [{"id": f"t{i}", "text": 'quote " back\\slash ' + "x" * (i * 37 % 900)} for i in range(40)]
    as_dicts, as_text = FakeLambda(), FakeLambda()
    expected = LambdaSandbox(as_dicts, "sandbox", max_payload_bytes=8_000).run(CODE, traces)
    lines = [EncodedTrace(t["id"], json.dumps(t, separators=(",", ":"))) for t in traces]
    got = LambdaSandbox(as_text, "sandbox", max_payload_bytes=8_000).run(CODE, lines)
    assert [(r.trace_id, r.result, r.reason) for r in got] == [(r.trace_id, r.result, r.reason) for r in expected]
    assert as_text.sizes == as_dicts.sizes


def test_stored_text_that_is_not_ascii_is_encoded_again_so_payloads_stay_under_the_limit():
    from chalicelib.evals.sandbox_client import EncodedTrace

    traces = [{"id": f"t{i}", "text": "é" * 700} for i in range(12)]  # 1 char, 6 bytes once escaped
    fake = FakeLambda()
    lines = [EncodedTrace(t["id"], json.dumps(t, ensure_ascii=False)) for t in traces]
    results = LambdaSandbox(fake, "sandbox", max_payload_bytes=8_000).run(CODE, lines)
    assert [r.result for r in results] == ["pass"] * 12 and max(fake.sizes) <= 8_000
