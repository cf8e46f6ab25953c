"""An eval set's scope (trace name, source, integration, tags, time range): validated, stored with the
set, and used by its review queue and by generation (which trains only on ratings of traces in scope)."""

from __future__ import annotations

import json

import pytest


def _trace(platform: str, i: int, *, name: str, tags: list[str], minute: int) -> dict:
    return {"id": "x", "source": {"platform": platform, "external_id": f"{platform}-{name}-{i}"}, "name": name,
            "tags": tags, "timestamp": f"2025-03-01T12:{minute:02d}:00.000Z",
            "messages": [{"role": "user", "content": f"question {i}"}]}


@pytest.fixture
def traces(api) -> dict[str, dict]:
    """Two agents' traces from two platforms, tagged and spread over an hour: name -> summary."""
    lines = ([_trace("langfuse", i, name=f"refund {i}", tags=["prod", "refunds"], minute=10 + i) for i in range(4)]
             + [_trace("langfuse", i, name=f"search {i}", tags=["prod"], minute=20 + i) for i in range(3)]
             + [_trace("langsmith", i, name=f"refund-ls {i}", tags=["staging", "refunds"], minute=30 + i) for i in range(3)])
    job = api.ok("POST", "/v1/traces/upload?format=unified", raw="\n".join(json.dumps(t) for t in lines),
                 headers={"Content-Type": "application/x-ndjson"}, status=202)
    assert api.wait_ok(job["job_id"])["result"]["imported"] == 10
    return {t["name"]: t for t in api.all_traces()}


def _queue(api, eval_set_id: str) -> set[str]:
    return {i["name"] for i in api.ok("GET", f"/v1/eval-sets/{eval_set_id}/review-queue?limit=200")["items"]}


def test_the_scope_is_stored_returned_replaced_and_cleared(api):
    scope = {"name": "refund 1", "source": "langfuse", "tags": ["prod", "prod", " refunds"],
             "from_timestamp": "2025-03-01T13:00:00+01:00", "to_timestamp": "2025-03-01T12:30:00Z"}
    created = api.ok("POST", "/v1/eval-sets", {"name": "scoped", "scope": scope}, status=201)
    assert created["scope"] == {"name": "refund 1", "source": "langfuse", "integration_id": None,
                                "tags": ["prod", "refunds"], "from_timestamp": "2025-03-01T12:00:00.000Z",
                                "to_timestamp": "2025-03-01T12:30:00.000Z"}
    assert api.ok("GET", f"/v1/eval-sets/{created['id']}")["scope"] == created["scope"]
    listed = next(s for s in api.ok("GET", "/v1/eval-sets")["items"] if s["id"] == created["id"])
    assert listed["scope"] == created["scope"]

    patched = api.ok("PATCH", f"/v1/eval-sets/{created['id']}", {"scope": {"tags": ["staging"]}})
    assert patched["scope"]["tags"] == ["staging"] and patched["scope"]["name"] is None
    cleared = api.ok("PATCH", f"/v1/eval-sets/{created['id']}", {"scope": {}})
    assert cleared["scope"] == {"name": None, "source": None, "integration_id": None, "tags": [],
                                "from_timestamp": None, "to_timestamp": None}
    assert api.ok("POST", "/v1/eval-sets", {"name": "unscoped"}, status=201)["scope"]["tags"] == []


@pytest.mark.parametrize("scope, says", [
    ({"from_timestamp": "2025-03-02T00:00:00Z", "to_timestamp": "2025-03-01T00:00:00Z"}, "from_timestamp"),
    ({"from_timestamp": "2025-03-01T00:00:00"}, "offset"),
    ({"from_timestamp": "yesterday"}, "from_timestamp"),
    ({"to_timestamp": "0001-01-01T00:00:00+01:00"}, "out of range"),
    ({"tags": [" "]}, "tags"),
    ({"tags": ["t"] * 21}, "tags"),
    ({"colour": "red"}, "colour"),
    ({"name": ""}, "name"),
])
def test_a_bad_scope_is_a_400_and_nothing_is_written(api, scope, says):
    response = api.post("/v1/eval-sets", {"name": "bad scope", "scope": scope})
    assert response.status_code == 400, response.json_body
    assert response.json_body["error"]["code"] == "VALIDATION_ERROR" and says in json.dumps(response.json_body)
    assert api.ok("GET", "/v1/eval-sets")["items"] == []
    eval_set = api.ok("POST", "/v1/eval-sets", {"name": "good"}, status=201)
    assert api.patch(f"/v1/eval-sets/{eval_set['id']}", {"scope": scope}).status_code == 400
    assert api.ok("GET", f"/v1/eval-sets/{eval_set['id']}")["scope"]["tags"] == []


