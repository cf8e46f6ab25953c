"""Every screen of the dashboard on a workspace with real data (demo traces, ratings, a generated and
run eval, a scheduled integration), each checked to render without a page error. With
IOFOLD_SCREENSHOTS=1 (``make screenshots``) the pictures go to dashboard/screenshots/ for the README's
tour (1280 px wide; review also at 390 px); otherwise to a temporary folder."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import create_workspace, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.slow]

REPO_SCREENSHOTS = Path(__file__).resolve().parents[2] / "dashboard" / "screenshots"
DEMO_FILE = Path(__file__).resolve().parents[2] / "dashboard" / "demo" / "traces.langfuse.jsonl"


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    folder = REPO_SCREENSHOTS if os.environ.get("IOFOLD_SCREENSHOTS") == "1" else tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _workspace_with_everything(servers, fake_url: str):
    """Demo traces rated by the demo reviewer, a generated eval run over them, an integration with a schedule."""
    from infra.local.demo_traces import make_demo_cases

    ws = create_workspace(servers.api_url, "Acme support")
    job = ws.ok("POST", "/traces/upload?format=langfuse", content=DEMO_FILE.read_bytes(),
                headers={"Content-Type": "application/x-ndjson"})
    assert ws.wait_job(job["job_id"])["status"] == "succeeded"
    lines = [json.loads(line) for line in DEMO_FILE.read_text().splitlines() if line.strip()]
    rating_of = {c.trace["id"]: c.rating for c in make_demo_cases(len(lines))}
    eval_set = ws.ok("POST", "/eval-sets", json={
        "name": "Refund policy", "description": "The support agent's refunds",
        "criteria": "Good: looks the order up and checks eligibility before refunding.\n"
                    "Bad: refunds without checking, or claims success after a tool error."})
    traces = ws.ok("GET", "/traces?limit=200")["items"]
    for trace in traces[:16]:
        ws.ok("PUT", f"/eval-sets/{eval_set['id']}/feedback/{trace['id']}",
              json={"rating": rating_of[trace["source"]["external_id"]]})
    generated = ws.wait_job(ws.ok("POST", f"/eval-sets/{eval_set['id']}/generate", json={"generator": "offline"})["job_id"])
    assert generated["status"] == "succeeded", generated
    eval_id = generated["result"]["eval_id"]
    ran = ws.wait_job(ws.ok("POST", f"/evals/{eval_id}/execute", json={})["job_id"])
    assert ran["status"] == "succeeded", ran
    ws.ok("POST", f"/evals/{eval_id}/activate")
    _earlier_runs(eval_id)
    integration = ws.ok("POST", "/integrations", json={
        "platform": "langfuse", "name": "Production Langfuse", "base_url": fake_url,
        "credentials": {"public_key": "pk-lf-shot", "secret_key": "sk-lf-shot"}})
    ws.ok("PUT", f"/integrations/{integration['id']}/schedule",
          json={"expression": "cron(0 6 ? * MON-FRI *)", "run_active_evals": True})
    return ws, eval_set["id"], eval_id, traces[0]["id"], generated["id"]


def _earlier_runs(eval_id: str) -> None:
    """A week of earlier daily runs for the trend chart, written by the store runs write through; the fourth
    day's pass rate falls past the drop threshold."""
    from datetime import datetime, timedelta, timezone

    from chalicelib import wiring

    today = datetime.now(timezone.utc)
    for days_ago, (passed, failed) in zip(range(7, 0, -1), [(20, 4), (22, 3), (21, 4), (12, 12), (19, 5),
                                                             (20, 4), (21, 3)]):
        counts = {"executed": passed + failed + 1, "pass": passed, "fail": failed, "error": 1, "timeout": 0}
        wiring.eval_repo().trends.add_run(eval_id, counts, at=today - timedelta(days=days_ago),
                                          run=f"earlier-{days_ago}/0")


def test_every_screen_renders_and_is_photographed(page, phone_page, servers, shots):
    from infra.local.demo_traces import make_demo_traces
    from infra.local.fake_langfuse import FakeLangfuse

    with FakeLangfuse(make_demo_traces(3), port=0, public_key="pk-lf-shot", secret_key="sk-lf-shot") as fake:
        ws, set_id, eval_id, trace_id, job_id = _workspace_with_everything(servers, fake.base_url)
    screens = [
        ("overview", "", ".checklist"),
        ("traces", "traces", ".trace-row"),
        ("trace", f"traces/{trace_id}", ".step-tree, [role=tree]"),
        ("eval-sets", "eval-sets", ".set-card"),
        ("eval-set", f"eval-sets/{set_id}", ".feedback-list"),
        ("review", f"eval-sets/{set_id}/review", ".review-card"),
        ("eval", f"evals/{eval_id}", ".eval-metrics .headline-metric"),
        ("trend", f"evals/{eval_id}", ".trend-section circle.trend-drop"),
        ("matrix", f"eval-sets/{set_id}/matrix", "table.matrix tbody tr"),
        ("integrations", "integrations", ".integration .last-run"),
        ("jobs", "jobs", ".job-row"),
        ("job", f"jobs/{job_id}", ".job-outcome"),
    ]
    sign_in(page, servers, ws)
    for name, route, ready in screens:
        page.goto(f"{servers.dashboard_url}#/{route}")
        expect(page.locator(ready).first).to_be_visible(timeout=30_000)
        if name == "trend":
            page.locator(".trend-section").scroll_into_view_if_needed()
        if name == "integrations":
            page.get_by_role("button", name="Edit schedule").click()
            expect(page.get_by_role("list", name="Next runs").locator("li")).to_have_count(3)
        page.wait_for_timeout(400)  # let progress bars finish their transition
        page.screenshot(path=str(shots / f"{name}.png"))
        assert (shots / f"{name}.png").stat().st_size > 10_000, name

    sign_in(phone_page, servers, ws, f"eval-sets/{set_id}/review")
    expect(phone_page.locator(".review-card")).to_be_visible()
    counts = ws.ok("GET", f"/eval-sets/{set_id}")["counts"]  # the class balance shows on a phone too
    expect(phone_page.locator(".review-progress > .hint")).to_have_text(
        f"{counts['positive']} good · {counts['negative']} bad · {counts['neutral']} unsure.")
    phone_page.wait_for_timeout(400)
    assert phone_page.evaluate("document.documentElement.scrollWidth") <= 390
    phone_page.screenshot(path=str(shots / "review-phone.png"))

    page.goto(servers.dashboard_url + "#/")
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_label("API key")).to_be_visible()
    page.screenshot(path=str(shots / "signin.png"))


def test_the_readme_tour_links_every_committed_screenshot():
    import re

    readme = (REPO_SCREENSHOTS.parents[1] / "README.md").read_text()
    linked = set(re.findall(r"\(dashboard/screenshots/([\w-]+\.png)\)", readme))
    committed = {p.name for p in REPO_SCREENSHOTS.glob("*.png")}
    assert len(linked) == 14 and linked == committed
    assert all(p.stat().st_size < 200_000 for p in REPO_SCREENSHOTS.glob("*.png"))
