import json

import pytest

from infra.local.demo_traces import make_demo_traces
from tests.conftest import invoke_function

SET = {"name": "refund policy", "description": "refunds follow the policy", "criteria": "check before refunding"}


def _upload(api, n: int = 6) -> list[str]:
    job = api.ok("POST", "/v1/traces/upload?format=langfuse", raw="\n".join(json.dumps(t) for t in make_demo_traces(n)),
                 headers={"Content-Type": "application/x-ndjson"}, status=202)
    assert api.wait_job(job["job_id"])["status"] == "succeeded"
    return [t["id"] for t in api.ok("GET", "/v1/traces?limit=200")["items"]]


def _key(api, role: str):
    return api.with_key(api.ok("POST", "/v1/api-keys", {"label": role, "role": role}, status=201)["key"])


def test_create_returns_an_empty_set_with_default_thresholds(api):
    created = api.ok("POST", "/v1/eval-sets", SET, status=201)
    assert created["id"].startswith("es_") and created["name"] == SET["name"]
    assert created["thresholds"] == {"min_rated": 5, "min_positive": 1, "min_negative": 1}
    assert created["counts"] == {"positive": 0, "negative": 0, "neutral": 0} and created["ready"] is False
    fetched = api.ok("GET", f"/v1/eval-sets/{created['id']}")
    assert fetched["criteria"] == SET["criteria"] and fetched["counts"] == created["counts"]


def test_duplicate_name_in_a_workspace_is_409_but_fine_in_another(api, other):
    api.ok("POST", "/v1/eval-sets", SET, status=201)
    for name in (SET["name"], "Refund  Policy"):
        response = api.post("/v1/eval-sets", {**SET, "name": name})
        assert response.status_code == 409 and response.json_body["error"]["code"] == "CONFLICT"
    other.ok("POST", "/v1/eval-sets", SET, status=201)
    assert len(api.ok("GET", "/v1/eval-sets")["items"]) == 1


@pytest.mark.parametrize("raw, fragment", [
    ("{not json", "not valid JSON"),
    ("[]", "JSON object"),
    ('{"description": "no name"}', "name"),
    ('{"name": 5}', "name"),
    ('{"name": ""}', "name"),
    ('{"name": "   "}', "blank"),
    ('{"name": "a", "colour": "red"}', "colour"),
    ('{"name": "a", "thresholds": {"min_rated": 0}}', "min_rated"),
    ('{"name": "a", "thresholds": {"min_rated": "five"}}', "min_rated"),
    ('{"name": "a", "thresholds": {"min_good": 3}}', "min_good"),
])
def test_bad_create_bodies_are_400_and_create_nothing(api, raw, fragment):
    response = api.post("/v1/eval-sets", raw=raw)
    assert response.status_code == 400, response.body
    assert response.json_body["error"]["code"] == "VALIDATION_ERROR" and fragment in json.dumps(response.json_body)
    assert api.ok("GET", "/v1/eval-sets")["items"] == []


def test_list_is_paged(api):
    for i in range(5):
        api.ok("POST", "/v1/eval-sets", {"name": f"set {i}"}, status=201)
    first = api.ok("GET", "/v1/eval-sets?limit=2")
    second = api.ok("GET", f"/v1/eval-sets?limit=2&cursor={first['next_cursor']}")
    third = api.ok("GET", f"/v1/eval-sets?limit=2&cursor={second['next_cursor']}")
    names = [s["name"] for page in (first, second, third) for s in page["items"]]
    assert sorted(names) == [f"set {i}" for i in range(5)] and third["next_cursor"] is None
    assert api.get("/v1/eval-sets?limit=0").status_code == 400


def test_patch_changes_only_the_fields_sent(api):
    created = api.ok("POST", "/v1/eval-sets", SET, status=201)
    patched = api.ok("PATCH", f"/v1/eval-sets/{created['id']}", {"criteria": "new", "thresholds": {"min_rated": 2}})
    assert patched["criteria"] == "new" and patched["description"] == SET["description"]
    assert patched["thresholds"] == {"min_rated": 2, "min_positive": 1, "min_negative": 1}
    assert patched["updated_at"] >= created["updated_at"]
    assert api.ok("PATCH", f"/v1/eval-sets/{created['id']}", {})["criteria"] == "new"


def test_rename_frees_the_old_name_and_refuses_a_taken_one(api):
    a = api.ok("POST", "/v1/eval-sets", {"name": "a"}, status=201)
    api.ok("POST", "/v1/eval-sets", {"name": "b"}, status=201)
    assert api.patch(f"/v1/eval-sets/{a['id']}", {"name": "b"}).status_code == 409
    assert api.ok("PATCH", f"/v1/eval-sets/{a['id']}", {"name": "c"})["name"] == "c"
    api.ok("POST", "/v1/eval-sets", {"name": "a"}, status=201)
    assert api.post("/v1/eval-sets", {"name": "c"}).status_code == 409


@pytest.mark.parametrize("body", [{"name": None}, {"name": " "}, {"criteria": 3}, {"owner": "me"},
                                  {"thresholds": {"min_negative": -1}}])
def test_bad_patch_bodies_are_400(api, body):
    created = api.ok("POST", "/v1/eval-sets", SET, status=201)
    assert api.patch(f"/v1/eval-sets/{created['id']}", body).status_code == 400
    assert api.ok("GET", f"/v1/eval-sets/{created['id']}")["name"] == SET["name"]


