"""Speed-ups of moto's DynamoDB for the local stack: the same answers with far fewer Python calls.

moto compares key values through ``DynamoType.cast_value``, a property that runs five type
checks before returning a string as it is, and every Query sorts all the items of its
partition (for a GSI, all matching items of the table) through those comparisons: a Query of
a 10,000-item partition costs ~0.3 s on the base table and ~0.6 s on a GSI, whatever its
``Limit``. Real DynamoDB answers the same Query in milliseconds, so without this the local
stack misstates how a design that pages by key behaves at scale.

Patches, all leaving every answer unchanged (failed transactions aside: see below):
- plain values (S, B, BOOL) compare and cast directly; other types take moto's own path;
- every DynamoDB response's items turn into the serializer's input without an import statement per
  value (moto's dynamo_to_dict imports DynamoType inside itself, and recurses once per value);
- a value's size (what the 400 KB item limit, every Item built and a Query's 1 MB page count) is summed
  directly: moto re-wrapped every member of a map in a new DynamoType (recursively) to measure it;
- a Query reads only what it needs of the table's items: a base-table Query the partition of its
  hash key, sorted by range key; a GSI Query all items unsorted (it sorts its matches itself),
  and those matches, like every other listing of the table's items (a Scan), are sorted by each
  item's key values computed once instead of comparing tuples of DynamoType objects pairwise (a
  key attribute has one declared type, so the order is the same); a Query's sorted candidates
  then start after its ExclusiveStartKey (found by bisection: Table.query would skip those one
  comparison at a time) and, when only its Limit can stop it (no range condition, no filter),
  end at Limit + 1, so paging through a partition of N items costs O(N log N) per page in C
  instead of O(N) Python comparisons;
- the response serializer writes a DynamoDB AttributeValue of S, N, B, SS, NS, BS, BOOL, NULL (and
  M and L of those) directly, as it would after walking it member by member through the service
  model (trace items carry their gzipped body as B: every trace read takes this path);
- a ProjectionExpression (and a GSI's KEYS_ONLY or INCLUDE projection) turns into plain JSON only the
  top-level attributes its paths name, once, instead of the whole item once per path (a trace item's
  gzipped body was base64-encoded and decoded for every projected summary field);
- a Query whose results are all replaced by projected copies (a ProjectionExpression, or a GSI that
  projects less than ALL) skips moto's deep copy of every matching item first (the projection copies
  what it keeps);
- a TransactWriteItems call keeps a copy of the items it names, not of every table it touches (moto
  deep-copied the whole table first: the jobs table with every job's markers, per execute chunk), and
  when it fails puts back only those items, where moto put back the whole copied table and so undid
  every other request's writes to that table made meanwhile (and its deep copy failed with "dictionary
  changed size during iteration" when another request wrote to the table during the copy);
- a GSI Query keeps the sorted matches of its first page on the table, and the next pages (same index
  and hash key) bisect into that order instead of walking and sorting the whole table again; any
  put, delete or update in the table drops it (listing N traces page by page was O(N^2));
- a GSI Query with a ProjectionExpression of plain top-level names projects each match onto the index's
  attributes that the expression names, not onto every attribute the index holds first (listing trace ids
  from ``by_time`` deep-copied each trace's summary map only to drop it again), and measures each match
  once (Table.query asked for an item's size twice: for the 1 MB page limit and for the running total);
- a Lambda Invoke takes its Qualifier from the query string and the path only: moto also looked for a
  ``qualifier`` key in the invoke's payload, parsing the whole payload as JSON first (a sandbox call
  carries ~2 MB of traces), and so also ran a function version named by the event's own data;
- the server's dispatcher finds a request's service among moto's service packages once: it listed moto's
  folder and stat-ed each of its ~200 entries on every request (``backends.list_of_moto_modules``): about
  4% of the stack's GIL-holding samples during an execute run (py-spy, session 8).

moto is pinned (requirements-dev.txt). ``tests/local/test_moto_speedups.py`` runs the same
writes and Queries with and without the patches and requires identical answers, so a moto
upgrade that changes these internals fails there first.
"""

