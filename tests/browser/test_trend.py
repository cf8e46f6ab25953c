"""The trend chart draws from a scheduled run: a schedule with run-active-evals fires through the local
scheduler, its import starts a run of the set's active version, and the eval page's chart and the eval
set list's sparkline show that run; a day whose pass rate fell past the threshold is marked as a drop."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import demo_workspace, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ALWAYS_FAIL = 'def eval_never(trace: dict) -> tuple[bool, str]:\n    return False, "never passes"\n'


def test_the_trend_chart_draws_a_scheduled_run_and_marks_a_drop(page, servers):
    from chalicelib import wiring
    from infra.local.demo_traces import make_demo_cases, make_demo_traces
    from infra.local.fake_langfuse import FakeLangfuse
    from infra.local.scheduler import LocalScheduler

    ws = demo_workspace(servers.api_url, "Trend")
    ratings = {c.trace["id"]: c.rating for c in make_demo_cases(12)}
    es = ws.ok("POST", "/eval-sets", json={"name": "Monitored", "criteria": "refund after lookup"})["id"]
    for t in ws.ok("GET", "/traces?limit=200")["items"]:
        if ratings[t["source"]["external_id"]] != "neutral":
            ws.ok("PUT", f"/eval-sets/{es}/feedback/{t['id']}", json={"rating": ratings[t["source"]["external_id"]]})
    generated = ws.wait_job(ws.ok("POST", f"/eval-sets/{es}/generate", json={"generator": "offline"})["job_id"])
    saved = ws.ok("POST", f"/evals/{generated['result']['eval_id']}/versions", json={"code": ALWAYS_FAIL})
    ws.wait_job(saved["scoring_job_id"])
    eval_id = saved["id"]
    ws.ok("POST", f"/evals/{eval_id}/activate")
    # an earlier day when this version passed everything (written as a run writes it), so today is a drop
    two_days_ago = datetime.now(timezone.utc) - timedelta(days=2)
    wiring.eval_repo().trends.add_run(eval_id, {"executed": 10, "pass": 10, "fail": 0, "error": 0, "timeout": 0},
                                      at=two_days_ago, run="earlier/0")
    before = ws.ok("GET", f"/evals/{eval_id}/trend?bucket=hour")["points"]

    with FakeLangfuse(make_demo_traces(n=30)[12:]) as fake:  # traces the workspace has not seen yet
        integration = ws.ok("POST", "/integrations", json={
            "platform": "langfuse", "name": "lf", "base_url": fake.base_url,
            "credentials": {"public_key": fake.public_key, "secret_key": fake.secret_key}})["id"]
        ws.ok("PUT", f"/integrations/{integration}/schedule",
              json={"expression": "rate(1 hour)", "filters": {"limit": 8}, "run_active_evals": True})
        assert LocalScheduler().tick(datetime.now(timezone.utc) + timedelta(minutes=61)) >= 1
        schedule = ws.ok("GET", f"/integrations/{integration}")["schedule"]
        imported = ws.wait_job(schedule["last_job_id"])
    assert imported["status"] == "succeeded" and imported["result"]["imported"] == 8, imported
    assert len(imported["result"]["eval_jobs"]) == 1
    run = ws.wait_job(imported["result"]["eval_jobs"][0])
    executed = run["result"]["executed"]  # the 8 new traces and the unrated ones it had not seen
    assert run["status"] == "succeeded" and executed >= 8 and run["result"]["fail"] == executed

    after = ws.ok("GET", f"/evals/{eval_id}/trend?bucket=hour")["points"]
    assert sum(p["executed"] for p in after) == sum(p["executed"] for p in before) + executed  # the scheduled run
    day = ws.ok("GET", f"/evals/{eval_id}/trend?bucket=day")["points"]
    assert [p["drop"] for p in day] == [False, True] and day[-1]["pass_rate"] == 0.0

    sign_in(page, servers, ws, f"evals/{eval_id}")
    chart = page.locator(".trend-section")
    expect(chart).to_have_attribute("data-points", "2")
    expect(chart.locator("svg.trend-chart circle.trend-point")).to_have_count(2)
    expect(chart.locator("svg.trend-chart circle.trend-drop")).to_have_count(1)
    expect(chart.locator(".trend-drop-label")).to_have_text("▼ drop")
    expect(chart.locator(".trend-drops li")).to_contain_text("0% pass of")
    page.get_by_role("link", name="Eval sets", exact=True).click()
    spark = page.locator(".set-card").filter(has_text="Monitored").locator(".set-trend")
    expect(spark).to_have_attribute("data-points", "2")
    expect(spark.locator("svg.sparkline circle.trend-drop")).to_have_count(1)
    expect(spark.locator(".badge")).to_have_text("drop")
