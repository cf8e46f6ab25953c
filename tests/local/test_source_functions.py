"""Functions in worker processes of their own (infra/local/source_functions.py), as `make dev` runs
execute_chunk: a run's chunks run there with the function's own environment, and a handler's error
reaches the caller by name, as it does from the function run in this process."""

from __future__ import annotations

from chalicelib.config import BUCKET_VAR, SANDBOX_FUNCTION_VAR, table_var
from infra import resources
from infra.local import lambda_hook
from infra.local.source_functions import source_environment
from tests.conftest import invoke_function_raw
from tests.statemachines.test_execute_eval import (  # noqa: F401 - settings is a fixture
    _expected, _store_traces, _stored_results, _version, settings,
)


def test_a_worker_sees_every_setting_and_only_its_functions_resource_variables():
    environ = {table_var("traces"): "t", table_var("workspaces"): "w", SANDBOX_FUNCTION_VAR: "sb", BUCKET_VAR: "b",
               "IOFOLD_EXECUTE_CHUNK_SIZE": "7", "AWS_ENDPOINT_URL": "http://127.0.0.1:1"}
    declared = set(resources.function("execute_chunk").env_vars())
    assert {table_var("traces"), SANDBOX_FUNCTION_VAR, BUCKET_VAR} <= declared
    assert table_var("workspaces") not in declared
    env = source_environment("execute_chunk", environ)
    assert env == {k: v for k, v in environ.items() if k != table_var("workspaces")}


def test_a_run_executes_its_chunks_in_worker_processes(stack, api, settings):
    settings(IOFOLD_EXECUTE_CHUNK_SIZE=7, IOFOLD_EXECUTE_MAX_CONCURRENCY=2)
    ids = _store_traces(api.workspace_id, 30)
    eval_id = _version(api)
    in_this_process = []

    def counted(handler):
        return lambda event, context: in_this_process.append(event) or handler(event, context)

    with lambda_hook.wrapped("execute_chunk", counted), stack.in_processes(("execute_chunk",)) as pool:
        done = api.wait_ok(api.ok("POST", f"/v1/evals/{eval_id}/execute", {"trace_ids": ids}, status=202)["job_id"])
        workers = [w for idle in pool._idle.values() for w in idle]
    result, expected = done["result"], _expected(ids, api.workspace_id)
    assert result["executed"] == 30 and {k: result[k] for k in expected} == dict(expected), result
    assert len(_stored_results(eval_id)) == 30
    assert not in_this_process  # every chunk (ceil(30 / 7) = 5) ran in a worker
    assert sum(n for name, n in pool.invocations.items() if name.endswith("-execute_chunk")) == 5
    assert 1 <= len(workers) <= 2 and not any(w.alive() for w in workers)  # closed with the block


def test_a_failing_handler_in_a_worker_fails_the_invoke_with_the_same_error(stack):
    event = {"job": {"workspace_id": "ws_missing", "job_id": "job_missing"}, "chunk": 0}
    here = invoke_function_raw(stack, "execute_chunk", event)
    with stack.in_processes(("execute_chunk",)):
        there = invoke_function_raw(stack, "execute_chunk", event)
    assert here[0] and there[0] == here[0]
    assert there[1]["errorType"] == here[1]["errorType"] and there[1]["errorMessage"] == here[1]["errorMessage"]
