"""Read full traces from Langfuse's public API, with bounded retries.

v1 mode: ``GET /api/public/traces`` (page-based list) then ``GET /api/public/traces/{id}``
per trace (observations embedded). v2 mode: the same list, then the trace's observations
from the cursor-paged ``GET /api/public/v2/observations?traceId=…``, mapped to the v1
observation shape so one normalizer serves both.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from typing import Any, Literal
from urllib.parse import quote

import httpx

from chalicelib.errors import SourceError
from chalicelib.sources.common import pack_cursor, unpack_cursor
from chalicelib.sources.http import RequestFailed, Retrier, iso_utc, json_object
from chalicelib.sources.models import (
    ImportFilters,
    SourceFailure,
    SourcePage,
)

V2_OBSERVATION_FIELDS = "core,basic,time,io,metadata,model,usage,prompt,metrics"
V2_PAGE_LIMIT = 1000
class LangfuseClient:
    """Langfuse public API reader: credentials check and paged full-trace fetches."""

    label = "Langfuse"

    def __init__(
        self,
        base_url: str,
        public_key: str,
        secret_key: str,
        *,
        http: httpx.Client,
        mode: Literal["v1", "v2"] = "v1",
        max_attempts: int = 6,
        sleep: Callable[[float], None] = time.sleep,
        page_size: int = 50,
        rng: random.Random | None = None,
    ):
        if mode not in ("v1", "v2"):
            raise ValueError(f"unknown Langfuse API mode {mode!r}")
        if max_attempts < 1 or page_size < 1:
            raise ValueError("max_attempts and page_size must be at least 1")
        self.base_url = base_url.rstrip("/")
        self._auth = httpx.BasicAuth(public_key, secret_key)
        self._http = http
        self.mode = mode
        self._retrier = Retrier(source="Langfuse", max_attempts=max_attempts, sleep=sleep,
                                rng=rng or random.Random())
        self._page_size = page_size

    def check(self) -> str:
        """Reach Langfuse with the credentials; return a short detail such as 'reached Langfuse: 200 traces'."""
        try:
            body = self._get_json("/api/public/traces", [("page", "1"), ("limit", "1")])
        except RequestFailed as exc:
            raise SourceError(f"Langfuse answered {exc}") from exc
        total = (body.get("meta") or {}).get("totalItems")
        return f"reached Langfuse: {total} traces" if total is not None else "reached Langfuse"

    def fetch_page(self, filters: ImportFilters, cursor: str | None) -> SourcePage:
        """One page of full traces matching the filters, starting at the cursor (None = first page)."""
        page, returned = _decode_cursor(cursor)
        remaining = None if filters.limit is None else filters.limit - returned
        if remaining is not None and remaining <= 0:
            return SourcePage(traces=[], failures=[], next_cursor=None, total=filters.limit)

        params = [("page", str(page)), ("limit", str(self._page_size)), *_list_params(filters)]
        try:
            body = self._get_json("/api/public/traces", params)
        except RequestFailed as exc:
            raise SourceError(f"Langfuse trace list failed: {exc}") from exc
        items = [item for item in body.get("data") or [] if isinstance(item, dict) and item.get("id")]
        meta = body.get("meta") or {}
        total = meta.get("totalItems")
        if filters.limit is not None and total is not None:
            total = min(total, filters.limit)

        more_pages = _has_more(meta, page, len(items), self._page_size)
        if remaining is not None and len(items) >= remaining:
            items = items[:remaining]
            more_pages = False

        traces: list[dict[str, Any]] = []
        failures: list[SourceFailure] = []
        for item in items:
            external_id = str(item["id"])
            try:
                traces.append(self._fetch_trace(item))
            except RequestFailed as exc:
                failures.append(SourceFailure(external_id=external_id, reason=str(exc)))

        done = returned + len(items)
        next_cursor = _encode_cursor(page + 1, done) if more_pages and items else None
        return SourcePage(traces=traces, failures=failures, next_cursor=next_cursor, total=total)

    def _fetch_trace(self, item: dict[str, Any]) -> dict[str, Any]:
        trace_id = str(item["id"])
        if self.mode == "v1":
            body = self._get_json(f"/api/public/traces/{_quote(trace_id)}", [])
            if not isinstance(body.get("observations"), list):
                raise RequestFailed("trace body has no observations list")
            return body
        observations = self._fetch_v2_observations(trace_id)
        trace = {key: value for key, value in item.items() if key != "observations"}
        trace["observations"] = observations
        trace.setdefault("scores", [])
        return trace

    def _fetch_v2_observations(self, trace_id: str) -> list[dict[str, Any]]:
        observations: list[dict[str, Any]] = []
        seen_cursors: set[str] = set()
        cursor: str | None = None
        while True:
            params = [("traceId", trace_id), ("fields", V2_OBSERVATION_FIELDS), ("limit", str(V2_PAGE_LIMIT))]
            if cursor:
                params.append(("cursor", cursor))
            body = self._get_json("/api/public/v2/observations", params)
            observations.extend(observation_from_v2(obs) for obs in body.get("data") or [] if isinstance(obs, dict))
            cursor = (body.get("meta") or {}).get("cursor")
            if not cursor or cursor in seen_cursors:
                return observations
            seen_cursors.add(cursor)

    def _get_json(self, path: str, params: list[tuple[str, str]]) -> dict[str, Any]:
        """GET with retries on 429/5xx/timeouts; raise typed errors for everything else."""
        url = self.base_url + path
        response = self._retrier.send(lambda: self._http.get(url, params=params, auth=self._auth), what=f"GET {path}")
        return json_object(response)

def observation_from_v2(obs: dict[str, Any]) -> dict[str, Any]:
    """Map a v2 observation (raw-string io, providedModelName, totalCost) to the v1 observation shape."""
    mapped = dict(obs)
    mapped["input"] = _parse_raw_io(obs.get("input"))
    mapped["output"] = _parse_raw_io(obs.get("output"))
    metadata = _parse_raw_io(obs.get("metadata"))
    mapped["metadata"] = metadata if isinstance(metadata, dict) else ({} if metadata is None else {"value": metadata})
    if "model" not in mapped:
        mapped["model"] = obs.get("providedModelName")
    if "calculatedTotalCost" not in mapped and obs.get("totalCost") is not None:
        mapped["calculatedTotalCost"] = obs.get("totalCost")
    mapped["usageDetails"] = obs.get("usageDetails") or {}
    mapped["costDetails"] = obs.get("costDetails") or {}
    mapped.setdefault("level", "DEFAULT")
    mapped.setdefault("statusMessage", None)
    return mapped


def _parse_raw_io(value: Any) -> Any:
    """v2 returns input/output as raw strings: decode JSON objects, arrays and quoted strings, keep other text."""
    if not isinstance(value, str):
        return value
    stripped = value.strip()
    if not stripped or stripped[0] not in "[{\"":
        return value
    try:
        return json.loads(stripped)
    except ValueError:
        return value


def _list_params(filters: ImportFilters) -> list[tuple[str, str]]:
    params: list[tuple[str, str]] = [("orderBy", "timestamp.asc")]
    if filters.from_timestamp is not None:
        params.append(("fromTimestamp", iso_utc(filters.from_timestamp)))
    if filters.to_timestamp is not None:
        params.append(("toTimestamp", iso_utc(filters.to_timestamp)))
    params.extend(("tags", tag) for tag in filters.tags)
    if filters.name:
        params.append(("name", filters.name))
    if filters.user_id:
        params.append(("userId", filters.user_id))
    return params


def _has_more(meta: dict[str, Any], page: int, count: int, page_size: int) -> bool:
    total_pages = meta.get("totalPages")
    if isinstance(total_pages, int):
        return page < total_pages
    return count >= page_size


def _encode_cursor(page: int, returned: int) -> str:
    return pack_cursor({"page": page, "returned": returned})


def _decode_cursor(cursor: str | None) -> tuple[int, int]:
    if not cursor:
        return 1, 0
    state = unpack_cursor(cursor, "Langfuse")
    try:
        page, returned = int(state["page"]), int(state["returned"])
    except (ValueError, KeyError, TypeError) as exc:
        raise SourceError(f"invalid Langfuse page cursor {cursor!r}") from exc
    if page < 1 or returned < 0:
        raise SourceError(f"invalid Langfuse page cursor {cursor!r}")
    return page, returned


def _quote(segment: str) -> str:
    return quote(segment, safe="")
