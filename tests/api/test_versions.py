"""Version lineage through the API: hand-edited versions (validated, 422 with the line), activation
(one active per set, rollback), archiving (409 for the active one), and the diff between versions."""

import pytest

from chalicelib import wiring
from chalicelib.errors import Conflict
from tests.conftest import invoke_function, new_workspace
from tests.api.test_matrix import RULE_CODE

ALWAYS_PASS = '''def eval_always(trace: dict) -> tuple[bool, str]:
    return True, "everything passes"
'''


@pytest.fixture(scope="module")
def lineage(module_http):
    api = new_workspace(module_http, "versions")
    traces = api.upload_demo(24, seed=5)
    es = api.ok("POST", "/v1/eval-sets", {"name": "v", "criteria": "look the order up first"}, status=201)["id"]
    api.rate(es, traces)
    v1 = api.ok("GET", "/v1/evals/" + api.wait_ok(api.ok("POST", f"/v1/eval-sets/{es}/generate",
                                                          {"generator": "offline"}, status=202)["job_id"])
                ["result"]["eval_id"])
    return {"api": api, "es": es, "v1": v1, "ratings": dict(traces)}


def _save(lineage, parent_id: str, code: str) -> dict:
    saved = lineage["api"].ok("POST", f"/v1/evals/{parent_id}/versions", {"code": code}, status=201)
    lineage["api"].wait_ok(saved["scoring_job_id"])
    return lineage["api"].ok("GET", f"/v1/evals/{saved['id']}")


def _statuses(lineage) -> dict[str, str]:
    return {v["id"]: v["status"] for v in lineage["api"].ok("GET", f"/v1/evals?eval_set_id={lineage['es']}")["items"]}


def test_a_hand_edited_version_records_its_lineage_and_gets_scored(lineage):
    v1 = lineage["v1"]
    v2 = _save(lineage, v1["id"], RULE_CODE)
    assert (v2["generator"], v2["parent_id"], v2["status"], v2["name"]) == ("human", v1["id"], "draft",
                                                                             "eval_refund_rule")
    assert v2["version"] > v1["version"] and v2["code"] == RULE_CODE
    assert v2["training_trace_ids"] == v1["training_trace_ids"]
    non_neutral = sum(r != "neutral" for r in lineage["ratings"].values())
    assert v2["metrics"]["n"] + v2["metrics"]["errors"] + v2["metrics"]["timeouts"] == non_neutral


@pytest.mark.parametrize("code, line, words", [
    ("import os\ndef eval_x(trace):\n    return True, ''\n", 1, "os"),
    ("def eval_x(trace):\n    x = 1\n    return trace.__class__, ''\n", 3, "__class__"),
    ("def eval_x(trace):\n    return (True, ''\n", 2, "syntax"),
])
def test_invalid_code_is_422_with_the_line(lineage, code, line, words):
    response = lineage["api"].post(f"/v1/evals/{lineage['v1']['id']}/versions", {"code": code})
    assert response.status_code == 422, response.body
    error = response.json_body["error"]
    assert error["details"][0]["line"] == line and words in error["message"]


DEEP_CONSTANT = "X = " + "+".join(["1"] * 1000) + "\ndef eval_x(trace):\n    return True, ''\n"
DEEP_RETURN = "def eval_x(trace):\n    return " + "-" * 600 + "1 > 0, ''\n"
UNPARSABLE = "def eval_x(trace):\n    return " + "not " * 4000 + "1, ''\n"  # ast.parse: RecursionError


@pytest.mark.parametrize("code, line, words", [
    (DEEP_CONSTANT, 1, "nested more than 100 levels"),
    (DEEP_RETURN, 2, "nested more than 100 levels"),
    (UNPARSABLE, None, "cannot be parsed: RecursionError"),
])
def test_deeply_nested_code_is_422_and_logs_no_stack_trace(lineage, capfd, code, line, words):
    capfd.readouterr()
    response = lineage["api"].post(f"/v1/evals/{lineage['v1']['id']}/versions", {"code": code})
    assert response.status_code == 422, response.body[:300]
    error = response.json_body["error"]
    assert error["code"] == "UNPROCESSABLE" and error["details"][0]["line"] == line and words in error["message"]
    out, err = capfd.readouterr()
    assert "Traceback" not in out + err and len(out + err) < 2000


def test_version_routes_404_for_unknown_and_foreign_evals(lineage, other):
    v1 = lineage["v1"]["id"]
    api = lineage["api"]
    for path, body in ((f"/v1/evals/{{}}/versions", {"code": RULE_CODE}), ("/v1/evals/{}/activate", None),
                       ("/v1/evals/{}/archive", None), ("/v1/evals/{}/refine", {})):
        assert api.post(path.format("ev_00000000000000000000"), body).status_code == 404
        assert other.post(path.format(v1), body).status_code == 404
    assert other.get(f"/v1/evals/{v1}/diff?against={v1}").status_code == 404
    assert api.get(f"/v1/evals/{v1}/diff?against=ev_00000000000000000000").status_code == 404
    assert api.get(f"/v1/evals/{v1}/diff").status_code == 400


