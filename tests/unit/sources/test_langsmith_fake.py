"""The fake LangSmith server over real HTTP: auth, faults, and the client reading through them."""

from __future__ import annotations

import httpx
import pytest

from chalicelib.sources.langsmith import LangSmithClient, normalize_langsmith_trace
from chalicelib.sources.models import ImportFilters
from infra.local.fake_langsmith import FakeLangSmith, make_demo_runs, parse_filter


def test_requests_without_the_key_are_refused():
    with FakeLangSmith(make_demo_runs(1)) as fake:
        response = httpx.post(fake.base_url + "/api/v1/runs/query", json={"session": ["x"]})
        assert response.status_code == 401


def test_client_reads_everything_through_429s_and_500s():
    with FakeLangSmith(make_demo_runs(12), rate_limit_every=4, retry_after_s=0.01, error_every=5) as fake, httpx.Client() as http:
        client = LangSmithClient(fake.base_url, fake.api_key, http=http, page_size=5, sleep=lambda _s: None)
        traces, cursor = [], None
        while True:
            page = client.fetch_page(ImportFilters(), cursor)
            assert page.failures == []
            traces += page.traces
            cursor = page.next_cursor
            if cursor is None:
                break
        assert fake.statuses[429] > 0 and fake.statuses[500] > 0
    assert len({t["id"] for t in traces}) == 12
    normalized = [normalize_langsmith_trace(t, integration_id="i") for t in traces]
    assert sum(t.stats.tool_errors for t in normalized) == 2  # demo traces 4 and 9 fail their tool
    assert all(t.stats.llm_calls == 2 and t.stats.tool_calls == 1 for t in normalized)


def test_get_run_answers_one_run_or_404():
    runs = make_demo_runs(1)
    with FakeLangSmith(runs) as fake:
        headers = {"x-api-key": fake.api_key}
        assert httpx.get(f"{fake.base_url}/api/v1/runs/{runs[1]['id']}", headers=headers).json()["run_type"] == "llm"
        assert httpx.get(f"{fake.base_url}/api/v1/runs/nope", headers=headers).status_code == 404


def test_query_needs_a_session_or_trace():
    status, _ = FakeLangSmith([]).query_runs({"is_root": True})
    assert status == 400


def test_filter_parser_reads_nested_calls_and_rejects_garbage():
    assert parse_filter('and(eq(name, "a"), has(tags, "b"))') == ("and", [("eq", [("field", "name"), "a"]), ("has", [("field", "tags"), "b"])])
    with pytest.raises(ValueError):
        parse_filter("eq(name, ")
