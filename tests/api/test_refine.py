"""Refinement through the API: a bad version is refined from its training examples plus its
contradictions; the job reports before/after metrics on the same traces; the new version is a
draft child and never becomes active by itself."""

import pytest

from tests.conftest import new_workspace
from tests.api.test_matrix import walk
from tests.api.test_versions import ALWAYS_PASS


def generated_set(http, workspace: str):
    """A workspace with 30 rated demo traces and an offline-generated v1: (api, set id, v1 id, ratings)."""
    api = new_workspace(http, workspace)
    traces = api.upload_demo(30, seed=11)
    es = api.ok("POST", "/v1/eval-sets", {"name": workspace, "criteria": "look the order up first"}, status=201)["id"]
    api.rate(es, traces)
    v1 = api.wait_ok(api.ok("POST", f"/v1/eval-sets/{es}/generate", {"generator": "offline"},
                             status=202)["job_id"])["result"]["eval_id"]
    return api, es, v1, traces


@pytest.fixture(scope="module")
def refined(module_http):
    api, es, v1, traces = generated_set(module_http, "refine")
    api.ok("POST", f"/v1/evals/{v1}/activate")
    bad = api.ok("POST", f"/v1/evals/{v1}/versions", {"code": ALWAYS_PASS}, status=201)
    api.wait_ok(bad["scoring_job_id"])
    job = api.ok("POST", f"/v1/evals/{bad['id']}/refine", {"generator": "offline"}, status=202)
    done = api.wait_ok(job["job_id"])
    return {"api": api, "es": es, "v1": v1, "bad": api.ok("GET", f"/v1/evals/{bad['id']}"), "job": done,
            "ratings": dict(traces)}


def test_refine_job_reports_before_and_after_on_the_same_traces(refined):
    job, bad, ratings = refined["job"], refined["bad"], refined["ratings"]
    assert job["type"] == "refine"
    result = job["result"]
    assert result["refined_from"] == bad["id"]
    cmp = result["comparison"]
    assert cmp["all_rated"]["traces"] == len(ratings)
    assert cmp["all_rated"]["before"]["accuracy"] == bad["metrics"]["accuracy"]
    negatives = sum(r == "negative" for r in ratings.values())
    assert cmp["all_rated"]["before"]["confusion"]["fp"] == negatives  # always-pass: every negative is a false pass
    assert cmp["all_rated"]["after"]["accuracy"] > cmp["all_rated"]["before"]["accuracy"]
    assert len(cmp["fixed"]) > 0 and set(cmp["fixed"]) <= {t for t, r in ratings.items() if r == "negative"}
    assert result["metrics"]["heldout_accuracy"] is not None


def test_refined_version_is_a_draft_child_trained_on_originals_and_contradictions(refined):
    api, bad = refined["api"], refined["bad"]
    new = api.ok("GET", f"/v1/evals/{refined['job']['result']['eval_id']}")
    assert new["parent_id"] == bad["id"] and new["status"] == "draft" and new["version"] > bad["version"]
    contradictions = {t for t, r in refined["ratings"].items() if r == "negative"}
    assert set(new["training_trace_ids"]) == set(bad["training_trace_ids"]) | contradictions
    statuses = {v["id"]: v["status"] for v in api.ok("GET", f"/v1/evals?eval_set_id={refined['es']}")["items"]}
    assert [k for k, s in statuses.items() if s == "active"] == [refined["v1"]]
    params = refined["job"]["params"]
    assert params["refine_from"] == bad["id"] and params["previous_code"] == ALWAYS_PASS
    assert set(params["contradiction_ids"]) == contradictions


def test_refine_needs_both_classes_and_a_known_generator(refined):
    api = refined["api"]
    no_key = api.ok("POST", f"/v1/evals/{refined['bad']['id']}/refine", {"generator": "anthropic"}, status=202)
    failed = api.wait_job(no_key["job_id"])
    assert failed["status"] == "failed" and failed["error"].startswith("LlmKeyMissing"), failed
    assert api.post(f"/v1/evals/{refined['bad']['id']}/refine", {"generator": "gpt"}).status_code == 400


# --- refine never regresses silently ------------------------------------------------------

@pytest.fixture(scope="module")
def guarded(module_http):
    api, es, v1, traces = generated_set(module_http, "refine-guard")
    return {"api": api, "es": es, "v1": api.ok("GET", f"/v1/evals/{v1}"), "ratings": dict(traces)}


