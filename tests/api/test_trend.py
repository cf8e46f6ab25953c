"""GET /v1/evals/{id}/trend: counts per period over runs, from the stored counters (never a Scan, never
the executions table), validated like every other query."""

from datetime import datetime, timedelta, timezone

import pytest

from chalicelib import wiring
from chalicelib.evals.trends import count_results
from tests.conftest import new_workspace


@pytest.fixture(scope="module")
def world(module_http):
    api = new_workspace(module_http, "trend")
    traces = api.upload_demo(16, seed=11)
    es = api.ok("POST", "/v1/eval-sets", {"name": "trend", "criteria": "refund after lookup"}, status=201)["id"]
    api.rate(es, traces[:10])
    eval_id = api.wait_ok(api.ok("POST", f"/v1/eval-sets/{es}/generate", {"generator": "offline"},
                                 status=202)["job_id"])["result"]["eval_id"]
    runs = [api.wait_ok(api.ok("POST", f"/v1/evals/{eval_id}/execute", body, status=202)["job_id"])["result"]
            for body in ({}, {"trace_ids": [t for t, _ in traces[:5]]})]
    return {"api": api, "eval_id": eval_id, "runs": runs}


def _total(points, key):
    return sum(p[key] for p in points)


def test_each_run_counts_every_execution_in_its_hour_and_day(world):
    api, eval_id, runs = world["api"], world["eval_id"], world["runs"]
    assert [r["executed"] for r in runs] == [16, 5]  # the second run re-runs five traces: they count again
    for bucket in ("day", "hour"):
        trend = api.ok("GET", f"/v1/evals/{eval_id}/trend?bucket={bucket}")
        assert trend["bucket"] == bucket and trend["eval_id"] == eval_id
        points = trend["points"]
        assert 1 <= len(points) <= 2  # two when the runs straddle a period boundary
        for kind in ("executed", "pass", "fail", "error", "timeout"):
            assert _total(points, kind) == sum(r[kind] for r in runs), kind
        for p in points:
            assert p["pass"] + p["fail"] + p["error"] + p["timeout"] == p["executed"]
            assert p["pass_rate"] == round(p["pass"] / p["executed"], 4)
        stamp = datetime.fromisoformat(points[-1]["start"].replace("Z", "+00:00"))
        assert stamp.minute == 0 and (bucket == "hour" or stamp.hour == 0)


def test_a_range_without_runs_has_no_points_and_a_range_holding_them_has(world):
    api, eval_id = world["api"], world["eval_id"]
    today = datetime.now(timezone.utc).date()
    assert api.ok("GET", f"/v1/evals/{eval_id}/trend?from={today - timedelta(days=40)}"
                         f"&to={today - timedelta(days=30)}")["points"] == []
    ranged = api.ok("GET", f"/v1/evals/{eval_id}/trend?bucket=day&from={today - timedelta(days=1)}&to={today}")
    assert _total(ranged["points"], "executed") == 21


def test_the_trend_reads_only_its_counters(world, aws_events):
    api, eval_id = world["api"], world["eval_id"]
    calls: list[tuple[str, str]] = []

    def record(event_name, params, **kwargs):
        calls.append((event_name.rsplit(".", 1)[-1], params.get("TableName", "")))

    aws_events("before-parameter-build.dynamodb.*", record)
    api.ok("GET", f"/v1/evals/{eval_id}/trend?bucket=hour")
    from chalicelib.config import get_settings

    executions, trends = get_settings().table("executions"), get_settings().table("eval_trends")
    assert calls and not any(op == "Scan" for op, _ in calls), calls
    assert not any(table == executions for _, table in calls), calls
    assert ("Query", trends) in calls


def test_bad_bucket_and_range_are_400_and_unknown_or_foreign_evals_404(world, module_http):
    api, eval_id = world["api"], world["eval_id"]
    for query in ("bucket=week", "from=soon", "from=2026-02-01&to=2026-01-01",
                  "bucket=hour&from=2025-01-01&to=2026-01-01"):
        response = api.get(f"/v1/evals/{eval_id}/trend?{query}")
        assert response.status_code == 400, query
        error = response.json_body["error"]
        assert error["code"] == "VALIDATION_ERROR" and error["message"] and error["request_id"]
    assert api.get("/v1/evals/ev_00000000000000000000/trend").json_body["error"]["code"] == "NOT_FOUND"
    other = new_workspace(module_http, "outsider")
    assert other.get(f"/v1/evals/{eval_id}/trend").status_code == 404


def test_a_retried_chunk_counts_once(world):
    evals = wiring.eval_repo()
    eval_id = world["eval_id"]

    class Result:
        def __init__(self, result):
            self.result = result

    before = evals.trends.periods(eval_id, "day", datetime(2000, 1, 1, tzinfo=timezone.utc),
                                  datetime(2100, 1, 1, tzinfo=timezone.utc))
    counts = count_results([Result("pass"), Result("fail"), Result("error")])
    assert evals.record_trend(eval_id, counts, run="job_retry/0") is True
    assert evals.record_trend(eval_id, counts, run="job_retry/0") is False
    after = evals.trends.periods(eval_id, "day", datetime(2000, 1, 1, tzinfo=timezone.utc),
                                 datetime(2100, 1, 1, tzinfo=timezone.utc))
    assert sum(c["executed"] for c in after.values()) == sum(c["executed"] for c in before.values()) + 3
    assert sum(c["error"] for c in after.values()) == sum(c["error"] for c in before.values()) + 1


def test_the_trend_is_in_the_openapi_document(anon):
    doc = anon.ok("GET", "/v1/openapi.json")
    op = doc["paths"]["/v1/evals/{eval_id}/trend"]["get"]
    assert {p["name"] for p in op["parameters"]} >= {"eval_id", "bucket", "from", "to"}
    schema = op["responses"]["200"]["content"]["application/json"]["schema"]
    assert schema["$ref"].endswith("/Trend")
    point = doc["components"]["schemas"]["TrendPoint"]["properties"]
    assert {"start", "executed", "pass", "fail", "error", "timeout", "pass_rate", "drop"} <= set(point)


def test_deleting_a_versions_counters_leaves_other_versions_alone(world):
    store = wiring.eval_repo().trends
    at, span = datetime.now(timezone.utc), (datetime(2000, 1, 1, tzinfo=timezone.utc),
                                            datetime(2100, 1, 1, tzinfo=timezone.utc))
    counts = {"executed": 2, "pass": 1, "fail": 1, "error": 0, "timeout": 0}
    for eval_id in ("ev_gone", "ev_kept"):
        store.add_run(eval_id, counts, at=at, run=f"{eval_id}/0")
    assert store.delete_eval("ev_gone") == 3  # its hour, its day and its run marker
    assert store.periods("ev_gone", "day", *span) == {}
    assert sum(c["executed"] for c in store.periods("ev_kept", "day", *span).values()) == 2