from __future__ import annotations

import base64
import bisect
import copy
import re
import threading
from dataclasses import dataclass
from typing import Any

from moto.core.serialize import BaseJSONSerializer
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.utils import merge_dicts
from moto.dynamodb.models.dynamo_type import DynamoType, Item
from moto.dynamodb.models.utilities import bytesize, find_nested_key
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb import models as backend_module
from moto.dynamodb import responses as responses_module
from moto.dynamodb.models import table as table_module
from moto.dynamodb.models import utilities as utilities_module
from moto.dynamodb.models.table import SecondaryIndex, Table
from moto.awslambda.responses import LambdaResponse
from moto.core.responses import BaseResponse
from moto import backends as backends_module

_PLAIN = frozenset(("S", "B", "BOOL"))
_ORIGINAL: dict[str, Any] = {}


def _fast_cast_value(self: DynamoType) -> Any:
    if self.type in _PLAIN:
        return self.value
    return _ORIGINAL["cast_value"].fget(self)


def _fast_size(self: DynamoType) -> int:
    """DynamoType.size without re-wrapping a map's members (the same number)."""
    kind, value = self.type, self.value
    if kind == "N":
        return len(str(value))
    if kind in ("SS", "BS"):
        return sum(bytesize(v) for v in value)
    if kind == "NS":
        return sum(len(str(v)) for v in value)
    if kind == "L":
        return sum(v.size() for v in value)
    if kind == "M":
        return sum(bytesize(k) + (v.size() if type(v) is DynamoType else DynamoType(v).size())
                   for k, v in value.items())
    if isinstance(value, bool):
        return 1
    return bytesize(value)


_PASS_THROUGH = (str, int, float, bool, type(None), bytes)


def _dynamo_to_dict(obj: Any) -> Any:
    """moto's utilities.dynamo_to_dict (the same result), without its import per call: plain containers and
    values by their exact type; anything else takes moto's own function (which recurses through this one)."""
    kind = type(obj)
    if kind is DynamoType:
        if obj.type == "B":
            return {"B": obj.value if isinstance(obj.value, bytes) else base64.b64decode(obj.value)}
        if obj.type == "BS":
            return {"BS": [v if isinstance(v, bytes) else base64.b64decode(v) for v in obj.value]}
        return {obj.type: _dynamo_to_dict(obj.value)}
    if kind is dict:
        return {k: _dynamo_to_dict(v) for k, v in obj.items()}
    if kind is list:
        return [_dynamo_to_dict(v) for v in obj]
    if kind in _PASS_THROUGH:
        return obj
    return _ORIGINAL["dynamo_to_dict"](obj)


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
    keyed = sorted(((tuple(item.attrs[name].cast_value for name in names), item) for item in items),
                   key=lambda pair: pair[0])
    page = getattr(_QUERY, "page", None)
    _QUERY.page = None  # only the Query's own call
    if page is None:
        items[:] = [item for _, item in keyed]
        return items
    gsi = getattr(_QUERY, "gsi", None)
    _QUERY.gsi = None
    if gsi is not None and gsi[1] == "miss":  # all of the index's matches: keep their order for the next pages
        # the version read when the Query began: a write finishing meanwhile (it bumps after) makes this stale
        self.__dict__.setdefault("_iofold_gsi_order", {})[gsi[0]] = (gsi[2], names, keyed)
    items[:] = _reachable(keyed, _start_tuple(page, names), page)
    return items


@dataclass(frozen=True)
class _Page:
    """What a Query asked that lets it skip work: its start key, direction, and Limit when nothing
    but the Limit stops it early (no range condition, no filter)."""

    start: dict | None
    forward: bool
    limit: int | None


