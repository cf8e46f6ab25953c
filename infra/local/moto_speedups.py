"""Speed-ups of moto's DynamoDB for the local stack: the same answers with far fewer Python calls.

moto compares key values through ``DynamoType.cast_value``, a property that runs five type
checks before returning a string as it is, and every Query sorts all the items of its
partition (for a GSI, all matching items of the table) through those comparisons: a Query of
a 10,000-item partition costs ~0.3 s on the base table and ~0.6 s on a GSI, whatever its
``Limit``. Real DynamoDB answers the same Query in milliseconds, so without this the local
stack misstates how a design that pages by key behaves at scale.

Four patches, all leaving every answer unchanged:
- plain values (S, B, BOOL) compare and cast directly; other types take moto's own path;
- a Query reads only what it needs of the table's items: a base-table Query the partition of its
  hash key, sorted by range key; a GSI Query all items unsorted (it sorts its matches itself),
  and those matches, like every other listing of the table's items (a Scan), are sorted by each
  item's key values computed once instead of comparing tuples of DynamoType objects pairwise (a
  key attribute has one declared type, so the order is the same);
- the response serializer writes a DynamoDB AttributeValue of S, N, SS, NS, BOOL, NULL (and M
  and L of those) directly, as it would after walking it member by member through the service
  model; binary values (B, BS anywhere inside) take moto's own path.

moto is pinned (requirements-dev.txt). ``tests/local/test_moto_speedups.py`` runs the same
writes and Queries with and without the patches and requires identical answers, so a moto
upgrade that changes these internals fails there first.
"""

from __future__ import annotations

import threading
from typing import Any

from moto.core.serialize import BaseJSONSerializer
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import Table

_PLAIN = frozenset(("S", "B", "BOOL"))
_ORIGINAL: dict[str, Any] = {}


def _fast_cast_value(self: DynamoType) -> Any:
    if self.type in _PLAIN:
        return self.value
    return _ORIGINAL["cast_value"].fget(self)


def _comparison(name: str, plain):
    original = _ORIGINAL[name]

    def compare(self: DynamoType, other: Any) -> bool:
        kind = self.type
        if kind in _PLAIN and type(other) is DynamoType and other.type == kind:
            return plain(self.value, other.value)
        return original(self, other)

    compare.__name__ = name
    return compare


def _sorted_items(self: Table, hash_key_attrs: list[str], range_key_attrs: list[str | None],
                  items: list[Any]) -> list[Any]:
    names = self._generate_attr_to_sort_by(hash_key_attrs, range_key_attrs)
    items.sort(key=lambda item: tuple(item.attrs[name].cast_value for name in names))
    return items


_QUERY = threading.local()  # what the Query running on this thread needs of all_items()


def _query(self: Table, *args: Any, **kwargs: Any) -> Any:
    """Table.query, telling all_items() what this Query reads: the GSI path sorts its matches itself,
    and the base-table path keeps only one partition's items and sorts them by range key."""
    index_name = args[7] if len(args) > 7 else kwargs.get("index_name")
    _QUERY.scope = "any order" if index_name else ("partition", args[0] if args else kwargs.get("hash_key"))
    try:
        return _ORIGINAL["query"](self, *args, **kwargs)
    finally:
        _QUERY.scope = None


def _all_items(self: Table) -> list[Any]:
    scope = getattr(_QUERY, "scope", None)
    _QUERY.scope = None  # only the Query's own first call
    if isinstance(scope, tuple) and scope[1] is not None:
        found = self.items.get(scope[1])
        if found is None:
            return []
        if not self.range_key_attr:
            return [found]
        return sorted(found.values(), key=lambda x: x.range_key.cast_value)
    items: list[Any] = []
    for hash_set in self.items.values():
        if self.range_key_attr:
            items.extend(hash_set.values())
        else:
            items.append(hash_set)
    if scope == "any order":
        return items
    return sorted(items, key=lambda x: (x.hash_key.cast_value, x.range_key.cast_value) if x.range_key
                  else x.hash_key.cast_value)


_UNHANDLED = object()


def _wire(value: Any) -> Any:
    """An AttributeValue as moto's JSON serializer writes it, for S, N, SS, NS, BOOL, NULL and M and L
    of those; ``_UNHANDLED`` for anything else (B, BS), which then takes moto's own path."""
    if type(value) is not dict or len(value) != 1:
        return _UNHANDLED
    kind, inner = next(iter(value.items()))
    if kind in ("S", "N"):
        return value if type(inner) is str else _UNHANDLED
    if kind in ("BOOL", "NULL"):
        return value if type(inner) is bool else _UNHANDLED
    if kind in ("SS", "NS"):
        return value if type(inner) is list and all(type(x) is str for x in inner) else _UNHANDLED
    if kind == "L" and type(inner) is list:
        items = [_wire(x) for x in inner]
        return _UNHANDLED if any(x is _UNHANDLED for x in items) else {"L": items}
    if kind == "M" and type(inner) is dict:
        members = {k: _wire(x) for k, x in inner.items()}
        return _UNHANDLED if any(x is _UNHANDLED for x in members.values()) else {"M": members}
    return _UNHANDLED


_ATTRIBUTE_VALUE_MEMBERS = frozenset(("S", "N", "B", "SS", "NS", "BS", "M", "L", "NULL", "BOOL"))


def _serialize_type_structure(self: BaseJSONSerializer, serialized: Any, value: Any, shape: Any, key: str) -> None:
    if key and shape.name == "AttributeValue" and set(shape.members) == _ATTRIBUTE_VALUE_MEMBERS:
        wire = _wire(value)
        if wire is not _UNHANDLED:
            self._default_serialize(serialized, wire, shape, key)
            return
    _ORIGINAL["_serialize_type_structure"](self, serialized, value, shape, key)


_TABLE_PATCHES = {"sorted_items": _sorted_items, "all_items": _all_items, "query": _query}
_COMPARISONS = {
    "__eq__": lambda a, b: a == b, "__ne__": lambda a, b: a != b, "__lt__": lambda a, b: a < b,
    "__le__": lambda a, b: a <= b, "__gt__": lambda a, b: a > b, "__ge__": lambda a, b: a >= b,
}


def install() -> None:
    """Patch moto in this process (idempotent)."""
    if _ORIGINAL:
        return
    _ORIGINAL["cast_value"] = DynamoType.__dict__["cast_value"]
    for name in _TABLE_PATCHES:
        _ORIGINAL[name] = Table.__dict__[name]
    for name in _COMPARISONS:
        _ORIGINAL[name] = DynamoType.__dict__[name]
    _ORIGINAL["_serialize_type_structure"] = BaseJSONSerializer.__dict__["_serialize_type_structure"]
    BaseJSONSerializer._serialize_type_structure = _serialize_type_structure  # type: ignore[method-assign]
    DynamoType.cast_value = property(_fast_cast_value)  # type: ignore[method-assign,assignment]
    for name, plain in _COMPARISONS.items():
        setattr(DynamoType, name, _comparison(name, plain))
    for name, patch in _TABLE_PATCHES.items():
        setattr(Table, name, patch)


def uninstall() -> None:
    """Put moto back as it was (for the comparison test and the benchmark)."""
    if not _ORIGINAL:
        return
    for name, value in _ORIGINAL.items():
        owner = Table if name in _TABLE_PATCHES else BaseJSONSerializer if name.startswith("_serialize") else DynamoType
        setattr(owner, name, value)
    _ORIGINAL.clear()


def installed() -> bool:
    return bool(_ORIGINAL)
