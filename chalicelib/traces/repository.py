"""Traces: a summary item in DynamoDB (one write unit where it fits), the full unified trace gzipped in S3:
one page object per import call (traces/bodies.py), or an object of its own past ``inline_bytes``.
Items written before page objects keep their body inline (``body``) and still read.

Listing by time reads the packed time index (traces/timeindex.py: one import call's entries share a few
items) merged with the ``by_time`` GSI, which still holds the items written before the packed index
(they carry ``sort_key``; new items do not, so the sparse GSI gets no entry for them)."""

from __future__ import annotations

import gzip
import hashlib
import heapq
import itertools
import json
from typing import Any, Callable, Iterable, Iterator, Literal, NamedTuple

from boto3.dynamodb.conditions import Key

from botocore.exceptions import ClientError

from chalicelib.errors import NotFound
from chalicelib.errors import ValidationError
from chalicelib.storage import (MAX_EXAMINED, batch_get, decode_cursor, delete_existing, encode_cursor,
                                is_missing_object, item_size, serialize, to_dynamo, to_plain)
from chalicelib.traces.bodies import Member, PageBodies, PageWriter, pack
from chalicelib.traces.models import UnifiedTrace
from chalicelib.traces.summary import TraceSummary, summarize
from chalicelib.traces.timeindex import TimeIndex, pack as pack_times, time_key

UpsertOutcome = Literal["imported", "updated", "skipped"]
MAX_SUMMARY_BYTES = 200_000  # the summary lives in the DynamoDB item (400 KB)
MAX_BODY_BYTES = 4_500_000   # what one sandbox invocation can carry (Lambda's 6 MB payload)


class TraceTooLarge(ValueError):
    """A trace too large to store or to evaluate; the message says which budget it breaks."""
_SUMMARY_FIELDS = ("workspace_id", "trace_id", "sort_key", "summary")  # what the legacy by_time GSI is read for
_LAST = "\uffff"  # after every character a time key holds: ``until`` bounds keys up to until + _LAST


class TraceRow(NamedTuple):
    """The few summary fields a matrix row shows or filters on."""

    name: str | None
    timestamp: str | None
    input_preview: str
    imported_at: str
    platform: str | None
    integration_id: str | None