def test_unknown_eval_set_ids_are_404(api):
    for method, path, body in [("GET", "/v1/eval-sets/es_00000000000000000000", None),
                               ("GET", "/v1/eval-sets/not-an-id", None),
                               ("GET", "/v1/eval-sets/" + "es_" + "x" * 300, None),
                               ("PATCH", "/v1/eval-sets/es_00000000000000000000", {"name": "x"}),
                               ("DELETE", "/v1/eval-sets/es_00000000000000000000", None),
                               ("GET", "/v1/eval-sets/es_00000000000000000000/feedback", None),
                               ("GET", "/v1/eval-sets/es_00000000000000000000/review-queue", None)]:
        response = api.call(method, path, body)
        assert response.status_code == 404 and response.json_body["error"]["code"] == "NOT_FOUND", (method, path)


def test_another_workspace_cannot_see_change_or_delete_a_set(api, other):
    created = api.ok("POST", "/v1/eval-sets", SET, status=201)
    for method, body in [("GET", None), ("PATCH", {"name": "mine"}), ("DELETE", None)]:
        assert other.call(method, f"/v1/eval-sets/{created['id']}", body).status_code == 404
    assert other.ok("GET", "/v1/eval-sets")["items"] == []
    assert api.ok("GET", f"/v1/eval-sets/{created['id']}")["name"] == SET["name"]


def test_viewers_read_but_cannot_create_change_or_delete(api):
    created = api.ok("POST", "/v1/eval-sets", SET, status=201)
    viewer = _key(api, "viewer")
    assert viewer.ok("GET", f"/v1/eval-sets/{created['id']}")["id"] == created["id"]
    assert viewer.ok("GET", "/v1/eval-sets")["items"][0]["id"] == created["id"]
    for method, path, body in [("POST", "/v1/eval-sets", {"name": "v"}),
                               ("PATCH", f"/v1/eval-sets/{created['id']}", {"name": "v"}),
                               ("DELETE", f"/v1/eval-sets/{created['id']}", None)]:
        response = viewer.call(method, path, body)
        assert response.status_code == 403 and response.json_body["error"]["code"] == "FORBIDDEN", (method, path)
    member = _key(api, "member")
    assert member.ok("POST", "/v1/eval-sets", {"name": "by a member"}, status=201)["name"] == "by a member"


def test_delete_removes_the_set_its_name_and_all_its_feedback(stack, api):
    from chalicelib import wiring

    trace_ids = _upload(api, n=4)
    created = api.ok("POST", "/v1/eval-sets", SET, status=201)
    for trace_id in trace_ids:
        api.ok("PUT", f"/v1/eval-sets/{created['id']}/feedback/{trace_id}", {"rating": "positive"})
    assert len(wiring.eval_set_repo().rating_rows(created["id"])) == 4
    assert api.delete(f"/v1/eval-sets/{created['id']}").status_code == 204
    assert api.get(f"/v1/eval-sets/{created['id']}").status_code == 404
    invoke_function(stack, "evalset_cleanup")  # the ratings go after the request (evalsets/cleanup.py)
    assert wiring.eval_set_repo().rating_rows(created["id"]) == []
    assert api.delete(f"/v1/eval-sets/{created['id']}").status_code == 404
    again = api.ok("POST", "/v1/eval-sets", SET, status=201)
    assert again["counts"] == {"positive": 0, "negative": 0, "neutral": 0}


def test_the_cleanup_after_a_delete_pages_through_many_feedback_items(stack, api):
    from chalicelib import wiring
    from chalicelib.evalsets.models import Feedback

    created = api.ok("POST", "/v1/eval-sets", SET, status=201)
    repo = wiring.eval_set_repo()
    notes = "n" * 3000  # ~3 KB items: 400 of them span more than one 1 MB query page
    for i in range(400):
        repo.put_feedback(created["id"], api.workspace_id, Feedback(
            trace_id=f"tr_{i:04d}", rating="negative", notes=notes, author="k", created_at="t", updated_at="t"),
            expected_version=None)
    from boto3.dynamodb.conditions import Key

    from chalicelib import clients

    first_page = clients.dynamodb_table("feedback").query(KeyConditionExpression=Key("eval_set_id").eq(created["id"]),
                                                          ProjectionExpression="trace_id")
    assert first_page.get("LastEvaluatedKey"), "the feedback should span more than one query page"
    assert api.ok("GET", f"/v1/eval-sets/{created['id']}")["counts"]["negative"] == 400
    api.ok("DELETE", f"/v1/eval-sets/{created['id']}", status=204)
    invoke_function(stack, "evalset_cleanup")
    assert repo.rating_rows(created["id"]) == []


def test_the_set_says_how_many_more_ratings_of_each_class_a_held_out_estimate_needs(api):
    eval_set = api.ok("POST", "/v1/eval-sets", {"name": "advice"}, status=201)
    assert eval_set["more_for_heldout"] == {"positive": 5, "negative": 5}
    traces = [t for t, _ in api.upload_demo(n=8, seed=4)]
    api.rate(eval_set["id"], [(t, "positive") for t in traces[:7]] + [(traces[7], "negative")])
    assert api.ok("GET", f"/v1/eval-sets/{eval_set['id']}")["more_for_heldout"] == {"positive": 0, "negative": 4}
    assert "more_for_heldout" in json.dumps(api.ok("GET", "/v1/openapi.json"))