def test_one_active_version_rollback_and_archive_rules(lineage):
    api, v1 = lineage["api"], lineage["v1"]["id"]
    v2 = _save(lineage, v1, RULE_CODE)["id"]
    assert api.ok("POST", f"/v1/evals/{v2}/activate")["status"] == "active"
    assert api.ok("POST", f"/v1/evals/{v2}/activate")["status"] == "active"  # idempotent
    statuses = _statuses(lineage)
    assert [k for k, s in statuses.items() if s == "active"] == [v2]
    assert api.ok("POST", f"/v1/evals/{v1}/activate")["status"] == "active"  # rollback to the older one
    statuses = _statuses(lineage)
    assert [k for k, s in statuses.items() if s == "active"] == [v1] and statuses[v2] == "draft"
    archived = api.post(f"/v1/evals/{v1}/archive")
    assert archived.status_code == 409 and archived.json_body["error"]["code"] == "CONFLICT"
    assert api.ok("POST", f"/v1/evals/{v2}/archive")["status"] == "archived"
    assert api.ok("POST", f"/v1/evals/{v2}/archive")["status"] == "archived"
    assert _statuses(lineage)[v2] == "archived"
    # activating an archived version brings it back; the previously active one becomes a draft
    assert api.ok("POST", f"/v1/evals/{v2}/activate")["status"] == "active"
    statuses = _statuses(lineage)
    assert statuses[v2] == "active" and statuses[v1] == "draft"
    viewer = api.with_key(api.ok("POST", "/v1/api-keys", {"label": "v", "role": "viewer"}, status=201)["key"])
    assert viewer.post(f"/v1/evals/{v1}/activate").status_code == 403


def test_an_activation_based_on_a_stale_read_is_409_and_leaves_one_active(lineage):
    """Two activations racing: the one that read the set before the other committed loses (deterministic
    here; moto's transactions are not isolated under real concurrency, DynamoDB's are)."""
    api = lineage["api"]
    first, second = (_save(lineage, lineage["v1"]["id"], RULE_CODE.replace("no unchecked refund", f"ok {i}"))["id"]
                     for i in range(2))
    repo = wiring.eval_repo()
    target = repo.get(api.workspace_id, second)
    stale_previous = [v for v in repo.all_for_set(lineage["es"]) if v.status == "active"]
    api.ok("POST", f"/v1/evals/{first}/activate")
    with pytest.raises(Conflict):
        repo.activate(api.workspace_id, target, stale_previous)
    statuses = _statuses(lineage)
    assert [k for k, s in statuses.items() if s == "active"] == [first] and statuses[second] == "draft"


def test_diff_shows_the_code_change_and_the_flipped_traces(lineage):
    api, v1 = lineage["api"], lineage["v1"]
    v2 = _save(lineage, v1["id"], ALWAYS_PASS)
    diff = api.ok("GET", f"/v1/evals/{v2['id']}/diff?against={v1['id']}")
    assert diff["diff"].startswith(f"--- {v1['name']} v{v1['version']}\n+++ eval_always v{v2['version']}\n")
    assert "+    return True, \"everything passes\"" in diff["diff"]
    before = {e["trace_id"]: e["result"] for e in api.ok("GET", f"/v1/evals/{v1['id']}/executions?limit=200")["items"]}
    after = {e["trace_id"]: e["result"] for e in api.ok("GET", f"/v1/evals/{v2['id']}/executions?limit=200")["items"]}
    rated = lineage["ratings"]
    expected = {t for t in rated if t in before and t in after and before[t] != after[t]}
    assert {f["trace_id"] for f in diff["flipped"]} == expected and diff["flipped_total"] == len(expected) > 0
    for flip in diff["flipped"]:
        assert (flip["before"], flip["after"]) == (before[flip["trace_id"]], "pass")
        assert flip["fixed"] is (None if flip["rating"] == "neutral" or flip["before"] not in ("pass", "fail")
                                 else flip["rating"] == "positive")
    assert diff["compared"] == len(rated)
    assert diff["eval"]["metrics"]["confusion"]["tn"] == 0 and diff["eval"]["metrics"]["confusion"]["fn"] == 0
    assert diff["against"]["metrics"]["accuracy"] == v1["metrics"]["accuracy"]


