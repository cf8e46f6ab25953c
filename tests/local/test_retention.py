"""Job records, their events and their working files expire: the local stack enables the TTL and the
bucket lifecycle the template declares, and every job item and event carries ``expires_at`` from
IOFOLD_JOB_RETENTION_DAYS (default 30 days)."""

from __future__ import annotations

import time

import pytest
from boto3.dynamodb.conditions import Key

from chalicelib import clients, config, wiring
from chalicelib.config import JOB_RETENTION_DAYS_VAR
from infra import resources
from tests.conftest import new_workspace

DAY = 86400


def test_the_local_stack_expires_what_the_template_expires(stack):
    ddb = clients.aws_client("dynamodb")
    for table in resources.TABLES:
        ttl = ddb.describe_time_to_live(TableName=stack.provisioned.env[config.table_var(table.name)])
        description = ttl["TimeToLiveDescription"]
        if table.name in ("jobs", "job_events", "eval_trends"):  # eval_trends: its run markers
            assert description == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expires_at"}, table.name
        else:
            assert description["TimeToLiveStatus"] == "DISABLED", table.name
    rules = clients.aws_client("s3").get_bucket_lifecycle_configuration(
        Bucket=stack.provisioned.env[config.BUCKET_VAR])["Rules"]
    assert {r["Filter"]["Prefix"]: r["Expiration"]["Days"] for r in rules} == {
        "jobs/": 30, "uploads/": resources.UPLOAD_RETENTION_DAYS}


def _stamps(workspace_id: str, job_id: str) -> tuple[int, list[int]]:
    item = clients.dynamodb_table("jobs").get_item(Key={"workspace_id": workspace_id, "job_id": job_id})["Item"]
    events = clients.dynamodb_table("job_events").query(KeyConditionExpression=Key("job_id").eq(job_id))["Items"]
    return int(item["expires_at"]), [int(e["expires_at"]) for e in events]


def _upload(api) -> str:
    return api.wait_ok(api.ok("POST", "/v1/traces/upload?format=langfuse", raw='{"id": "t1", "name": "a"}',
                              headers={"Content-Type": "application/x-ndjson"}, status=202)["job_id"])["id"]


@pytest.fixture
def retention_days(monkeypatch):
    monkeypatch.setenv(JOB_RETENTION_DAYS_VAR, "2")
    wiring.reset()
    yield 2
    monkeypatch.delenv(JOB_RETENTION_DAYS_VAR)
    wiring.reset()


def test_every_job_item_and_event_carries_its_expiry(http):
    api = new_workspace(http, "retention")
    before = int(time.time())
    job, events = _stamps(api.workspace_id, _upload(api))
    assert events and all(before + 30 * DAY <= at <= time.time() + 30 * DAY for at in [job, *events])
    assert "expires_at" not in api.ok("GET", f"/v1/jobs/{_upload(api)}")


def test_the_retention_is_configurable(http, retention_days):
    api = new_workspace(http, "short retention")
    before = int(time.time())
    job, events = _stamps(api.workspace_id, _upload(api))
    assert all(before + retention_days * DAY <= at <= time.time() + retention_days * DAY for at in [job, *events])
