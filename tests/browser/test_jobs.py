"""Jobs in the dashboard: the list refreshes while something runs (and only then), a job's page shows its
events, failed items and result, colours say how it really ended, and a running job can be cancelled."""

from __future__ import annotations

import json
import re
from contextlib import contextmanager

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import create_workspace, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.slow]

JOBS_LIST = re.compile(r"/v1/jobs\?")


@contextmanager
def slow_langfuse(traces: int = 32, delay_s: float = 0.25):
    """A fake Langfuse answering every request after ``delay_s``: imports from it run for seconds."""
    from infra.local.demo_traces import make_demo_traces
    from infra.local.fake_langfuse import FakeLangfuse

    fake = FakeLangfuse(make_demo_traces(traces, seed=5), port=0, public_key="pk-lf-slow", secret_key="sk-lf-slow",
                        delay_s=delay_s).start()
    try:
        yield fake
    finally:
        fake.stop()


def connect(ws, fake) -> str:
    return ws.ok("POST", "/integrations", json={
        "platform": "langfuse", "name": "Slow Langfuse", "base_url": fake.base_url,
        "credentials": {"public_key": "pk-lf-slow", "secret_key": "sk-lf-slow"}})["id"]


def start_import(ws, integration_id: str) -> str:
    return ws.ok("POST", "/traces/import", json={"integration_id": integration_id})["job_id"]


def upload(ws, lines: list[dict], fmt: str = "unified") -> str:
    body = "\n".join(json.dumps(line) for line in lines)
    return ws.ok("POST", f"/traces/upload?format={fmt}", content=body,
                 headers={"Content-Type": "application/x-ndjson"})["job_id"]


def unified(external_id: str, name: str = "ok") -> dict:
    return {"id": "ignored", "source": {"platform": "upload", "external_id": external_id}, "name": name,
            "messages": [{"role": "user", "content": "hi"}]}


BROKEN = {"id": "x", "source": {"platform": "upload", "external_id": "bad"}, "messages": [{"role": "robot"}]}


def counting(page, pattern: re.Pattern) -> list[str]:
    seen: list[str] = []
    page.on("request", lambda request: seen.append(request.url) if pattern.search(request.url) else None)
    return seen


def test_jobs_list_refreshes_while_a_job_runs_then_stops_polling(page, servers):
    ws = create_workspace(servers.api_url, "Jobs polling")
    with slow_langfuse() as fake:
        integration_id = connect(ws, fake)
        job_id = start_import(ws, integration_id)
        polls = counting(page, JOBS_LIST)
        sign_in(page, servers, ws, "jobs")
        row = page.locator(f".job-row[data-job-id={job_id}]")
        expect(row).to_have_attribute("data-status", re.compile("queued|running"))
        expect(row.locator(".badge-info")).to_have_text("running", timeout=20_000)
        expect(row).to_have_attribute("data-status", "succeeded", timeout=60_000)  # no reload
        expect(row.locator(".badge")).to_have_text("succeeded")
        expect(row.locator(".badge")).to_have_class(re.compile("badge-good"))
        assert len(polls) >= 2
        expect(page.locator(".job-list")).to_have_attribute("data-polling", "false")
        settled = len(polls)
        page.wait_for_timeout(3500)  # more than two polling intervals
        assert len(polls) == settled, "the list kept polling with nothing running"

        # Leaving the page stops polling even while a job runs.
        second = start_import(ws, integration_id)
        page.reload()
        expect(page.locator(f".job-row[data-job-id={second}]")).to_be_visible()
        expect(page.locator(".job-list")).to_have_attribute("data-polling", "true")
        page.get_by_role("link", name="Traces").click()
        expect(page.locator(".page-title")).to_have_text("Traces")
        left = len(polls)
        page.wait_for_timeout(3500)
        assert len(polls) == left, "the jobs list polled after the view was left"
        assert ws.wait_job(second)["status"] == "succeeded"


