"""Received spans in S3, one object per span, and a marker per trace that has new spans.

    spans/<workspace>/<trace id>/<span id>.json     {"resource", "scope", "span"} (OTLP/JSON)
    otlp_pending/<workspace>/<trace id>             {"root_ended", "received_at"}: rewritten on
                                                    every batch, removed once assembled

Keyed by span id, so a re-sent batch overwrites the same objects with the same content. The
marker's LastModified is the trace's last arrival: assembly waits until it is quiet (or its
root span has ended) and removes the marker only if no batch rewrote it meanwhile.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Iterator

from botocore.exceptions import ClientError

from chalicelib.errors import Unavailable
from chalicelib.storage import is_missing_object
from chalicelib.timeutil import now_iso

_THROTTLED = {"SlowDown", "ThrottlingException", "RequestLimitExceeded", "ServiceUnavailable",
              "ProvisionedThroughputExceededException", "TooManyRequestsException"}


@dataclass(frozen=True)
class StoredSpan:
    trace_id: str  # 32 hex digits
    span_id: str  # 16 hex digits
    entry: dict[str, Any]

    @property
    def is_ended_root(self) -> bool:
        span = self.entry["span"]
        return not span.get("parentSpanId") and bool(span.get("endTimeUnixNano"))


@dataclass(frozen=True)
class PendingTrace:
    workspace_id: str
    trace_id: str
    root_ended: bool
    last_modified: datetime
    etag: str


class SpanStore:
    def __init__(self, bucket: Any):
        self._bucket = bucket

    def put_spans(self, workspace_id: str, spans: list[StoredSpan]) -> None:
        """Store each span under its id, then mark each of their traces as having new spans."""
        root_ended: dict[str, bool] = {}
        for span in spans:
            root_ended[span.trace_id] = root_ended.get(span.trace_id, False) or span.is_ended_root
        with _shedding():
            with ThreadPoolExecutor(max_workers=8) as pool:
                list(pool.map(lambda s: self._put(self._span_key(workspace_id, s.trace_id, s.span_id), s.entry), spans))
            for trace_id, ended in root_ended.items():  # only once every span is stored
                self._put(self._pending_key(workspace_id, trace_id),
                          {"root_ended": ended, "received_at": now_iso(), "nonce": uuid.uuid4().hex})

    def pending(self, limit: int) -> Iterator[PendingTrace]:
        """Traces with spans not yet assembled, oldest key first: at most ``limit`` markers listed and read."""
        markers = self._bucket.objects.filter(Prefix="otlp_pending/").page_size(min(limit, 1000)).limit(limit)
        for summary in markers:
            _, workspace_id, trace_id = summary.key.split("/", 2)
            doc = self._get(summary.key)
            if doc is None:
                continue
            yield PendingTrace(workspace_id, trace_id, bool(doc.get("root_ended")), summary.last_modified,
                               summary.e_tag)

    def spans(self, workspace_id: str, trace_id: str) -> list[dict[str, Any]]:
        """Every stored span entry of one trace."""
        keys = [o.key for o in self._bucket.objects.filter(Prefix=self._trace_prefix(workspace_id, trace_id))]
        with ThreadPoolExecutor(max_workers=8) as pool:
            return [doc for doc in pool.map(self._get, keys) if doc is not None]

    def clear_pending(self, pending: PendingTrace) -> bool:
        """Remove the marker unless a newer batch rewrote it; False when it did (assemble again)."""
        key = self._pending_key(pending.workspace_id, pending.trace_id)
        try:
            current = self._bucket.Object(key).e_tag
        except ClientError as exc:
            if is_missing_object(exc):
                return True
            raise
        if current != pending.etag:
            return False
        self._bucket.Object(key).delete()
        return True

    def _put(self, key: str, doc: dict[str, Any]) -> None:
        self._bucket.put_object(Key=key, Body=json.dumps(doc, separators=(",", ":")).encode(),
                                ContentType="application/json")

    def _get(self, key: str) -> dict[str, Any] | None:
        try:
            return json.loads(self._bucket.Object(key).get()["Body"].read())
        except ClientError as exc:
            if is_missing_object(exc):
                return None
            raise

    @staticmethod
    def _trace_prefix(workspace_id: str, trace_id: str) -> str:
        return f"spans/{workspace_id}/{trace_id}/"

    def _span_key(self, workspace_id: str, trace_id: str, span_id: str) -> str:
        return f"{self._trace_prefix(workspace_id, trace_id)}{span_id}.json"

    @staticmethod
    def _pending_key(workspace_id: str, trace_id: str) -> str:
        return f"otlp_pending/{workspace_id}/{trace_id}"


@contextlib.contextmanager
def _shedding() -> Iterator[None]:
    """S3 throttling while storing → Unavailable (503 with Retry-After), so exporters back off and retry."""
    try:
        yield
    except ClientError as exc:
        error = exc.response.get("Error", {}).get("Code")
        if error in _THROTTLED or exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 503:
            raise Unavailable("span storage is throttled; retry later", retry_after=5) from exc
        raise
