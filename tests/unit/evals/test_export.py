"""The exported module's text: a header with the set, version and metrics, the exact code, a runner."""

import ast

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.codegen import inert
from chalicelib.errors import Unprocessable, ValidationError
from chalicelib.evals.export import export_filename, parse_format, render_export
from chalicelib.evals.models import EvalVersion
from tests.hostile import compile_as_file, hostile_text, skeleton

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


@pytest.mark.slow
@settings(max_examples=150, deadline=None)
@given(st.sampled_from(["python", "pytest"]), hostile_text, hostile_text, hostile_text)
def test_any_set_name_or_record_text_stays_inside_the_header(fmt, set_name, generator, parent_id):
    version = VERSION.model_copy(update={"generator": generator, "parent_id": parent_id, "eval_set_id": parent_id})
    plain = VERSION.model_copy(update={"generator": "g", "parent_id": "p", "eval_set_id": "p"})
    text = render_export(version, eval_set_name=set_name, fmt=fmt, exported_at=generator)
    compile_as_file(text)
    assert skeleton(text) == skeleton(render_export(plain, eval_set_name="s", fmt=fmt, exported_at="t"))
    assert f"Eval set:  {inert(set_name, 'comment')} (" in ast.get_docstring(ast.parse(text))
    assert CODE.strip() in text


def test_the_code_and_the_set_name_are_exported_exactly_even_with_template_markers():
    code = CODE.replace("'ok'", "'__EVAL__ and __ENV__'")
    text = render_export(VERSION.model_copy(update={"code": code}), eval_set_name="__EVAL__", fmt="pytest")
    assert code.strip() in text and "Eval set:  __EVAL__ (es_1)" in text
    assert "def test_eval_polite(trace_file):" in text


def test_a_version_whose_name_is_not_an_identifier_is_not_exported():
    with pytest.raises(Unprocessable):
        render_export(VERSION.model_copy(update={"name": "eval_x(): pass\nimport os"}), eval_set_name="s", fmt="python")