def _start_tuple(page: _Page, names: list[str]) -> tuple | None:
    """The ExclusiveStartKey's values in the order items are sorted by, or None (no start, or a key lacking one)."""
    if not page.start or any(name not in page.start for name in names):
        return None
    return tuple(DynamoType(page.start[name]).cast_value for name in names)


def _reachable(keyed: list[tuple[Any, Any]], start: Any, page: _Page) -> list[Any]:
    """The items of ``keyed`` (sorted (key, item) pairs) a Query page can reach: after ``start`` in its
    direction (bisected), then at most Limit + 1 (see :func:`_window`)."""
    low, high = 0, len(keyed)
    if start is not None:
        keys = [key for key, _ in keyed]
        if page.forward:
            low = bisect.bisect_right(keys, start)
        else:
            high = bisect.bisect_left(keys, start)
    low, high = _window(page, low, high)
    return [item for _, item in keyed[low:high]]


def _window(page: _Page, low: int, high: int) -> tuple[int, int]:
    """The part of the sorted candidates [low, high) a Query can reach: Table.query skips what lies at or
    before the start key itself (removed already) and stops after Limit items, so Limit + 1 candidates
    (the one after the last tells it there are more) give the same page, in the Query's direction."""
    if page.limit is None:
        return low, high
    if page.forward:
        return low, min(high, low + page.limit + 1)
    return max(low, high - page.limit - 1), high


_QUERY = threading.local()  # what the Query running on this thread needs of all_items()


_LATER = {"on": True}  # the speed-ups added for bench/scale.py (paging, projection, blobs); off to compare


def use_later_speedups(enabled: bool) -> None:
    """Switch the Query paging shortcut, the kept GSI order, the single-pass projection and the direct
    blob serialization on or off (bench/scale.py measures execute with and without them in one run)."""
    _LATER["on"] = enabled
    if _ORIGINAL:
        Item.project = _project if enabled else _ORIGINAL["project"]  # type: ignore[method-assign]


_QUERY_ARGS = ("hash_key", "range_comparison", "range_objs", "limit", "exclusive_start_key", "scan_index_forward",
               "projection_expressions", "index_name", "consistent_read", "filter_expression")


def _query(self: Table, *args: Any, **kwargs: Any) -> Any:
    """Table.query, telling all_items() and sorted_items() what this Query reads: the GSI path sorts its
    matches itself, the base-table path keeps only one partition's items sorted by range key; both
    drop the candidates before the start key, and past Limit + 1 when only the Limit can stop the Query."""
    given = dict(zip(_QUERY_ARGS, args))
    given.update({k: v for k, v in kwargs.items() if k in _QUERY_ARGS})
    extra = {k: v for k, v in kwargs.items() if k not in _QUERY_ARGS}
    only_limit = (given.get("range_comparison") is None and not extra.get("range_key_conditions")
                  and not {k for k in extra if k not in ("hash_key_conditions", "range_key_conditions")})
    _QUERY.page = _Page(start=given.get("exclusive_start_key") or None,
                        forward=given.get("scan_index_forward", True) is not False,
                        limit=given.get("limit") if only_limit else None) if _LATER["on"] else None
    _QUERY.scope = "any order" if given.get("index_name") else ("partition", given.get("hash_key"))
    conditions = extra.get("hash_key_conditions")
    _QUERY.gsi = None
    if _QUERY.page is not None and given.get("index_name") and conditions and len(extra.get("range_key_conditions") or ()) <= 1:
        _QUERY.gsi = ((given["index_name"], tuple((name, _hashable(value)) for name, value in conditions)), "ask",
                      _version(self))
    _QUERY.projected = _LATER["on"] and _replaced_by_projection(self, given)
    _QUERY.names = _plain_names(given.get("projection_expressions")) if _EXECUTE["on"] and given.get("index_name") \
        else None
    _QUERY.sizes = {} if _EXECUTE["on"] else None
    try:
        return _ORIGINAL["query"](self, *args, **kwargs)
    finally:
        _QUERY.names = None
        _QUERY.sizes = None
        _QUERY.scope = None
        _QUERY.page = None
        _QUERY.gsi = None
        _QUERY.projected = False


