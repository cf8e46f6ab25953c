"""inert(): outside text put in code as a literal, a comment, a docstring line or a name never becomes code."""

from __future__ import annotations

import ast
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.codegen import inert
from tests.hostile import LINE_BREAKS, compile_as_file, hostile_text

PROPERTY = settings(max_examples=200, deadline=None)


@pytest.mark.slow
@PROPERTY
@given(hostile_text)
def test_a_literal_evaluates_to_exactly_the_text(text):
    source = f"x = {inert(text, 'literal')}\ny = 1\n"
    compile_as_file(source)
    tree = ast.parse(source)
    assert [type(n).__name__ for n in tree.body] == ["Assign", "Assign"]
    assert ast.literal_eval(inert(text, "literal")) == text
    assert not any(brk in inert(text, "literal") for brk in LINE_BREAKS)


@pytest.mark.slow
@PROPERTY
@given(hostile_text, st.sampled_from(["line 1", "line 3"]))
def test_a_comment_stays_one_comment_even_on_the_coding_cookie_lines(text, where):
    comment = f"# {inert(text, 'comment')}\n"
    body = "x = 1\n"
    source = comment + body if where == "line 1" else "y = 0\nz = 0\n" + comment + body
    compile_as_file(source)  # from bytes: a cookie on line 1 or 2 would change how the file decodes
    assert ast.dump(ast.parse(source)) == ast.dump(ast.parse(source.replace(comment, "")))
    assert len(comment.splitlines()) == 1 and "\x00" not in comment


@pytest.mark.slow
@PROPERTY
@given(hostile_text)
def test_a_docstring_line_keeps_the_cleaned_text_and_cannot_end_the_string(text):
    body = inert(text, "docstring")
    source = f'"""Header.\n\nName:  {body} (id)\n"""\n\nx = 1\n'
    compile_as_file(source)
    tree = ast.parse(source)
    assert [type(n).__name__ for n in tree.body] == ["Expr", "Assign"]
    assert ast.get_docstring(tree, clean=False) == f"Header.\n\nName:  {inert(text, 'comment')} (id)\n"


def test_comment_text_drops_every_line_break_python_or_splitlines_honours():
    for brk in (*LINE_BREAKS, "\x00", "\u202e", "\ud800"):
        assert inert(f"a{brk}b", "comment") == "a b"
    assert inert("see  \n the\tdocs ", "comment") == "see the docs"
    assert inert("# -*- coding: utf-7 -*-", "comment") == "# -*- coding : utf-7 -*-"
    assert inert("'quoted' \\ \"text\"", "comment") == "'quoted' \\ \"text\""


def test_docstring_text_escapes_backslashes_and_double_quotes_only():
    assert inert('Polite """ \\N replies', "docstring") == 'Polite \\"\\"\\" \\\\N replies'
    assert inert("it's fine", "docstring") == "it's fine"


def test_literals_keep_the_house_double_quotes_when_they_can():
    assert inert("refund", "literal") == '"refund"'
    assert inert("don't", "literal") == '"don\'t"'
    assert inert("say \"hi\"", "literal") == "'say \"hi\"'"
    assert inert("a\u2028b", "literal") == '"a\\u2028b"'


@pytest.mark.slow
@PROPERTY
@given(st.text())
def test_a_name_is_a_snake_case_ascii_fragment(text):
    name = inert(text, "name", limit=40)
    assert name == "" or re.fullmatch(r"[a-z0-9]+(_[a-z0-9]+)*", name)
    assert len(name) <= 40 and ("eval_" + name).isidentifier()


def test_names_keep_letters_and_digits_of_any_script_they_can_spell_in_ascii():
    assert inert("Café refunds: 2024!", "name") == "cafe_refunds_2024"
    assert inert("x²", "name") == "x2"
    assert inert("日本語", "name") == ""


def test_limits_apply_before_escaping_and_only_text_is_accepted():
    assert inert('"' * 10, "docstring", limit=3) == '\\"\\"\\"'
    with pytest.raises(TypeError):
        inert(3, "literal")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        inert("x", "shell")  # type: ignore[arg-type]
