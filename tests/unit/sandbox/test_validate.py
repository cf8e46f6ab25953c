"""Static validation: ordinary eval code passes, escape shapes are refused with their line."""

from __future__ import annotations

import pytest

from chalicelib.errors import CodeRejected
from chalicelib.sandbox.validate import MAX_SOURCE_BYTES, validate_code

REALISTIC = '''"""Refunds must follow an order lookup."""
import json
import re
from collections import Counter, defaultdict
from datetime import datetime, timedelta
from typing import Any
import statistics, math, itertools, functools, string, difflib

REFUND_TOOLS = ("refund", "cancel_reservation")
APOLOGY = re.compile(r"\\b(sorry|apolog\\w+)\\b", re.IGNORECASE)
LIMITS = {"max_steps": 40, "ratio": 1 / 3}


def tool_names(trace: dict) -> list[str]:
    return [call.get("name", "") for step in trace.get("steps", []) for call in step.get("tool_calls", [])]


def eval_refund_policy(trace: dict[str, Any]) -> tuple[bool, str]:
    names = tool_names(trace)
    counts = Counter(names)
    by_type = defaultdict(list)
    for step in trace.get("steps", []):
        by_type[step.get("type")].append(step)
    match trace.get("outcome"):
        case {"status": "ok", **rest}:
            status = "ok"
        case [first, *_]:
            status = str(first)
        case str() as text if text:
            status = text
        case _:
            status = "unknown"
    answer = trace.get("final_answer") or ""
    apologised = bool(APOLOGY.search(answer))
    total = sum(len(json.dumps(s)) for s in trace.get("steps", []))
    mean = statistics.mean([1, 2, 3]) if names else 0.0
    when = datetime.fromisoformat("2024-01-01T00:00:00") + timedelta(days=1)
    close = difflib.get_close_matches("refnd", names)
    pairs = list(itertools.pairwise(names))
    width = functools.reduce(lambda a, b: a + b, [1, 2], 0)
    if (n := counts.get("refund", 0)) and "get_order" not in names[: names.index("refund")]:
        return False, f"refund issued without checking the order ({n} refunds, {status})"
    try:
        value = int(trace.get("metadata", {}).get("score", "0"))
    except (ValueError, TypeError) as error:
        return False, f"bad score: {error!r}"
    ok = all(x in string.ascii_letters + "_" for x in "ab") and not math.isnan(mean)
    return ok, f"{len(names)} tools, {total} bytes, {apologised=}, {when:%Y}, {close}, {pairs[:1]}, {width:>3}"
'''


def test_realistic_eval_is_accepted_and_its_name_returned():
    assert validate_code(REALISTIC) == "eval_refund_policy"


@pytest.mark.parametrize("code, line, words", [
    ("def eval_x(trace):\n    return (True, trace.__class__)\n", 2, "__class__"),
    ("import json\n\ndef eval_x(trace):\n    x = 1\n    return (True, json.sys)\n", 5, "'sys'"),
    ("def eval_x(trace):\n    a = 1\n    b = 2\n    return (True, '{0}'.format(a))\n", 4, "'format'"),
    ("def eval_x(trace):\n    return (True, open('/etc/passwd').read())\n", 2, "'open'"),
    ("import os\ndef eval_x(trace):\n    return (True, '')\n", 1, "import of 'os'"),
    ("from json import decoder\ndef eval_x(trace):\n    return (True, '')\n", 1, "json.decoder"),
    ("from json import *\ndef eval_x(trace):\n    return (True, '')\n", 1, "star imports"),
    ("from . import x\ndef eval_x(trace):\n    return (True, '')\n", 1, "not allowed"),
    ("def eval_x(trace):\n    g = (i for i in [1])\n    return (True, str(g.gi_code))\n", 3, "gi_code"),
    ("def eval_x(trace):\n    match trace:\n        case dict(f_back=x):\n            pass\n    return (True, '')\n", 3, "f_back"),
    ("def helper(x: 'evil()') -> int:\n    return 1\ndef eval_x(trace):\n    return (True, '')\n", 1, "string annotations"),
    ("def eval_x(trace) -> 'tuple':\n    return (True, '')\n", 1, "string annotations"),
    ("class A:\n    pass\ndef eval_x(trace):\n    return (True, '')\n", 1, "class definitions"),
    ("def eval_x(trace):\n    yield 1\n", 2, "yield"),
    ("def eval_x(trace):\n    with trace as t:\n        pass\n", 2, "with statements"),
    ("def eval_x(trace):\n    global X\n    return (True, '')\n", 2, "global"),
    ("X = [i for i in range(3)]\ndef eval_x(trace):\n    return (True, '')\n", 1, "top level"),
    ("print('hi')\ndef eval_x(trace):\n    return (True, '')\n", 1, "top level"),
    ("def eval_x(trace):\n    return (True, '')\ndef eval_y(trace):\n    return (True, '')\n", 3, "more than one"),
    ("def eval_x(trace):\n    _private = 1\n    return (True, '')\n", 2, "underscore"),
    ("def eval_x(trace):\n    return (True, type(trace).mro())\n", 2, "not allowed"),
    ("def eval_x(trace):\n  return (True, ''\n", 2, "syntax error"),
])
def test_escape_shapes_are_rejected_at_their_line(code, line, words):
    with pytest.raises(CodeRejected) as raised:
        validate_code(code)
    assert raised.value.line == line
    assert words in raised.value.reason


def test_code_without_an_eval_function_is_rejected():
    with pytest.raises(CodeRejected, match="no top-level"):
        validate_code("def check(trace):\n    return (True, '')\n")


def test_oversized_code_is_rejected_before_parsing():
    code = "def eval_x(trace):\n    return (True, '" + "a" * MAX_SOURCE_BYTES + "')\n"
    with pytest.raises(CodeRejected, match="larger than 20 KB") as raised:
        validate_code(code)
    assert raised.value.line is None


def test_single_underscore_throwaway_name_is_allowed():
    assert validate_code("def eval_x(trace):\n    for _ in range(2):\n        pass\n    return (True, '')\n") == "eval_x"


def test_top_level_constants_and_compiled_patterns_are_allowed():
    code = ("import re\nWORDS = frozenset({'a', 'b'})\nPAT = re.compile(r'x+', re.I)\nN: int = 2 ** 4\n"
            "def eval_x(trace):\n    return (bool(PAT.search('xx')), str(N))\n")
    assert validate_code(code) == "eval_x"