def _memorised(ratings: dict[str, str]) -> str:
    """Hand-edited code that agrees with every rating by naming the negative traces (no refinement can beat it)."""
    negatives = sorted(t for t, r in ratings.items() if r == "negative")
    return (f"NEGATIVE = {negatives!r}\n\n\ndef eval_memorised(trace: dict) -> tuple[bool, str]:\n"
            f"    return trace.get(\"id\") not in NEGATIVE, \"listed\"\n")


def _refine(api, eval_id: str, body: dict) -> dict:
    return api.wait_ok(api.ok("POST", f"/v1/evals/{eval_id}/refine", body, status=202)["job_id"])


def _listed(api, es: str, *, include_rejected: bool = False) -> dict[str, str]:
    query = "&include_rejected=true" if include_rejected else ""
    return {v["id"]: v["status"] for v in api.ok("GET", f"/v1/evals?eval_set_id={es}{query}")["items"]}


def test_a_refinement_identical_to_its_parent_is_not_saved(guarded):
    api, es, v1 = guarded["api"], guarded["es"], guarded["v1"]
    before = _listed(api, es, include_rejected=True)
    job = _refine(api, v1["id"], {"generator": "offline"})  # no new ratings: the offline inducer writes the same code
    result = job["result"]
    assert result["saved"] is False and result.get("eval_id") is None, result
    assert result["refinement"]["outcome"] == "identical"
    assert "identical to parent" in result["message"] and "no new version" in result["message"]
    assert result["generator"] == "offline"
    assert _listed(api, es, include_rejected=True) == before


def test_a_refinement_with_a_lower_estimate_is_rejected_unless_kept(guarded):
    api, es, v1 = guarded["api"], guarded["es"], guarded["v1"]
    oracle = api.ok("POST", f"/v1/evals/{v1['id']}/versions", {"code": _memorised(guarded["ratings"])}, status=201)
    api.wait_ok(oracle["scoring_job_id"])
    parent = api.ok("GET", f"/v1/evals/{oracle['id']}")
    assert parent["metrics"]["accuracy"] == 1.0, parent["metrics"]
    job = _refine(api, parent["id"], {"generator": "offline"})
    result = job["result"]
    assert result["refinement"]["outcome"] == "rejected", result
    assert result["refinement"]["estimate"] < result["refinement"]["parent_estimate"] == 1.0
    rejected = api.ok("GET", f"/v1/evals/{result['eval_id']}")
    assert rejected["status"] == "rejected" and "lower than the parent" in rejected["rejected_reason"]
    assert rejected["id"] not in _listed(api, es)
    assert _listed(api, es, include_rejected=True)[rejected["id"]] == "rejected"
    refused = api.post(f"/v1/evals/{rejected['id']}/activate")
    assert refused.status_code == 409 and "rejected" in refused.json_body["error"]["message"]
    assert api.ok("POST", f"/v1/evals/{rejected['id']}/activate?force=true")["status"] == "active"

    kept = _refine(api, parent["id"], {"generator": "offline", "keep": True})["result"]
    assert kept["refinement"]["outcome"] == "accepted" and "keep" in kept["refinement"]["reason"]
    assert kept["status"] == "draft" and _listed(api, es)[kept["eval_id"]] == "draft"


def test_refine_keep_and_the_new_query_flags_are_in_the_openapi_document(guarded):
    doc = guarded["api"].ok("GET", "/v1/openapi.json")
    assert "keep" in doc["components"]["schemas"]["RefineRequest"]["properties"]
    params = {p["name"] for p in doc["paths"]["/v1/evals/{eval_id}/activate"]["post"]["parameters"]}
    assert "force" in params
    assert guarded["api"].get(f"/v1/evals?eval_set_id={guarded['es']}&include_rejected=maybe").status_code == 400


def test_a_generated_version_carries_an_interval_from_repeated_grouped_cv(guarded):
    api, v1 = guarded["api"], guarded["v1"]
    gen, metrics = v1["generation"], v1["metrics"]
    estimate, (lo, hi), repeats = gen["heldout_accuracy"], gen["heldout_interval"], gen["heldout_repeats"]
    assert len(repeats) == 3  # offline: three fold assignments
    assert gen["heldout_raw"] == pytest.approx(sum(repeats) / 3, abs=1e-4)
    assert estimate != gen["heldout_raw"]  # calibrated: shrunk toward the majority rate (chalicelib/evals/estimate.py)
    assert 0 <= lo < estimate < hi <= 1 and all(lo <= r <= hi for r in repeats)
    assert hi - lo > 0.1  # ~30 rated traces cannot pin accuracy down closer than that
    assert metrics["heldout_interval"] == [lo, hi]
    rescored = api.wait_ok(api.ok("POST", f"/v1/evals/{v1['id']}/execute", {}, status=202)["job_id"])
    assert rescored["result"]["metrics"]["heldout_interval"] == [lo, hi]  # kept when the version is re-run