def test_a_job_page_shows_events_failed_items_and_an_amber_partial_outcome(page, servers):
    ws = create_workspace(servers.api_url, "Partial upload")
    job_id = upload(ws, [unified("e1", "fine trace"), BROKEN])
    assert ws.wait_job(job_id)["status"] == "succeeded"  # the API says succeeded; one of two items failed

    sign_in(page, servers, ws, f"jobs/{job_id}")
    expect(page.locator(".page-title")).to_have_text("Upload job")
    panel = page.locator(".job-panel")
    badge = panel.locator(".job-status .badge")
    expect(badge).to_have_text("partial")
    expect(badge).to_have_class(re.compile("badge-warn"))
    expect(panel.locator(".progress-wrap")).to_have_attribute("data-state", "partial")
    expect(panel.locator(".job-summary")).to_have_text("1 new, 0 updated, 0 unchanged, 1 failed")
    failures = panel.locator(".failure-list li")
    expect(failures).to_have_count(1)
    expect(failures.first).to_contain_text("line 2:")
    expect(panel.locator(".job-result pre")).to_contain_text('"imported": 1')
    expect(panel.locator(".event-log li").last).to_contain_text("done")
    expect(panel.get_by_role("button", name="Cancel job")).to_be_hidden()

    page.get_by_role("link", name="← Jobs").click()
    expect(page.locator(f".job-row[data-job-id={job_id}] .badge")).to_have_text("partial")


def test_a_job_page_pages_through_more_failures_than_the_job_carries(page, servers):
    from chalicelib.jobs.failures import FAILURES_INLINE

    broken = 130  # the job carries the first FAILURES_INLINE; "Show more" loads 100 a time from the first
    lines = [unified("e1", "fine trace")] + [{**BROKEN, "source": {"platform": "upload", "external_id": f"bad{i}"}}
                                             for i in range(broken)]
    ws = create_workspace(servers.api_url, "Many failures")
    job_id = upload(ws, lines)
    assert ws.wait_job(job_id)["result"]["failed"] == broken

    sign_in(page, servers, ws, f"jobs/{job_id}")
    panel = page.locator(".job-failures")
    items, more = panel.locator(".failure-list li"), panel.get_by_role("button", name="Show more")
    expect(panel.locator("h4")).to_have_text(f"Failed items ({broken})")
    expect(items).to_have_count(FAILURES_INLINE)
    expect(panel.locator(".failure-count")).to_have_text(f"Showing {FAILURES_INLINE} of {broken}.")
    more.click()
    expect(items).to_have_count(100)
    expect(panel.locator(".failure-count")).to_have_text(f"Showing 100 of {broken}.")
    more.click()
    expect(items).to_have_count(broken)
    expect(more).to_be_hidden()
    expect(panel.locator(".failure-count")).to_have_text("")
    texts = items.all_inner_texts()
    assert texts[0].startswith("bad0 line 2:") and texts[-1].startswith(f"bad{broken - 1} line {broken + 1}:"), texts
    assert len(set(texts)) == broken  # each failure once: the pages replaced the first few, not repeated them


def test_a_fully_failed_upload_is_red_not_green(page, servers):
    ws = create_workspace(servers.api_url, "Failed upload")
    job_id = upload(ws, [BROKEN, {**BROKEN, "source": {"platform": "upload", "external_id": "bad2"}}])
    job = ws.wait_job(job_id)
    # an upload whose every line fails ends failed, with its per-line failures in the result
    assert job["status"] == "failed" and job["result"]["imported"] == 0 and job["result"]["failed"] == 2

    sign_in(page, servers, ws, "jobs")
    row_badge = page.locator(f".job-row[data-job-id={job_id}] .badge")
    expect(row_badge).to_have_text("failed")
    expect(row_badge).to_have_class(re.compile("badge-bad"))
    page.locator(f".job-row[data-job-id={job_id}] a.job-type").click()
    expect(page).to_have_url(re.compile(rf"#/jobs/{job_id}$"))
    badge = page.locator(".job-panel .job-status .badge")
    expect(badge).to_have_text("failed")
    expect(badge).not_to_have_class(re.compile("badge-good"))
    expect(page.locator(".job-panel .progress-wrap")).to_have_attribute("data-state", "failed")
    expect(page.locator(".failure-list li")).to_have_count(2)


def test_a_running_job_is_blue_and_can_be_cancelled_from_its_page(page, servers):
    ws = create_workspace(servers.api_url, "Cancel")
    with slow_langfuse(traces=40, delay_s=0.3) as fake:
        job_id = start_import(ws, connect(ws, fake))
        sign_in(page, servers, ws, f"jobs/{job_id}")
        panel = page.locator(".job-panel")
        expect(panel.locator(".job-status .badge-info")).to_have_text("running", timeout=20_000)
        panel.get_by_role("button", name="Cancel job").click()
        badge = panel.locator(".job-status .badge")
        expect(badge).to_have_text("cancelled")
        expect(badge).not_to_have_class(re.compile("badge-(good|bad|warn|info)"))  # grey
        expect(panel.locator(".event-log")).to_contain_text("cancelled by the user")
        expect(panel.get_by_role("button", name="Cancel job")).to_be_hidden()
        assert ws.ok("GET", f"/jobs/{job_id}")["status"] == "cancelled"


