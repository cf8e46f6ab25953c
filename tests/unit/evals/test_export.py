"""The exported module's text: a header with the set, version and metrics, the exact code, a runner."""

import ast

import pytest

from chalicelib.errors import ValidationError
from chalicelib.evals.export import export_filename, parse_format, render_export
from chalicelib.evals.models import EvalVersion

CODE = "import re\n\n\ndef eval_polite(trace: dict) -> tuple[bool, str]:\n    return True, 'ok'\n"
VERSION = EvalVersion(id="ev_1", eval_set_id="es_1", version=4, parent_id="ev_0", status="active", name="eval_polite",
                      code=CODE, generator="human", created_by="k", created_at="2025",
                      metrics={"n": 40, "accuracy": 0.9, "cohen_kappa": 0.8, "errors": 1, "timeouts": 0})


def test_pytest_flavour_has_the_header_code_and_a_parametrized_test():
    text = render_export(VERSION, eval_set_name='Polite """ replies', fmt="pytest", exported_at="2025-05-01T00:00:00Z")
    assert 'Eval set:  Polite """ replies (es_1)' in ast.get_docstring(ast.parse(text))
    assert "Version:   4 (ev_1, active, written by human, parent ev_0)" in text
    assert "n=40, accuracy=0.900, cohen_kappa=0.800, errors=1, timeouts=0" in text
    assert "Exported:  2025-05-01T00:00:00Z" in text and CODE.strip() in text
    assert "def test_eval_polite(trace_file):" in text and "IOFOLD_TRACES_DIR" in text
    assert export_filename(VERSION, "pytest") == "test_eval_polite.py"


def test_python_flavour_is_a_script_without_pytest():
    text = render_export(VERSION, eval_set_name="s", fmt="python")
    compile(text, "exported.py", "exec")
    assert "import pytest" not in text and 'if __name__ == "__main__":' in text
    assert export_filename(VERSION, "python") == "eval_polite.py"


def test_unknown_format_is_refused():
    assert parse_format(None) == "python" and parse_format("pytest") == "pytest"
    with pytest.raises(ValidationError):
        parse_format("ruby")
