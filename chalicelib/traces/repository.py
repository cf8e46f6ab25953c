"""Traces: a summary item in DynamoDB (one write unit where it fits), the full unified trace gzipped in S3:
one page object per import call (traces/bodies.py), or an object of its own past ``inline_bytes``.
Items written before page objects keep their body inline (``body``) and still read."""

from __future__ import annotations

import gzip
import hashlib
import json
from typing import Any, Callable, Iterable, Literal, NamedTuple

from boto3.dynamodb.conditions import Key

from botocore.exceptions import ClientError

from chalicelib.errors import NotFound
from chalicelib.storage import (batch_get, delete_existing, is_missing_object, item_size, query_page, serialize,
                                to_dynamo, to_plain)
from chalicelib.traces.bodies import Member, PageBodies, PageWriter, pack
from chalicelib.traces.models import UnifiedTrace
from chalicelib.traces.summary import TraceSummary, summarize

UpsertOutcome = Literal["imported", "updated", "skipped"]
MAX_SUMMARY_BYTES = 200_000  # the summary lives in the DynamoDB item (400 KB) and its by_time entry
MAX_BODY_BYTES = 4_500_000   # what one sandbox invocation can carry (Lambda's 6 MB payload)


class TraceTooLarge(ValueError):
    """A trace too large to store or to evaluate; the message says which budget it breaks."""
_SUMMARY_FIELDS = ("workspace_id", "trace_id", "sort_key", "summary")


class TraceRow(NamedTuple):
    """The few summary fields a matrix row shows or filters on."""

    name: str | None
    timestamp: str | None
    input_preview: str
    imported_at: str
    platform: str | None
    integration_id: str | None


class TraceRepository:
    def __init__(self, table: Any, bucket: Any, *, inline_bytes: int):
        self._table = table
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
        items: list[dict] = []
        replaced: list[dict] = []
        for trace, body, digest in zip(traces, bodies, hashes):
            old = existing.get(trace.id)
            if old is not None and old.get("content_hash") == digest:
                outcomes.append("skipped")
                continue
            outcomes.append("updated" if old is not None else "imported")
            items.append(self._item(workspace_id, trace, pack(body), digest, imported_at, page))
            if old is not None:
                replaced.append(old)
        self._pages.write(workspace_id, page)
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
              page: PageWriter) -> dict:
        item: dict[str, Any] = {
            "workspace_id": workspace_id, "trace_id": trace.id,
            "sort_key": f"{trace.timestamp or imported_at}#{trace.id}",
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
        items, nxt = self._by_time(workspace_id, limit, cursor, since, until, filter_fn=filter_fn,
                                   ProjectionExpression=", ".join(_SUMMARY_FIELDS))
        return [_summary(i) for i in items], nxt

    def list_ids(self, workspace_id: str, *, limit: int, cursor: str | None, since: str | None = None,
                 until: str | None = None) -> tuple[list[str], str | None]:
        """The ids ``list`` would return unfiltered, reading only the index's keys (no summaries)."""
        items, nxt = self._by_time(workspace_id, limit, cursor, since, until,
                                   ProjectionExpression="workspace_id, trace_id, sort_key")
        return [i["trace_id"] for i in items], nxt

    def _by_time(self, workspace_id: str, limit: int, cursor: str | None, since: str | None, until: str | None,
                 **kwargs: Any) -> tuple[list[dict], str | None]:
        cond = Key("workspace_id").eq(workspace_id)
        if since and until:
            cond = cond & Key("sort_key").between(since, until + "\uffff")
        elif since:
            cond = cond & Key("sort_key").gte(since)
        elif until:
            cond = cond & Key("sort_key").lte(until + "\uffff")
        return query_page(self._table, limit=limit, cursor=cursor, owner=("workspace_id", workspace_id),
                          IndexName="by_time", KeyConditionExpression=cond, ScanIndexForward=False, **kwargs)

    def delete(self, workspace_id: str, trace_id: str) -> None:
        """Delete the trace and its content (its page member zeroed, or its own object deleted)."""
        old = delete_existing(self._table, {"workspace_id": workspace_id, "trace_id": trace_id},
                              missing=f"trace {trace_id} not found")
        self._erase(workspace_id, [old])

    def _bodies(self, workspace_id: str, items: list[dict]) -> dict[str, dict]:
        """Trace dicts by id from items holding a body inline (older items), in their own object, or in a page."""
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
        packed |= self._pages.read(workspace_id, members)
        return {trace_id: json.loads(gzip.decompress(data)) for trace_id, data in packed.items()}


ITEM_BYTES = 1024  # one write unit: a trace's item (and its by_time entry) is kept under this where it can be
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