def test_a_missing_job_says_so(page, servers, workspace):
    sign_in(page, servers, workspace, "jobs/job_doesnotexist")
    expect(page.locator(".error-state")).to_contain_text("does not exist")


def test_generation_progress_follows_the_job_events(page, servers, workspace):
    """The generate job's record stays at 0% while its events report progress: the bar follows the events."""
    eval_set = workspace.ok("POST", "/eval-sets", json={"name": "Progress",
                                                        "thresholds": {"min_rated": 2, "min_positive": 1,
                                                                       "min_negative": 1}})
    queue = workspace.ok("GET", f"/eval-sets/{eval_set['id']}/review-queue?limit=4")["items"]
    for item, rating in zip(queue, ["positive", "negative", "positive", "negative"]):
        workspace.ok("PUT", f"/eval-sets/{eval_set['id']}/feedback/{item['id']}", json={"rating": rating})

    hold = [True]

    def still_running(route):
        # Hold the job record at "running, 0%" (as a generation is until its last step); events stay real.
        response = route.fetch()
        if hold[0]:
            route.fulfill(response=response, json={**response.json(), "status": "running", "progress": 0, "result": None})
        else:
            route.fulfill(response=response)

    page.route(re.compile(r"/v1/jobs/job_\w+$"), still_running)
    sign_in(page, servers, workspace, f"eval-sets/{eval_set['id']}")
    page.get_by_role("button", name="Generate eval").click()
    panel = page.locator(".job-panel")
    expect(panel.locator(".event-log li").first).to_be_visible(timeout=30_000)
    bar = panel.get_by_role("progressbar")
    expect(bar).not_to_have_attribute("aria-valuenow", "0", timeout=30_000)
    assert int(bar.get_attribute("aria-valuenow")) >= 5
    # the real stages, as the generation tasks report them: every cross-validation fold, then testing
    folds = panel.locator(".job-stages [data-stage=folds]")
    expect(folds).to_have_attribute("data-state", "done", timeout=30_000)
    expect(folds.locator(".job-stage-step")).to_have_text(re.compile(r"^(\d+) of \1$"))
    expect(panel.locator(".job-stages [data-stage=testing] .job-stage-step")).to_have_text(re.compile(r"\d+ of \d+"))
    hold[0] = False  # (not unroute: a handler may be running, and the watcher stops once the job ended)
    expect(panel.locator(".job-status .badge")).to_have_text("succeeded", timeout=60_000)


def test_a_runs_page_names_its_traces_with_their_first_user_message(page, servers, workspace):
    eval_set = workspace.ok("POST", "/eval-sets", json={"name": "Named items"})
    queue = workspace.ok("GET", f"/eval-sets/{eval_set['id']}/review-queue?limit=6")["items"]
    for item, rating in zip(queue, ["positive", "negative"] * 3):
        workspace.ok("PUT", f"/eval-sets/{eval_set['id']}/feedback/{item['id']}", json={"rating": rating})
    generated = workspace.wait_job(workspace.ok("POST", f"/eval-sets/{eval_set['id']}/generate",
                                                json={"generator": "offline"})["job_id"])
    summaries = {t["id"]: t for t in workspace.ok("GET", "/traces?limit=200")["items"]}
    asked = list(summaries)[:3]
    run = workspace.ok("POST", f"/evals/{generated['result']['eval_id']}/execute", json={"trace_ids": asked})
    assert workspace.wait_job(run["job_id"])["status"] == "succeeded"
    sign_in(page, servers, workspace, f"jobs/{run['job_id']}")
    items = page.locator(".job-items .job-traces li")
    expect(items).to_have_count(3)
    for i, trace_id in enumerate(asked):
        expect(items.nth(i).locator(".trace-ref-name")).to_have_text(summaries[trace_id]["name"])
        expect(items.nth(i).locator(".trace-ref-preview")).to_have_text(summaries[trace_id]["input_preview"])