class TraceRepository:
    def __init__(self, table: Any, bucket: Any, *, times: Any, inline_bytes: int):
        """``times``: the ``trace_times`` table (the packed time index)."""
        self._table = table
        self._times = TimeIndex(times)
        self._bucket = bucket
        self._pages = PageBodies(bucket)
        self._inline_bytes = inline_bytes

    def upsert_many(self, workspace_id: str, traces: list[UnifiedTrace], *, imported_at: str) -> list[UpsertOutcome]:
        """Store traces; unchanged ones are skipped. One outcome per trace, in order. The bodies of one call
        go to one page object (one PUT) before the items name them; a replaced body is erased after."""
        bodies = [json.dumps(t.model_dump(mode="json"), sort_keys=True, separators=(",", ":")).encode() for t in traces]
        hashes = [hashlib.sha256(b).hexdigest() for b in bodies]
        existing = self._stored(workspace_id, [t.id for t in traces])
        outcomes: list[UpsertOutcome] = []
        page = PageWriter()
        written: dict[str, tuple[UnifiedTrace, bytes, str]] = {}
        replaced: list[dict] = []
        for trace, body, digest in zip(traces, bodies, hashes):
            old = existing.get(trace.id)
            if old is not None and old.get("content_hash") == digest:
                outcomes.append("skipped")
                continue
            outcomes.append("updated" if old is not None else "imported")
            written[trace.id] = (trace, body, digest)  # the last of a repeated id is the one kept
            if old is not None:
                replaced.append(old)
        index, slots = pack_times(page.page, {t.id: time_key(t.timestamp or imported_at, t.id)
                                              for t, _, _ in written.values()})
        items = [self._item(workspace_id, trace, pack(body), digest, imported_at, page, slots[trace.id])
                 for trace, body, digest in written.values()]
        self._pages.write(workspace_id, page)
        self._times.write(workspace_id, index)  # before the items: an entry without its item is dropped when read
        with self._table.batch_writer(overwrite_by_pkeys=["workspace_id", "trace_id"]) as batch:
            for item in items:
                batch.put_item(Item=item)
        self._erase(workspace_id, replaced, keep={item.get("body_key") for item in items})
        return outcomes

    def check_size(self, trace: UnifiedTrace) -> None:
        """TraceTooLarge when the trace would not fit its item or the sandbox's payload."""
        body = len(json.dumps(trace.model_dump(mode="json"), separators=(",", ":")))
        if body > MAX_BODY_BYTES:
            raise TraceTooLarge(f"the trace is {body} bytes as JSON; the limit is {MAX_BODY_BYTES}")
        summary = len(summarize(trace, imported_at="").model_dump_json())
        if summary > MAX_SUMMARY_BYTES:
            raise TraceTooLarge(f"the trace's summary (name, tags, ids) is {summary} bytes; the limit is "
                                f"{MAX_SUMMARY_BYTES}")

    def _item(self, workspace_id: str, trace: UnifiedTrace, packed: bytes, digest: str, imported_at: str,
              page: PageWriter, time_slot: str) -> dict:
        item: dict[str, Any] = {
            "workspace_id": workspace_id, "trace_id": trace.id, "time_slot": time_slot,
            "summary": _stored_summary(summarize(trace, imported_at=imported_at)),
            "content_hash": digest,
        }
        if len(packed) <= self._inline_bytes:
            member = page.add(packed)
            item["body_page"] = member.page
            item["body_at"] = [member.offset, member.length]
        else:
            key = self._own_key(workspace_id, trace.id)
            self._bucket.put_object(Key=key, Body=packed, ContentType="application/json", ContentEncoding="gzip")
            item["body_key"] = key
        return _fit_item(to_dynamo(item))

    @staticmethod
    def _own_key(workspace_id: str, trace_id: str) -> str:
        return f"traces/{workspace_id}/{trace_id}.json.gz"

    def _stored(self, workspace_id: str, trace_ids: list[str]) -> dict[str, dict]:
        """What an upsert needs of the stored items: content hash and where the body is."""
        items = batch_get(self._table, self._keys(workspace_id, trace_ids),
                          projection="trace_id, content_hash, body_page, body_at, body_key")
        return {item["trace_id"]: item for item in items}

    def _erase(self, workspace_id: str, items: Iterable[dict], *, keep: set[str | None] = frozenset()) -> None:
        """Remove the stored bodies of these (old) items: members zeroed, own objects deleted unless kept."""
        items = list(items)
        self._pages.erase(workspace_id, [m for m in map(_member, items) if m is not None])
        own = [{"Key": i["body_key"]} for i in items if i.get("body_key") and i["body_key"] not in keep]
        if own:
            self._bucket.delete_objects(Delete={"Objects": own})

    @staticmethod
    def _keys(workspace_id: str, trace_ids: Iterable[str]) -> list[dict]:
        return [{"workspace_id": workspace_id, "trace_id": t} for t in trace_ids]

    def get(self, workspace_id: str, trace_id: str) -> dict:
        """The unified trace dict; 404 when absent from this workspace."""
        item = self._table.get_item(Key={"workspace_id": workspace_id, "trace_id": trace_id}).get("Item")
        body = self._bodies(workspace_id, [item]).get(trace_id) if item else None
        if body is None:
            raise NotFound(f"trace {trace_id} not found")
        return body

    def missing_ids(self, workspace_id: str, trace_ids: list[str]) -> list[str]:
        """The ids among ``trace_ids`` with no trace in the workspace, in the order given."""
        found = {i["trace_id"] for i in batch_get(self._table, self._keys(workspace_id, trace_ids), projection="trace_id")}
        return [t for t in dict.fromkeys(trace_ids) if t not in found]

    def get_many(self, workspace_id: str, trace_ids: list[str]) -> dict[str, dict]:
        """Unified trace dicts by id; ids that do not exist are left out. Bodies that share a page object
        are read together (one ranged GET over the members wanted, bodies.GAP_BYTES apart at most)."""
        items = batch_get(self._table, self._keys(workspace_id, trace_ids),
                          projection="trace_id, body, body_key, body_page, body_at")
        return self._bodies(workspace_id, list(items))

    def get_many_text(self, workspace_id: str, trace_ids: list[str],
                      listed_slots: dict[str, list[str | None]] | None = None) -> dict[str, str]:
        """``get_many``'s traces as their stored JSON text (compact, keys sorted), not parsed: what the
        sandbox's payload carries as is (evals/sandbox_client.py EncodedTrace). ``listed_slots``: ids listed
        by ``index_entries`` (unchecked), with the slots each was listed from; one whose item names none of
        them (re-imported since: its current entry is elsewhere in the index) is left out, as a deleted one is."""
        items = batch_get(self._table, self._keys(workspace_id, trace_ids),
                          projection="trace_id, body, body_key, body_page, body_at, time_slot")
        if listed_slots:
            items = [i for i in items
                     if i["trace_id"] not in listed_slots or i.get("time_slot") in listed_slots[i["trace_id"]]]
        packed = self._packed(workspace_id, list(items))
        return {trace_id: gzip.decompress(data).decode() for trace_id, data in packed.items()}

    def summaries(self, workspace_id: str, trace_ids: Iterable[str]) -> dict[str, TraceSummary]:
        """Summaries by id, without loading bodies."""
        items = batch_get(self._table, self._keys(workspace_id, trace_ids), projection="trace_id, summary")
        return {item["trace_id"]: _summary(item) for item in items}

    def row_summaries(self, workspace_id: str, trace_ids: Iterable[str]) -> dict[str, TraceRow]:
        """The few summary fields a matrix row shows or filters on, by id, without a pydantic model per
        trace; ids that do not exist are left out."""
        out = {}
        for item in batch_get(self._table, self._keys(workspace_id, trace_ids), projection="trace_id, summary"):
            s = item["summary"]
            source = s.get("source") or {}
            out[item["trace_id"]] = TraceRow(s.get("name"), s.get("timestamp"), s.get("input_preview", ""),
                                             s.get("imported_at", ""), source.get("platform"),
                                             source.get("integration_id"))
        return out

    def list(self, workspace_id: str, *, limit: int, cursor: str | None, since: str | None = None,
             until: str | None = None, keep: Callable[[TraceSummary], bool] | None = None,
             ) -> tuple[list[TraceSummary], str | None]:
        """Newest first; ``since``/``until`` bound the timestamp, ``keep`` filters summaries."""
        filter_fn = (lambda item: keep(_summary(item))) if keep else None
        items, nxt = self._by_time(workspace_id, limit, cursor, since, until, filter_fn=filter_fn, summaries=True)
        return [_summary(i) for i in items], nxt

    def list_ids(self, workspace_id: str, *, limit: int, cursor: str | None, since: str | None = None,
                 until: str | None = None) -> tuple[list[str], str | None]:
        """The ids ``list`` would return unfiltered, reading only keys (no summaries)."""
        items, nxt = self._by_time(workspace_id, limit, cursor, since, until, summaries=False)
        return [i["trace_id"] for i in items], nxt

    def index_entries(self, workspace_id: str, *, since: str | None = None,
                      until: str | None = None) -> Iterator[tuple[str, str | None]]:
        """Every (trace id, slot) of the time index newest first, the packed index's and the legacy GSI's
        (slot None), WITHOUT reading the items: cheap enough to list a million traces in one call
        (execute_prepare), but an entry may be stale (its trace deleted or re-imported since), so the reader
        of the traces checks each against its item (``get_many_text``'s ``listed_slots``)."""
        for _, trace_id, slot, _ in self._candidates(workspace_id, until + _LAST if until else None, since, False):
            yield trace_id, slot

    def _candidates(self, workspace_id: str, before: str | None, since: str | None,
                    summaries: bool) -> Iterator[tuple[str, str, str | None, dict | None]]:
        """(time key, trace id, slot, legacy item) newest first: the packed index's entries (no item) merged with
        the legacy GSI's (slot None, the item as the GSI holds it)."""
        packed = ((e.key, e.trace_id, e.slot, None)
                  for e in self._times.newest_first(workspace_id, before=before, since=since))
        return heapq.merge(packed, self._legacy(workspace_id, before, since, summaries), key=lambda c: c[0],
                           reverse=True)

    def _by_time(self, workspace_id: str, limit: int, cursor: str | None, since: str | None, until: str | None, *,
                 summaries: bool, filter_fn: Callable[[dict], bool] | None = None) -> tuple[list[dict], str | None]:
        """Up to ``limit`` items newest first that pass ``filter_fn``: the packed index's entries (each checked
        against its item, which is read for it) merged with the legacy GSI's. A page stops early, with a
        cursor, after examining MAX_EXAMINED entries beyond ``limit``; the cursor is the last key examined."""
        bounds = [b for b in (self._cursor_key(workspace_id, cursor), until and until + _LAST) if b]
        before = min(bounds) if bounds else None
        if before is not None and since is not None and since >= before:
            return [], None
        candidates = self._candidates(workspace_id, before, since, summaries)
        projection = "trace_id, time_slot" + (", summary" if summaries else "")
        out: list[tuple[str, dict]] = []
        seen: set[str] = set()
        examined, last = 0, None
        while len(out) <= limit:
            size = 100 if filter_fn else min(100, limit + 1 - len(out))
            batch = list(itertools.islice(candidates, size))
            if not batch:
                return [item for _, item in out], None
            wanted = [c[1] for c in batch if c[3] is None]
            stored = {i["trace_id"]: i for i in batch_get(self._table, self._keys(workspace_id, wanted),
                                                          projection=projection)} if wanted else {}
            for key, trace_id, slot, legacy in batch:
                examined += 1
                last = key
                item = legacy if legacy is not None else stored.get(trace_id)
                if item is None or (legacy is None and item.get("time_slot") != slot) or trace_id in seen:
                    continue  # deleted, or re-imported since (its entry is elsewhere), or listed already
                seen.add(trace_id)
                if filter_fn is None or filter_fn(item):
                    out.append((key, item))
                    if len(out) > limit:
                        break
            if len(out) <= limit and examined >= limit + MAX_EXAMINED:
                return [item for _, item in out], self._cursor(workspace_id, last)
        return [item for _, item in out[:limit]], self._cursor(workspace_id, out[limit - 1][0])

    def _legacy(self, workspace_id: str, before: str | None, since: str | None,
                summaries: bool) -> Iterator[tuple[str, str, None, dict]]:
        """Items written before the packed index, from the by_time GSI (they carry ``sort_key``), newest first."""
        cond = Key("workspace_id").eq(workspace_id)
        if before is not None and since is not None:
            cond = cond & Key("sort_key").between(since, before)
        elif before is not None:
            cond = cond & Key("sort_key").lt(before)
        elif since is not None:
            cond = cond & Key("sort_key").gte(since)
        fields = _SUMMARY_FIELDS if summaries else _SUMMARY_FIELDS[:3]
        params: dict[str, Any] = {"IndexName": "by_time", "KeyConditionExpression": cond, "ScanIndexForward": False,
                                  "ProjectionExpression": ", ".join(fields), "Limit": 100}
        while True:
            page = self._table.query(**params)
            for item in page["Items"]:
                if before is None or item["sort_key"] < before:
                    yield item["sort_key"], item["trace_id"], None, item
            if not page.get("LastEvaluatedKey"):
                return
            params["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    @staticmethod
    def _cursor(workspace_id: str, key: str | None) -> str | None:
        return encode_cursor({"workspace_id": workspace_id, "before": key}) if key else None

    @staticmethod
    def _cursor_key(workspace_id: str, cursor: str | None) -> str | None:
        """The time key a cursor resumes below (ours, or a by_time cursor from before the packed index)."""
        start = decode_cursor(cursor)
        if start is None:
            return None
        key = start.get("before", start.get("sort_key"))
        if start.get("workspace_id") != workspace_id or not isinstance(key, str) or not key:
            raise ValidationError("invalid cursor")
        return key

    def delete(self, workspace_id: str, trace_id: str) -> None:
        """Delete the trace and its content (its page member zeroed, or its own object deleted)."""
        old = delete_existing(self._table, {"workspace_id": workspace_id, "trace_id": trace_id},
                              missing=f"trace {trace_id} not found")
        self._erase(workspace_id, [old])

    def _bodies(self, workspace_id: str, items: list[dict]) -> dict[str, dict]:
        """Trace dicts by id from items holding a body inline (older items), in their own object, or in a page."""
        packed = self._packed(workspace_id, items)
        return {trace_id: json.loads(gzip.decompress(data)) for trace_id, data in packed.items()}

    def _packed(self, workspace_id: str, items: list[dict]) -> dict[str, bytes]:
        """The gzipped bodies by id of these items (inline, own object or page member; missing ones left out)."""
        packed: dict[str, bytes] = {}
        members: dict[str, Member] = {}
        for item in items:
            trace_id = item["trace_id"]
            if "body" in item:
                packed[trace_id] = bytes(getattr(item["body"], "value", item["body"]))
            elif item.get("body_key"):
                try:
                    packed[trace_id] = self._bucket.Object(item["body_key"]).get()["Body"].read()
                except ClientError as exc:
                    if not is_missing_object(exc):
                        raise
            elif (member := _member(item)) is not None:
                members[trace_id] = member
        return packed | self._pages.read(workspace_id, members)


ITEM_BYTES = 1024  # one write unit: a trace's item is kept under this where it can be
MIN_PREVIEW_CHARS = 64


def _stored_summary(summary: TraceSummary) -> dict:
    """The summary as the item keeps it: without its id (the item's key) and without default values."""
    return summary.model_dump(mode="json", exclude={"id"}, exclude_defaults=True)


def _summary(item: dict) -> TraceSummary:
    return TraceSummary.model_validate({**to_plain(item["summary"]), "id": item["trace_id"]})


def _fit_item(item: dict) -> dict:
    """Shorten the summary's previews (the longer first, down to MIN_PREVIEW_CHARS) until the item is one
    write unit; an item that cannot fit (many tags, long names) stays as it is."""
    summary = item["summary"]
    while (excess := item_size(serialize(item)) - ITEM_BYTES) > 0:
        field = max(("input_preview", "output_preview"), key=lambda f: len(summary.get(f, "")))
        text = summary.get(field, "")
        if len(text) <= MIN_PREVIEW_CHARS:
            break
        keep = max(MIN_PREVIEW_CHARS, len(text) - max(excess, 16)) - 1
        summary[field] = text[:keep].rstrip() + "…"
    return item


def _member(item: dict) -> Member | None:
    if not item.get("body_page") or not item.get("body_at"):
        return None
    offset, length = (int(v) for v in item["body_at"])
    return Member(str(item["body_page"]), offset, length)
