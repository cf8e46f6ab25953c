"""The OpenAI stored-completions source against the fake OpenAI (public API shapes) over HTTP:
paging with ``after``, grouping by a metadata key, messages per completion, faults, and the
unified trace the group becomes."""

from __future__ import annotations

import json

import httpx
import pytest

from chalicelib.sources.models import ImportFilters, SourceAuthError
from chalicelib.sources.openai import OpenAIClient, normalize_openai_trace
from infra.local.fake_openai import FakeOpenAI, make_completions


def _all_pages(client: OpenAIClient, filters: ImportFilters | None = None) -> tuple[list[dict], int]:
    traces, cursor, pages = [], None, 0
    while True:
        page = client.fetch_page(filters or ImportFilters(), cursor)
        traces += page.traces
        pages += 1
        assert page.failures == []
        cursor = page.next_cursor
        if not cursor:
            return traces, pages


def test_completions_group_into_conversations_across_pages_despite_faults():
    with FakeOpenAI(make_completions(5, singles=2), rate_limit_every=5, retry_after_s=0.01, error_every=7) as fake, \
            httpx.Client() as http:
        client = OpenAIClient(fake.base_url + "/v1", fake.api_key, http=http, group_by="conversation_id",
                              page_size=3, sleep=lambda s: None)
        traces, pages = _all_pages(client)
        assert fake.statuses[429] > 0 and fake.statuses[500] > 0 and pages == 4
    by_id = {t["id"]: t for t in traces}
    # a conversation split across list pages is fetched whole (by its metadata), and imported again on the
    # next page as the same trace: an idempotent upsert
    assert set(by_id) == {f"conversation_id=conv-{n}" for n in range(5)} | {"chatcmpl-single-0", "chatcmpl-single-1"}
    assert all(len(by_id[f"conversation_id=conv-{n}"]["completions"]) == 2 for n in range(5))
    first = by_id["conversation_id=conv-0"]["completions"]
    assert [c["id"] for c in first] == ["chatcmpl-0a", "chatcmpl-0b"] and len(first[1]["messages"]) == 4


def test_without_a_group_key_each_completion_is_a_trace_and_the_limit_holds():
    with FakeOpenAI(make_completions(3)) as fake, httpx.Client() as http:
        client = OpenAIClient(fake.base_url, fake.api_key, http=http, page_size=2)
        traces, _ = _all_pages(client)
        assert [t["id"] for t in traces] == [c["id"] for c in make_completions(3)]
        limited, _ = _all_pages(client, ImportFilters(limit=3))
        assert len(limited) == 3
        mine, _ = _all_pages(client, ImportFilters(user_id="user-1"))
        assert {t["completions"][0]["metadata"]["user_id"] for t in mine} == {"user-1"} and len(mine) == 2


def test_a_wrong_key_is_an_auth_error():
    with FakeOpenAI(make_completions(1)) as fake, httpx.Client() as http:
        client = OpenAIClient(fake.base_url, "sk-wrong", http=http)
        with pytest.raises(SourceAuthError):
            client.fetch_page(ImportFilters(), None)


def test_a_conversation_becomes_one_unified_trace_with_its_tool_call_paired():
    with FakeOpenAI(make_completions(3)) as fake, httpx.Client() as http:
        client = OpenAIClient(fake.base_url, fake.api_key, http=http, group_by="conversation_id")
        traces, _ = _all_pages(client)
    ok, failed = (normalize_openai_trace(traces[n], integration_id="int_1") for n in (0, 2))
    assert ok.source.platform == "openai" and ok.source.external_id == "conversation_id=conv-0"
    assert [m.role for m in ok.messages] == ["system", "user", "assistant", "tool", "assistant"]
    assert ok.stats.llm_calls == 2 and ok.stats.tool_calls == 1 and ok.stats.tool_errors == 0
    assert ok.tool_calls[0].name == "get_order" and json.loads(ok.tool_calls[0].result) == {"status": "shipped"}
    assert ok.input.startswith("Where is my order") and ok.output.endswith("has shipped.")
    assert ok.session_id == "conv-0" and ok.user_id == "user-0" and ok.steps[0].model.startswith("gpt-4o-mini")
    assert failed.tool_calls[0].result == "error: order service unavailable"
