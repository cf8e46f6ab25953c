"""Concurrent ratings through the service on the local stack (chalice's test client is not
thread-safe, so threads call the service the routes call)."""

import json
from concurrent.futures import ThreadPoolExecutor

from chalicelib import wiring
from chalicelib.auth.models import Caller
from chalicelib.evalsets import service
from chalicelib.evalsets.models import RateRequest
from infra.local.demo_traces import make_demo_traces


def test_counts_stay_exact_under_concurrent_upserts(api):
    job = api.ok("POST", "/v1/traces/upload?format=langfuse",
                 raw="\n".join(json.dumps(t) for t in make_demo_traces(16)),
                 headers={"Content-Type": "application/x-ndjson"}, status=202)
    assert api.wait_job(job["job_id"])["status"] == "succeeded"
    traces = [t["id"] for t in api.ok("GET", "/v1/traces?limit=200")["items"]]
    eval_set = api.ok("POST", "/v1/eval-sets", {"name": "race"}, status=201)["id"]
    caller = Caller(workspace_id=api.workspace_id, role="member", key_id="key_race")
    ratings = ("positive", "negative", "neutral")
    # every trace is rated by 4 writers at once, each with its own rating: same-item contention and set-wide churn
    calls = [(trace_id, ratings[(i + w) % 3]) for i, trace_id in enumerate(traces) for w in range(4)]

    def rate(call):
        trace_id, rating = call
        return service.rate_trace(caller, eval_set, trace_id, RateRequest(rating=rating, notes=f"{rating} {trace_id}"),
                                  eval_sets=wiring.eval_set_repo(), traces=wiring.trace_repo())

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(rate, calls))

    final = {}
    cursor = None
    while True:
        page = service.list_feedback(caller, eval_set, limit=200, cursor=cursor, eval_sets=wiring.eval_set_repo())
        final.update({f.trace_id: f for f in page.items})
        if not (cursor := page.next_cursor):
            break
    assert set(final) == set(traces)
    expected = {r: sum(f.rating == r for f in final.values()) for r in ratings}
    assert api.ok("GET", f"/v1/eval-sets/{eval_set}")["counts"] == expected
    assert sum(expected.values()) == len(traces)
    for fb in final.values():
        assert fb.history[-1].to == fb.rating and fb.history[0].from_ is None
        assert fb.version == len(fb.history)
