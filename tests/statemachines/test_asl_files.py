"""The state-machine files: valid ASL (statelint), every Task names a real task handler, every
ErrorEquals names a real exception class, and every file is declared in infra/resources.py."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

import app as app_module
from infra import resources

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
    result = subprocess.run([str(Path(sys.executable).parent / "statelint"), str(path)], capture_output=True, text=True)
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout + result.stderr


@pytest.mark.parametrize("path", ASL_FILES, ids=lambda p: p.name)
def test_tasks_name_real_handlers_and_errors_name_real_exceptions(path: Path):
    doc = json.loads(path.read_text())
    handlers = {fn.name for fn in app_module.app.pure_lambda_functions}
    declared = next(sm for sm in resources.STATE_MACHINES if sm.path == path).functions
    exceptions = _exception_names()
    for name, state in _states(doc):
        if state["Type"] == "Task":
            function = state["Parameters"]["FunctionName"]
            assert function.startswith("${Fn_") and function[5:-1] in handlers, (name, function)
            assert function[5:-1] in declared, f"{name}: {function} missing from infra/resources.py"
        for block in state.get("Retry", []) + state.get("Catch", []):
            for error in block["ErrorEquals"]:
                assert error.startswith(("States.", "Lambda.")) or error in exceptions, (name, error)
