"""API requests read a bounded number of items, however many traces and results a workspace holds:
every DynamoDB call a route makes is recorded through botocore's event hooks while thousands of
executions and traces sit beside a small rated set."""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field

import pytest

from chalicelib import clients, wiring
from chalicelib.config import get_settings
from chalicelib.evals.models import Execution
from chalicelib.storage import MAX_EXAMINED, MAX_LIMIT
from tests.api.test_matrix import RULE_CODE
from tests.conftest import new_workspace

BULK_EXECUTIONS = 1000  # per version: 5 times what one list page may return
BULK_TRACES = MAX_EXAMINED + 300
RATED = 16


@dataclass
class Call:
    operation: str
    table: str
    params: dict
    items: int = 0


@dataclass
class Recorder:
    """DynamoDB calls made on one thread (the test's: chalice.test.Client runs routes in it)."""

    thread: int = field(default_factory=threading.get_ident)
    calls: list[Call] = field(default_factory=list)

    def before(self, model, params, **_):
        if threading.get_ident() == self.thread:
            table = params.get("TableName") or ",".join(params.get("RequestItems") or {})
            self.calls.append(Call(model.name, table, params))

    def after(self, model, parsed, **_):
        if threading.get_ident() != self.thread or not self.calls:
            return
        call = self.calls[-1]
        if model.name in ("Query", "Scan"):
            call.items = int(parsed.get("Count", 0))
        elif model.name == "BatchGetItem":
            call.items = sum(len(v) for v in parsed.get("Responses", {}).values())
        elif model.name == "GetItem":
            call.items = int("Item" in parsed)

    def items_read(self, logical_table: str) -> int:
        name = get_settings().table(logical_table)
        return sum(c.items for c in self.calls if name in c.table.split(","))

    def queries(self, logical_table: str) -> list[Call]:
        name = get_settings().table(logical_table)
        return [c for c in self.calls if c.operation in ("Query", "Scan") and c.table == name]


@pytest.fixture
def dynamodb_calls(aws_events) -> Recorder:
    """A recorder of this thread's DynamoDB calls, hooked into the clients the app builds."""
    recorder = Recorder()
    aws_events("before-parameter-build.dynamodb", recorder.before)
    aws_events("after-call.dynamodb", recorder.after)
    return recorder


@pytest.fixture(scope="module")
def crowded(module_http):
    """A set with RATED ratings and two versions, next to BULK_EXECUTIONS unrated results per version
    and BULK_TRACES more traces in the workspace."""
    api = new_workspace(module_http, "bounded")
    traces = api.upload_demo(RATED, seed=11)
    es = api.ok("POST", "/v1/eval-sets", {"name": "b", "criteria": "look the order up first"}, status=201)["id"]
    api.rate(es, traces)
    v1 = api.wait_ok(api.ok("POST", f"/v1/eval-sets/{es}/generate", {"generator": "offline"},
                             status=202)["job_id"])["result"]["eval_id"]
    v2 = api.ok("POST", f"/v1/evals/{v1}/versions", {"code": RULE_CODE}, status=201)
    api.wait_ok(v2["scoring_job_id"])
    evals = wiring.eval_repo()
    for eval_id in (v1, v2["id"]):
        evals.put_executions(Execution(eval_id=eval_id, trace_id=f"tr_bulk_{i:05d}", result="pass",
                                       executed_at="2026-01-01T00:00:00Z") for i in range(BULK_EXECUTIONS))
    table = clients.dynamodb_table("traces")
    template = table.get_item(Key={"workspace_id": api.workspace_id, "trace_id": traces[0][0]})["Item"]
    with table.batch_writer() as batch:
        for i in range(BULK_TRACES):
            trace_id = f"tr_bulk_{i:05d}"
            summary = {**template["summary"], "id": trace_id, "tags": []}
            batch.put_item(Item={**template, "trace_id": trace_id, "sort_key": f"2020-01-01T00:00:00Z#{trace_id}",
                                 "summary": summary})
    return {"api": api, "es": es, "v1": v1, "v2": v2["id"], "rated": [t for t, _ in traces]}


