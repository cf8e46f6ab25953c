from __future__ import annotations

import httpx
import pytest

from chalicelib.sources.langfuse.client import LangfuseClient
from chalicelib.sources.langfuse.normalize import normalize_langfuse_trace
from chalicelib.sources.models import ImportFilters, SourceAuthError, TransientSourceError
from infra.local.demo_traces import make_demo_traces
from infra.local.fake_langfuse import DEFAULT_PUBLIC_KEY, DEFAULT_SECRET_KEY, FakeLangfuse


def _client(fake: FakeLangfuse, **options) -> LangfuseClient:
    options.setdefault("sleep", lambda seconds: None)
    return LangfuseClient(fake.base_url, DEFAULT_PUBLIC_KEY, DEFAULT_SECRET_KEY, http=httpx.Client(timeout=10), **options)


def _import_all(client: LangfuseClient, filters: ImportFilters) -> tuple[list[dict], list]:
    traces, failures, cursor = [], [], None
    while True:
        page = client.fetch_page(filters, cursor)
        traces.extend(page.traces)
        failures.extend(page.failures)
        cursor = page.next_cursor
        if cursor is None:
            return traces, failures


def test_all_taubench_traces_import_through_rate_limits_and_server_errors(taubench_file):
    with FakeLangfuse.from_file(taubench_file, rate_limit_every=5, error_every=7, retry_after_s=0) as fake:
        traces, failures = _import_all(_client(fake, page_size=50), ImportFilters())
        assert failures == []
        assert len(traces) == 200
        assert len({t["id"] for t in traces}) == 200
        assert fake.statuses[429] > 0 and fake.statuses[500] > 0
        assert all(normalize_langfuse_trace(t, integration_id="int_fake").stats.llm_calls > 0 for t in traces)


def test_v2_import_through_the_fake_matches_v1_structure():
    demo = make_demo_traces(12)
    with FakeLangfuse(demo, rate_limit_every=4, retry_after_s=0) as fake:
        v1, _ = _import_all(_client(fake, page_size=5), ImportFilters())
        v2, _ = _import_all(_client(fake, page_size=5, mode="v2"), ImportFilters())
    assert [t["id"] for t in v1] == [t["id"] for t in v2]
    for one, two in zip(v1, v2):
        a = normalize_langfuse_trace(one, integration_id="i")
        b = normalize_langfuse_trace(two, integration_id="i")
        assert [(s.id, s.type, s.parent_id) for s in a.steps] == [(s.id, s.type, s.parent_id) for s in b.steps]
        assert [(c.name, c.arguments, c.error) for c in a.tool_calls] == [(c.name, c.arguments, c.error) for c in b.tool_calls]
        assert [m.role for m in a.messages] == [m.role for m in b.messages]
        assert a.stats == b.stats


def test_fake_filters_by_tags_user_name_and_time():
    demo = make_demo_traces(20)
    target = demo[3]
    with FakeLangfuse(demo) as fake:
        client = _client(fake)
        by_user, _ = _import_all(client, ImportFilters(user_id=target["userId"]))
        assert target["id"] in {t["id"] for t in by_user}
        assert {t["userId"] for t in by_user} == {target["userId"]}
        model_tag = target["tags"][-1]
        by_tag, _ = _import_all(client, ImportFilters(tags=["support", model_tag]))
        assert {t["id"] for t in by_tag} == {t["id"] for t in demo if model_tag in t["tags"]}
        window = ImportFilters(from_timestamp=demo[5]["timestamp"], to_timestamp=demo[9]["timestamp"], name="support-agent")
        in_window, _ = _import_all(client, window)
        assert [t["id"] for t in in_window] == [t["id"] for t in demo[5:9]]


def test_fake_rejects_wrong_keys_and_reports_missing_traces():
    demo = make_demo_traces(4)
    with FakeLangfuse(demo, broken_trace_ids={demo[1]["id"]}) as fake:
        wrong = LangfuseClient(fake.base_url, "pk-lf-x", "sk-lf-x", http=httpx.Client(), sleep=lambda s: None)
        with pytest.raises(SourceAuthError):
            wrong.check()
        assert fake.statuses[401] == 1
        page = _client(fake).fetch_page(ImportFilters(), None)
        assert [f.external_id for f in page.failures] == [demo[1]["id"]]
        assert len(page.traces) == 3
        assert _client(fake).check() == "reached Langfuse: 4 traces"


def test_fake_serves_legacy_observation_list_paged():
    demo = make_demo_traces(3)
    with FakeLangfuse(demo) as fake:
        auth = (DEFAULT_PUBLIC_KEY, DEFAULT_SECRET_KEY)
        response = httpx.get(f"{fake.base_url}/api/public/observations", params={"traceId": demo[0]["id"], "limit": 2}, auth=auth)
        body = response.json()
        assert response.status_code == 200
        assert body["meta"]["totalItems"] == len(demo[0]["observations"])
        assert len(body["data"]) == 2 and body["data"][0]["traceId"] == demo[0]["id"]


def test_slow_fake_responses_end_in_transient_error_after_timeouts():
    with FakeLangfuse(make_demo_traces(2), delay_s=0.3) as fake:
        sleeps: list[float] = []
        client = LangfuseClient(
            fake.base_url, DEFAULT_PUBLIC_KEY, DEFAULT_SECRET_KEY, http=httpx.Client(timeout=0.05), max_attempts=2, sleep=sleeps.append
        )
        with pytest.raises(TransientSourceError, match="timeout"):
            client.check()
        assert len(sleeps) == 1 and fake.requests >= 1