# --- the estimate on the current ratings ---------------------------------------------------

@pytest.fixture(scope="module")
def rated_later(module_http):
    """v1 generated from 20 ratings; 20 more ratings added after it was written, and v1 re-run on them."""
    api = new_workspace(module_http, "estimate-now")
    traces = api.upload_demo(40, seed=11)
    es = api.ok("POST", "/v1/eval-sets", {"name": "estimate-now", "criteria": "look the order up first"},
                status=201)["id"]
    api.rate(es, traces[:20])
    v1 = api.wait_ok(api.ok("POST", f"/v1/eval-sets/{es}/generate", {"generator": "offline"},
                             status=202)["job_id"])["result"]["eval_id"]
    at_generation = api.ok("GET", f"/v1/evals/{v1}")
    api.rate(es, traces[20:])
    api.wait_ok(api.ok("POST", f"/v1/evals/{v1}/execute", {}, status=202)["job_id"])
    return {"api": api, "es": es, "v1": v1, "at_generation": at_generation, "later": traces[20:],
            "scored": (sum(r != "neutral" for _, r in traces[:20]), sum(r != "neutral" for _, r in traces[20:]))}


def test_a_version_is_estimated_on_ratings_added_after_it_was_written(rated_later):
    api, before = rated_later["api"], rated_later["at_generation"]
    gen, m0 = before["generation"], before["metrics"]
    # at generation every rating trained it: the estimate is the generation's held-out one
    assert m0["estimate"] == gen["heldout_accuracy"] and m0["estimate_interval"] == gen["heldout_interval"]
    trained, unseen = rated_later["scored"]  # neutral ratings neither train nor score
    assert (m0["estimate_trained"], m0["estimate_unseen"]) == (trained, 0)
    m = api.ok("GET", f"/v1/evals/{rated_later['v1']}")["metrics"]
    assert (m["estimate_trained"], m["estimate_unseen"]) == (trained, unseen) and unseen >= 5
    rows = walk(api, f"/v1/eval-sets/{rated_later['es']}/matrix?eval_ids={rated_later['v1']}", limit=50)
    later = {t for t, _ in rated_later["later"]}
    agreed = [r["results"][rated_later["v1"]]["agrees"] is True for r in rows
              if r["trace_id"] in later and r["human"]["rating"] != "neutral"]
    assert len(agreed) == unseen and m["estimate_unseen_accuracy"] == pytest.approx(sum(agreed) / unseen, abs=1e-4)
    assert m["estimate"] == pytest.approx((trained * gen["heldout_accuracy"] + sum(agreed)) / (trained + unseen),
                                          abs=1e-4)
    lo, hi = m["estimate_interval"]
    assert lo <= m["estimate"] <= hi and hi - lo < gen["heldout_interval"][1] - gen["heldout_interval"][0]
    assert m["heldout_accuracy"] == gen["heldout_accuracy"]  # the generation's estimate is kept as it was


def test_refinement_and_the_diff_compare_versions_on_the_current_ratings(rated_later):
    api, v1 = rated_later["api"], rated_later["v1"]
    now = api.ok("GET", f"/v1/evals/{v1}")["metrics"]["estimate"]
    result = api.wait_ok(api.ok("POST", f"/v1/evals/{v1}/refine", {"generator": "offline", "keep": True},
                                status=202)["job_id"])["result"]
    assert result["refinement"]["parent_estimate"] == now != rated_later["at_generation"]["generation"]["heldout_accuracy"]
    if result["saved"]:
        child = api.ok("GET", f"/v1/evals/{result['eval_id']}")
        assert result["refinement"]["estimate"] == child["metrics"]["estimate"]
        diff = api.ok("GET", f"/v1/evals/{child['id']}/diff?against={v1}")
        assert diff["against"]["metrics"]["estimate"] == now
        assert diff["eval"]["metrics"]["estimate"] == child["metrics"]["estimate"]