def _all_items(self: Table) -> list[Any]:
    scope = getattr(_QUERY, "scope", None)
    _QUERY.scope = None  # only the Query's own first call
    if isinstance(scope, tuple) and scope[1] is not None:
        page = getattr(_QUERY, "page", None)
        _QUERY.page = None  # a partition Query sorts by range key itself: sorted_items is not called
        found = self.items.get(scope[1])
        if found is None:
            return []
        if not self.range_key_attr:
            return [found]
        keyed = sorted(((item.range_key.cast_value, item) for item in found.values()), key=lambda pair: pair[0])
        if page is None:
            return [item for _, item in keyed]
        start = _start_tuple(page, [self.hash_key_attr, self.range_key_attr])
        if start is not None and start[0] != scope[1].cast_value:
            start = None  # another partition's key: Table.query skips all or nothing itself
        return _reachable(keyed, start[1] if start is not None else None, page)
    if scope == "any order":
        cached = _cached_gsi_window(self)
        if cached is not None:
            return cached
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


def _hashable(value: Any) -> Any:
    """A GSI hash key value as a cache key (its type and cast value)."""
    return (value.type, value.cast_value) if value.type in _PLAIN or value.type == "N" else (value.type, repr(value.value))


def _version(table: Table) -> int:
    return table.__dict__.get("_iofold_version", 0)


def _bump(table: Table) -> None:
    table.__dict__["_iofold_version"] = _version(table) + 1


def _cached_gsi_window(table: Table) -> list[Any] | None:
    """The candidates of this GSI Query page from the order kept by its first page (valid while the table
    has not been written since), cut at the start key and Limit + 1; None to take the full path (and keep
    the order it sorts)."""
    gsi = getattr(_QUERY, "gsi", None)
    page = getattr(_QUERY, "page", None)
    if gsi is None or page is None:
        return None
    kept = table.__dict__.get("_iofold_gsi_order", {}).get(gsi[0])
    if kept is None or kept[0] != _version(table):
        _QUERY.gsi = (gsi[0], "miss", gsi[2])
        return None
    _, names, keyed = kept
    _QUERY.gsi = None
    return _reachable(keyed, _start_tuple(page, names), page)


def _put_item(self: Table, *args: Any, **kwargs: Any) -> Any:
    try:
        return _ORIGINAL["put_item"](self, *args, **kwargs)
    finally:
        _bump(self)  # after the write: an order kept by a Query that began before it is stale


def _delete_item(self: Table, *args: Any, **kwargs: Any) -> Any:
    try:
        return _ORIGINAL["delete_item"](self, *args, **kwargs)
    finally:
        _bump(self)


def _update_item(self: Any, table_name: str, *args: Any, **kwargs: Any) -> Any:
    """DynamoDBBackend.update_item changes an item in place: the table's kept GSI orders are stale after it."""
    try:
        return _ORIGINAL["update_item"](self, table_name, *args, **kwargs)
    finally:
        table = self.tables.get(table_name)
        if table is None:  # named by ARN
            table = next((t for t in list(self.tables.values()) if t.table_arn == table_name), None)
        if table is not None:
            _bump(table)


_TRANSACTION = threading.local()  # set while this thread runs a TransactWriteItems


class _BackendCopy:
    """Stands for the ``copy`` module in moto's dynamodb/models/__init__.py: within a transaction a
    table's "backup" is the table itself (so moto's rollback is a no-op); _transact_write_items keeps
    and restores the items the transaction names instead."""

    copy = staticmethod(copy.copy)

    @staticmethod
    def deepcopy(value: Any, memo: Any = None) -> Any:
        if isinstance(value, Table) and getattr(_TRANSACTION, "active", False):
            return value
        return copy.deepcopy(value, memo)