def test_deleting_an_eval_set_hides_it_at_once_and_empties_it_after_in_bounded_batches(stack, api, aws_events):
    from datetime import datetime, timedelta, timezone

    from boto3.dynamodb.conditions import Key

    from chalicelib import clients, wiring
    from chalicelib.config import get_settings
    from chalicelib.evals.models import Execution
    from chalicelib.evalsets.cleanup import clean_deleted_sets

    traces = api.upload_demo(10, seed=9)
    es = api.ok("POST", "/v1/eval-sets", {"name": "to delete", "criteria": ""}, status=201)["id"]
    api.rate(es, [(trace_id, rating) for trace_id, rating in traces if rating != "neutral"])
    eval_id = api.wait_job(api.ok("POST", f"/v1/eval-sets/{es}/generate", {"generator": "offline"},
                                  status=202)["job_id"])["result"]["eval_id"]
    evals = wiring.eval_repo()
    evals.put_executions(Execution(eval_id=eval_id, trace_id=f"tr_bulk_{i:04d}", result="pass",
                                   executed_at="2026-01-01T00:00:00Z") for i in range(300))
    evals.record_trend(eval_id, {"executed": 300, "pass": 300}, run="bulk/0")
    assert api.ok("GET", f"/v1/evals/{eval_id}/executions")["items"]
    assert api.ok("GET", f"/v1/evals/{eval_id}/trend")["points"]

    def left() -> dict[str, int]:
        return {name: clients.dynamodb_table(name).query(KeyConditionExpression=Key(key).eq(value), Select="COUNT")[
            "Count"] for name, key, value in (("executions", "eval_id", eval_id), ("eval_trends", "eval_id", eval_id),
                                              ("feedback", "eval_set_id", es))}

    def marked() -> bool:
        return any(d.eval_set_id == es for d in wiring.deleted_sets().pending(limit=1000))

    touched: list[str] = []
    aws_events("before-parameter-build.dynamodb", lambda model, params, **_: touched.extend(
        [params.get("TableName", "")] + list(params.get("RequestItems") or {})))
    assert api.delete(f"/v1/eval-sets/{es}").status_code == 204
    # the request wrote nothing of the (unbounded) results, counters or ratings ...
    heavy = {get_settings().table(t) for t in ("executions", "eval_trends", "feedback")}
    assert touched and not heavy & set(touched), touched
    # ... yet nothing of the set shows anywhere
    for path in (f"/v1/eval-sets/{es}", f"/v1/eval-sets/{es}/matrix", f"/v1/evals/{eval_id}",
                 f"/v1/evals/{eval_id}/executions", f"/v1/evals/{eval_id}/trend", f"/v1/evals/{eval_id}/export"):
        assert api.get(path).status_code == 404, path
    before = left()
    assert before["executions"] > 300 and before["eval_trends"] and before["feedback"] and marked()

    stores = {"markers": wiring.deleted_sets(), "eval_sets": wiring.eval_set_repo(), "evals": wiring.eval_repo()}
    now = datetime.now(timezone.utc)
    first = clean_deleted_sets(now, budget=100, **stores)
    assert first.deleted <= 100 and sum(left().values()) >= sum(before.values()) - 100 and marked()

    out = invoke_function(stack, "evalset_cleanup")  # the function its schedule runs: the rest, in one batch
    assert out["deleted"] > 0 and es not in out["finished"]
    assert left() == {"executions": 0, "eval_trends": 0, "feedback": 0}
    assert marked()  # kept while a run started before the delete could still write results

    last = clean_deleted_sets(now + timedelta(hours=2), **stores)
    assert es in last.finished and not marked()


def _job_ids(api) -> set[str]:
    return {j["id"] for j in api.ok("GET", "/v1/jobs?limit=200")["items"]}


def test_executing_unknown_trace_ids_is_404_naming_them_and_starts_no_job(lineage, other):
    api, eval_id = lineage["api"], lineage["v1"]["id"]
    known = next(iter(lineage["ratings"]))
    foreign = other.upload_demo(1, seed=9)[0][0]  # another workspace's trace is unknown here
    before = _job_ids(api)
    response = api.post(f"/v1/evals/{eval_id}/execute", {"trace_ids": [known, "tr_nope", foreign]})
    assert response.status_code == 404, response.body
    error = response.json_body["error"]
    assert error["code"] == "NOT_FOUND" and "tr_nope" in error["message"] and foreign in error["message"]
    assert error["details"] == [{"field": "trace_ids", "missing": ["tr_nope", foreign]}]
    assert known not in error["message"]
    assert _job_ids(api) == before


@pytest.mark.parametrize("filters, field", [
    ({"from": "notadate"}, "from"), ({"to": "2026-13-45"}, "to"), ({"source": "nope"}, "source"),
    ({"tags": "x"}, "filters.tags"), ({"name": 5}, "filters.name"),
])
def test_executing_with_bad_filters_is_400_and_starts_no_job(lineage, filters, field):
    api = lineage["api"]
    before = _job_ids(api)
    response = api.post(f"/v1/evals/{lineage['v1']['id']}/execute", {"filters": filters})
    assert response.status_code == 400, response.body
    assert response.json_body["error"]["details"][0]["field"] == field
    assert _job_ids(api) == before
