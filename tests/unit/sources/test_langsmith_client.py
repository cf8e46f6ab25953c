"""LangSmithClient against httpx.MockTransport: paging, filters, retries, typed errors."""

from __future__ import annotations

import json
import random
from datetime import datetime, timezone
from typing import Any

import httpx
import pytest

from chalicelib.errors import SourceError
from chalicelib.sources.http import MAX_RETRY_AFTER_S
from chalicelib.sources.langsmith.client import LangSmithClient
from chalicelib.sources.models import ImportFilters, SourceAuthError, TransientSourceError
from infra.local.fake_langsmith import DEFAULT_SESSION_ID, FakeLangSmith, make_demo_runs

BASE = "https://langsmith.test"
KEY = "lsv2_test"


class ScriptedLangSmith:
    """A MockTransport handler answering from FakeLangSmith's endpoint logic; scripted responses come first."""

    def __init__(self, runs: list[dict[str, Any]], script: list[httpx.Response | Exception] | None = None):
        self.fake = FakeLangSmith(runs, api_key=KEY)
        self.script = list(script or [])
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.script:
            step = self.script.pop(0)
            if isinstance(step, Exception):
                raise step
            return step
        if request.headers.get("x-api-key") != KEY:
            return httpx.Response(401, json={"detail": "Invalid token"})
        if request.url.path == "/api/v1/sessions":
            query = {key: request.url.params.get_list(key) for key in request.url.params.keys()}
            status, body = self.fake.list_sessions(query)
        elif request.url.path == "/api/v1/runs/query":
            status, body = self.fake.query_runs(json.loads(request.content))
        else:
            status, body = 404, {"detail": "Not Found"}
        return httpx.Response(status, json=body)

    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(r.content) for r in self.requests if r.url.path == "/api/v1/runs/query"]


def _client(handler: ScriptedLangSmith, sleeps: list[float] | None = None, **options: Any) -> LangSmithClient:
    http = httpx.Client(transport=httpx.MockTransport(handler))
    sleep = sleeps.append if sleeps is not None else (lambda _s: None)
    return LangSmithClient(BASE, options.pop("api_key", KEY), http=http, sleep=sleep, rng=random.Random(7), **options)


def _read_all(client: LangSmithClient, filters: ImportFilters | None = None) -> tuple[list[dict[str, Any]], int]:
    traces, cursor, pages = [], None, 0
    while True:
        page = client.fetch_page(filters or ImportFilters(), cursor)
        traces += page.traces
        pages += 1
        cursor = page.next_cursor
        if cursor is None:
            return traces, pages


def test_pages_through_root_runs_and_attaches_every_run_of_each_trace():
    handler = ScriptedLangSmith(make_demo_runs(7))
    traces, pages = _read_all(_client(handler, page_size=3))
    assert pages == 3
    assert len(traces) == 7 and len({t["id"] for t in traces}) == 7
    for trace in traces:
        assert trace["parent_run_id"] is None
        assert len(trace["runs"]) == 4 and {run["trace_id"] for run in trace["runs"]} == {trace["id"]}
    root_queries = [b for b in handler.bodies() if b.get("is_root")]
    assert [b["limit"] for b in root_queries] == [3, 3, 3]
    assert all(b["session"] == [DEFAULT_SESSION_ID] for b in root_queries)
    assert all(r.headers["x-api-key"] == KEY for r in handler.requests)


def test_trace_runs_are_read_across_cursor_pages(monkeypatch):
    monkeypatch.setattr("chalicelib.sources.langsmith.client.TRACE_PAGE_LIMIT", 3)
    handler = ScriptedLangSmith(make_demo_runs(1))
    (trace,), _ = _read_all(_client(handler))
    assert len(trace["runs"]) == 4
    trace_queries = [b for b in handler.bodies() if b.get("trace")]
    assert len(trace_queries) == 2 and "cursor" in trace_queries[1]


def test_limit_stops_after_that_many_traces():
    handler = ScriptedLangSmith(make_demo_runs(10))
    traces, pages = _read_all(_client(handler, page_size=4), ImportFilters(limit=6))
    assert len(traces) == 6 and pages == 2
    assert [b["limit"] for b in handler.bodies() if b.get("is_root")] == [4, 2]