def _transaction_keys(backend: Any, transact_items: list[dict]) -> list[tuple[Table, Any, Any]]:
    """(table, hash key, range key) of every item the transaction names (a malformed one is left to moto,
    which rejects it before writing anything)."""
    keys = []
    for entry in transact_items:
        if not isinstance(entry, dict) or not entry:
            continue
        op_type, op = next(iter(entry.items()))
        table = backend.tables.get(op.get("TableName")) if isinstance(op, dict) else None
        if table is None:
            continue
        try:
            key = op["Item"] if op_type == "Put" else op["Key"]
            hash_value = DynamoType(key[table.hash_key_attr])
            range_value = DynamoType(key[table.range_key_attr]) if table.range_key_attr else None
        except (KeyError, TypeError, AttributeError, ValueError):
            continue
        keys.append((table, hash_value, range_value))
    return keys


def _put_back(table: Table, hash_value: Any, range_value: Any, item: Any) -> None:
    """Make the item at this key what it was (``None``: absent)."""
    if item is None:
        table.delete_item(hash_value, range_value)
    elif range_value is not None:
        table.items[hash_value][range_value] = item
    else:
        table.items[hash_value] = item
    _bump(table)


def _transact_write_items(self: Any, transact_items: list[dict]) -> None:
    """DynamoDBBackend.transact_write_items, backing up and restoring only the items it names (one
    transaction at a time, as DynamoDB isolates them)."""
    with _TRANSACTION_LOCK:
        saved = [(table, h, r, copy.deepcopy(table.get_item(h, r)))
                 for table, h, r in _transaction_keys(self, transact_items)]
        _TRANSACTION.active = True
        try:
            return _ORIGINAL["transact_write_items"](self, transact_items)
        except BaseException:
            for table, h, r, item in reversed(saved):
                _put_back(table, h, r, item)
            raise
        finally:
            _TRANSACTION.active = False
            for table, _, _, _ in saved:
                _bump(table)


_TRANSACTION_LOCK = threading.RLock()
_UNHANDLED = object()


def _wire(value: Any) -> Any:
    """An AttributeValue as moto's JSON serializer writes it, for S, N, B, SS, NS, BS, BOOL, NULL and M
    and L of those (a blob base64-encoded as its ``_base64`` does); ``_UNHANDLED`` for anything else,
    which then takes moto's own path."""
    if type(value) is not dict or len(value) != 1:
        return _UNHANDLED
    kind, inner = next(iter(value.items()))
    if kind in ("S", "N"):
        return value if type(inner) is str else _UNHANDLED
    if kind in ("BOOL", "NULL"):
        return value if type(inner) is bool else _UNHANDLED
    if kind in ("SS", "NS"):
        return value if type(inner) is list and all(type(x) is str for x in inner) else _UNHANDLED
    if kind in ("B", "BS") and not _LATER["on"]:
        return _UNHANDLED
    if kind == "B":
        return {"B": _base64(inner)} if type(inner) in (str, bytes) else _UNHANDLED
    if kind == "BS":
        return ({"BS": [_base64(x) for x in inner]} if type(inner) is list and all(type(x) in (str, bytes) for x in inner)
                else _UNHANDLED)
    if kind == "L" and type(inner) is list:
        items = [_wire(x) for x in inner]
        return _UNHANDLED if any(x is _UNHANDLED for x in items) else {"L": items}
    if kind == "M" and type(inner) is dict:
        members = {k: _wire(x) for k, x in inner.items()}
        return _UNHANDLED if any(x is _UNHANDLED for x in members.values()) else {"M": members}
    return _UNHANDLED


def _base64(value: str | bytes) -> str:
    """A blob as moto's serializer writes it (BaseJSONSerializer._base64)."""
    data = value.encode("utf-8") if isinstance(value, str) else value
    return base64.b64encode(data).strip().decode("utf-8")


_ATTRIBUTE_VALUE_MEMBERS = frozenset(("S", "N", "B", "SS", "NS", "BS", "M", "L", "NULL", "BOOL"))


