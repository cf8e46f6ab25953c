"""An eval version as a file to drop into the user's repository: the eval function with a header
(eval set, version, metrics, date), runnable as a script (``python`` flavour) or as a pytest module
parametrized over a folder of unified-trace JSON files (``pytest`` flavour)."""

from __future__ import annotations

import keyword
from typing import Literal

from chalicelib.codegen import inert
from chalicelib.errors import Unprocessable, ValidationError
from chalicelib.evals.models import EvalVersion
from chalicelib.timeutil import now_iso

ExportFormat = Literal["python", "pytest"]
FORMATS: tuple[str, ...] = ("python", "pytest")
TRACES_ENV = "IOFOLD_TRACES_DIR"


def parse_format(value: str | None) -> ExportFormat:
    """``?format=``: python (default) or pytest; 400 otherwise."""
    value = value or "python"
    if value not in FORMATS:
        raise ValidationError("format must be python or pytest", [{"field": "format", "value": value[:50]}])
    return value  # type: ignore[return-value]


def export_filename(version: EvalVersion, fmt: ExportFormat) -> str:
    """test_<name>.py for pytest (so pytest collects it), <name>.py otherwise."""
    return f"test_{version.name}.py" if fmt == "pytest" else f"{version.name}.py"


def render_export(version: EvalVersion, *, eval_set_name: str, fmt: ExportFormat, exported_at: str | None = None) -> str:
    """The module text: header, the version's exact code, then the runner for ``fmt``."""
    doc = _docstring_text
    parent = f", parent {doc(version.parent_id)}" if version.parent_id else ""
    lines = [
        f'"""{doc(version.name)}: exported from iofold.',
        "",
        f"Eval set:  {doc(eval_set_name)} ({doc(version.eval_set_id)})",
        f"Version:   {version.version} ({doc(version.id)}, {doc(version.status)}, written by {doc(version.generator)}"
        f"{parent})",
        f"Metrics:   {doc(_metrics_line(version.metrics or {}))}",
        f"Exported:  {doc(exported_at or now_iso())}",
        "",
    ]
    if fmt == "pytest":
        lines += [
            "Run: pytest this_file.py  -- one test per trace file (a unified trace as JSON) in the folder named",
            f"by ${TRACES_ENV}, default ./traces next to this file. A test fails when the eval fails the trace.",
        ]
    else:
        lines += ["Run: python this_file.py trace.json [...]  -- prints PASS/FAIL and the reason per trace file."]
    lines += ['"""', "", version.code.rstrip("\n"), "", ""]
    runner = _PYTEST_RUNNER if fmt == "pytest" else _SCRIPT_RUNNER
    # Only the runner template is filled in: the code and header stay exactly as they are.
    runner_text = "\n".join(runner).replace("__EVAL__", _function_name(version)).replace("__ENV__", TRACES_ENV)
    return "\n".join([*lines, runner_text]) + "\n"


def _docstring_text(value: object) -> str:
    """A header value (records carry outside text, e.g. the set's name) made inert inside the docstring."""
    return inert(str(value), "docstring")


def _function_name(version: EvalVersion) -> str:
    """The eval function the runner calls: the name validation read from the code, so an identifier."""
    if not version.name.isidentifier() or keyword.iskeyword(version.name):
        raise Unprocessable(f"eval version {version.id} has no valid function name")
    return version.name


def _metrics_line(m: dict) -> str:
    if not m:
        return "not yet measured"
    parts = [f"n={m.get('n')}"]
    for key in ("accuracy", "cohen_kappa", "f1", "heldout_accuracy"):
        if m.get(key) is not None:
            parts.append(f"{key}={m[key]:.3f}")
    parts += [f"errors={m.get('errors', 0)}", f"timeouts={m.get('timeouts', 0)}"]
    return ", ".join(parts)


_PYTEST_RUNNER = [
    "import json as _json",
    "import os as _os",
    "import pathlib as _pathlib",
    "",
    "import pytest as _pytest",
    "",
    "_TRACES_DIR = _pathlib.Path(_os.environ.get(\"__ENV__\") or _pathlib.Path(__file__).parent / \"traces\")",
    "",
    "",
    "def _trace_files():",
    "    return sorted(_TRACES_DIR.glob(\"*.json\")) if _TRACES_DIR.is_dir() else []",
    "",
    "",
    "@_pytest.mark.parametrize(\"trace_file\", _trace_files(), ids=lambda p: p.stem)",
    "def test___EVAL__(trace_file):",
    "    verdict = __EVAL__(_json.loads(trace_file.read_text()))",
    "    assert isinstance(verdict, tuple) and len(verdict) == 2 and isinstance(verdict[0], bool), (",
    "        f\"__EVAL__ must return (bool, str), got {verdict!r}\")",
    "    passed, reason = verdict",
    "    assert passed, reason",
]

_SCRIPT_RUNNER = [
    "if __name__ == \"__main__\":",
    "    import json as _json",
    "    import sys as _sys",
    "",
    "    _failed = 0",
    "    for _path in _sys.argv[1:]:",
    "        with open(_path) as _f:",
    "            _passed, _reason = __EVAL__(_json.load(_f))",
    "        _failed += not _passed",
    "        print(f\"{'PASS' if _passed else 'FAIL'}  {_path}  {_reason}\")",
    "    _sys.exit(1 if _failed else 0)",
]


def export_version(workspace_id: str, eval_id: str, fmt_value: str | None, *, evals, eval_sets) -> tuple[str, str]:
    """(filename, module text) of a version of the caller's workspace."""
    fmt = parse_format(fmt_value)
    version = evals.get(workspace_id, eval_id)
    eval_set = eval_sets.get(workspace_id, version.eval_set_id)
    return export_filename(version, fmt), render_export(version, eval_set_name=eval_set.name, fmt=fmt)
