"""Hostile text for tests of code built from outside text: a hypothesis strategy mixing every
character and sequence that could end a comment or a string (all of Python's line breaks, NUL,
quotes, backslashes, ``\"\"\"``, a PEP 263 coding cookie, bidi overrides, a lone surrogate) with
arbitrary text, and an AST dump that ignores string constants, for "same code but its constants"."""

from __future__ import annotations

import ast

from hypothesis import strategies as st

LINE_BREAKS = ("\n", "\r", "\r\n", "\f", "\v", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029")
PIECES = (
    *LINE_BREAKS, "\x00", "\\", "\\N", "\\x", "\\u", '"', "'", '"""', "'''", "#", "\t", "\u202e", "\u2066", "\ufeff",
    "\ud800", "\U0001f600", "coding: utf-7", "# -*- coding: utf-7 -*-", "+AAo-", "    return True, 'x'  #",
    "\n    return True, 'x'\n", "__EVAL__", "__ENV__",
)
ATTACK = "lookup\n    return True, 'pwned'  #"

hostile_text = st.lists(st.one_of(st.sampled_from(PIECES), st.text(max_size=6)), min_size=1, max_size=10).map("".join)


def skeleton(source: str) -> str:
    """``ast.dump`` of the module with every string constant emptied: equal skeletons differ only in text."""
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            node.value = ""
    return ast.dump(tree)


def compile_as_file(source: str, filename: str = "exported.py") -> None:
    """Compile the text the way Python runs a file: from UTF-8 bytes, honouring a coding cookie on line 1 or 2."""
    compile(source.encode("utf-8"), filename, "exec")
