"""Traces: a summary item in DynamoDB, the full unified trace gzipped inline or in S3."""

from __future__ import annotations

import gzip
import hashlib
import json
from typing import Any, Callable, Iterable, Literal, NamedTuple

from boto3.dynamodb.conditions import Key

from chalicelib.errors import NotFound
from chalicelib.storage import batch_get, delete_existing, query_page, to_dynamo, to_plain
from chalicelib.traces.models import UnifiedTrace
from chalicelib.traces.summary import TraceSummary, summarize

UpsertOutcome = Literal["imported", "updated", "skipped"]
MAX_SUMMARY_BYTES = 200_000  # the summary lives in the DynamoDB item (400 KB with the inline body)
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
        self._inline_bytes = inline_bytes

    def upsert_many(self, workspace_id: str, traces: list[UnifiedTrace], *, imported_at: str) -> list[UpsertOutcome]:
        """Store traces; unchanged ones are skipped. One outcome per trace, in order."""
        bodies = [json.dumps(t.model_dump(mode="json"), sort_keys=True, separators=(",", ":")).encode() for t in traces]
        hashes = [hashlib.sha256(b).hexdigest() for b in bodies]
        existing = self._content_hashes(workspace_id, [t.id for t in traces])
        outcomes: list[UpsertOutcome] = []
        with self._table.batch_writer(overwrite_by_pkeys=["workspace_id", "trace_id"]) as batch:
            for trace, body, digest in zip(traces, bodies, hashes):
                if existing.get(trace.id) == digest:
                    outcomes.append("skipped")
                    continue
                outcomes.append("updated" if trace.id in existing else "imported")
                batch.put_item(Item=self._item(workspace_id, trace, body, digest, imported_at))
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

    def _item(self, workspace_id: str, trace: UnifiedTrace, body: bytes, digest: str, imported_at: str) -> dict:
        packed = gzip.compress(body, compresslevel=5)
        item: dict[str, Any] = {
            "workspace_id": workspace_id, "trace_id": trace.id,
            "sort_key": f"{trace.timestamp or imported_at}#{trace.id}",
            "summary": summarize(trace, imported_at=imported_at).model_dump(mode="json"),
            "content_hash": digest,
        }
        if len(packed) <= self._inline_bytes:
            item["body"] = packed
        else:
            key = f"traces/{workspace_id}/{trace.id}.json.gz"
            self._bucket.put_object(Key=key, Body=packed, ContentType="application/json", ContentEncoding="gzip")
            item["body_key"] = key
        return to_dynamo(item)

    def _content_hashes(self, workspace_id: str, trace_ids: list[str]) -> dict[str, str]:
        items = batch_get(self._table, self._keys(workspace_id, trace_ids), projection="trace_id, content_hash")
        return {item["trace_id"]: item.get("content_hash", "") for item in items}

    @staticmethod
    def _keys(workspace_id: str, trace_ids: Iterable[str]) -> list[dict]:
        return [{"workspace_id": workspace_id, "trace_id": t} for t in trace_ids]

    def get(self, workspace_id: str, trace_id: str) -> dict:
        """The unified trace dict; 404 when absent from this workspace."""
        item = self._table.get_item(Key={"workspace_id": workspace_id, "trace_id": trace_id}).get("Item")
        if not item:
            raise NotFound(f"trace {trace_id} not found")
        return self._body(item)

    def get_many(self, workspace_id: str, trace_ids: list[str]) -> dict[str, dict]:
        """Unified trace dicts by id; ids that do not exist are left out."""
        return {item["trace_id"]: self._body(item) for item in batch_get(self._table, self._keys(workspace_id, trace_ids))}

    def summaries(self, workspace_id: str, trace_ids: Iterable[str]) -> dict[str, TraceSummary]:
        """Summaries by id, without loading bodies."""
        items = batch_get(self._table, self._keys(workspace_id, trace_ids), projection="trace_id, summary")
        return {item["trace_id"]: TraceSummary.model_validate(to_plain(item["summary"])) for item in items}

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
        cond = Key("workspace_id").eq(workspace_id)
        if since and until:
            cond = cond & Key("sort_key").between(since, until + "\uffff")
        elif since:
            cond = cond & Key("sort_key").gte(since)
        elif until:
            cond = cond & Key("sort_key").lte(until + "\uffff")
        filter_fn = (lambda item: keep(TraceSummary.model_validate(to_plain(item["summary"])))) if keep else None
        items, nxt = query_page(self._table, limit=limit, cursor=cursor, owner=("workspace_id", workspace_id),
                                filter_fn=filter_fn, IndexName="by_time", KeyConditionExpression=cond,
                                ScanIndexForward=False, ProjectionExpression=", ".join(_SUMMARY_FIELDS))
        return [TraceSummary.model_validate(to_plain(i["summary"])) for i in items], nxt

    def delete(self, workspace_id: str, trace_id: str) -> None:
        old = delete_existing(self._table, {"workspace_id": workspace_id, "trace_id": trace_id},
                              missing=f"trace {trace_id} not found")
        if old.get("body_key"):
            self._bucket.delete_objects(Delete={"Objects": [{"Key": old["body_key"]}]})

    def _body(self, item: dict) -> dict:
        if "body" in item:
            packed = item["body"].value if hasattr(item["body"], "value") else item["body"]
        else:
            packed = self._bucket.Object(item["body_key"]).get()["Body"].read()
        return json.loads(gzip.decompress(bytes(packed)))