def _serialize_type_structure(self: BaseJSONSerializer, serialized: Any, value: Any, shape: Any, key: str) -> None:
    if key and shape.name == "AttributeValue" and set(shape.members) == _ATTRIBUTE_VALUE_MEMBERS:
        wire = _wire(value)
        if wire is not _UNHANDLED:
            self._default_serialize(serialized, wire, shape, key)
            return
    _ORIGINAL["_serialize_type_structure"](self, serialized, value, shape, key)


_LIST_ELEMENT = re.compile(r"(.+)\[(\d+)\]$")  # moto's find_nested_key: ``name[3]`` reads ``name``


def _top_names(projection_expressions: list[list[str]]) -> set[str]:
    """The top-level attribute names moto's find_nested_key can read for these paths."""
    names = set()
    for expr in projection_expressions:
        names.add(expr[0])
        element = _LIST_ELEMENT.match(expr[0])
        if element:
            names.add(element.group(1))
    return names


def _project(self: Item, projection_expressions: list[list[str]]) -> Item:
    """Item.project, cheaper: paths that each name a whole top-level attribute (a GSI's projection, a
    ProjectionExpression of plain names) copy those attributes' values as they are (or take them, from a
    copy made here: a GSI Query's projected item projected again by its ProjectionExpression); other paths turn
    into plain JSON only the attributes they can reach, once, not the whole item once per path (the
    paths only read it; the projected values are serialized into a new Item either way)."""
    if all(len(expr) == 1 and not _LIST_ELEMENT.match(expr[0]) for expr in projection_expressions):
        projected = Item(hash_key=self.hash_key, range_key=self.range_key, attrs={})
        private = self.__dict__.get("_iofold_projected", False)  # a copy made here: its values are nobody else's
        for expr in projection_expressions:
            value = self.attrs.get(expr[0])
            if value is not None:
                dict.__setitem__(projected.attrs, expr[0], value if private else _copy_value(value))
        projected.__dict__["_iofold_projected"] = True
        return projected
    names = _top_names(projection_expressions)
    whole = {key: _DESERIALIZER.deserialize(value.to_regular_json()) for key, value in self.attrs.items()
             if key in names}
    result: dict[str, Any] = {}
    for expr in projection_expressions:
        merge_dicts(result, find_nested_key(expr, whole))
    return Item(hash_key=self.hash_key, range_key=self.range_key, attrs=_SERIALIZER.serialize(result)["M"])


def _copy_value(value: DynamoType) -> DynamoType:
    """A deep copy of a stored value (what DynamoType.__deepcopy__ makes, without its memo)."""
    out = DynamoType.__new__(DynamoType)
    out.type = kind = value.type
    if kind == "M":
        out.value = {k: _copy_value(v) for k, v in value.value.items()}
    elif kind == "L":
        out.value = [_copy_value(v) for v in value.value]
    elif kind in ("SS", "NS", "BS"):
        out.value = list(value.value)
    else:
        out.value = value.value
    return out


_SERIALIZER = TypeSerializer()
_DESERIALIZER = TypeDeserializer()


class _TableCopy:
    """Stands for the ``copy`` module in moto's table.py: a Query whose results are all replaced by
    projected copies (``_QUERY.projected``) gets a shallow list instead of a deep copy of every match."""

    copy = staticmethod(copy.copy)

    @staticmethod
    def deepcopy(value: Any, memo: Any = None) -> Any:
        if type(value) is list and getattr(_QUERY, "projected", False):
            _QUERY.projected = False  # only the Query's own copy of its results
            return list(value)
        return copy.deepcopy(value, memo)


def _replaced_by_projection(table: Table, given: dict) -> bool:
    """Whether Table.query will replace each result by a projected copy."""
    if given.get("projection_expressions"):
        return True
    if not given.get("index_name"):
        return False
    index = next((i for i in table.all_indexes() if i.name == given["index_name"]), None)
    return index is not None and (index.projection or {}).get("ProjectionType", "ALL") in ("KEYS_ONLY", "INCLUDE")


