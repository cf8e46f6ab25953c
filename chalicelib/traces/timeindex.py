"""The packed time index of traces (table ``trace_times``): the (time, id) entries of one import page are
written together into a few items, instead of one GSI entry (one write unit) per trace.

An entry is the trace's time key ``<timestamp>#<trace id>`` (the ``sort_key`` older items carried),
newest first when listed. An index item holds the entries of one page that share a time prefix: its
minute (``2026-01-01T09:07``), hour, day, month or year; its range key (``slot``) is
``<prefix>~<page id>~<n>`` and it stores each entry without the prefix. A page's entries are put at the
finest level where at least ``MIN_GROUP`` of them share a prefix; the rest go up a level, never above
the page's own span (the longest prefix all its entries share), so a page of traces spread over many
hours costs at most what one entry per trace did, while a dense or clustered page costs ~0.06 write
units per trace. Timestamps that are not ISO 8601 go to level 0 (prefix "").

Reading newest first: ``~`` sorts after every character of an ISO time, so in a descending Query the
items of a prefix come before the items of any longer prefix inside it, and after every later range.
An entry read is final (can be returned) once it is newer than everything the next item can hold; the
items whose range contains the resume point (the prefixes of the cursor) are read first, by
``begins_with``, at most one Query per level.

The index is never updated in place: the trace's item names the slot holding its entry
(``time_slot``); an entry whose item is gone or names another slot (deleted, or re-imported with
another time or page) is stale and the reader drops it (TraceRepository validates each entry against
the item it reads anyway). Stale entries stay in their items: a workspace re-importing the same
traces many times makes its index larger to read, not wrong.
"""

from __future__ import annotations

import heapq
import re
from collections import defaultdict
from typing import Any, Iterator, NamedTuple

from boto3.dynamodb.conditions import Key

LEVELS = (16, 13, 10, 7, 4)  # minute, hour, day, month, year prefixes of an ISO 8601 time
MIN_GROUP = 16      # entries that make an item at a finer level worth its write unit (~60 bytes each)
MAX_ITEM_BYTES = 300_000  # an index item's entries, well under DynamoDB's 400 KB
SEP = "~"
_ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d")


class Entry(NamedTuple):
    key: str       # "<timestamp>#<trace id>", the order of listing
    trace_id: str
    slot: str      # the index item holding it


def time_key(timestamp: str, trace_id: str) -> str:
    return f"{timestamp}#{trace_id}"


def _levels(key: str) -> list[int]:
    """Prefix lengths this time key can be filed under, finest first (0: everything)."""
    return [*LEVELS, 0] if _ISO.match(key) else [0]


def _common_level(keys: list[str]) -> int:
    """The longest level prefix every key shares (the page's span)."""
    first, last = min(keys), max(keys)
    for length in sorted(set(_levels(first)) & set(_levels(last)), reverse=True):
        if first[:length] == last[:length]:
            return length
    return 0


def pack(page_id: str, keys: dict[str, str]) -> tuple[list[dict], dict[str, str]]:
    """Index items for one page's entries (trace id → time key), and each trace's slot."""
    if not keys:
        return [], {}
    top = _common_level(list(keys.values()))
    placed: dict[tuple[int, str], list[tuple[str, str]]] = defaultdict(list)
    pending = sorted(((k, t) for t, k in keys.items()), reverse=True)
    for length in LEVELS + (0,):
        if length < top or not pending:
            break
        groups: dict[str, list[tuple[str, str]]] = defaultdict(list)
        rest = []
        for key, trace_id in pending:
            if length in _levels(key):
                groups[key[:length]].append((key, trace_id))
            else:
                rest.append((key, trace_id))
        for prefix, members in groups.items():
            if len(members) >= MIN_GROUP or length == top:
                placed[(length, prefix)] = members
            else:
                rest.extend(members)
        pending = sorted(rest, reverse=True)
    for key, trace_id in pending:  # not reachable for a well-formed page; kept at level 0
        placed[(0, "")].append((key, trace_id))
    items, slots = [], {}
    for (length, prefix), members in placed.items():
        for n, chunk in enumerate(_chunks(members, length)):
            slot = f"{prefix}{SEP}{page_id}{SEP}{n}"
            items.append({"slot": slot, "entries": [key[length:] for key, _ in chunk]})
            slots.update({trace_id: slot for _, trace_id in chunk})
    return items, slots


