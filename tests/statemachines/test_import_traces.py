"""import_traces.asl.json in moto's interpreter: a plain upload starts at its first page and its last
page finishes the job; one that needs preparing (gzip, OTLP) is prepared once, then paged; an upload
whose every line fails ends the execution (and the job) failed."""

from __future__ import annotations

import gzip
import json
import time

from chalicelib import clients, wiring
from chalicelib.jobs import service as jobs_service
from infra.local.demo_traces import make_demo_traces

NDJSON = {"Content-Type": "application/x-ndjson"}


def _states_entered(api, body: bytes, headers: dict | None = None) -> tuple[dict, list[str]]:
    job = api.ok("POST", "/v1/traces/upload?format=langfuse", raw=body, headers={**NDJSON, **(headers or {})},
                 status=202)
    done = api.wait_job(job["job_id"])
    arn = wiring.job_repo().get_item(api.workspace_id, job["job_id"])["execution_arn"]
    sfn = clients.aws_client("stepfunctions")
    for _ in range(100):
        execution = sfn.describe_execution(executionArn=arn)
        if execution["status"] != "RUNNING":
            break
        time.sleep(0.1)
    events = sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
    entered = [e["stateEnteredEventDetails"]["name"] for e in events if "stateEnteredEventDetails" in e]
    return done, entered


def _body(n: int) -> bytes:
    return b"\n".join(json.dumps(t).encode() for t in make_demo_traces(n=n)) + b"\n" * 300_000


def test_a_plain_upload_is_one_page_and_three_states(api):
    """The API names the file it holds (nothing to prepare); the one ImportPage call finishes the job."""
    done, entered = _states_entered(api, _body(3))
    assert done["status"] == "succeeded" and done["result"]["imported"] == 3, done
    assert entered == ["ImportPage", "MorePages", "Done"]


def test_a_gzipped_upload_is_prepared_once_then_paged(api):
    done, entered = _states_entered(api, gzip.compress(_body(3)), {"Content-Encoding": "gzip"})
    assert done["status"] == "succeeded" and done["result"]["imported"] == 3, done
    assert entered == ["ImportPage", "MorePages", "PrepareUpload", "ImportPage", "MorePages", "Done"]


def test_an_upload_whose_every_line_fails_ends_in_the_fail_state(api):
    done, entered = _states_entered(api, b"{bad\n")
    assert done["status"] == "failed" and "NothingImported" in done["error"], done
    assert done["result"]["failed"] == 1, done
    assert entered == ["ImportPage", "MarkFailed", "Failed"]


def test_an_import_continues_in_new_executions_and_finishes_the_job_once(api, monkeypatch):
    from chalicelib.config import reset_settings
    from infra.local.fake_langfuse import FakeLangfuse

    monkeypatch.setenv("IOFOLD_IMPORT_PAGES_PER_EXECUTION", "2")
    monkeypatch.setenv("IOFOLD_IMPORT_BATCH_TRACES", "50")  # one source page per call, as the counts below assume
    reset_settings()
    try:
        with FakeLangfuse(make_demo_traces(n=230, seed=11)) as fake:  # 5 pages of 50: executions of 2, 2 and 1
            integration_id = api.ok("POST", "/v1/integrations", {
                "platform": "langfuse", "name": "lf", "base_url": fake.base_url,
                "credentials": {"public_key": fake.public_key, "secret_key": fake.secret_key}}, status=201)["id"]
            job = api.ok("POST", "/v1/traces/import", {"integration_id": integration_id, "filters": {}}, status=202)
            done = api.wait_job(job["job_id"])
    finally:
        monkeypatch.undo()
        reset_settings()
    assert done["status"] == "succeeded", done.get("error")
    result = done["result"]
    assert (result["imported"], result["pages"], result["failed"]) == (230, 5, 0), result
    assert len(api.all_traces()) == 230

    sfn = clients.aws_client("stepfunctions")
    first = wiring.job_repo().get_item(api.workspace_id, job["job_id"])["execution_arn"]
    machine = sfn.describe_execution(executionArn=first)["stateMachineArn"]
    runs = [e for e in sfn.list_executions(stateMachineArn=machine, maxResults=1000)["executions"]
            if e["name"].startswith(job["job_id"])]
    assert sorted(e["name"] for e in runs) == sorted([job["job_id"], f"{job['job_id']}-p2", f"{job['job_id']}-p4"])
    assert {e["status"] for e in runs} == {"SUCCEEDED"}
    # reading the job follows the hand-overs to its latest execution (what cancel stops and failures come from)
    latest = next(e["executionArn"] for e in runs if e["name"].endswith("-p4"))
    wiring.job_repo().set_execution(api.workspace_id, job["job_id"], first)
    jobs_service.reconcile(api.workspace_id, wiring.job_repo().get_item(api.workspace_id, job["job_id"]),
                           jobs=wiring.job_repo(), sfn=sfn)
    assert wiring.job_repo().get_item(api.workspace_id, job["job_id"])["execution_arn"] == latest
    # each earlier execution ended handing over; only the last finished the job; one ImportPage call
    # imports an execution's two pages (traces_per_call is far above 100 traces)
    for run in runs:
        events = sfn.get_execution_history(executionArn=run["executionArn"], maxResults=1000)["events"]
        entered = [e["stateEnteredEventDetails"]["name"] for e in events if "stateEnteredEventDetails" in e]
        assert entered.count("ImportPage") == 1
        assert ("Done" in entered) == (run["executionArn"] == latest)
    done_events = [e for e in api.ok("GET", f"/v1/jobs/{job['job_id']}/events?limit=200")["items"]
                   if e["message"] == "done"]
    assert len(done_events) == 1
