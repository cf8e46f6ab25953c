import json
from typing import Sequence

import pytest

from chalicelib import wiring
from chalicelib.auth.models import Caller
from chalicelib.evalsets import service
from chalicelib.evalsets.models import EvalSet, ReviewItem
from chalicelib.traces.summary import TraceSummary


def _unified(platform: str, n: int, hour: int) -> list[dict]:
    """n traces from one platform, the newest at 2025-03-01T{hour}:59, one minute apart going back."""
    return [{"id": "x", "source": {"platform": platform, "external_id": f"{platform}-{i}"}, "name": f"{platform} {i}",
             "timestamp": f"2025-03-01T{hour:02d}:{59 - i:02d}:00.000Z",
             "messages": [{"role": "user", "content": f"question {i}"}]} for i in range(n)]


@pytest.fixture
def traces(api) -> dict[str, str]:
    """12 langfuse traces (newest) and 3 older langsmith ones: name -> id."""
    body = "\n".join(json.dumps(t) for t in _unified("langfuse", 12, hour=12) + _unified("langsmith", 3, hour=9))
    job = api.ok("POST", "/v1/traces/upload?format=unified", raw=body,
                 headers={"Content-Type": "application/x-ndjson"}, status=202)
    assert api.wait_job(job["job_id"])["result"]["imported"] == 15
    return {t["name"]: t["id"] for t in api.ok("GET", "/v1/traces?limit=200")["items"]}


@pytest.fixture
def eval_set(api) -> str:
    return api.ok("POST", "/v1/eval-sets", {"name": "queue"}, status=201)["id"]


def test_queue_is_newest_first_and_mixes_sources(api, traces, eval_set):
    items = api.ok("GET", f"/v1/eval-sets/{eval_set}/review-queue?limit=6")["items"]
    assert [i["name"] for i in items] == ["langfuse 0", "langsmith 0", "langfuse 1", "langsmith 1",
                                          "langfuse 2", "langsmith 2"]
    assert all(i["reason"] and i["source"]["platform"] in i["reason"] for i in items)


def test_queue_leaves_out_rated_traces_and_respects_the_limit(api, traces, eval_set):
    for name in ("langfuse 0", "langsmith 0", "langfuse 3"):
        api.ok("PUT", f"/v1/eval-sets/{eval_set}/feedback/{traces[name]}", {"rating": "negative"})
    three = api.ok("GET", f"/v1/eval-sets/{eval_set}/review-queue?limit=3")["items"]
    assert [i["name"] for i in three] == ["langfuse 1", "langsmith 1", "langfuse 2"]
    everything = api.ok("GET", f"/v1/eval-sets/{eval_set}/review-queue?limit=200")["items"]
    assert len(everything) == 12 and {i["name"] for i in everything}.isdisjoint({"langfuse 0", "langsmith 0",
                                                                                 "langfuse 3"})
    assert len({i["id"] for i in everything}) == 12
    assert len(api.ok("GET", f"/v1/eval-sets/{eval_set}/review-queue")["items"]) == 12


def test_queue_of_a_fully_rated_workspace_is_empty(api, traces, eval_set):
    for trace_id in traces.values():
        api.ok("PUT", f"/v1/eval-sets/{eval_set}/feedback/{trace_id}", {"rating": "neutral"})
    assert api.ok("GET", f"/v1/eval-sets/{eval_set}/review-queue")["items"] == []


@pytest.mark.parametrize("limit", ["0", "201", "ten"])
def test_bad_limits_are_400(api, eval_set, limit):
    assert api.get(f"/v1/eval-sets/{eval_set}/review-queue?limit={limit}").status_code == 400


def test_viewer_reads_the_queue_and_another_workspace_gets_404(api, other, traces, eval_set):
    viewer = api.with_key(api.ok("POST", "/v1/api-keys", {"label": "v", "role": "viewer"}, status=201)["key"])
    assert len(viewer.ok("GET", f"/v1/eval-sets/{eval_set}/review-queue?limit=2")["items"]) == 2
    assert other.get(f"/v1/eval-sets/{eval_set}/review-queue").status_code == 404


class OldestFirst:
    """A stand-in for the engine's prioritizer (disagreeing versions first): here, simply the oldest first."""

    def prioritize(self, eval_set: EvalSet, candidates: Sequence[TraceSummary]) -> list[ReviewItem]:
        return [ReviewItem(**c.model_dump(), reason="oldest") for c in reversed(candidates)]


def test_the_service_takes_another_prioritizer(api, traces, eval_set):
    api.ok("PUT", f"/v1/eval-sets/{eval_set}/feedback/{traces['langsmith 2']}", {"rating": "positive"})
    caller = Caller(workspace_id=api.workspace_id, role="viewer", key_id="key_x")
    page = service.review_queue(caller, eval_set, limit=2, eval_sets=wiring.eval_set_repo(),
                                traces=wiring.trace_repo(), prioritizer=OldestFirst())
    assert [(i.name, i.reason) for i in page.items] == [("langsmith 1", "oldest"), ("langsmith 0", "oldest")]
