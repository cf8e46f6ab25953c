"""The engine end to end through the API: rate → generate (offline, real state machine, real
sandbox) → a version with honest held-out numbers → execute over the rest → results."""

import pytest


@pytest.fixture
def rated_set(api):
    traces = api.upload_demo(40, seed=3)
    eval_set = api.ok("POST", "/v1/eval-sets", {"name": "refund policy", "description": "",
                                                "criteria": "Refunds only after the order was looked up"}, status=201)
    labelled = [(trace_id, rating) for trace_id, rating in traces if rating != "neutral"]
    train, rest = labelled[:20], labelled[20:]
    api.rate(eval_set["id"], train)
    return eval_set["id"], train, rest


def test_generate_then_execute_offline(api, rated_set):
    eval_set_id, train, rest = rated_set
    job = api.ok("POST", f"/v1/eval-sets/{eval_set_id}/generate", {"generator": "offline"}, status=202)
    done = api.wait_job(job["job_id"], timeout_s=240)
    assert done["status"] == "succeeded", done
    assert (done["result"]["generator"], done["result"]["generator_reason"]) == ("offline", "offline generator requested")
    eval_id = done["result"]["eval_id"]
    version = api.ok("GET", f"/v1/evals/{eval_id}")
    assert version["version"] == 1 and version["status"] == "draft" and version["generator"] == "offline"
    assert version["code"].lstrip().startswith(("import", "def", "#", '"""'))
    assert set(version["training_trace_ids"]) == {t for t, _ in train}
    assert version["generation"]["heldout_accuracy"] is not None
    assert version["metrics"]["n"] + version["metrics"]["errors"] + version["metrics"]["timeouts"] == len(train)
    events = api.ok("GET", f"/v1/jobs/{job['job_id']}/events")["items"]
    assert any("held-out" in e["message"] for e in events)

    listed = api.ok("GET", f"/v1/evals?eval_set_id={eval_set_id}")["items"]
    assert [v["id"] for v in listed] == [eval_id]

    run = api.ok("POST", f"/v1/evals/{eval_id}/execute", {"trace_ids": [t for t, _ in rest]}, status=202)
    finished = api.wait_job(run["job_id"], timeout_s=240)
    assert finished["status"] == "succeeded", finished
    result = finished["result"]
    assert result["executed"] == len(rest) == result["pass"] + result["fail"] + result["error"] + result["timeout"]
    executions = api.ok("GET", f"/v1/evals/{eval_id}/executions?limit=200")["items"]
    assert {e["trace_id"] for e in executions} >= {t for t, _ in rest}
    assert all(e["result"] in ("pass", "fail", "error", "timeout") for e in executions)

    again = api.ok("POST", f"/v1/evals/{eval_id}/execute", {"trace_ids": [t for t, _ in rest], "only_missing": True},
                   status=202)
    assert api.wait_job(again["job_id"])["result"]["skipped"] == len(rest)


def test_generate_needs_both_classes(api):
    eval_set = api.ok("POST", "/v1/eval-sets", {"name": "x", "description": "", "criteria": ""}, status=201)
    response = api.post(f"/v1/eval-sets/{eval_set['id']}/generate", {"generator": "offline"})
    assert response.status_code == 422 and response.json_body["error"]["code"] == "UNPROCESSABLE"


def test_anthropic_generator_without_a_key_fails_the_job_saying_why(api, rated_set):
    eval_set_id, _, _ = rated_set
    job = api.ok("POST", f"/v1/eval-sets/{eval_set_id}/generate", {"generator": "anthropic"}, status=202)
    done = api.wait_job(job["job_id"], timeout_s=120)
    assert done["status"] == "failed", done
    assert done["error"].startswith("LlmKeyMissing") and "no LLM key configured (secret empty)" in done["error"]


def test_auto_generation_says_it_ran_offline_because_the_secret_is_empty(api, rated_set):
    eval_set_id, _, _ = rated_set
    done = api.wait_ok(api.ok("POST", f"/v1/eval-sets/{eval_set_id}/generate", {"generator": "auto"},
                              status=202)["job_id"])
    assert done["result"]["generator"] == "offline"
    assert done["result"]["generator_reason"] == "no LLM key configured (secret empty)"
    events = api.ok("GET", f"/v1/jobs/{done['id']}/events")["items"]
    assert any("no LLM key configured (secret empty)" in e["message"] for e in events)