def _chunks(members: list[tuple[str, str]], length: int) -> Iterator[list[tuple[str, str]]]:
    chunk, size = [], 0
    for key, trace_id in members:
        entry = len(key.encode()) - length + 4
        if chunk and size + entry > MAX_ITEM_BYTES:
            yield chunk
            chunk, size = [], 0
        chunk.append((key, trace_id))
        size += entry
    if chunk:
        yield chunk


def _prefix(slot: str) -> str:
    return slot.rsplit(SEP, 2)[0]


def page_of(slot: str) -> str:
    """The import page whose entries an index item holds (its traces' bodies share that page's object)."""
    return slot.rsplit(SEP, 2)[1]


def _entries(item: dict) -> list[Entry]:
    slot = item["slot"]
    prefix = _prefix(slot)
    out = []
    for rest in item.get("entries", ()):
        key = prefix + rest
        out.append(Entry(key, key.partition("#")[2], slot))
    return out


class TimeIndex:
    """The ``trace_times`` table: write one page's items, read entries newest first."""

    def __init__(self, table: Any):
        self._table = table

    def write(self, workspace_id: str, items: list[dict]) -> None:
        with self._table.batch_writer() as batch:
            for item in items:
                batch.put_item(Item={"workspace_id": workspace_id, **item})

    def newest_first(self, workspace_id: str, *, before: str | None, since: str | None) -> Iterator[Entry]:
        """Entries (stale ones included) with key < ``before`` (no bound: None) and >= ``since``, newest
        first. Lazy: it reads index items only as far as the caller consumes."""
        heap: list[tuple[_Desc, Entry]] = []
        seen: set[str] = set()

        def push(item: dict) -> None:
            for entry in _entries(item):
                if (before is None or entry.key < before) and (since is None or entry.key >= since):
                    heapq.heappush(heap, (_Desc(entry.key), entry))

        if before is not None:
            for length in sorted({0, *(n for n in LEVELS if n < len(before))}):
                for item in self._query(workspace_id, Key("slot").begins_with(before[:length] + SEP)):
                    seen.add(item["slot"])
                    push(item)
        cond = None
        if before is not None and since is not None:
            cond = Key("slot").between(since, before)
        elif before is not None:
            cond = Key("slot").lt(before)
        elif since is not None:
            cond = Key("slot").gte(since)
        for item in self._query(workspace_id, cond):
            if item["slot"] in seen:
                continue
            prefix = _prefix(item["slot"])
            while heap and heap[0][1].key > prefix and not heap[0][1].key.startswith(prefix):
                yield heapq.heappop(heap)[1]
            push(item)
        while heap:
            yield heapq.heappop(heap)[1]

    def _query(self, workspace_id: str, cond: Any) -> Iterator[dict]:
        key = Key("workspace_id").eq(workspace_id)
        params: dict[str, Any] = {"KeyConditionExpression": key & cond if cond is not None else key,
                                  "ScanIndexForward": False, "Limit": 25}
        while True:
            page = self._table.query(**params)
            yield from page["Items"]
            if not page.get("LastEvaluatedKey"):
                return
            params["ExclusiveStartKey"] = page["LastEvaluatedKey"]
            params["Limit"] = 100


class _Desc(str):
    """A string that orders in reverse (heapq is a min-heap)."""

    def __lt__(self, other: str) -> bool:  # type: ignore[override]
        return str.__gt__(self, other)
