"""import_traces.asl.json in moto's interpreter: an upload is prepared once, then paged; an
upload whose every line fails ends the execution (and the job) failed."""

from __future__ import annotations

import json
import time

from chalicelib import clients, wiring
from infra.local.demo_traces import make_demo_traces

NDJSON = {"Content-Type": "application/x-ndjson"}


def _states_entered(api, body: bytes) -> tuple[dict, list[str]]:
    job = api.ok("POST", "/v1/traces/upload?format=langfuse", raw=body, headers=NDJSON, status=202)
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


def test_an_upload_is_prepared_once_then_paged(api):
    body = b"\n".join(json.dumps(t).encode() for t in make_demo_traces(n=3)) + b"\n" * 300_000
    done, entered = _states_entered(api, body)
    assert done["status"] == "succeeded", done
    assert entered == ["IsUpload", "PrepareUpload", "ImportPage", "MorePages", "MarkSucceeded"]


def test_an_upload_whose_every_line_fails_ends_in_the_fail_state(api):
    done, entered = _states_entered(api, b"{bad\n")
    assert done["status"] == "failed" and "NothingImported" in done["error"], done
    assert entered == ["IsUpload", "PrepareUpload", "ImportPage", "MorePages", "MarkSucceeded", "MarkFailed", "Failed"]
