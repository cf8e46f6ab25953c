from __future__ import annotations

import base64
import json
import math
import random
from datetime import datetime, timezone
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest

from chalicelib.errors import SourceError
from chalicelib.sources.http import MAX_RETRY_AFTER_S
from chalicelib.sources.langfuse.client import LangfuseClient, observation_from_v2
from chalicelib.sources.models import ImportFilters, SourceAuthError, TransientSourceError

BASE = "https://langfuse.test"


def _trace(i: int) -> dict[str, Any]:
    return {
        "id": f"t{i:03d}",
        "timestamp": f"2025-01-01T00:{i:02d}:00Z",
        "name": "agent",
        "tags": ["a"],
        "htmlPath": f"/project/p/traces/t{i:03d}",
        "observations": [
            {"id": f"o{i}", "traceId": f"t{i:03d}", "type": "GENERATION", "startTime": f"2025-01-01T00:{i:02d}:01Z", "input": [{"role": "user", "content": "hi"}], "output": {"role": "assistant", "content": "yo"}, "model": "m"}
        ],
        "scores": [],
    }


class ScriptedLangfuse:
    """A MockTransport handler: serves traces page by page; scripted failures come first."""

    def __init__(self, traces: list[dict[str, Any]], script: list[httpx.Response] | None = None):
        self.traces = {t["id"]: t for t in traces}
        self.script = list(script or [])
        self.requests: list[httpx.Request] = []
        self.missing: set[str] = set()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.script:
            return self.script.pop(0)
        path = request.url.path
        query = parse_qs(request.url.query.decode())
        if path == "/api/public/traces":
            page, limit = int(query["page"][0]), int(query["limit"][0])
            items = list(self.traces.values())
            chunk = items[(page - 1) * limit : page * limit]
            listed = [{**{k: v for k, v in t.items() if k != "observations"}, "observations": [o["id"] for o in t["observations"]]} for t in chunk]
            meta = {"page": page, "limit": limit, "totalItems": len(items), "totalPages": math.ceil(len(items) / limit)}
            return httpx.Response(200, json={"data": listed, "meta": meta})
        if path.startswith("/api/public/traces/"):
            trace_id = path.rsplit("/", 1)[1]
            if trace_id in self.missing or trace_id not in self.traces:
                return httpx.Response(404, json={"message": "not found"})
            return httpx.Response(200, json=self.traces[trace_id])
        if path == "/api/public/v2/observations":
            trace = self.traces[query["traceId"][0]]
            observations = [{**o, "input": json.dumps(o["input"]), "output": json.dumps(o["output"]), "providedModelName": o["model"]} for o in trace["observations"]]
            for o in observations:
                del o["model"]
            cursor = query.get("cursor", [None])[0]
            if cursor is None:  # two pages: the first observation, then the rest
                return httpx.Response(200, json={"data": observations[:1], "meta": {"cursor": "c2"}})
            return httpx.Response(200, json={"data": observations[1:], "meta": {}})
        return httpx.Response(404)


def _client(handler: Any, **options: Any) -> tuple[LangfuseClient, list[float]]:
    sleeps: list[float] = []
    options.setdefault("sleep", sleeps.append)
    options.setdefault("rng", random.Random(1))
    client = LangfuseClient(BASE, "pk-lf-1", "sk-lf-1", http=httpx.Client(transport=httpx.MockTransport(handler)), **options)
    return client, sleeps


def _all_pages(client: LangfuseClient, filters: ImportFilters) -> tuple[list[dict[str, Any]], int]:
    traces, cursor, pages = [], None, 0
    while True:
        page = client.fetch_page(filters, cursor)
        pages += 1
        traces.extend(page.traces)
        cursor = page.next_cursor
        if cursor is None:
            return traces, pages


def test_fetch_pages_walk_every_page_with_basic_auth():
    server = ScriptedLangfuse([_trace(i) for i in range(7)])
    client, _ = _client(server, page_size=3)
    traces, pages = _all_pages(client, ImportFilters())
    assert [t["id"] for t in traces] == [f"t{i:03d}" for i in range(7)]
    assert pages == 3
    assert all(isinstance(t["observations"][0], dict) for t in traces)
    expected = "Basic " + base64.b64encode(b"pk-lf-1:sk-lf-1").decode()
    assert {r.headers["Authorization"] for r in server.requests} == {expected}


def test_filters_are_sent_as_query_parameters():
    server = ScriptedLangfuse([_trace(1)])
    client, _ = _client(server)
    filters = ImportFilters(
        from_timestamp=datetime(2025, 1, 1, tzinfo=timezone.utc),
        to_timestamp=datetime(2025, 2, 1, 12, 30),
        tags=["prod", "agent"],
        name="checkout",
        user_id="u-1",
    )
    page = client.fetch_page(filters, None)
    query = parse_qs(server.requests[0].url.query.decode())
    assert query["fromTimestamp"] == ["2025-01-01T00:00:00.000Z"]
    assert query["toTimestamp"] == ["2025-02-01T12:30:00.000Z"]
    assert query["tags"] == ["prod", "agent"]
    assert query["name"] == ["checkout"] and query["userId"] == ["u-1"]
    assert query["page"] == ["1"] and query["limit"] == ["50"]
    assert page.total == 1