_EXECUTE = {"on": True}  # the speed-ups added for the execute path (session 6); off to compare with moto's own


def use_execute_speedups(enabled: bool) -> None:
    """Switch the composed GSI projection, the per-Query size memo and the Lambda qualifier lookup on or off
    (tests/local/test_moto_speedups.py requires the same answers, and less work, with them on)."""
    _EXECUTE["on"] = enabled


def _plain_names(projection_expressions: Any) -> frozenset[str] | None:
    """The names of a ProjectionExpression whose paths are all plain top-level attributes; None otherwise."""
    if not projection_expressions:
        return None
    names = set()
    for expr in projection_expressions:
        if len(expr) != 1 or _LIST_ELEMENT.match(expr[0]):
            return None
        names.add(expr[0])
    return frozenset(names)


def _index_project(self: SecondaryIndex, item: Item) -> Item:
    """SecondaryIndex.project onto only the attributes the Query's ProjectionExpression will keep (when it
    names plain top-level attributes): Table.query projects the result again by that expression, which
    then finds the same values in the same order."""
    names = getattr(_QUERY, "names", None)
    kind = (self.projection or {}).get("ProjectionType")
    if names is None or kind not in ("KEYS_ONLY", "INCLUDE"):
        return _ORIGINAL["index_project"](self, item)
    allowed = self.table_key_attrs + [key["AttributeName"] for key in self.schema]
    if kind == "INCLUDE":
        allowed = allowed + list(self.projection.get("NonKeyAttributes", []))
    return item.project([[attr] for attr in dict.fromkeys(allowed) if attr in names])


def _item_size(self: Item) -> int:
    """Item.size, remembered for the Query running on this thread (it asks twice per item it returns)."""
    sizes = getattr(_QUERY, "sizes", None)
    if sizes is None:
        return _ORIGINAL["item_size"](self)
    found = sizes.get(id(self))
    if found is None or found[0] is not self:
        found = sizes[id(self)] = (self, _ORIGINAL["item_size"](self))
    return found[1]


def _lambda_get_param(self: Any, param_name: str, if_none: Any = None) -> Any:
    """LambdaResponse._get_param, but an Invoke's ``qualifier`` comes from the query string or the path,
    never from the payload (which moto parsed as JSON to look for it)."""
    if param_name != "qualifier" or not _EXECUTE["on"] or not self.path.rstrip("/").endswith("/invocations"):
        return _ORIGINAL["lambda_get_param"](self, param_name, if_none)
    value = self.querystring.get(param_name)
    if value is not None:
        return value[0]
    return (self.uri_match or {}).get(param_name, if_none)


_MOTO_MODULES: list[frozenset[str]] = []  # the listing, once made


def _moto_modules() -> frozenset[str]:
    """backends.list_of_moto_modules, listed once (moto's installed packages do not change while it runs)."""
    if not _MOTO_MODULES:
        _MOTO_MODULES.append(frozenset(_ORIGINAL["list_of_moto_modules"]()))
    return _MOTO_MODULES[0]


_TABLE_PATCHES = {"sorted_items": _sorted_items, "all_items": _all_items, "query": _query, "put_item": _put_item,
                  "delete_item": _delete_item}
_COMPARISONS = {
    "__eq__": lambda a, b: a == b, "__ne__": lambda a, b: a != b, "__lt__": lambda a, b: a < b,
    "__le__": lambda a, b: a <= b, "__gt__": lambda a, b: a > b, "__ge__": lambda a, b: a >= b,
}


