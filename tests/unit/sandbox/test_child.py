"""The child's policy pieces: module stand-ins, result checks, caps."""

from __future__ import annotations

import types

import pytest

from chalicelib.sandbox.child import (ALLOWED_MODULES, TRUNCATED, cap_text, check_result, make_standin,
                                      public_members, warm_imports)


@pytest.fixture(scope="module")
def standins():
    warm_imports()
    return {name: make_standin(name, public_members(name)) for name in ALLOWED_MODULES}


def test_standins_are_read_only(standins):
    with pytest.raises(AttributeError, match="read-only"):
        standins["json"].loads = lambda s: {}
    with pytest.raises(AttributeError, match="read-only"):
        del standins["re"].search


def test_missing_attribute_error_carries_the_standin_not_the_module(standins):
    with pytest.raises(AttributeError) as raised:
        standins["json"].codecs
    assert raised.value.obj is standins["json"]
    assert "<module" not in repr(raised.value.obj)


def test_no_public_attribute_walk_from_a_standin_reaches_a_module(standins):
    seen: set[int] = set()
    frontier = [(f"{name}", standin) for name, standin in standins.items()]
    for _depth in range(3):
        next_frontier = []
        for path, obj in frontier:
            for attr in dir(obj):
                if attr.startswith("_"):
                    continue
                try:
                    value = getattr(obj, attr)
                except Exception:  # descriptors that need an instance
                    continue
                assert not isinstance(value, types.ModuleType), f"{path}.{attr} is a module"
                if id(value) not in seen:
                    seen.add(id(value))
                    next_frontier.append((f"{path}.{attr}", value))
        frontier = next_frontier


def test_format_walkers_and_type_hint_evaluators_are_not_exposed(standins):
    assert not hasattr(standins["string"], "Formatter")
    assert not hasattr(standins["typing"], "get_type_hints")
    assert not hasattr(standins["typing"], "ForwardRef")
    assert not hasattr(standins["functools"], "singledispatch")


@pytest.mark.parametrize("value, expected", [
    ((True, "ok"), (True, "ok")),
    ((False, ""), (False, "")),
    ("yes", "invalid result: expected tuple[bool, str], got str"),
    ((1, "x"), "invalid result: expected tuple[bool, str], got tuple[int, str]"),
    ((True, "a", "b"), "invalid result: expected tuple[bool, str], got tuple"),
    ([True, "x"], "invalid result: expected tuple[bool, str], got list"),
])
def test_check_result_accepts_only_bool_str_pairs(value, expected):
    assert check_result(value) == expected


def test_cap_text_cuts_at_a_byte_limit_on_a_character_boundary():
    text = "é" * 100
    capped = cap_text(text, 51)
    assert len(capped.encode()) <= 51 and capped.endswith(TRUNCATED)
    assert cap_text("short", 51) == "short"