def test_filters_become_start_time_and_a_filter_expression():
    runs = make_demo_runs(10)  # one trace a minute from 2025-03-01T00:00Z, user-(i % 3)
    handler = ScriptedLangSmith(runs)
    filters = ImportFilters(from_timestamp=datetime(2025, 3, 1, 0, 2, tzinfo=timezone.utc),
                            to_timestamp=datetime(2025, 3, 1, 0, 8, tzinfo=timezone.utc),
                            tags=["demo"], name="weather-agent", user_id="user-1")
    traces, _ = _read_all(_client(handler), filters)
    assert sorted(t["start_time"][14:16] for t in traces) == ["04", "07"]
    body = next(b for b in handler.bodies() if b.get("is_root"))
    assert body["start_time"] == "2025-03-01T00:02:00.000Z"
    assert body["filter"] == ('and(lt(start_time, "2025-03-01T00:08:00.000Z"), has(tags, "demo"), eq(name, "weather-agent"), '
                              'and(eq(metadata_key, "user_id"), eq(metadata_value, "user-1")))')


def test_project_name_is_resolved_to_its_session_id():
    handler = ScriptedLangSmith(make_demo_runs(2))
    traces, _ = _read_all(_client(handler, project="default"))
    assert len(traces) == 2
    assert handler.requests[0].url.params["name"] == "default"
    assert sum(r.url.path == "/api/v1/sessions" for r in handler.requests) == 1


def test_unknown_project_is_a_source_error():
    handler = ScriptedLangSmith(make_demo_runs(1))
    with pytest.raises(SourceError, match="not found"):
        _client(handler, project="nope").fetch_page(ImportFilters(), None)


def test_retry_after_is_honoured_on_429_and_capped():
    script = [httpx.Response(429, headers={"Retry-After": "2"}), httpx.Response(429, headers={"Retry-After": "9999"})]
    handler = ScriptedLangSmith(make_demo_runs(1), script)
    sleeps: list[float] = []
    traces, _ = _read_all(_client(handler, sleeps), None)
    assert len(traces) == 1
    assert sleeps == [2.0, MAX_RETRY_AFTER_S]


def test_server_errors_and_timeouts_back_off_then_succeed():
    script = [httpx.Response(503), httpx.ReadTimeout("slow"), httpx.Response(500)]
    handler = ScriptedLangSmith(make_demo_runs(1), script)
    sleeps: list[float] = []
    traces, _ = _read_all(_client(handler, sleeps))
    assert len(traces) == 1
    assert len(sleeps) == 3 and sleeps[0] < sleeps[2] <= 2.0 and all(s > 0 for s in sleeps)


def test_attempts_are_bounded_then_transient_error():
    handler = ScriptedLangSmith(make_demo_runs(1), [httpx.Response(502)] * 10)
    sleeps: list[float] = []
    with pytest.raises(TransientSourceError, match="after 3 attempts; last: HTTP 502"):
        _client(handler, sleeps, max_attempts=3).check()
    assert len(handler.requests) == 3 and len(sleeps) == 2


def test_wrong_key_is_an_auth_error_without_retries():
    handler = ScriptedLangSmith(make_demo_runs(1))
    with pytest.raises(SourceAuthError):
        _client(handler, api_key="wrong").check()
    assert len(handler.requests) == 1


def test_a_trace_whose_runs_cannot_be_read_is_a_failure_not_an_abort():
    runs = make_demo_runs(3)
    handler = ScriptedLangSmith(runs)
    broken = runs[4]["trace_id"]
    handler.fake.broken_trace_ids.add(broken)
    page = _client(handler).fetch_page(ImportFilters(), None)
    assert len(page.traces) == 2 and [f.external_id for f in page.failures] == [broken]
    assert page.failures[0].reason.startswith("HTTP 404")


def test_check_reports_projects():
    handler = ScriptedLangSmith(make_demo_runs(1))
    assert _client(handler).check() == "reached LangSmith: 1 projects"


def test_bad_cursor_is_a_source_error():
    with pytest.raises(SourceError, match="cursor"):
        _client(ScriptedLangSmith([])).fetch_page(ImportFilters(), "not-a-cursor")


def test_no_projects_means_an_empty_last_page():
    page = _client(ScriptedLangSmith([])).fetch_page(ImportFilters(), None)
    assert page.traces == [] and page.next_cursor is None and page.total == 0