def test_the_scope_is_in_the_openapi_document(api):
    doc = api.ok("GET", "/v1/openapi.json")
    text = json.dumps(doc)
    assert "from_timestamp" in text and "which traces the set is about" in text


def test_the_review_queue_offers_only_traces_in_scope(api, traces):
    def queue_for(scope: dict) -> set[str]:
        eval_set = api.ok("POST", "/v1/eval-sets", {"name": f"s{len(json.dumps(scope))}-{sorted(scope)}",
                                                     "scope": scope}, status=201)
        return _queue(api, eval_set["id"])

    assert len(queue_for({})) == 10
    assert queue_for({"source": "langsmith"}) == {f"refund-ls {i}" for i in range(3)}
    assert queue_for({"tags": ["refunds", "prod"]}) == {f"refund {i}" for i in range(4)}
    assert queue_for({"name": "search 1"}) == {"search 1"}
    assert queue_for({"from_timestamp": "2025-03-01T12:12:00Z", "to_timestamp": "2025-03-01T12:21:00Z"}) == {
        "refund 2", "refund 3", "search 0", "search 1"}
    assert queue_for({"source": "upload", "tags": ["staging"], "from_timestamp": "2025-03-01T12:31:00Z"}) == {
        "refund-ls 1", "refund-ls 2"}


def test_rated_traces_leave_a_scoped_queue_and_a_patched_scope_takes_effect(api, traces):
    eval_set = api.ok("POST", "/v1/eval-sets", {"name": "refunds", "scope": {"tags": ["refunds"]}}, status=201)["id"]
    api.rate(eval_set, [(traces["refund 0"]["id"], "positive")])
    assert _queue(api, eval_set) == {f"refund {i}" for i in range(1, 4)} | {f"refund-ls {i}" for i in range(3)}
    api.ok("PATCH", f"/v1/eval-sets/{eval_set}", {"scope": {"tags": ["refunds"], "source": "langfuse"}})
    assert _queue(api, eval_set) == {f"refund {i}" for i in range(1, 4)}


def test_generation_trains_only_on_ratings_of_traces_in_scope(api, traces):
    eval_set = api.ok("POST", "/v1/eval-sets", {"name": "refund agent",
                                                 "thresholds": {"min_rated": 2}}, status=201)["id"]
    in_scope = [(traces[f"refund {i}"]["id"], r) for i, r in enumerate(["positive", "negative", "positive", "negative"])]
    outside = [(traces[f"search {i}"]["id"], "negative") for i in range(3)]
    api.rate(eval_set, in_scope + outside)
    api.ok("PATCH", f"/v1/eval-sets/{eval_set}", {"scope": {"tags": ["refunds"]}})

    job = api.wait_ok(api.ok("POST", f"/v1/eval-sets/{eval_set}/generate", {"generator": "offline"},
                             status=202)["job_id"])
    version = api.ok("GET", f"/v1/evals/{job['result']['eval_id']}")
    assert set(version["training_trace_ids"]) <= {t for t, _ in in_scope}
    assert set(version["training_trace_ids"]).isdisjoint({t for t, _ in outside})
    events = [e["message"] for e in api.ok("GET", f"/v1/jobs/{job['id']}/events")["items"]]
    assert "left out 3 rated traces outside the set's scope" in events

    api.ok("PATCH", f"/v1/eval-sets/{eval_set}", {"scope": {"name": "search 0"}})
    failed = api.wait_job(api.ok("POST", f"/v1/eval-sets/{eval_set}/generate", {"generator": "offline"},
                                 status=202)["job_id"])
    assert failed["status"] == "failed" and "scope leaves no positive or no negative rating" in failed["error"]
