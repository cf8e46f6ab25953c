"""The one door through which outside text enters generated or exported code.

Trace content (tool names, messages, errors), rating notes, eval-set names and criteria are
written into Python that runs in the sandbox and, once exported, in the user's CI. A tool name
holding a newline once ended a ``#`` comment and planted ``return True`` in an offline eval.
Every such string goes through ``inert(text, context)``, which makes it unable to change the
code around it:

- ``literal``: a Python string literal that evaluates to exactly ``text`` (``repr``, double
  quotes when that needs no escape). It escapes every non-printable character, so no line
  break, NUL or surrogate reaches the source as such.
- ``comment``: one line of plain text for after a ``#``: every control, format, surrogate and
  line/paragraph separator character (all the line breaks Python's tokenizer or
  ``str.splitlines`` honour: ``\\n \\r \\f \\v \\x1c-\\x1e \\x85 \\u2028 \\u2029``, NUL, and the
  bidi overrides that make code read differently than it runs) becomes a space, runs of spaces
  collapse, and ``coding:``/``coding=`` is broken up so it can never act as a PEP 263 encoding
  declaration (``# coding: utf-7`` on line 1 or 2 would let ``+AAo-`` decode to a newline).
- ``docstring``: the comment text with ``\\`` and ``"`` escaped, for inside a ``\"\"\"`` string:
  it cannot close the string or start an invalid escape.
- ``name``: a snake_case ASCII fragment (``[a-z0-9]`` words joined by single ``_``) for use
  after a prefix such as ``eval_``; empty when nothing usable is left.

``limit`` cuts the cleaned text (comment, docstring, name) before escaping, so an escape is
never cut in half.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Literal

Context = Literal["literal", "comment", "docstring", "name"]

# Cc: C0/C1 controls (NUL, \t \n \v \f \r, \x1c-\x1f, \x85 ...); Cf: format (bidi overrides, BOM,
# zero-width); Cs: lone surrogates (not encodable as UTF-8); Zl/Zp: \u2028 \u2029.
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
_CODING_COOKIE = re.compile(r"coding([:=])", re.IGNORECASE)


def inert(text: str, context: Context, *, limit: int | None = None) -> str:
    """``text`` made unable to change the code around it, for ``context`` (see the module docstring)."""
    if not isinstance(text, str):
        raise TypeError(f"inert() takes text, not {type(text).__name__}")
    if context == "literal":
        quoted = repr(text)
        # repr picks single quotes unless text holds ' and no "; with neither quote inside, swap for house style.
        if quoted[0] == "'" and '"' not in text and "'" not in text:
            quoted = '"' + quoted[1:-1] + '"'
        return quoted
    if context == "name":
        ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
        return "_".join(re.findall(r"[a-z0-9]+", ascii_text))[:limit].strip("_")
    line = " ".join("".join(" " if unicodedata.category(c) in _UNSAFE_CATEGORIES else c for c in text).split())
    line = _CODING_COOKIE.sub(r"coding \1", line[:limit])
    if context == "comment":
        return line
    if context == "docstring":
        return line.replace("\\", "\\\\").replace('"', '\\"')
    raise ValueError(f"unknown context {context!r}")


def string_constants(code: str) -> list[str]:
    """Every ``str`` constant in ``code`` but docstrings (empty when it does not parse): what the code
    can act on, unlike comments, docstrings and identifiers, in which a trace id merely spelled
    would not make the code depend on that trace."""
    import ast

    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return []
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.body
                  and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)}
    return [n.value for n in ast.walk(tree)
            if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docstrings]
