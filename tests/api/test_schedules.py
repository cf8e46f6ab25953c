"""Scheduled imports: the schedule is validated, stored on the integration and in EventBridge
Scheduler (moto), and when due the local scheduler fires the same function AWS would."""

from datetime import datetime, timedelta, timezone

import pytest

from infra.local.demo_traces import make_demo_traces
from infra.local.fake_langfuse import FakeLangfuse
from infra.local.scheduler import LocalScheduler


def _connect(api, fake) -> str:
    return api.ok("POST", "/v1/integrations", {
        "platform": "langfuse", "name": "lf", "base_url": fake.base_url,
        "credentials": {"public_key": fake.public_key, "secret_key": fake.secret_key}}, status=201)["id"]


@pytest.mark.parametrize("expression", ["rate(1 hours)", "every hour", "cron(* * * * * *)", "rate(30 seconds)",
                                        "cron(0 25 ? * * *)"])
def test_bad_expressions_are_400(api, expression):
    integration_id = api.ok("POST", "/v1/integrations", {
        "platform": "langfuse", "name": "lf", "base_url": "http://127.0.0.1:9",
        "credentials": {"public_key": "p", "secret_key": "s"}}, status=201)["id"]
    response = api.put(f"/v1/integrations/{integration_id}/schedule", {"expression": expression})
    assert response.status_code == 400, response.body
    assert api.ok("GET", f"/v1/integrations/{integration_id}")["schedule"] is None


def test_a_due_schedule_fires_once_and_imports_with_its_filters(api):
    from chalicelib import wiring
    from chalicelib.clients import aws_client

    with FakeLangfuse(make_demo_traces(n=12)) as fake:
        integration_id = _connect(api, fake)
        stored = api.ok("PUT", f"/v1/integrations/{integration_id}/schedule",
                        {"expression": "rate(1 hour)", "filters": {"limit": 8}, "run_active_evals": True})
        assert stored["schedule"]["expression"] == "rate(1 hour)"
        target = wiring.scheduler_target()
        created = aws_client("scheduler").get_schedule(Name=integration_id, GroupName=target.group)
        assert created["ScheduleExpression"] == "rate(1 hour)"
        assert created["Target"]["Arn"] == target.function_arn and created["Target"]["RoleArn"] == target.role_arn

        now = datetime.now(timezone.utc)
        assert integration_id not in _due(now)  # rate(1 hour): first due an hour after creation
        assert integration_id in _due(now + timedelta(minutes=61))
        assert LocalScheduler().tick(now + timedelta(minutes=61)) >= 1
        schedule = api.ok("GET", f"/v1/integrations/{integration_id}")["schedule"]
        job = api.wait_job(schedule["last_job_id"])
        assert job["status"] == "succeeded" and job["params"]["scheduled"] is True
        assert job["result"]["imported"] == 8
        ran = datetime.fromisoformat(schedule["last_run_at"].replace("Z", "+00:00"))
        assert integration_id not in _due(ran + timedelta(minutes=59))  # once per period
        assert integration_id in _due(ran + timedelta(minutes=60))

    response = api.delete(f"/v1/integrations/{integration_id}/schedule")
    assert response.status_code == 204
    assert api.ok("GET", f"/v1/integrations/{integration_id}")["schedule"] is None
    assert api.delete(f"/v1/integrations/{integration_id}/schedule").status_code == 404


def _due(now):
    from chalicelib import wiring
    from chalicelib.schedules.service import due_schedules

    return [integration_id for _, integration_id in due_schedules(now, repo=wiring.integration_repo())]


def test_import_with_run_active_evals_starts_a_run_of_the_active_version(api):
    import json

    from chalicelib import handlers
    from infra.local.demo_traces import make_demo_cases

    cases = make_demo_cases(n=16, seed=5)
    job = api.ok("POST", "/v1/traces/upload?format=langfuse", raw="\n".join(json.dumps(c.trace) for c in cases),
                 headers={"Content-Type": "application/x-ndjson"}, status=202)
    api.wait_job(job["job_id"])
    traces = api.ok("GET", "/v1/traces?limit=200")["items"]
    by_external = {t["source"]["external_id"]: t["id"] for t in traces}
    eval_set = api.ok("POST", "/v1/eval-sets", {"name": "s", "description": "", "criteria": ""}, status=201)
    for case in cases[:8]:
        if case.rating != "neutral":
            api.ok("PUT", f"/v1/eval-sets/{eval_set['id']}/feedback/{by_external[case.trace['id']]}",
                   {"rating": case.rating, "notes": ""})
    generated = api.wait_job(api.ok("POST", f"/v1/eval-sets/{eval_set['id']}/generate", {"generator": "offline"},
                                    status=202)["job_id"])
    eval_id = generated["result"]["eval_id"]
    assert handlers.run_active_evals(api.workspace_id) == []  # nothing active yet
    api.ok("POST", f"/v1/evals/{eval_id}/activate")
    job_ids = handlers.run_active_evals(api.workspace_id)
    assert len(job_ids) == 1
    done = api.wait_job(job_ids[0])
    assert done["status"] == "succeeded" and done["result"]["eval_id"] == eval_id
