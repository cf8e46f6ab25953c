"""The state-machine files: valid ASL (statelint), every Task names a real task handler, every
ErrorEquals names a real exception class, every Lambda task retries AWS's transient Lambda errors
with full jitter, and every file is declared in infra/resources.py."""

import json
import sys
from pathlib import Path

import pytest

import app as app_module
from infra import resources, template

ASL_FILES = sorted(resources.STATEMACHINE_DIR.glob("*.asl.json"))


def _states(doc: dict):
    for name, state in doc["States"].items():
        yield name, state
        if state["Type"] == "Map":
            yield from _states(state.get("ItemProcessor") or state["Iterator"])
        for branch in state.get("Branches", []):
            yield from _states(branch)


def _exception_names() -> set[str]:
    """Exception classes defined anywhere in chalicelib (every module imported first)."""
    import importlib
    import pkgutil

    import chalicelib

    for module in pkgutil.walk_packages(chalicelib.__path__, "chalicelib."):
        importlib.import_module(module.name)
    names: set[str] = set()
    for module in list(sys.modules.values()):
        if getattr(module, "__name__", "").startswith("chalicelib"):
            for value in vars(module).values():
                if isinstance(value, type) and issubclass(value, BaseException):
                    names.add(value.__name__)
    return names




def test_every_file_is_declared():
    assert {p.name for p in ASL_FILES} == {sm.path.name for sm in resources.STATE_MACHINES}


@pytest.mark.parametrize("path", ASL_FILES, ids=lambda p: p.name)
def test_statelint_accepts(path: Path):
    assert template.statelint(path) == ""


def test_statelint_still_reports_other_problems_beside_fields_it_does_not_know(tmp_path):
    doc = {"StartAt": "M", "States": {"M": {
        "Type": "Map",
        "ItemReader": {"Resource": "arn:aws:states:::s3:getObject", "ReaderConfig": {"InputType": "JSON"},
                       "Parameters": {"Bucket": "b", "Key": "k"}},
        "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}, "StartAt": "P",
                          "States": {"P": {"Type": "Pass", "End": True}}},
        "Next": "Nowhere"}}}
    path = tmp_path / "x.asl.json"
    path.write_text(json.dumps(doc))
    problems = template.statelint(path)
    assert "Nowhere" in problems and "InputType" not in problems


# What AWS recommends for every Lambda invoke: retry its transient service errors with backoff and full jitter.
LAMBDA_TRANSIENT = {"Lambda.ServiceException", "Lambda.AWSLambdaException", "Lambda.SdkClientException",
                    "Lambda.TooManyRequestsException"}


def _lambda_tasks():
    for path in ASL_FILES:
        for name, state in _states(json.loads(path.read_text())):
            if state["Type"] == "Task" and state["Resource"] == "arn:aws:states:::lambda:invoke":
                yield f"{path.name}:{name}", state


@pytest.mark.parametrize("where,state", list(_lambda_tasks()), ids=lambda x: x if isinstance(x, str) else "")
def test_every_lambda_task_retries_transient_lambda_errors_with_full_jitter(where: str, state: dict):
    retriers = state.get("Retry", [])
    lambda_retrier = next((r for r in retriers if LAMBDA_TRANSIENT <= set(r["ErrorEquals"])), None)
    assert lambda_retrier is not None, f"{where}: no retrier for {sorted(LAMBDA_TRANSIENT)}"
    assert lambda_retrier.get("JitterStrategy") == "FULL", where
    assert lambda_retrier["MaxAttempts"] >= 3 and lambda_retrier["BackoffRate"] >= 1.5, where
    assert 0 < lambda_retrier["IntervalSeconds"] <= lambda_retrier.get("MaxDelaySeconds", 0) <= 60, where
    for retrier in retriers:  # the app's own retryable errors back off with jitter too
        assert retrier.get("JitterStrategy") == "FULL" and retrier.get("MaxDelaySeconds"), (where, retrier)


def test_the_execute_chunk_retries_an_unavailable_or_throttled_sandbox():
    doc = json.loads((resources.STATEMACHINE_DIR / "execute_eval.asl.json").read_text())
    chunk = dict(_states(doc))["RunChunk"]
    names = {e for r in chunk["Retry"] for e in r["ErrorEquals"]}
    assert {"SandboxUnavailable", "SandboxThrottled"} <= names


@pytest.mark.parametrize("path", ASL_FILES, ids=lambda p: p.name)
def test_tasks_name_real_handlers_and_errors_name_real_exceptions(path: Path):
    doc = json.loads(path.read_text())
    handlers = {fn.name for fn in app_module.app.pure_lambda_functions}
    declared = next(sm for sm in resources.STATE_MACHINES if sm.path == path).functions
    exceptions = _exception_names()
    for name, state in _states(doc):
        if state["Type"] == "Task" and state["Resource"] == "arn:aws:states:::lambda:invoke":
            function = state["Parameters"]["FunctionName"]
            assert function.startswith("${Fn_") and function[5:-1] in handlers, (name, function)
            assert function[5:-1] in declared, f"{name}: {function} missing from infra/resources.py"
        for block in state.get("Retry", []) + state.get("Catch", []):
            for error in block["ErrorEquals"]:
                assert (error.startswith(("States.", "Lambda.", "StepFunctions.")) or error in exceptions), (name, error)
