"""A job's items carry names, not bare ids: GET /v1/jobs/{id} labels every trace its items name with the
trace's name and first user message, from the caller's workspace only."""

from chalicelib.jobs.models import Job
from chalicelib.jobs.service import item_trace_ids


def test_a_run_names_the_traces_it_was_asked_for(api, other):
    traces = api.upload_demo(8, seed=2)
    es = api.ok("POST", "/v1/eval-sets", {"name": "names", "criteria": "c"}, status=201)["id"]
    api.rate(es, traces[:6])
    eval_id = api.wait_ok(api.ok("POST", f"/v1/eval-sets/{es}/generate", {"generator": "offline"},
                                 status=202)["job_id"])["result"]["eval_id"]
    asked = [t for t, _ in traces[:3]]
    job = api.wait_ok(api.ok("POST", f"/v1/evals/{eval_id}/execute", {"trace_ids": asked}, status=202)["job_id"])
    summaries = {t["id"]: t for t in api.all_traces()}
    assert set(job["traces"]) == set(asked)
    assert other.get(f"/v1/jobs/{job['id']}").status_code == 404
    for trace_id, label in job["traces"].items():
        assert label == {"name": summaries[trace_id]["name"], "input_preview": summaries[trace_id]["input_preview"]}
        assert label["name"] and label["input_preview"]
    assert all("traces" not in j or not j["traces"] for j in api.ok("GET", "/v1/jobs?limit=50")["items"])


def test_the_items_of_a_refinement_and_of_failures_are_collected_once_in_order():
    job = Job(id="job_1", type="refine", status="succeeded", created_at="t",
              result={"comparison": {"fixed": ["a", "b"], "broken": ["c"]},
                      "failures": [{"trace_id": "d", "reason": "x"}, {"external_id": "e1", "reason": "y"}]},
              params={"trace_ids": ["a", "f"]})
    assert item_trace_ids(job) == ["a", "b", "c", "d", "f"]
