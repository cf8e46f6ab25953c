"""Importing OpenAI stored chat completions through the real path (API → job → import state
machine → task handlers → fake OpenAI over HTTP), and one eval over a mixed set of Langfuse,
LangSmith, OpenAI and OTLP traces that sees the same unified fields from each."""

from __future__ import annotations

import json

import pytest

from infra.local.demo_traces import make_demo_traces
from infra.local.fake_langsmith import FakeLangSmith, make_demo_runs
from infra.local.fake_openai import FakeOpenAI, make_completions
from tests.unit.sources.test_otlp_payloads import agent_spans, request


def _connect_openai(api, fake, **extra) -> str:
    body = {"platform": "openai", "name": "openai", "base_url": fake.base_url,
            "credentials": {"api_key": extra.pop("api_key", fake.api_key)}, **extra}
    return api.ok("POST", "/v1/integrations", body, status=201)["id"]


def test_import_groups_completions_by_the_named_metadata_key_through_faults(api, other):
    with FakeOpenAI(make_completions(4, singles=1), rate_limit_every=6, retry_after_s=0.05, error_every=9) as fake:
        integration_id = _connect_openai(api, fake, group_by="conversation_id")
        assert api.ok("GET", f"/v1/integrations/{integration_id}")["group_by"] == "conversation_id"
        assert api.ok("POST", f"/v1/integrations/{integration_id}/test")["ok"] is True
        done = api.run_import(integration_id)
        assert done["status"] == "succeeded" and done["result"]["failed"] == 0, done
        assert fake.statuses[429] > 0 and fake.statuses[500] > 0
    listed = api.all_traces()
    assert sorted(t["source"]["external_id"] for t in listed) == sorted(
        [f"conversation_id=conv-{n}" for n in range(4)] + ["chatcmpl-single-0"])
    assert {t["source"]["platform"] for t in listed} == {"openai"} and other.all_traces() == []
    conv = next(t for t in listed if t["source"]["external_id"] == "conversation_id=conv-1")
    full = api.ok("GET", f"/v1/traces/{conv['id']}")
    assert [m["role"] for m in full["messages"]] == ["system", "user", "assistant", "tool", "assistant"]
    assert full["tool_calls"][0]["name"] == "get_order" and full["stats"]["llm_calls"] == 2


def test_without_a_group_key_each_completion_is_a_trace(api):
    with FakeOpenAI(make_completions(2)) as fake:
        done = api.run_import(_connect_openai(api, fake))
    assert done["result"]["imported"] == 4


def test_a_wrong_openai_key_fails_the_job(api):
    with FakeOpenAI(make_completions(1)) as fake:
        integration_id = _connect_openai(api, fake, api_key="sk-wrong")
        assert api.ok("POST", f"/v1/integrations/{integration_id}/test")["ok"] is False
        done = api.run_import(integration_id)
    assert done["status"] == "failed" and "SourceAuthError" in done["error"]


FIELDS_EVAL = '''
import json


def eval_unified_fields(trace: dict) -> tuple[bool, str]:
    roles = [m["role"] for m in trace["messages"]]
    call = trace["tool_calls"][0] if trace["tool_calls"] else {}
    return True, json.dumps({
        "platform": trace["source"]["platform"],
        "keys": sorted(trace),
        "stats": sorted(trace["stats"]),
        "user_first": roles[:1] == ["user"] or roles[:2] == ["system", "user"],
        "assistant": "assistant" in roles,
        "tool": sorted(call),
        "tool_named": bool(call.get("name")),
        "tool_answered": call.get("result") is not None or call.get("error") is not None,
        "llm_calls": trace["stats"]["llm_calls"],
        "steps": sorted({k for s in trace["steps"] for k in s}),
    })
'''


@pytest.mark.slow
def test_one_eval_sees_the_same_unified_fields_from_every_source(api):
    """Langfuse and OTLP files, LangSmith and OpenAI integrations: one eval version runs over all of them."""
    body = "\n".join(json.dumps(t) for t in make_demo_traces(n=6, seed=4))
    api.wait_ok(api.ok("POST", "/v1/traces/upload?format=langfuse", raw=body,
                       headers={"Content-Type": "application/x-ndjson"}, status=202)["job_id"])
    api.wait_ok(api.ok("POST", "/v1/traces/upload?format=otlp", raw=json.dumps(request(agent_spans())),
                       headers={"Content-Type": "application/x-ndjson"}, status=202)["job_id"])
    with FakeLangSmith(make_demo_runs(2)) as langsmith:
        ls = api.ok("POST", "/v1/integrations", {"platform": "langsmith", "name": "ls", "base_url": langsmith.base_url,
                                                 "credentials": {"api_key": langsmith.api_key}}, status=201)["id"]
        assert api.run_import(ls)["status"] == "succeeded"
    with FakeOpenAI(make_completions(2)) as openai:
        assert api.run_import(_connect_openai(api, openai, group_by="conversation_id"))["status"] == "succeeded"
    traces = api.all_traces()
    assert {t["source"]["platform"] for t in traces} == {"langfuse", "otlp", "langsmith", "openai"}

    es = api.ok("POST", "/v1/eval-sets", {"name": "fields", "criteria": "any"}, status=201)["id"]
    langfuse = [t["id"] for t in traces if t["source"]["platform"] == "langfuse"]
    api.rate(es, [(t, "positive" if i % 2 else "negative") for i, t in enumerate(langfuse)])
    generated = api.wait_ok(api.ok("POST", f"/v1/eval-sets/{es}/generate", {"generator": "offline"},
                                   status=202)["job_id"])["result"]["eval_id"]
    version = api.ok("POST", f"/v1/evals/{generated}/versions", {"code": FIELDS_EVAL}, status=201)["id"]
    api.wait_ok(api.ok("POST", f"/v1/evals/{version}/execute", {}, status=202)["job_id"])
    results = api.ok("GET", f"/v1/evals/{version}/executions?limit=200")["items"]
    assert len(results) == len(traces) and {r["result"] for r in results} == {"pass"}, results
    seen = {}
    for r in results:
        fields = json.loads(r["reason"])
        seen.setdefault(fields.pop("platform"), []).append(fields)
    assert set(seen) == {"langfuse", "otlp", "langsmith", "openai"}
    reference = seen["langfuse"][0]
    for platform, all_fields in seen.items():
        for fields in all_fields:
            assert fields["keys"] == reference["keys"] and fields["stats"] == reference["stats"], platform
            assert fields["user_first"] and fields["llm_calls"] >= 1, (platform, fields)
            assert fields["steps"] == reference["steps"], platform
        assert any(f["assistant"] for f in all_fields), platform
    # every source that had a tool call gives it the same shape, named and answered
    calls = [f for fs in seen.values() for f in fs if f["tool"]]
    assert {p for p, fs in seen.items() if any(f["tool"] for f in fs)} == {"langfuse", "otlp", "langsmith", "openai"}
    assert all(f["tool"] == calls[0]["tool"] and f["tool_named"] and f["tool_answered"] for f in calls)
