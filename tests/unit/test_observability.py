"""Powertools on every handler: log lines carry the invocation's correlation ids, each invocation
emits one EMF blob with the right values, and tracing stays off (and silent) outside Lambda."""

import json
import logging
import os
import socket
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest
from chalice import Chalice
from chalice.test import Client

from chalicelib import observability

NAMESPACE = "iofold/test"
ROOT = Path(__file__).resolve().parents[2]


@contextmanager
def captured_log_lines():
    """Every line the iofold logger writes meanwhile (any thread), as parsed JSON, at INFO (tests
    otherwise run at WARNING)."""
    lines: list[dict] = []

    class Keep(logging.Handler):
        def emit(self, record):
            lines.append(json.loads(self.format(record)))

    handler = Keep()
    handler.setFormatter(observability.logger.registered_formatter)
    observability.logger.addHandler(handler)
    level = observability.logger.log_level
    observability.logger.setLevel(logging.INFO)
    try:
        yield lines
    finally:
        observability.logger.setLevel(level)
        observability.logger.removeHandler(handler)


def emf_blobs(text: str) -> list[dict]:
    """The EMF documents among stdout's lines."""
    blobs = []
    for line in text.splitlines():
        if line.startswith("{") and '"_aws"' in line:
            blobs.append(json.loads(line))
    return blobs


def metric_values(blobs: list[dict]) -> dict[str, float]:
    """Metric name → summed value over the blobs (a metric added twice in one blob is a list)."""
    out: dict[str, float] = {}
    for blob in blobs:
        for directive in blob["_aws"]["CloudWatchMetrics"]:
            for metric in directive["Metrics"]:
                value = blob[metric["Name"]]
                out[metric["Name"]] = out.get(metric["Name"], 0) + (sum(value) if isinstance(value, list) else value)
    return out


class Context:
    aws_request_id = "req-123"
    function_name = "iofold-dev-execute_chunk"


@pytest.fixture
def namespace(monkeypatch):
    monkeypatch.setenv(observability.NAMESPACE_VAR, NAMESPACE)
    return NAMESPACE


def deployed(handler):
    """What Lambda calls for an observed handler: Chalice's wrapper, as app.py declares functions."""
    return Chalice(app_name="observed").lambda_function(name=handler.__name__)(observability.observed(handler))


def test_every_lambda_function_of_the_app_is_observed():
    from app import app

    assert app.pure_lambda_functions
    unobserved = [fn.name for fn in app.pure_lambda_functions if not observability.is_observed(fn.func)]
    assert not unobserved, f"decorate them with @observed under @app.lambda_function in app.py: {unobserved}"
    # metrics and log lines name the function as it is deployed
    assert all(fn.func.__name__ == fn.name for fn in app.pure_lambda_functions)


