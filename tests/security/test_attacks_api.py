"""The attack corpus through the product's real path (SECURITY.md, "The attack corpus"): every
'reject' entry saved as a hand-edited version answers 422 with the line and reason; every
'contained' entry is saved through the API, executed with POST /v1/evals/{id}/execute (real
state machine, real sandbox function) and each trace's stored result matches its category."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from chalicelib.errors import CodeRejected
from chalicelib.sandbox import validate_code
from tests.conftest import new_workspace
from tests.security.conftest import ATTACKS_FILE, CANARY_SECRET, assert_within_caps, load_attacks, outcome_matches

pytestmark = pytest.mark.slow

ATTACKS = load_attacks()
needs_corpus = pytest.mark.skipif(not ATTACKS, reason=f"needs {ATTACKS_FILE} (../shared is not beside this clone)")
REJECTS = [a for a in ATTACKS if a["expected"] == "reject"] or [None]
CONTAINED = [a for a in ATTACKS if a["expected"] == "contained"] or [None]
JOB_TIMEOUT_S = 420


def _ids(entries):
    return [e["id"] if e else "corpus-missing" for e in entries]


def _traces_for(attack: dict) -> int:
    """Traces to execute an entry on: one when every trace may cost a full timeout, else three."""
    return 1 if "timeout" in attack["category"] else 3


@pytest.fixture(scope="module")
def corpus_api(module_http):
    """A workspace with demo traces, a 2 positive + 2 negative rated set and an offline-generated eval to edit."""
    api = new_workspace(module_http, "attack corpus")
    traces = api.upload_demo(12, seed=11)
    eval_set = api.ok("POST", "/v1/eval-sets", {"name": "attacks", "description": "", "criteria": ""}, status=201)
    rated = [t for t in traces if t[1] == "positive"][:2] + [t for t in traces if t[1] == "negative"][:2]
    assert len(rated) == 4
    api.rate(eval_set["id"], rated)
    done = api.wait_ok(api.ok("POST", f"/v1/eval-sets/{eval_set['id']}/generate", {"generator": "offline"},
                              status=202)["job_id"])
    unrated = [t for t, _ in traces if t not in {t for t, _ in rated}]
    return SimpleNamespace(api=api, eval_id=done["result"]["eval_id"], unrated=unrated)


@pytest.fixture(scope="module")
def contained_runs(corpus_api):
    """Every 'contained' entry saved as a version and executed; all jobs started first, then awaited."""
    api = corpus_api.api
    started = {}
    for attack in [a for a in CONTAINED if a]:
        saved = api.post(f"/v1/evals/{corpus_api.eval_id}/versions", {"code": attack["code"]})
        if saved.status_code != 201:
            started[attack["id"]] = {"saved": saved}
            continue
        version = saved.json_body
        trace_ids = corpus_api.unrated[:_traces_for(attack)]
        run = api.ok("POST", f"/v1/evals/{version['id']}/execute", {"trace_ids": trace_ids}, status=202)
        started[attack["id"]] = {"saved": saved, "version": version, "trace_ids": trace_ids, "job_id": run["job_id"]}
    for run in started.values():
        if "job_id" not in run:
            continue
        run["job"] = api.wait_job(run["job_id"], timeout_s=JOB_TIMEOUT_S)
        if run["version"].get("scoring_job_id"):
            run["scoring"] = api.wait_job(run["version"]["scoring_job_id"], timeout_s=JOB_TIMEOUT_S)
        items = api.ok("GET", f"/v1/evals/{run['version']['id']}/executions?limit=200")["items"]
        run["executions"] = {e["trace_id"]: e for e in items}
    return started


@needs_corpus
@pytest.mark.parametrize("attack", REJECTS, ids=_ids(REJECTS))
def test_saving_a_reject_entry_answers_422_with_its_line_and_reason(attack, corpus_api):
    with pytest.raises(CodeRejected) as expected:
        validate_code(attack["code"])

    response = corpus_api.api.post(f"/v1/evals/{corpus_api.eval_id}/versions", {"code": attack["code"]})

    assert response.status_code == 422, (attack["id"], response.status_code, response.body[:300])
    error = response.json_body["error"]
    assert error["code"] == "UNPROCESSABLE"
    assert error["details"] == [{"line": expected.value.line, "reason": expected.value.reason}]
    assert expected.value.reason in error["message"]
    versions = corpus_api.api.ok("GET", f"/v1/evals/{corpus_api.eval_id}")
    assert versions["code"] != attack["code"]


@needs_corpus
@pytest.mark.parametrize("attack", CONTAINED, ids=_ids(CONTAINED))
def test_executing_a_contained_entry_through_the_api_ends_in_its_category(attack, contained_runs):
    run = contained_runs[attack["id"]]
    assert run["saved"].status_code == 201, (attack["id"], run["saved"].body[:300])
    assert run["job"]["status"] == "succeeded", run["job"]
    allowed = attack["category"].split("|")
    result = run["job"]["result"]
    assert result["executed"] == len(run["trace_ids"]) == sum(result[k] for k in ("pass", "fail", "error", "timeout"))
    assert set(run["executions"]) >= set(run["trace_ids"])
    for trace_id in run["trace_ids"]:
        execution = SimpleNamespace(**run["executions"][trace_id])
        assert any(outcome_matches(c, execution) for c in allowed), (attack["id"], execution)
        assert_within_caps(execution)
        assert CANARY_SECRET not in execution.reason + execution.stdout + execution.stderr
        assert "<module" not in execution.reason + execution.stdout + execution.stderr
        if "timeout" in allowed and execution.result == "timeout":
            assert execution.duration_ms >= 4000
    if "scoring" in run:
        assert run["scoring"]["status"] == "succeeded", run["scoring"]
