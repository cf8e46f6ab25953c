"""The rehearsal's Lambda execution environments: a worker runs the packaged code with the
function's environment and nothing of the host's, reports errors as Lambda does, and is
killed at the function's timeout."""

import io
import json
import zipfile

import pytest

from infra.local.lambda_runtime import CodeStore, FunctionConfig, LambdaPool, lambda_code_sha256

HANDLER = '''
import os, sys, time

def env(event, context):
    print("log line from the handler")
    return {"env": dict(os.environ), "remaining_ms": context.get_remaining_time_in_millis(),
            "path0": sys.path[0]}

def boom(event, context):
    raise KeyError(event["missing"])

def slow(event, context):
    time.sleep(30)
'''


@pytest.fixture
def pool(tmp_path, monkeypatch):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("app.py", HANDLER)
    (tmp_path / "code.zip").write_bytes(buf.getvalue())
    store = CodeStore(tmp_path / "code")
    sha = store.add(tmp_path / "code.zip")
    assert sha == lambda_code_sha256(buf.getvalue())
    configs = {name: FunctionConfig(name=f"fn-{name}", handler=f"app.{name}", timeout_s=2 if name == "slow" else 30,
                                    environment={"IOFOLD_TABLE_TRACES": "t-traces"}, memory_mb=256, code_sha256=sha)
               for name in ("env", "boom", "slow")}
    monkeypatch.setenv("IOFOLD_HOST_ONLY", "leak")
    pool = LambdaPool(lambda fn: configs[fn.removeprefix("fn-")], store, region="eu-west-1",
                      loopback={"AWS_ENDPOINT_URL": "http://127.0.0.1:1"}, log_dir=tmp_path / "logs")
    yield pool
    pool.close()


def test_worker_sees_only_its_functions_environment_and_lambdas_own_variables(pool, tmp_path):
    payload, failed = pool.invoke("fn-env", b"{}")
    out = json.loads(payload)
    assert not failed
    env = out["env"]
    assert env["IOFOLD_TABLE_TRACES"] == "t-traces"
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == "fn-env" and env["AWS_REGION"] == "eu-west-1"
    assert env["AWS_ENDPOINT_URL"] == "http://127.0.0.1:1"
    assert "IOFOLD_HOST_ONLY" not in env and "VIRTUAL_ENV" not in env
    assert out["path0"] == env["LAMBDA_TASK_ROOT"]  # the packaged code first, as /var/task
    assert 0 < out["remaining_ms"] <= 30_000
    assert "log line from the handler" in pool.log_path("fn-env").read_text()
    # warm: the second invoke reuses the worker
    again = json.loads(pool.invoke("fn-env", b"{}")[0])["env"]
    assert pool.invocations["fn-env"] == 2
    # an unsampled X-Ray trace header per invocation, as Lambda gives each one
    assert env["_X_AMZN_TRACE_ID"].endswith(";Sampled=0") and env["_X_AMZN_TRACE_ID"].startswith("Root=1-")
    assert again["_X_AMZN_TRACE_ID"] != env["_X_AMZN_TRACE_ID"]


def test_errors_come_back_as_lambda_function_errors(pool):
    payload, failed = pool.invoke("fn-boom", json.dumps({"missing": "x"}))
    assert failed
    error = json.loads(payload)
    assert error["errorType"] == "KeyError" and error["errorMessage"] == "'x'"


def test_a_handler_past_its_timeout_is_killed(pool):
    payload, failed = pool.invoke("fn-slow", b"{}")
    assert failed and "timed out after 2" in json.loads(payload)["errorMessage"]
