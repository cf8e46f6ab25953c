import json

import pytest

from infra.local.demo_traces import make_demo_traces


@pytest.fixture
def traces(api) -> list[str]:
    job = api.ok("POST", "/v1/traces/upload?format=langfuse",
                 raw="\n".join(json.dumps(t) for t in make_demo_traces(12)),
                 headers={"Content-Type": "application/x-ndjson"}, status=202)
    assert api.wait_job(job["job_id"])["status"] == "succeeded"
    return [t["id"] for t in api.ok("GET", "/v1/traces?limit=200")["items"]]


@pytest.fixture
def eval_set(api) -> str:
    return api.ok("POST", "/v1/eval-sets", {"name": "refunds", "criteria": "c"}, status=201)["id"]


def _rate(api, eval_set, trace_id, rating, notes=""):
    return api.ok("PUT", f"/v1/eval-sets/{eval_set}/feedback/{trace_id}", {"rating": rating, "notes": notes})


def _member(api, role="member"):
    return api.with_key(api.ok("POST", "/v1/api-keys", {"label": role, "role": role}, status=201))


def test_rating_changes_keep_their_history_with_author_and_time(api, traces, eval_set):
    member_key = api.ok("POST", "/v1/api-keys", {"label": "m", "role": "member"}, status=201)
    member = api.with_key(member_key["key"])
    owner_key_id = api.ok("GET", "/v1/workspace")["key_id"]
    first = _rate(api, eval_set, traces[0], "positive", "looks right")
    _rate(member, eval_set, traces[0], "negative", "refund issued without a check")
    last = _rate(api, eval_set, traces[0], "negative", "confirmed")
    assert (last["rating"], last["notes"], last["author"]) == ("negative", "confirmed", owner_key_id)
    assert last["created_at"] == first["created_at"] and last["updated_at"] > first["updated_at"]
    assert [(h["by"], h["from"], h["to"], h["notes"]) for h in last["history"]] == [
        (owner_key_id, None, "positive", "looks right"),
        (member_key["id"], "positive", "negative", "refund issued without a check"),
        (owner_key_id, "negative", "negative", "confirmed")]
    assert all(h["at"] for h in last["history"])
    listed = api.ok("GET", f"/v1/eval-sets/{eval_set}/feedback")["items"]
    assert listed == [last]


def test_repeating_the_same_rating_does_not_grow_the_history(api, traces, eval_set):
    once = _rate(api, eval_set, traces[0], "neutral", "n")
    twice = _rate(api, eval_set, traces[0], "neutral", "n")
    assert twice == once and len(twice["history"]) == 1


def test_counts_ready_and_warnings_follow_the_ratings(api, traces, eval_set):
    url = f"/v1/eval-sets/{eval_set}"
    for trace_id in traces[:4]:
        _rate(api, eval_set, trace_id, "positive")
    detail = api.ok("GET", url)
    assert detail["counts"] == {"positive": 4, "negative": 0, "neutral": 0} and not detail["ready"]
    assert detail["missing"] == ["rate 1 more traces positive or negative (have 4, need 5; neutral ratings do not count)",
                                 "needs 1 more negative rating(s)"]
    _rate(api, eval_set, traces[4], "negative")
    _rate(api, eval_set, traces[5], "neutral")
    detail = api.ok("GET", url)
    assert detail["counts"] == {"positive": 4, "negative": 1, "neutral": 1} and detail["ready"]
    codes = {w["code"]: w for w in detail["warnings"]}
    assert set(codes) == {"class_imbalance", "few_examples"} and "4 : 1" in codes["class_imbalance"]["message"]
    _rate(api, eval_set, traces[0], "negative")  # 3 positive, 2 negative: balanced enough
    detail = api.ok("GET", url)
    assert detail["counts"] == {"positive": 3, "negative": 2, "neutral": 1}
    assert "class_imbalance" not in {w["code"] for w in detail["warnings"]}


