"""Importing from Langfuse through the real path: API → job → import state machine (moto's
interpreter) → task handlers → fake Langfuse over HTTP → DynamoDB/S3."""

import gzip
import json
import time

import pytest

from infra.local.demo_traces import make_demo_traces
from infra.local.fake_langfuse import FakeLangfuse
from tests.conftest import TAUBENCH, requires_shared


def _connect(api, fake, **extra) -> str:
    body = {"platform": "langfuse", "name": extra.pop("name", "lf"), "base_url": fake.base_url,
            "credentials": {"public_key": fake.public_key, "secret_key": fake.secret_key}, **extra}
    return api.ok("POST", "/v1/integrations", body, status=201)["id"]


@pytest.fixture(scope="module")
def taubench_raw():
    if not TAUBENCH.exists():
        pytest.skip(f"needs {TAUBENCH} (../shared is not beside this clone)")
    with gzip.open(TAUBENCH / "traces.langfuse.jsonl.gz", "rt") as fh:
        return [json.loads(line) for line in fh if line.strip()]


@pytest.mark.slow
@requires_shared()
def test_taubench_import_twice_through_faulty_source_keeps_200(api, other, taubench_raw):
    with FakeLangfuse(taubench_raw, rate_limit_every=5, retry_after_s=0.05, error_every=7) as fake:
        integration_id = _connect(api, fake)
        first = api.run_import(integration_id)
        assert first["status"] == "succeeded", first
        assert first["result"]["imported"] == 200 and first["result"]["failed"] == 0, first["result"]
        assert fake.statuses[429] > 0 and fake.statuses[500] > 0
        second = api.run_import(integration_id)
        assert second["status"] == "succeeded"
        assert second["result"]["imported"] == 0
        assert second["result"]["skipped"] == 200
    listed = api.all_traces()
    assert len(listed) == 200 and len({t["id"] for t in listed}) == 200
    assert other.all_traces() == []

    integration = api.ok("GET", f"/v1/integrations/{integration_id}")
    assert integration["status"] == "ok" and integration["last_sync_at"]

    # a trace's messages, tool calls and stats match its source observations
    raw = taubench_raw[0]
    trace = next(t for t in listed if t["source"]["external_id"] == raw["id"])
    full = api.ok("GET", f"/v1/traces/{trace['id']}")
    observations = raw["observations"]
    tools = [o for o in observations if o["type"] == "TOOL"]
    generations = [o for o in observations if o["type"] == "GENERATION"]
    assert full["stats"]["llm_calls"] == len(generations)
    assert full["stats"]["tool_calls"] == len(tools) == len(full["tool_calls"])
    assert full["stats"]["tool_errors"] == sum(o["level"] == "ERROR" for o in tools)
    asked = [c["function"]["name"] for g in generations for c in (g["output"] or {}).get("tool_calls") or []]
    assert [c["name"] for c in full["tool_calls"]] == asked
    user_turns = [o["input"] for o in observations if o["type"] == "EVENT" and o["name"] == "user_message"]
    assert [m["content"] for m in full["messages"] if m["role"] == "user"] == user_turns
    assert full["input"] == raw["input"] and full["output"] == raw["output"]


def test_import_honours_filters_and_limit(api):
    traces = make_demo_traces(n=20)
    with FakeLangfuse(traces) as fake:
        integration_id = _connect(api, fake)
        user = traces[0]["userId"]
        done = api.run_import(integration_id, {"user_id": user})
        expected = sum(t["userId"] == user for t in traces)
        assert done["result"]["imported"] == expected
        done = api.run_import(integration_id, {"limit": 7})
        assert done["result"]["imported"] + done["result"]["skipped"] == 7


def test_import_reports_each_trace_that_cannot_be_fetched(api):
    traces = make_demo_traces(n=10)
    broken = traces[3]["id"]
    with FakeLangfuse(traces, broken_trace_ids=[broken]) as fake:
        done = api.run_import(_connect(api, fake))
    assert done["status"] == "succeeded"
    assert done["result"]["imported"] == 9 and done["result"]["failed"] == 1
    assert done["result"]["failures"][0]["external_id"] == broken


def test_wrong_credentials_fail_the_job_with_the_reason_and_mark_the_integration(api):
    with FakeLangfuse(make_demo_traces(n=3)) as fake:
        body = {"platform": "langfuse", "name": "bad", "base_url": fake.base_url,
                "credentials": {"public_key": "pk-lf-wrong", "secret_key": "sk-lf-wrong"}}
        integration_id = api.ok("POST", "/v1/integrations", body, status=201)["id"]
        test = api.ok("POST", f"/v1/integrations/{integration_id}/test")
        assert test["ok"] is False and "401" in test["detail"] or "credential" in test["detail"].lower()
        done = api.run_import(integration_id)
    assert done["status"] == "failed"
    assert "SourceAuthError" in done["error"]
    assert api.ok("GET", f"/v1/integrations/{integration_id}")["status"] == "error"


def test_connection_test_reaches_the_source(api):
    with FakeLangfuse(make_demo_traces(n=4)) as fake:
        integration_id = _connect(api, fake)
        before = fake.requests
        result = api.ok("POST", f"/v1/integrations/{integration_id}/test")
        assert result["ok"] is True
        assert fake.requests > before
    assert api.ok("GET", f"/v1/integrations/{integration_id}")["status"] == "ok"


def test_cancel_stops_a_running_import(api):
    with FakeLangfuse(make_demo_traces(n=30), delay_s=0.3) as fake:
        integration_id = _connect(api, fake)
        job = api.ok("POST", "/v1/traces/import", {"integration_id": integration_id}, status=202)
        time.sleep(1.0)
        cancelled = api.ok("POST", f"/v1/jobs/{job['job_id']}/cancel")
        assert cancelled["status"] == "cancelled"
        time.sleep(1.0)
        assert api.ok("GET", f"/v1/jobs/{job['job_id']}")["status"] == "cancelled"
        assert api.post(f"/v1/jobs/{job['job_id']}/cancel").status_code == 409


def test_job_past_its_time_limit_ends_failed_with_timeout(api, stack):
    from chalicelib import wiring
    from chalicelib.jobs import service as jobs_service
    from infra import resources

    sm = next(m for m in resources.STATE_MACHINES if m.name == "import_traces")
    subs = resources.definition_substitutions(stack.provisioned.function_arns.__getitem__)
    sfn = wiring.sfn()
    arn = sfn.create_state_machine(name=f"import-short-{time.time_ns()}",
                                   definition=resources.render_definition(sm, subs, timeout_seconds=2),
                                   roleArn="arn:aws:iam::123456789012:role/x")["stateMachineArn"]
    with FakeLangfuse(make_demo_traces(n=40), delay_s=0.5) as fake:
        integration_id = _connect(api, fake)
        job = jobs_service.start_job(api.workspace_id, "import", {"integration_id": integration_id, "filters": {}},
                                     state_machine_arn=arn, jobs=wiring.job_repo(), sfn=sfn)
        done = api.wait_job(job.id, timeout_s=60)
    assert done["status"] == "failed"
    assert done["error"] == "timeout"
