"""JSON from outside, parsed with a nesting limit.

``json.loads`` recurses in C and raises RecursionError past about 1,000 levels (100,000 ``[``
do it at once), and a document just under that breaks whatever walks it next (pydantic,
``json.dumps``, boto3's serializer, the sandbox child). Request bodies and uploaded lines are
parsed here, so a deep document is a clear error instead of a crash.
"""

from __future__ import annotations

import json
from typing import Any

MAX_JSON_DEPTH = 128  # real traces nest a few dozen levels at most


class JsonTooDeep(ValueError):
    """The document nests arrays/objects deeper than the limit."""

    def __init__(self, limit: int):
        super().__init__(f"JSON nested deeper than {limit} levels")
        self.msg = str(self)


def loads_bounded(text: str | bytes, *, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """``json.loads``, refusing documents nested deeper than ``max_depth`` (JsonTooDeep)."""
    try:
        doc = json.loads(text)
    except RecursionError:
        raise JsonTooDeep(max_depth) from None
    if nesting_exceeds(doc, max_depth):
        raise JsonTooDeep(max_depth)
    return doc


def nesting_exceeds(doc: Any, limit: int) -> bool:
    """True when lists/dicts in ``doc`` nest deeper than ``limit`` (iterative: no recursion)."""
    stack = [(doc, 1)] if isinstance(doc, (dict, list)) else []
    while stack:
        value, level = stack.pop()
        children = value.values() if isinstance(value, dict) else value
        if level > limit:
            return True
        stack.extend((child, level + 1) for child in children if isinstance(child, (dict, list)))
    return False