def test_a_trace_rated_back_and_forth_is_flagged(api, traces, eval_set):
    for rating in ("positive", "negative"):
        _rate(api, eval_set, traces[0], rating)
    assert "rating_flips" not in {w["code"] for w in api.ok("GET", f"/v1/eval-sets/{eval_set}")["warnings"]}
    _rate(api, eval_set, traces[0], "positive")
    flips = [w for w in api.ok("GET", f"/v1/eval-sets/{eval_set}")["warnings"] if w["code"] == "rating_flips"]
    assert flips and flips[0]["trace_ids"] == [traces[0]]


def test_thresholds_set_on_the_set_decide_ready(api, traces):
    es = api.ok("POST", "/v1/eval-sets", {"name": "strict", "thresholds": {"min_rated": 3, "min_negative": 2}},
                status=201)["id"]
    for trace_id, rating in zip(traces, ["positive", "positive", "negative"]):
        _rate(api, es, trace_id, rating)
    assert not api.ok("GET", f"/v1/eval-sets/{es}")["ready"]
    _rate(api, es, traces[3], "negative")
    assert api.ok("GET", f"/v1/eval-sets/{es}")["ready"]


def test_delete_feedback_updates_counts_and_is_404_when_not_rated(api, traces, eval_set):
    _rate(api, eval_set, traces[0], "negative")
    _rate(api, eval_set, traces[1], "positive")
    assert api.delete(f"/v1/eval-sets/{eval_set}/feedback/{traces[0]}").status_code == 204
    assert api.ok("GET", f"/v1/eval-sets/{eval_set}")["counts"] == {"positive": 1, "negative": 0, "neutral": 0}
    assert [f["trace_id"] for f in api.ok("GET", f"/v1/eval-sets/{eval_set}/feedback")["items"]] == [traces[1]]
    again = api.delete(f"/v1/eval-sets/{eval_set}/feedback/{traces[0]}")
    assert again.status_code == 404 and again.json_body["error"]["code"] == "NOT_FOUND"
    rerated = _rate(api, eval_set, traces[0], "neutral")
    assert [h["from"] for h in rerated["history"]] == [None]


def test_feedback_lists_newest_first_in_pages(api, traces, eval_set):
    for trace_id in traces[:5]:
        _rate(api, eval_set, trace_id, "positive")
    _rate(api, eval_set, traces[0], "negative")  # changed last: first in the list
    first = api.ok("GET", f"/v1/eval-sets/{eval_set}/feedback?limit=2")
    rest = api.ok("GET", f"/v1/eval-sets/{eval_set}/feedback?limit=10&cursor={first['next_cursor']}")
    order = [f["trace_id"] for f in first["items"] + rest["items"]]
    assert order == [traces[0], traces[4], traces[3], traces[2], traces[1]] and rest["next_cursor"] is None
    assert api.get(f"/v1/eval-sets/{eval_set}/feedback?limit=500").status_code == 400


@pytest.mark.parametrize("raw, fragment", [
    ("{oops", "not valid JSON"),
    ('"positive"', "JSON object"),
    ("{}", "rating"),
    ('{"rating": "good"}', "rating"),
    ('{"rating": 1}', "rating"),
    ('{"rating": "positive", "notes": 5}', "notes"),
    ('{"rating": "positive", "score": 5}', "score"),
    (json.dumps({"rating": "positive", "notes": "x" * 4001}), "notes"),
])
def test_bad_feedback_bodies_are_400_and_write_nothing(api, traces, eval_set, raw, fragment):
    response = api.put(f"/v1/eval-sets/{eval_set}/feedback/{traces[0]}", raw=raw)
    assert response.status_code == 400 and fragment in json.dumps(response.json_body["error"])
    assert api.ok("GET", f"/v1/eval-sets/{eval_set}/feedback")["items"] == []