def _routes(w: dict) -> list[tuple[str, str, int]]:
    es, v1, v2, trace = w["es"], w["v1"], w["v2"], w["rated"][0]
    return [
        ("GET", f"/v1/eval-sets/{es}/matrix?stats=fresh", 200),
        ("GET", f"/v1/eval-sets/{es}/matrix?filter=contradictions&stats=none", 200),
        ("GET", f"/v1/eval-sets/{es}/matrix.csv?stats=fresh", 200),
        ("GET", f"/v1/evals/{v2}/diff?against={v1}", 200),
        ("POST", f"/v1/evals/{v1}/refine", 202),
        ("GET", f"/v1/evals/{v1}/executions?limit=200", 200),
        ("GET", f"/v1/executions/{v1}/{trace}", 200),
        ("GET", f"/v1/eval-sets/{es}/review-queue?limit=20", 200),
        ("GET", f"/v1/eval-sets/{es}", 200),
        ("GET", f"/v1/evals/{v1}", 200),
        ("GET", f"/v1/evals?eval_set_id={es}", 200),
        ("GET", f"/v1/evals/{v1}/export?format=pytest", 200),
        ("GET", "/v1/traces?tag=no-such-tag", 200),
        ("GET", f"/v1/traces?eval_set_id={es}&rated=true", 200),
        ("GET", "/v1/traces?limit=200", 200),
        ("GET", "/v1/jobs?limit=200", 200),
    ]


def test_no_route_reads_a_partition_that_grows_with_traces(crowded, dynamodb_calls):
    api = crowded["api"]
    per_route: dict[str, Counter] = {}
    for method, path, status in _routes(crowded):
        dynamodb_calls.calls.clear()
        response = api.call(method, path, {} if method == "POST" else None)
        assert response.status_code == status, (path, response.body[:300])
        unbounded = [c.params for c in dynamodb_calls.queries("executions")
                     if c.operation == "Scan" or not 0 < c.params.get("Limit", 0) <= MAX_LIMIT]
        assert not unbounded, (path, "queries the executions table without a page Limit", unbounded)
        per_route[path] = Counter({t: dynamodb_calls.items_read(t) for t in ("executions", "traces")})
    for path, read in per_route.items():
        # a page (200) or the rated traces per version; never all the results of a version or all traces
        assert read["executions"] <= MAX_LIMIT + 4 * RATED, (path, read)
        assert read["traces"] <= MAX_EXAMINED + MAX_LIMIT, (path, read)


def test_a_filtered_trace_list_is_short_with_a_cursor_rather_than_reading_everything(crowded, dynamodb_calls):
    api = crowded["api"]
    page = api.ok("GET", "/v1/traces?tag=no-such-tag&limit=50")
    assert page["items"] == [] and page["next_cursor"]
    assert dynamodb_calls.items_read("traces") <= MAX_EXAMINED + MAX_LIMIT
    pages, cursor = 1, page["next_cursor"]
    while cursor:  # the walk still covers every trace and ends
        cursor = api.ok("GET", f"/v1/traces?tag=no-such-tag&limit=50&cursor={cursor}")["next_cursor"]
        pages += 1
    assert pages == -(-(BULK_TRACES + RATED) // MAX_EXAMINED)
    tagged = api.ok("GET", f"/v1/traces?eval_set_id={crowded['es']}&rated=true&limit=200")
    assert {t["id"] for t in tagged["items"]} == set(crowded["rated"])


def test_fresh_matrix_stats_come_from_the_rated_traces_only(crowded):
    api = crowded["api"]
    stats = api.ok("GET", f"/v1/eval-sets/{crowded['es']}/matrix?stats=fresh")["stats"]
    for eval_id in (crowded["v1"], crowded["v2"]):
        assert stats[eval_id]["n"] + stats[eval_id]["errors"] + stats[eval_id]["timeouts"] <= RATED
