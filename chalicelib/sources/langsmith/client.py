"""Read full traces from LangSmith's REST API, with bounded retries.

Root runs come from ``POST /api/v1/runs/query`` (``is_root``, the project's session ids,
time/tag/name/user filters, LangSmith's own cursor); each root's trace is then read with
the same endpoint filtered on ``trace`` (cursor-paged) and handed on as
``{**root_run, "runs": [every run of the trace]}``. Auth is the ``x-api-key`` header.
Retry rules are Langfuse's: ``Retry-After`` on 429, jittered backoff on 5xx and timeouts.
"""

from __future__ import annotations

import json
import random
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx

from chalicelib.errors import SourceError
from chalicelib.sources.common import pack_cursor, unpack_cursor
from chalicelib.sources.http import RequestFailed, Retrier, iso_utc
from chalicelib.sources.models import (
    ImportFilters,
    SourceFailure,
    SourcePage,
    SourceSettingsError,
)

TRACE_PAGE_LIMIT = 100
MAX_TRACE_PAGES = 1000


class LangSmithClient:
    """LangSmith REST reader: credentials check and paged full-trace fetches."""

    label = "LangSmith"

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        http: httpx.Client,
        project: str | None = None,
        max_attempts: int = 6,
        sleep: Callable[[float], None] = time.sleep,
        page_size: int = 50,
        rng: random.Random | None = None,
    ):
        if max_attempts < 1 or page_size < 1:
            raise ValueError("max_attempts and page_size must be at least 1")
        self.base_url = base_url.rstrip("/")
        self.project = project or None
        self._headers = {"x-api-key": api_key}
        self._http = http
        self._retrier = Retrier(source="LangSmith", max_attempts=max_attempts, sleep=sleep,
                                rng=rng or random.Random())
        self._page_size = page_size
        self._session_ids: list[str] | None = None

    def check(self) -> str:
        """Reach LangSmith with the key; return a short detail such as 'reached LangSmith: 3 projects'."""
        try:
            sessions = self._sessions()
        except RequestFailed as exc:
            raise SourceError(f"LangSmith answered {exc}") from exc
        if self.project:
            return f"reached LangSmith: project {self.project}"
        return f"reached LangSmith: {len(sessions)} projects"

    def fetch_page(self, filters: ImportFilters, cursor: str | None) -> SourcePage:
        """One page of full traces (root run + all its runs) matching the filters, from the cursor (None = first)."""
        source_cursor, returned = _decode_cursor(cursor)
        remaining = None if filters.limit is None else filters.limit - returned
        if remaining is not None and remaining <= 0:
            return SourcePage(next_cursor=None, total=filters.limit)
        try:
            session_ids = self._sessions()
        except RequestFailed as exc:
            raise SourceError(f"LangSmith project lookup failed: {exc}") from exc
        if not session_ids:
            return SourcePage(next_cursor=None, total=0)

        size = self._page_size if remaining is None else min(self._page_size, remaining)
        body: dict[str, Any] = {"session": session_ids, "is_root": True, "limit": size, **_filter_body(filters)}
        if source_cursor:
            body["cursor"] = source_cursor
        try:
            answer = self._post_json("/api/v1/runs/query", body)
        except RequestFailed as exc:
            raise SourceError(f"LangSmith run query failed: {exc}") from exc
        roots = [run for run in answer.get("runs") or [] if isinstance(run, dict) and run.get("id")]
        next_source = (answer.get("cursors") or {}).get("next")
        if remaining is not None and len(roots) >= remaining:
            roots, next_source = roots[:remaining], None

        traces: list[dict[str, Any]] = []
        failures: list[SourceFailure] = []
        for root in roots:
            try:
                traces.append({**root, "runs": self._trace_runs(root)})
            except RequestFailed as exc:
                failures.append(SourceFailure(external_id=str(root["id"]), reason=str(exc)))

        done = returned + len(roots)
        next_cursor = _encode_cursor(next_source, done) if next_source and roots else None
        total = done if next_cursor is None else filters.limit
        return SourcePage(traces=traces, failures=failures, next_cursor=next_cursor, total=total)

    def _trace_runs(self, root: dict[str, Any]) -> list[dict[str, Any]]:
        trace_id = str(root.get("trace_id") or root["id"])
        runs: list[dict[str, Any]] = []
        seen: set[str] = set()
        cursor: str | None = None
        for _ in range(MAX_TRACE_PAGES):
            body: dict[str, Any] = {"trace": trace_id, "limit": TRACE_PAGE_LIMIT}
            if root.get("session_id"):
                body["session"] = [str(root["session_id"])]
            if cursor:
                body["cursor"] = cursor
            answer = self._post_json("/api/v1/runs/query", body)
            for run in answer.get("runs") or []:
                if isinstance(run, dict) and run.get("id") and str(run["id"]) not in seen:
                    seen.add(str(run["id"]))
                    runs.append(run)
            cursor = (answer.get("cursors") or {}).get("next")
            if not cursor:
                return runs
        raise RequestFailed(f"trace {trace_id} has more than {MAX_TRACE_PAGES} pages of runs")

    def _sessions(self) -> list[str]:
        """The session (project) ids to read: the configured project, or every project of the key."""
        if self._session_ids is not None:
            return self._session_ids
        if self.project and _is_uuid(self.project):
            params = [("id", self.project)]
        elif self.project:
            params = [("name", self.project)]
        else:
            params = [("limit", "100")]
        found = self._request("GET", "/api/v1/sessions", params=params)
        if not isinstance(found, list):
            raise RequestFailed(f"sessions answer is a JSON {type(found).__name__}, expected an array")
        ids = [str(item["id"]) for item in found if isinstance(item, dict) and item.get("id")]
        if self.project and not ids:
            raise SourceSettingsError(f"LangSmith project {self.project!r} not found")
        self._session_ids = ids
        return ids

    def _post_json(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        answer = self._request("POST", path, json_body=body)
        if not isinstance(answer, dict):
            raise RequestFailed(f"response is a JSON {type(answer).__name__}, expected an object")
        return answer

    def _request(self, method: str, path: str, *, params: list[tuple[str, str]] | None = None,
                 json_body: dict[str, Any] | None = None) -> Any:
        """One call with retries on 429/5xx/timeouts; typed errors for everything else."""
        url = self.base_url + path
        response = self._retrier.send(
            lambda: self._http.request(method, url, params=params, json=json_body, headers=self._headers),
            what=f"{method} {path}")
        try:
            return response.json()
        except ValueError as exc:
            raise RequestFailed(f"invalid JSON in HTTP {response.status_code} response") from exc

def _filter_body(filters: ImportFilters) -> dict[str, Any]:
    """The runs/query fields for the import filters: ``start_time`` plus a LangSmith filter expression."""
    body: dict[str, Any] = {}
    clauses: list[str] = []
    if filters.from_timestamp is not None:
        body["start_time"] = iso_utc(filters.from_timestamp)
    if filters.to_timestamp is not None:
        clauses.append(f"lt(start_time, {_quoted(iso_utc(filters.to_timestamp))})")
    clauses.extend(f"has(tags, {_quoted(tag)})" for tag in filters.tags)
    if filters.name:
        clauses.append(f"eq(name, {_quoted(filters.name)})")
    if filters.user_id:
        clauses.append(f"and(eq(metadata_key, \"user_id\"), eq(metadata_value, {_quoted(filters.user_id)}))")
    if clauses:
        body["filter"] = clauses[0] if len(clauses) == 1 else f"and({', '.join(clauses)})"
    return body


def _quoted(value: str) -> str:
    return json.dumps(value)


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def _encode_cursor(source_cursor: str, returned: int) -> str:
    return pack_cursor({"cursor": source_cursor, "returned": returned})


def _decode_cursor(cursor: str | None) -> tuple[str | None, int]:
    if not cursor:
        return None, 0
    state = unpack_cursor(cursor, "LangSmith")
    try:
        source_cursor, returned = str(state["cursor"]), int(state["returned"])
    except (ValueError, KeyError, TypeError) as exc:
        raise SourceError(f"invalid LangSmith page cursor {cursor!r}") from exc
    if returned < 0:
        raise SourceError(f"invalid LangSmith page cursor {cursor!r}")
    return source_cursor, returned
