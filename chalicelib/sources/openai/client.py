"""Read stored chat completions from OpenAI's REST API, with bounded retries.

Completions come from ``GET /v1/chat/completions`` (``order=asc``, ``after`` paging,
``metadata[key]=value`` filters); each one's request messages from
``GET /v1/chat/completions/{id}/messages`` (also ``after``-paged). With a ``group_by`` metadata
key, completions sharing its value form one trace, fetched whole with that metadata filter
(so a conversation split across pages still imports complete; re-fetching it on a later page
is an idempotent upsert); a completion without the key, or every completion when no key is
named, is a trace of its own. Auth is a bearer key; retry rules are the other sources'.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote

import httpx

from chalicelib.errors import SourceError
from chalicelib.sources.common import pack_cursor, unpack_cursor
from chalicelib.sources.http import RequestFailed, Retrier, json_object
from chalicelib.sources.models import ImportFilters, SourceFailure, SourcePage

LIST_LIMIT = 100
MAX_PAGES = 1000


class OpenAIClient:
    """OpenAI stored-completions reader: credentials check and paged trace fetches."""

    label = "OpenAI"

    def __init__(self, base_url: str, api_key: str, *, http: httpx.Client, group_by: str | None = None,
                 max_attempts: int = 6, sleep: Callable[[float], None] = time.sleep, page_size: int = 50,
                 rng: random.Random | None = None):
        if max_attempts < 1 or page_size < 1:
            raise ValueError("max_attempts and page_size must be at least 1")
        base = base_url.rstrip("/")
        self.base_url = base[: -len("/v1")] if base.endswith("/v1") else base
        self.group_by = group_by or None
        self._headers = {"Authorization": f"Bearer {api_key}"}
        self._http = http
        self._retrier = Retrier(source="OpenAI", max_attempts=max_attempts, sleep=sleep, rng=rng or random.Random())
        self._page_size = page_size

    def check(self) -> str:
        """Reach OpenAI with the key; a short detail."""
        try:
            self._get("/v1/chat/completions", [("limit", "1")])
        except RequestFailed as exc:
            raise SourceError(f"OpenAI answered {exc}") from exc
        return "reached OpenAI: stored chat completions are readable"

    def fetch_page(self, filters: ImportFilters, cursor: str | None) -> SourcePage:
        """One page of traces (grouped completions with their messages) from the cursor (None = first)."""
        after, returned = _decode_cursor(cursor)
        remaining = None if filters.limit is None else filters.limit - returned
        if remaining is not None and remaining <= 0:
            return SourcePage(next_cursor=None, total=filters.limit)
        params = [("limit", str(self._page_size)), ("order", "asc"), *_metadata_params(filters)]
        if after:
            params.append(("after", after))
        try:
            answer = self._get("/v1/chat/completions", params)
        except RequestFailed as exc:
            raise SourceError(f"OpenAI completions list failed: {exc}") from exc
        listed = [c for c in answer.get("data") or [] if isinstance(c, dict) and c.get("id")]
        next_after = str(listed[-1]["id"]) if listed and answer.get("has_more") else None

        traces: list[dict[str, Any]] = []
        failures: list[SourceFailure] = []
        seen: set[str] = set()
        for completion in (c for c in listed if _in_window(c, filters)):
            if remaining is not None and len(traces) + len(failures) >= remaining:
                next_after = None
                break
            group = self._group_of(completion)
            if group in seen:
                continue
            seen.add(group)
            try:
                members = self._group_members(completion, filters)
                traces.append({"id": group, "group_by": self.group_by if group != completion["id"] else None,
                               "completions": [{**c, "messages": self._messages(str(c["id"]))} for c in members]})
            except RequestFailed as exc:
                failures.append(SourceFailure(external_id=group, reason=str(exc)))
        done = returned + len(traces) + len(failures)
        next_cursor = pack_cursor({"after": next_after, "returned": done}) if next_after else None
        return SourcePage(traces=traces, failures=failures, next_cursor=next_cursor,
                          total=done if next_cursor is None else filters.limit)

    def _group_of(self, completion: dict[str, Any]) -> str:
        value = (completion.get("metadata") or {}).get(self.group_by) if self.group_by else None
        return f"{self.group_by}={value}" if value not in (None, "") else str(completion["id"])

    def _group_members(self, completion: dict[str, Any], filters: ImportFilters) -> list[dict[str, Any]]:
        """Every completion of the completion's group, oldest first (just itself when ungrouped)."""
        value = (completion.get("metadata") or {}).get(self.group_by) if self.group_by else None
        if value in (None, ""):
            return [completion]
        params = [("order", "asc"), (f"metadata[{self.group_by}]", str(value))]
        return [c for c in self._all("/v1/chat/completions", params) if _in_window(c, filters)]

    def _messages(self, completion_id: str) -> list[dict[str, Any]]:
        return self._all(f"/v1/chat/completions/{quote(completion_id, safe='')}/messages", [("order", "asc")])

    def _all(self, path: str, params: list[tuple[str, str]]) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        after = None
        for _ in range(MAX_PAGES):
            answer = self._get(path, [*params, ("limit", str(LIST_LIMIT)), *([("after", after)] if after else [])])
            page = [item for item in answer.get("data") or [] if isinstance(item, dict)]
            items += page
            if not answer.get("has_more") or not page:
                return items
            after = str(page[-1].get("id") or answer.get("last_id") or "")
            if not after:
                raise RequestFailed(f"{path}: has_more without an id to continue after")
        raise RequestFailed(f"{path} has more than {MAX_PAGES} pages")

    def _get(self, path: str, params: list[tuple[str, str]]) -> dict[str, Any]:
        url = self.base_url + path
        response = self._retrier.send(lambda: self._http.get(url, params=params, headers=self._headers),
                                      what=f"GET {path}")
        return json_object(response)


def _metadata_params(filters: ImportFilters) -> list[tuple[str, str]]:
    return [("metadata[user_id]", filters.user_id)] if filters.user_id else []


def _in_window(completion: dict[str, Any], filters: ImportFilters) -> bool:
    """The list endpoint has no time filter: keep completions created in [from, to)."""
    created = completion.get("created")
    if not isinstance(created, (int, float)):
        return filters.from_timestamp is None and filters.to_timestamp is None
    moment = datetime.fromtimestamp(created, tz=timezone.utc)
    if filters.from_timestamp is not None and moment < _utc(filters.from_timestamp):
        return False
    return filters.to_timestamp is None or moment < _utc(filters.to_timestamp)


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _decode_cursor(cursor: str | None) -> tuple[str | None, int]:
    if not cursor:
        return None, 0
    state = unpack_cursor(cursor, "OpenAI")
    try:
        after, returned = state.get("after"), int(state["returned"])
    except (ValueError, KeyError, TypeError) as exc:
        raise SourceError(f"invalid OpenAI page cursor {cursor!r}") from exc
    if returned < 0:
        raise SourceError(f"invalid OpenAI page cursor {cursor!r}")
    return (str(after) if after else None), returned