def test_limit_caps_the_total_across_pages():
    server = ScriptedLangfuse([_trace(i) for i in range(10)])
    client, _ = _client(server, page_size=4)
    traces, pages = _all_pages(client, ImportFilters(limit=6))
    assert [t["id"] for t in traces] == [f"t{i:03d}" for i in range(6)]
    assert pages == 2
    assert client.fetch_page(ImportFilters(limit=6), None).total == 6
    detail_fetches = [r for r in server.requests if r.url.path.startswith("/api/public/traces/")]
    assert len(detail_fetches) == 6 + 4  # the second fetch_page call above re-reads page 1


def test_rate_limit_honours_retry_after_capped():
    server = ScriptedLangfuse(
        [_trace(1)],
        script=[
            httpx.Response(429, headers={"Retry-After": "3"}),
            httpx.Response(429, headers={"Retry-After": "600"}),
            httpx.Response(429),
        ],
    )
    client, sleeps = _client(server)
    page = client.fetch_page(ImportFilters(), None)
    assert [t["id"] for t in page.traces] == ["t001"]
    assert sleeps[:2] == [3.0, MAX_RETRY_AFTER_S]
    assert 0.5 <= sleeps[2] <= 2.0  # no Retry-After: backoff for the third attempt


def test_server_errors_and_timeouts_are_retried_with_growing_backoff():
    calls = {"n": 0}
    server = ScriptedLangfuse([_trace(1)])

    def flaky(request: httpx.Request) -> httpx.Response:
        calls["n"] += 1
        if calls["n"] == 1:
            raise httpx.ReadTimeout("slow", request=request)
        if calls["n"] == 2:
            raise httpx.ConnectError("refused", request=request)
        if calls["n"] in (3, 4):
            return httpx.Response(502 if calls["n"] == 3 else 500)
        return server(request)

    client, sleeps = _client(flaky)
    page = client.fetch_page(ImportFilters(), None)
    assert len(page.traces) == 1
    assert len(sleeps) == 4
    for attempt, wait in enumerate(sleeps, start=1):
        ceiling = 0.5 * 2 ** (attempt - 1)
        assert ceiling / 2 <= wait <= ceiling


def test_exhausted_retries_raise_transient_source_error():
    client, sleeps = _client(lambda request: httpx.Response(503), max_attempts=4)
    with pytest.raises(TransientSourceError, match="after 4 attempts; last: HTTP 503"):
        client.fetch_page(ImportFilters(), None)
    assert len(sleeps) == 3


@pytest.mark.parametrize("status", [401, 403])
def test_auth_failures_raise_source_auth_error_without_retry(status):
    requests: list[httpx.Request] = []

    def refuse(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return httpx.Response(status, json={"message": "no"})

    client, sleeps = _client(refuse)
    with pytest.raises(SourceAuthError):
        client.fetch_page(ImportFilters(), None)
    with pytest.raises(SourceAuthError):
        client.check()
    assert len(requests) == 2 and sleeps == []


def test_missing_trace_detail_is_a_per_trace_failure():
    server = ScriptedLangfuse([_trace(i) for i in range(3)])
    server.missing.add("t001")
    client, _ = _client(server)
    page = client.fetch_page(ImportFilters(), None)
    assert [t["id"] for t in page.traces] == ["t000", "t002"]
    assert [(f.external_id, f.reason.split(":")[0]) for f in page.failures] == [("t001", "HTTP 404")]


def test_list_failure_that_is_not_transient_raises_source_error():
    client, _ = _client(lambda request: httpx.Response(400, text="bad filter"))
    with pytest.raises(SourceError, match="HTTP 400: bad filter"):
        client.fetch_page(ImportFilters(), None)


def test_invalid_cursor_is_rejected():
    client, _ = _client(ScriptedLangfuse([]))
    with pytest.raises(SourceError, match="cursor"):
        client.fetch_page(ImportFilters(), "not-a-cursor!")


def test_check_reports_the_trace_count():
    client, _ = _client(ScriptedLangfuse([_trace(i) for i in range(4)]))
    assert client.check() == "reached Langfuse: 4 traces"


def test_v2_mode_reads_observations_through_the_cursor_and_maps_fields():
    trace = _trace(1)
    trace["observations"].append({**trace["observations"][0], "id": "o-extra", "type": "TOOL", "model": None, "input": {"q": 1}, "output": "plain text"})
    server = ScriptedLangfuse([trace])
    client, _ = _client(server, mode="v2")
    page = client.fetch_page(ImportFilters(), None)
    [fetched] = page.traces
    assert [o["id"] for o in fetched["observations"]] == ["o1", "o-extra"]
    assert fetched["observations"][0]["input"] == [{"role": "user", "content": "hi"}]
    assert fetched["observations"][0]["model"] == "m"
    assert fetched["observations"][1]["output"] == "plain text"
    paths = [r.url.path for r in server.requests]
    assert paths == ["/api/public/traces", "/api/public/v2/observations", "/api/public/v2/observations"]
    assert parse_qs(server.requests[2].url.query.decode())["cursor"] == ["c2"]
    assert not any(p.startswith("/api/public/traces/") for p in paths)


def test_v2_observation_keeps_text_that_is_not_json():
    mapped = observation_from_v2({"id": "o", "input": "hello", "output": '{"a": 1}', "metadata": '{"k": "v"}', "totalCost": 0.2})
    assert mapped["input"] == "hello" and mapped["output"] == {"a": 1}
    assert mapped["metadata"] == {"k": "v"} and mapped["calculatedTotalCost"] == 0.2