def test_unknown_trace_or_set_is_404(api, traces, eval_set):
    for path in (f"/v1/eval-sets/{eval_set}/feedback/tr_0000", f"/v1/eval-sets/es_0000/feedback/{traces[0]}",
                 f"/v1/eval-sets/{eval_set}/feedback/" + "t" * 300):
        response = api.put(path, {"rating": "positive"})
        assert response.status_code == 404 and response.json_body["error"]["code"] == "NOT_FOUND", path
    assert api.delete(f"/v1/eval-sets/es_0000/feedback/{traces[0]}").status_code == 404


def test_another_workspaces_trace_or_set_is_404(api, other, traces, eval_set):
    _rate(api, eval_set, traces[0], "positive")
    own_set = other.ok("POST", "/v1/eval-sets", {"name": "theirs"}, status=201)["id"]
    assert other.put(f"/v1/eval-sets/{own_set}/feedback/{traces[1]}", {"rating": "negative"}).status_code == 404
    assert other.put(f"/v1/eval-sets/{eval_set}/feedback/{traces[1]}", {"rating": "negative"}).status_code == 404
    assert other.get(f"/v1/eval-sets/{eval_set}/feedback").status_code == 404
    assert other.delete(f"/v1/eval-sets/{eval_set}/feedback/{traces[0]}").status_code == 404
    assert other.get(f"/v1/traces?eval_set_id={eval_set}&rated=true").status_code == 404
    assert [f["trace_id"] for f in api.ok("GET", f"/v1/eval-sets/{eval_set}/feedback")["items"]] == [traces[0]]


def test_viewers_read_feedback_but_cannot_rate(api, traces, eval_set):
    _rate(api, eval_set, traces[0], "positive")
    viewer = api.with_key(api.ok("POST", "/v1/api-keys", {"label": "v", "role": "viewer"}, status=201)["key"])
    response = viewer.put(f"/v1/eval-sets/{eval_set}/feedback/{traces[1]}", {"rating": "negative"})
    assert response.status_code == 403 and response.json_body["error"]["code"] == "FORBIDDEN"
    assert viewer.delete(f"/v1/eval-sets/{eval_set}/feedback/{traces[0]}").status_code == 403
    assert len(viewer.ok("GET", f"/v1/eval-sets/{eval_set}/feedback")["items"]) == 1
    assert viewer.ok("GET", f"/v1/eval-sets/{eval_set}")["counts"]["positive"] == 1


def test_traces_can_be_filtered_by_rated_in_a_set(api, traces, eval_set):
    for trace_id in traces[:3]:
        _rate(api, eval_set, trace_id, "positive")
    rated = api.ok("GET", f"/v1/traces?eval_set_id={eval_set}&rated=true&limit=200")["items"]
    unrated = api.ok("GET", f"/v1/traces?eval_set_id={eval_set}&rated=false&limit=200")["items"]
    assert {t["id"] for t in rated} == set(traces[:3])
    assert {t["id"] for t in unrated} == set(traces[3:])
    page = api.ok("GET", f"/v1/traces?eval_set_id={eval_set}&rated=false&limit=4")
    assert [t["id"] for t in page["items"]] == traces[3:7]
    assert len(api.ok("GET", f"/v1/traces?eval_set_id={eval_set}&limit=200")["items"]) == len(traces)


def test_paging_through_unrated_traces_returns_them_all(api, traces, eval_set):
    _rate(api, eval_set, traces[0], "positive")
    seen, cursor = [], None
    for _ in range(10):
        page = api.ok("GET", f"/v1/traces?eval_set_id={eval_set}&rated=false&limit=4"
                             + (f"&cursor={cursor}" if cursor else ""))
        seen += [t["id"] for t in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == traces[1:]


@pytest.mark.parametrize("query, status", [("rated=true", 400), ("eval_set_id={es}&rated=yes", 400),
                                           ("eval_set_id=es_0000&rated=false", 404)])
def test_bad_rated_filters_are_refused(api, eval_set, query, status):
    assert api.get("/v1/traces?" + query.format(es=eval_set)).status_code == status
