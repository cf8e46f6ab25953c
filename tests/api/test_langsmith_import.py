"""Importing from LangSmith through the real path: API → job → import state machine (moto's
interpreter) → task handlers → fake LangSmith over HTTP → DynamoDB/S3."""

from infra.local.fake_langsmith import FakeLangSmith, make_demo_runs


def _connect(api, fake, **extra) -> str:
    body = {"platform": "langsmith", "name": extra.pop("name", "ls"), "base_url": fake.base_url,
            "credentials": {"api_key": extra.pop("api_key", fake.api_key)}, **extra}
    return api.ok("POST", "/v1/integrations", body, status=201)["id"]


def test_import_through_a_faulty_langsmith_then_reimport_skips(api, other):
    runs = make_demo_runs(12)
    with FakeLangSmith(runs, rate_limit_every=6, retry_after_s=0.05, error_every=7) as fake:
        integration_id = _connect(api, fake, project="default")
        assert api.ok("POST", f"/v1/integrations/{integration_id}/test")["ok"] is True
        first = api.run_import(integration_id)
        assert first["status"] == "succeeded", first
        assert first["result"]["imported"] == 12 and first["result"]["failed"] == 0, first["result"]
        assert fake.statuses[429] > 0 and fake.statuses[500] > 0
        second = api.run_import(integration_id)
        assert second["status"] == "succeeded"
        assert second["result"]["imported"] == 0 and second["result"]["skipped"] == 12
    listed = api.all_traces()
    assert len(listed) == 12 and len({t["id"] for t in listed}) == 12
    assert other.all_traces() == []
    integration = api.ok("GET", f"/v1/integrations/{integration_id}")
    assert integration["status"] == "ok" and integration["last_sync_at"] and integration["project"] == "default"

    root = runs[0]
    trace = next(t for t in listed if t["source"]["external_id"] == root["id"])
    full = api.ok("GET", f"/v1/traces/{trace['id']}")
    assert full["source"]["platform"] == "langsmith"
    assert full["stats"]["llm_calls"] == 2 and full["stats"]["tool_calls"] == 1
    assert [m["role"] for m in full["messages"]] == ["system", "user", "assistant", "tool", "assistant"]
    assert full["tool_calls"][0]["name"] == "get_weather" and full["tool_calls"][0]["result"] == "10C and sunny"
    assert full["input"] == "What is the weather in city 0?"


def test_import_honours_filters_and_limit(api):
    with FakeLangSmith(make_demo_runs(9)) as fake:
        integration_id = _connect(api, fake)
        done = api.run_import(integration_id, {"user_id": "user-2"})
        assert done["result"]["imported"] == 3
        done = api.run_import(integration_id, {"limit": 5})
        assert done["result"]["imported"] + done["result"]["skipped"] == 5


def test_wrong_api_key_fails_the_job_and_marks_the_integration(api):
    with FakeLangSmith(make_demo_runs(2)) as fake:
        integration_id = _connect(api, fake, api_key="lsv2_wrong")
        test = api.ok("POST", f"/v1/integrations/{integration_id}/test")
        assert test["ok"] is False and "401" in test["detail"]
        done = api.run_import(integration_id)
    assert done["status"] == "failed" and "SourceAuthError" in done["error"]
    assert api.ok("GET", f"/v1/integrations/{integration_id}")["status"] == "error"


def test_langsmith_needs_an_api_key(api):
    response = api.post("/v1/integrations", {"platform": "langsmith", "name": "x", "base_url": "http://127.0.0.1:9",
                                             "credentials": {}})
    assert response.status_code == 400 and "api_key" in str(response.json_body)
