"""GSIs copy only what their queries read: the local stack builds its tables from infra/resources.py
(as the template does) and moto honours projections, so a list that read an attribute its index does
not project would come back without it; these tests pin the declarations and the lists' contents."""

from __future__ import annotations

from boto3.dynamodb.conditions import Key

from chalicelib import clients, config
from chalicelib.jobs.models import Job
from infra import resources
from tests.conftest import new_workspace


def test_the_local_tables_project_what_resources_declare(stack):
    ddb = clients.aws_client("dynamodb")
    for table in resources.TABLES:
        described = ddb.describe_table(TableName=stack.provisioned.env[config.table_var(table.name)])["Table"]
        projections = {i["IndexName"]: i["Projection"] for i in described.get("GlobalSecondaryIndexes", [])}
        assert projections == {i.name: i.projection() for i in table.indexes}, table.name
    assert all(i.include is not None for t in resources.TABLES for i in t.indexes), "no index projects ALL"


def test_listing_traces_never_copies_bodies_into_the_index(http):
    """New traces get no by_time entry (no sort_key): their time entries are packed in trace_times, as keys."""
    api = new_workspace(http, "projections")
    api.upload_demo(3, seed=2)
    gsi = clients.dynamodb_table("traces").query(
        IndexName="by_time", KeyConditionExpression=Key("workspace_id").eq(api.workspace_id))["Items"]
    assert gsi == []
    packed = clients.dynamodb_table("trace_times").query(
        KeyConditionExpression=Key("workspace_id").eq(api.workspace_id))["Items"]
    assert packed and all(set(i) == {"workspace_id", "slot", "entries"} for i in packed)
    listed = api.ok("GET", "/v1/traces")["items"]
    entries = [e for i in packed for e in i["entries"]]
    assert len(listed) == 3 == len(entries) and all(t["name"] for t in listed)
    assert all(any(e.endswith("#" + t["id"]) for e in entries) for t in listed)


def test_lists_return_what_a_single_read_returns(http):
    api = new_workspace(http, "lists")
    job = api.wait_ok(api.ok("POST", "/v1/traces/upload?format=langfuse", raw='{"id": "a"}\n{"nope": 1}',
                             headers={"Content-Type": "application/x-ndjson"}, status=202)["job_id"])
    listed = api.ok("GET", "/v1/jobs")["items"]
    assert listed == [job] and set(Job.model_fields) <= set(listed[0])
    key = api.ok("POST", "/v1/api-keys", {"label": "ci", "role": "viewer"}, status=201)
    keys = {k["id"]: k for k in api.ok("GET", "/v1/api-keys")["items"]}
    assert keys[key["id"]]["label"] == "ci" and keys[key["id"]]["role"] == "viewer"
    api.ok("DELETE", f"/v1/api-keys/{key['id']}", status=204)  # found through by_key_id
    es = api.ok("POST", "/v1/eval-sets", {"name": "s", "criteria": "c"}, status=201)["id"]
    trace = api.all_traces()[0]["id"]
    api.ok("PUT", f"/v1/eval-sets/{es}/feedback/{trace}", {"rating": "positive", "notes": "first"})
    api.ok("PUT", f"/v1/eval-sets/{es}/feedback/{trace}", {"rating": "negative", "notes": "second"})
    feedback = api.ok("GET", f"/v1/eval-sets/{es}/feedback")["items"]
    assert [(f["rating"], f["notes"], len(f["history"]), f["changes"]) for f in feedback] == [("negative", "second", 2, 1)]