def install() -> None:
    """Patch moto in this process (idempotent)."""
    if _ORIGINAL:
        return
    _ORIGINAL["cast_value"] = DynamoType.__dict__["cast_value"]
    _ORIGINAL["size"] = DynamoType.__dict__["size"]
    DynamoType.size = _fast_size  # type: ignore[method-assign]
    for name in _TABLE_PATCHES:
        _ORIGINAL[name] = Table.__dict__[name]
    for name in _COMPARISONS:
        _ORIGINAL[name] = DynamoType.__dict__[name]
    _ORIGINAL["_serialize_type_structure"] = BaseJSONSerializer.__dict__["_serialize_type_structure"]
    _ORIGINAL["update_item"] = DynamoDBBackend.__dict__["update_item"]
    DynamoDBBackend.update_item = _update_item  # type: ignore[method-assign]
    _ORIGINAL["project"] = Item.__dict__["project"]
    _ORIGINAL["dynamo_to_dict"] = utilities_module.dynamo_to_dict
    utilities_module.dynamo_to_dict = responses_module.dynamo_to_dict = _dynamo_to_dict  # type: ignore[assignment]
    _ORIGINAL["copy"] = table_module.copy
    table_module.copy = _TableCopy  # type: ignore[assignment]
    _ORIGINAL["backend_copy"] = backend_module.copy
    backend_module.copy = _BackendCopy  # type: ignore[assignment]
    _ORIGINAL["transact_write_items"] = DynamoDBBackend.__dict__["transact_write_items"]
    DynamoDBBackend.transact_write_items = _transact_write_items  # type: ignore[method-assign]
    Item.project = _project if _LATER["on"] else _ORIGINAL["project"]  # type: ignore[method-assign]
    _ORIGINAL["index_project"] = SecondaryIndex.__dict__["project"]
    SecondaryIndex.project = _index_project  # type: ignore[method-assign]
    _ORIGINAL["item_size"] = Item.__dict__["size"]
    Item.size = _item_size  # type: ignore[method-assign]
    _ORIGINAL["lambda_get_param"] = LambdaResponse._get_param  # BaseResponse's unless moto gives Lambda its own
    LambdaResponse._get_param = _lambda_get_param  # type: ignore[method-assign]
    BaseJSONSerializer._serialize_type_structure = _serialize_type_structure  # type: ignore[method-assign]
    _ORIGINAL["list_of_moto_modules"] = backends_module.list_of_moto_modules
    backends_module.list_of_moto_modules = _moto_modules  # type: ignore[assignment]
    DynamoType.cast_value = property(_fast_cast_value)  # type: ignore[method-assign,assignment]
    for name, plain in _COMPARISONS.items():
        setattr(DynamoType, name, _comparison(name, plain))
    for name, patch in _TABLE_PATCHES.items():
        setattr(Table, name, patch)


def uninstall() -> None:
    """Put moto back as it was (for the comparison test and the benchmark)."""
    if not _ORIGINAL:
        return
    utilities_module.dynamo_to_dict = responses_module.dynamo_to_dict = _ORIGINAL.pop("dynamo_to_dict")
    table_module.copy = _ORIGINAL.pop("copy")
    backend_module.copy = _ORIGINAL.pop("backend_copy")
    SecondaryIndex.project = _ORIGINAL.pop("index_project")  # type: ignore[method-assign]
    Item.size = _ORIGINAL.pop("item_size")  # type: ignore[method-assign]
    backends_module.list_of_moto_modules = _ORIGINAL.pop("list_of_moto_modules")  # type: ignore[assignment]
    _MOTO_MODULES.clear()
    lambda_get_param = _ORIGINAL.pop("lambda_get_param")
    if lambda_get_param is BaseResponse._get_param:  # inherited: remove the override
        del LambdaResponse._get_param
    else:
        LambdaResponse._get_param = lambda_get_param  # type: ignore[method-assign]
    for name, value in _ORIGINAL.items():
        owner = (Table if name in _TABLE_PATCHES else BaseJSONSerializer if name.startswith("_serialize")
                 else Item if name == "project"
                 else DynamoDBBackend if name in ("update_item", "transact_write_items") else DynamoType)
        setattr(owner, name, value)
    _ORIGINAL.clear()


def installed() -> bool:
    return bool(_ORIGINAL)
