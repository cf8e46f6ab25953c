"""A generation job reports its real stages as events: candidates written, each cross-validation fold
written, each fold and candidate tested; progress only grows."""


def test_generation_reports_candidates_folds_and_testing_as_they_happen(api):
    traces = api.upload_demo(14, seed=4)
    es = api.ok("POST", "/v1/eval-sets", {"name": "stages", "criteria": "refund after lookup"}, status=201)["id"]
    api.rate(es, traces[:12])
    job = api.wait_ok(api.ok("POST", f"/v1/eval-sets/{es}/generate", {"generator": "offline"}, status=202)["job_id"])
    events = api.ok("GET", f"/v1/jobs/{job['id']}/events?after=0&limit=200")["items"]
    staged = [e for e in events if e["data"].get("stage")]
    stages = [e["data"]["stage"] for e in staged]
    assert stages[0] == "load" and stages[-1] == "save"
    order = ["load", "candidates", "folds", "testing", "save"]
    assert [order.index(s) for s in stages] == sorted(order.index(s) for s in stages)  # stages never go back
    folds = [e for e in staged if e["data"]["stage"] == "folds"]
    assert len(folds) >= 2 and [e["data"]["step"] for e in folds] == list(range(1, folds[0]["data"]["steps"] + 1))
    assert all("cross-validation fold" in e["message"] for e in folds)
    testing = [e for e in staged if e["data"]["stage"] == "testing"]
    assert testing[-1]["data"]["step"] == testing[-1]["data"]["steps"] == len(testing)
    assert any(e["message"].startswith("tested candidate") for e in testing)
    progress = [e["progress"] for e in events if e["progress"] is not None]
    assert progress == sorted(progress) and len(set(progress)) >= 6