def test_a_task_emits_one_emf_blob_with_its_results_namespace_and_service(namespace, capsys):
    def execute_chunk(event, context):
        return {"chunk": 0, "pass": 7, "fail": 2, "error": 1, "timeout": 0}

    with captured_log_lines() as lines:
        deployed(execute_chunk)({"job_id": "job_1", "workspace_id": "ws_1", "params": {"eval_id": "ev_1"}}, Context())
    [blob] = emf_blobs(capsys.readouterr().out)
    directive, = blob["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == NAMESPACE and directive["Dimensions"] == [["service"]]
    assert blob["service"] == observability.SERVICE
    assert metric_values([blob]) == {"ExecutionsPassed": 7, "ExecutionsFailed": 2, "ExecutionsErrored": 1,
                                     "ExecutionsTimedOut": 0}
    [done] = [line for line in lines if line["message"] == "task done"]
    assert (done["job_id"], done["workspace_id"], done["eval_id"], done["request_id"], done["function"]) == (
        "job_1", "ws_1", "ev_1", "req-123", "execute_chunk")


def test_a_sandbox_that_fails_closed_is_counted_and_the_error_still_reaches_the_state_machine(namespace, capsys,
                                                                                              monkeypatch):
    from app import sandbox  # what Lambda calls (Chalice's wrapper around the observed handler)
    from chalicelib.sandbox.runner import SandboxUnavailable

    monkeypatch.setenv("IOFOLD_SANDBOX_REQUIRE", "no-such-layer")  # the sandbox refuses to run without it
    with captured_log_lines() as lines, pytest.raises(SandboxUnavailable):
        sandbox({"code": "def eval_x(trace):\n    return True, 'ok'\n", "traces": [{"id": "t1"}]}, None)
    values = metric_values(emf_blobs(capsys.readouterr().out))
    assert values == {"TaskErrors": 1, "SandboxFailedClosed": 1}
    [failed] = [line for line in lines if line["message"] == "task failed"]
    assert failed["error_type"] == "SandboxUnavailable" and failed["function"] == "sandbox"


def test_a_callers_sandbox_failure_is_counted_apart_from_the_sandbox_failing_closed(namespace, capsys):
    from chalicelib.sandbox.runner import SandboxUnavailable

    def execute_chunk(event, context):
        raise SandboxUnavailable("sandbox failed: Runtime.ExitError")

    with pytest.raises(SandboxUnavailable):
        deployed(execute_chunk)({"job_id": "j", "workspace_id": "w"}, None)
    assert metric_values(emf_blobs(capsys.readouterr().out)) == {"TaskErrors": 1, "SandboxFailures": 1}


def test_sandbox_results_count_walls_broken_not_ordinary_errors(namespace, capsys):
    def sandbox(event, context):
        return {"results": [
            {"trace_id": "a", "result": "error", "reason": "the sandbox process was killed by SIGSYS"},
            {"trace_id": "b", "result": "error", "reason": "sandbox protocol violation"},
            {"trace_id": "c", "result": "error", "reason": "ZeroDivisionError: division by zero"},
            {"trace_id": "d", "result": "pass", "reason": "ok"}]}

    deployed(sandbox)({"code": "x"}, None)
    assert metric_values(emf_blobs(capsys.readouterr().out)) == {"SandboxViolations": 2}


def test_the_real_sandbox_reports_no_violation_for_an_ordinary_eval(namespace, capsys):
    from app import sandbox

    out = sandbox({"code": "def eval_x(trace):\n    return 1 / 0 == 0, 'never'\n", "traces": [{"id": "t1"}]}, None)
    assert [r["result"] for r in out["results"]] == ["error"]
    assert metric_values(emf_blobs(capsys.readouterr().out)) == {"SandboxViolations": 0}


def test_concurrent_invocations_keep_their_own_ids_and_metrics(namespace, capsys):
    import threading

    barrier = threading.Barrier(2)

    def execute_chunk(event, context):
        barrier.wait(timeout=10)
        observability.logger.info("working")
        barrier.wait(timeout=10)
        return {"pass": event["n"]}

    fn = deployed(execute_chunk)
    with captured_log_lines() as lines:
        threads = [threading.Thread(target=fn, args=({"job_id": f"job_{n}", "workspace_id": f"ws_{n}", "n": n}, None))
                   for n in (1, 2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    working = sorted((line["job_id"], line["workspace_id"]) for line in lines if line["message"] == "working")
    assert working == [("job_1", "ws_1"), ("job_2", "ws_2")]
    blobs = emf_blobs(capsys.readouterr().out)
    assert sorted(metric_values([b])["ExecutionsPassed"] for b in blobs) == [1, 2]


def test_without_a_namespace_nothing_is_emitted(monkeypatch, capsys):
    monkeypatch.delenv(observability.NAMESPACE_VAR, raising=False)
    def execute_chunk(event, context):
        return {"pass": 1}

    deployed(execute_chunk)({}, None)
    assert emf_blobs(capsys.readouterr().out) == []


def test_tracing_is_disabled_outside_lambda():
    assert observability.tracer().disabled


def test_generation_and_import_records_carry_cost_latency_and_counts(namespace, capsys):
    observability.record_generation({"cost_usd": 0.0125, "duration_s": 3.5, "input_tokens": 1000,
                                     "output_tokens": 200})
    observability.record_import({"imported": 5, "updated": 2, "skipped": 9, "failed": 1})
    values = metric_values(emf_blobs(capsys.readouterr().out))
    assert values == {"Generations": 1, "GenerationCostUSD": 0.0125, "GenerationDuration": 3.5,
                      "GenerationTokens": 1200, "TracesImported": 7, "TracesImportFailed": 1}


def test_api_log_lines_carry_the_request_id_and_the_callers_workspace(stack, api):
    """A route that fails: its error line names the request (as the response does) and the workspace."""
    from chalicelib.web import Api

    app = Chalice(app_name="observed-api")
    routes = Api(app)  # registers the observability middleware

    @routes.route("/boom", "GET", role="viewer")
    def boom(req):
        raise RuntimeError("kaput")

    with Client(app) as client, captured_log_lines() as lines:
        response = client.http.get("/boom", headers={"Authorization": f"Bearer {api.key}"})
    assert response.status_code == 500
    [line] = [line for line in lines if line["message"] == "unhandled error"]
    assert line["request_id"] == response.headers["X-Request-Id"]
    assert line["workspace_id"] == api.workspace_id and line["function"] == "api_handler"


def test_an_import_through_the_state_machine_logs_its_ids_in_every_task_and_counts_the_traces(api, capsys):
    with captured_log_lines() as lines:
        job = api.ok("POST", "/v1/traces/upload?format=langfuse", status=202, headers={
            "Content-Type": "application/x-ndjson"}, raw="\n".join(json.dumps(
                {"id": f"ext-{i}", "name": "t", "timestamp": "2025-01-01T00:00:00Z", "input": "q", "output": "a"})
                for i in range(3)))
        api.wait_ok(job["job_id"])
    tasks = [line for line in lines if line["message"] == "task done" and line.get("job_id") == job["job_id"]]
    assert {line["function"] for line in tasks} == {"import_page"}  # a plain body: no prepare; it finishes the job
    assert all(line["workspace_id"] == api.workspace_id for line in tasks)
    assert len({line["request_id"] for line in tasks}) == len(tasks)  # one id per invocation
    namespace = os.environ[observability.NAMESPACE_VAR]  # the local stack's
    blobs = [b for b in emf_blobs(capsys.readouterr().out)
             if b["_aws"]["CloudWatchMetrics"][0]["Namespace"] == namespace and "TracesImported" in b]
    assert [metric_values([b])["TracesImported"] for b in blobs] == [3]


TRACED_TASK = """
from chalice import Chalice
from chalicelib.observability import observed

def execute_chunk(event, context):
    return {"pass": 1}

Chalice(app_name="traced").lambda_function(name="execute_chunk")(observed(execute_chunk))(
    {"job_id": "job_7", "workspace_id": "ws_7"}, None)
"""


def test_in_lambda_each_invocation_is_an_xray_subsegment_annotated_with_its_ids(tmp_path):
    """A process set up as Lambda sets it up (task root, sampled trace header, daemon address):
    the subsegment reaches the X-Ray daemon, here a UDP socket on loopback."""
    daemon = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    daemon.bind(("127.0.0.1", 0))
    daemon.settimeout(20)
    port = daemon.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("POWERTOOLS_", "AWS_XRAY"))}
    env.update(LAMBDA_TASK_ROOT=str(tmp_path), AWS_LAMBDA_FUNCTION_NAME="iofold-dev-execute_chunk",
               AWS_XRAY_DAEMON_ADDRESS=f"127.0.0.1:{port}", AWS_XRAY_CONTEXT_MISSING="LOG_ERROR",
               _X_AMZN_TRACE_ID="Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1")
    try:
        run = subprocess.run([sys.executable, "-c", TRACED_TASK], env=env, capture_output=True, text=True,
                             timeout=60, cwd=str(ROOT))
        assert run.returncode == 0, run.stderr
        segments = []
        while not any(s.get("name") == "## execute_chunk" for s in segments):
            header, _, body = daemon.recv(65536).decode().partition("\n")
            segments.append(json.loads(body))
    finally:
        daemon.close()
    [task] = [s for s in segments if s.get("name") == "## execute_chunk"]
    assert task["trace_id"] == "1-5759e988-bd862e3fe1be46a994272793"
    assert task["annotations"] == {"ColdStart": True, "Service": "iofold", "job_id": "job_7", "workspace_id": "ws_7"}
