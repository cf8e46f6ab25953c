"""The dashboard driven in headless Chromium against the real API (local stack over HTTP)."""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import create_workspace, demo_workspace, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def wait_for(predicate, timeout_s: float = 15, what: str = "condition"):
    """Poll ``predicate`` until it returns a truthy value."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_sign_in_rejects_a_bad_key_then_shows_the_checklist(page, servers):
    workspace = demo_workspace(servers.api_url, "Browser tests")  # not the shared one: other tests add eval sets
    page.goto(servers.dashboard_url)
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.get_by_label("API key").fill("iof_not-a-real-key")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator(".form-error")).to_contain_text("not accepted")

    page.get_by_label("API key").fill(workspace.key)
    page.get_by_label("API key").press("Enter")
    expect(page.locator("#who")).to_contain_text("Browser tests")
    expect(page.get_by_role("heading", name="Getting started")).to_be_visible()
    expect(page.locator(".check.is-done")).to_have_count(1)  # traces are in; no eval set yet
    assert page.evaluate("localStorage.getItem('iofold.apiKey')") == workspace.key

    page.reload()  # the key is remembered
    expect(page.locator("#who")).to_contain_text("Browser tests")
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    assert page.evaluate("localStorage.getItem('iofold.apiKey')") is None
    assert page.js_errors == []


def test_trace_detail_shows_conversation_and_collapsible_step_tree(page, servers, workspace):
    sign_in(page, servers, workspace, "traces")
    rows = page.locator(".trace-row")
    expect(rows).to_have_count(12)
    rows.first.click()

    tree = page.get_by_role("tree", name="Steps")
    expect(tree).to_be_visible()
    expect(page.locator(".step-type.step-llm").first).to_be_visible()
    expect(page.locator(".step-type.step-tool").first).to_be_visible()
    expect(page.locator(".msg-user .bubble").first).to_be_visible()
    expect(page.locator(".tool-chip").first).to_be_visible()

    tool_step = page.locator(".step[data-step-type=tool]").first
    details = tool_step.locator("details").first
    assert details.get_attribute("open") is None
    tool_step.locator("summary").first.focus()
    page.keyboard.press("Enter")  # opens with the keyboard
    expect(tool_step.get_by_role("heading", name="Arguments")).to_be_visible()
    expect(tool_step.locator(".step-body pre").first).to_contain_text("order_id")
    page.keyboard.press("Enter")
    expect(tool_step.get_by_role("heading", name="Arguments")).to_be_hidden()
    expect(page.locator(".stats")).to_contain_text("tokens in / out")
    assert page.js_errors == []


def test_reviewing_six_traces_with_the_keyboard_updates_the_counts(page, servers, workspace):
    eval_set = workspace.ok("POST", "/eval-sets", json={"name": "Refunds", "criteria": "check before refunding"})
    sign_in(page, servers, workspace, f"eval-sets/{eval_set['id']}/review")
    card = page.locator(".review-card")
    progress = page.locator(".review-progress .progress-label")
    expect(progress).to_have_text("0 rated · minimum 5")

    def current() -> str:
        expect(card).to_be_visible()
        return card.get_attribute("data-trace-id")

    def press(key: str) -> str:
        before = current()
        page.keyboard.press(key)
        expect(card).not_to_have_attribute("data-trace-id", before)
        return before

    t1 = press("1")
    t2 = press("2")
    t3 = press("ArrowRight")
    expect(progress).to_have_text("3 rated · minimum 5")  # optimistic, before the saves land
    page.keyboard.press("u")  # undo: the third trace comes back
    expect(card).to_have_attribute("data-trace-id", t3)
    expect(progress).to_have_text("2 rated · minimum 5")
    page.keyboard.press("n")
    page.keyboard.type("looked the order up but no refund asked")
    page.keyboard.press("Escape")
    assert press("3") == t3
    t4 = press("ArrowLeft")
    t5 = press("1")
    t6 = press("ArrowDown")
    assert len({t1, t2, t3, t4, t5, t6}) == 6

    expect(page.locator(".save-status")).to_have_attribute("data-state", "saved")

    def counts():
        detail = workspace.ok("GET", f"/eval-sets/{eval_set['id']}")
        return detail["counts"] if sum(detail["counts"].values()) == 6 else None

    assert wait_for(counts, what="six ratings") == {"positive": 2, "negative": 2, "neutral": 2}
    feedback = {f["trace_id"]: f for f in workspace.ok("GET", f"/eval-sets/{eval_set['id']}/feedback")["items"]}
    assert {t: feedback[t]["rating"] for t in (t1, t2, t3, t4, t5, t6)} == {
        t1: "positive", t2: "negative", t3: "neutral", t4: "negative", t5: "positive", t6: "neutral"}
    assert feedback[t3]["notes"] == "looked the order up but no refund asked"
    expect(progress).to_have_text("6 rated · minimum 5")
    expect(page.get_by_role("button", name="Generate eval")).to_be_disabled()

    page.keyboard.press("?")
    expect(page.get_by_role("dialog", name="Keyboard shortcuts")).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.get_by_role("dialog", name="Keyboard shortcuts")).to_be_hidden()
    assert page.js_errors == []


def test_review_counts_refresh_from_the_server_after_a_save(page, servers, workspace):
    eval_set = workspace.ok("POST", "/eval-sets", json={"name": "Two reviewers"})
    sign_in(page, servers, workspace, f"eval-sets/{eval_set['id']}/review")
    card = page.locator(".review-card")
    expect(card).to_be_visible()
    shown = card.get_attribute("data-trace-id")
    queue = workspace.ok("GET", f"/eval-sets/{eval_set['id']}/review-queue?limit=20")["items"]
    other = next(item["id"] for item in queue if item["id"] != shown)
    workspace.ok("PUT", f"/eval-sets/{eval_set['id']}/feedback/{other}", json={"rating": "negative"})  # a colleague

    page.keyboard.press("1")
    progress = page.locator(".review-progress .progress-label")
    expect(progress).to_have_text("2 rated · minimum 5")  # the server's counts, not only this page's rating
    expect(page.locator(".review-progress > .hint")).to_contain_text("1 good · 1 bad · 0 unsure")


def test_a_failed_save_is_shown_kept_and_retried(page, servers, workspace):
    eval_set = workspace.ok("POST", "/eval-sets", json={"name": "Flaky network"})
    sign_in(page, servers, workspace, f"eval-sets/{eval_set['id']}/review")
    card = page.locator(".review-card")
    expect(card).to_be_visible()
    page.route("**/feedback/**", lambda route: route.abort())
    rated = card.get_attribute("data-trace-id")
    page.get_by_role("button", name="Bad").click()
    expect(card).not_to_have_attribute("data-trace-id", rated)  # the next trace shows at once

    alert = page.locator(".save-failed")
    expect(alert).to_contain_text("1 rating not saved", timeout=20_000)
    stored = page.evaluate(f"localStorage.getItem('iofold.pending.{eval_set['id']}')")
    assert rated in stored
    assert workspace.ok("GET", f"/eval-sets/{eval_set['id']}")["counts"]["negative"] == 0

    page.unroute("**/feedback/**")
    alert.get_by_role("button", name="Retry now").click()
    expect(page.locator(".save-status")).to_have_attribute("data-state", "saved")
    feedback = workspace.ok("GET", f"/eval-sets/{eval_set['id']}/feedback")["items"]
    assert [(f["trace_id"], f["rating"]) for f in feedback] == [(rated, "negative")]
    assert page.evaluate(f"localStorage.getItem('iofold.pending.{eval_set['id']}')") is None


def test_connecting_langfuse_and_importing_shows_progress_until_done(page, servers):
    from infra.local.demo_traces import make_demo_traces
    from infra.local.fake_langfuse import FakeLangfuse

    ws = create_workspace(servers.api_url, "Import test")
    fake = FakeLangfuse(make_demo_traces(20, seed=3), port=0, public_key="pk-lf-test", secret_key="sk-lf-test",
                        delay_s=0.02).start()
    try:
        sign_in(page, servers, ws, "integrations")
        expect(page.get_by_role("heading", name="No sources connected")).to_be_visible()
        page.get_by_role("button", name="Connect Langfuse").first.click()
        form = page.get_by_role("form", name="Connect Langfuse")
        form.get_by_label("Name").fill("Staging Langfuse")
        form.get_by_label("Host").fill(fake.base_url)
        form.get_by_label("Public key").fill("pk-lf-test")
        form.get_by_label("Secret key").fill("sk-lf-test")
        form.get_by_role("button", name="Connect").click()

        card = page.locator(".integration").filter(has_text="Staging Langfuse")
        expect(card).to_be_visible()
        card.get_by_role("button", name="Test connection").click()
        expect(card.locator(".ok-text")).to_contain_text("Connected")

        card.get_by_role("button", name="Import traces").click()
        panel = page.locator(".job-panel")
        expect(panel.get_by_role("progressbar")).to_have_attribute("aria-valuenow", "100", timeout=60_000)
        expect(panel.locator(".badge")).to_have_text("succeeded")
        expect(panel.locator(".job-summary")).to_contain_text("20 new")
        expect(panel.locator(".event-log li").first).to_be_visible()
        expect(page.locator(".integration").filter(has_text="Staging Langfuse").locator(".badge")).to_have_text("ok")

        page.get_by_role("link", name="Jobs").click()
        expect(page.locator(".job-row").first).to_contain_text("succeeded")
        assert page.js_errors == []
    finally:
        fake.stop()


def test_phone_width_has_no_sideways_scroll(phone_page, servers, workspace):
    sign_in(phone_page, servers, workspace, "traces")
    expect(phone_page.locator(".trace-row").first).to_be_visible()
    upload_job = workspace.ok("GET", "/jobs?limit=50")["items"][-1]["id"]
    for route in ("traces", "integrations", "eval-sets", "", "jobs", f"jobs/{upload_job}"):
        phone_page.goto(f"{servers.dashboard_url}#/{route}")
        phone_page.locator(".page-title").first.wait_for()
        phone_page.wait_for_timeout(300)
        width = phone_page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"#/{route} is {width}px wide on a 390px phone"
    phone_page.goto(f"{servers.dashboard_url}#/traces")
    phone_page.locator(".trace-row").first.click()
    expect(phone_page.get_by_role("tree", name="Steps")).to_be_visible()
    assert phone_page.evaluate("document.documentElement.scrollWidth") <= 390, "a trace is wider than the phone"


def test_generate_unlocks_when_ready_and_shows_the_job_to_the_end(page, servers, workspace):
    eval_set = workspace.ok("POST", "/eval-sets", json={"name": "Ready set", "criteria": "check before refunding"})
    queue = workspace.ok("GET", f"/eval-sets/{eval_set['id']}/review-queue?limit=5")["items"]
    for item, rating in zip(queue, ["positive", "positive", "positive", "negative", "negative"]):
        workspace.ok("PUT", f"/eval-sets/{eval_set['id']}/feedback/{item['id']}", json={"rating": rating})

    sign_in(page, servers, workspace, f"eval-sets/{eval_set['id']}")
    expect(page.locator(".progress-label").first).to_have_text("5 rated · minimum 5")
    expect(page.locator("[data-count=positive]")).to_have_text("3")
    generate = page.get_by_role("button", name="Generate eval")
    expect(generate).to_be_enabled()
    generate.click()
    panel = page.locator(".job-panel")
    expect(panel.locator(".badge")).to_have_text("succeeded", timeout=60_000)
    expect(panel.get_by_role("progressbar")).to_have_attribute("aria-valuenow", "100")
    expect(page.locator("section.card").filter(has_text="Evals").locator("code")).to_contain_text(re.compile(r"ev_\w+ v\d"))
    assert page.js_errors == []


def test_generate_without_the_engine_route_says_so(page, servers, workspace):
    eval_set = workspace.ok("POST", "/eval-sets", json={"name": "No engine yet",
                                                        "thresholds": {"min_rated": 1, "min_positive": 0, "min_negative": 0}})
    page.route("**/generate", lambda route: route.fulfill(
        status=403, content_type="application/json", body='{"message": "Missing Authentication Token"}'))
    sign_in(page, servers, workspace, f"eval-sets/{eval_set['id']}")
    workspace_trace = workspace.ok("GET", "/traces?limit=1")["items"][0]["id"]
    workspace.ok("PUT", f"/eval-sets/{eval_set['id']}/feedback/{workspace_trace}", json={"rating": "positive"})
    page.reload()
    page.get_by_role("button", name="Generate eval").click()
    expect(page.locator(".generate-note")).to_contain_text("Generation arrives with the engine")
    expect(page.locator(".job-panel")).to_have_count(0)
