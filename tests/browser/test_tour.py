"""A tour of every screen and main action with the page-error fixture on (conftest.no_page_errors), and the
small truths the screens must tell: rated counts, held-out accuracy first, trace names, text as text."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import create_workspace, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.slow]

KEY_FOR = {"positive": "1", "negative": "2", "neutral": "3"}
ALWAYS_PASS = 'def eval_always(trace: dict) -> tuple[bool, str]:\n    return True, "always passes"\n'


def demo_ratings(ws) -> dict[str, str]:
    """Trace id -> the demo reviewer's rating, for the dashboard's bundled demo traces."""
    from infra.local.demo_traces import make_demo_cases

    by_external = {c.trace["id"]: c.rating for c in make_demo_cases(24)}
    return {t["id"]: by_external[t["source"]["external_id"]] for t in ws.ok("GET", "/traces?limit=200")["items"]}


def test_a_tour_of_every_screen_and_main_action_raises_no_page_error(page, servers, tmp_path: Path):
    ws = create_workspace(servers.api_url, "Tour")
    sign_in(page, servers, ws)

    # Overview: load the demo traces, with live progress.
    expect(page.get_by_role("heading", name="Getting started")).to_be_visible()
    page.get_by_role("button", name="Use the demo traces").click()
    demo_job = page.locator(".job-panel")
    expect(demo_job.locator(".job-status .badge")).to_have_text("succeeded", timeout=60_000)
    expect(demo_job.locator(".job-summary")).to_contain_text("24 new")

    # Traces and one trace.
    page.get_by_role("link", name="Traces", exact=True).click()
    expect(page.locator(".trace-row")).to_have_count(24)
    page.locator(".trace-row").first.click()
    expect(page.get_by_role("tree", name="Steps")).to_be_visible()

    # Eval sets: create one.
    page.get_by_role("link", name="Eval sets").click()
    page.get_by_role("button", name="New eval set").click()
    form = page.get_by_role("form", name="New eval set")
    form.get_by_label("Name", exact=True).fill("Tour set")
    form.get_by_label("Criteria").fill("Good: looks the order up before refunding.")
    form.get_by_role("button", name="Create").click()
    expect(page.locator(".page-title")).to_have_text("Tour set")
    set_id = re.search(r"#/eval-sets/(es_\w+)", page.url).group(1)

    # Review with the keyboard: ? help, s skip, n note, 1/2/3 rate, u undo.
    page.get_by_role("link", name="Review traces").click()
    card = page.locator(".review-card")
    expect(card).to_be_visible()
    page.keyboard.press("?")
    expect(page.get_by_role("dialog", name="Keyboard shortcuts")).to_contain_text("Skip this trace")
    page.keyboard.press("Escape")
    expect(page.get_by_role("dialog", name="Keyboard shortcuts")).to_be_hidden()
    skipped = card.get_attribute("data-trace-id")
    page.keyboard.press("s")
    expect(card).not_to_have_attribute("data-trace-id", skipped)

    ratings = demo_ratings(ws)
    rated: dict[str, str] = {}
    while sum(r == "positive" for r in rated.values()) < 3 or sum(r == "negative" for r in rated.values()) < 3:
        assert len(rated) < 20, rated
        trace_id = card.get_attribute("data-trace-id")
        if not rated:
            page.keyboard.press("n")
            page.keyboard.type("first one <b>with a note</b>")
            page.keyboard.press("Escape")
        page.keyboard.press(KEY_FOR[ratings[trace_id]])
        expect(card).not_to_have_attribute("data-trace-id", trace_id)
        rated[trace_id] = ratings[trace_id]
        if len(rated) == 2:  # undo the second rating, then rate it again
            page.keyboard.press("u")
            expect(card).to_have_attribute("data-trace-id", trace_id)
            page.keyboard.press(KEY_FOR[ratings[trace_id]])
            expect(card).not_to_have_attribute("data-trace-id", trace_id)
    expect(page.locator(".save-status")).to_have_attribute("data-state", "saved")
    progress = page.locator(".review-progress .progress-label")
    expect(progress).to_have_text(f"{len(rated)} rated · minimum 5")
    feedback = {f["trace_id"]: f for f in ws.ok("GET", f"/eval-sets/{set_id}/feedback?limit=200")["items"]}
    assert {t: f["rating"] for t, f in feedback.items()} == rated and skipped not in feedback
    assert feedback[next(iter(rated))]["notes"] == "first one <b>with a note</b>"

    # Generate from review mode: the new version's page leads with its estimate on the current ratings.
    page.get_by_role("button", name="Generate eval").click()
    expect(page).to_have_url(re.compile(r"#/evals/ev_\w+$"), timeout=60_000)
    v1 = re.search(r"#/evals/(ev_\w+)", page.url).group(1)
    headline = page.locator(".eval-metrics .headline-metric")
    expect(headline.locator(".headline-label")).to_have_text("Estimated accuracy on unseen traces (95% CI)")
    # every rating so far trained it: none yet that it never saw
    expect(headline.locator("[data-metric=estimate-explanation]")).to_contain_text("Estimated from the ")
    expect(headline.locator(".headline-secondary")).to_contain_text("on training ratings")

    # Run it, with live progress.
    page.get_by_role("button", name="Run", exact=True).click()
    run = page.locator(".job-panel").filter(has_text="Running v1")
    expect(run.locator(".job-status .badge")).to_have_text(re.compile("succeeded|partial"), timeout=60_000)

    # The matrix and one cell's drawer.
    page.get_by_role("link", name="Matrix").click()
    expect(page.locator("table.matrix tbody tr")).to_have_count(len(rated))
    page.locator("tbody button.cell").first.click()
    expect(page.get_by_role("dialog").locator(".code-view")).to_contain_text("def eval_")
    page.keyboard.press("Escape")
    expect(page.get_by_role("dialog")).to_be_hidden()

    # A hand-edited v2 that passes everything, then compare it with v1: flipped traces by name.
    page.locator("thead th.col-eval a").first.click()
    expect(page.locator(".page-title")).to_contain_text("v1")
    page.get_by_role("button", name="Edit code").click()
    page.get_by_label("Eval code").fill(ALWAYS_PASS)
    page.get_by_role("button", name="Save as new version").click()
    expect(page.locator(".page-title")).to_contain_text("eval_always v2", timeout=30_000)  # saving validates first
    scoring = page.locator(".job-panel").filter(has_text="Scoring v2")
    expect(scoring.locator(".job-status .badge")).to_have_text("succeeded", timeout=60_000)
    v2 = re.search(r"#/evals/(ev_\w+)", page.url).group(1)
    diff = ws.ok("GET", f"/evals/{v2}/diff?against={v1}")
    page.get_by_role("button", name="Show diff").click()
    flipped = page.locator("table.flipped tbody tr")
    expect(flipped).to_have_count(len(diff["flipped"]))
    names = {t["id"]: t["name"] for t in ws.ok("GET", "/traces?limit=200")["items"]}
    if diff["flipped"]:
        first = diff["flipped"][0]["trace_id"]
        expect(flipped.first.locator(".trace-ref-name")).to_have_text(names[first])
        expect(flipped.first.locator(".trace-ref code")).to_have_text(f"{first[:11]}…")

    # Activate, export.
    page.get_by_role("button", name="Activate").click()
    expect(page.locator(".page-title [data-status]")).to_have_text("active")
    with page.expect_download() as download:
        page.get_by_role("button", name="Export .py").click()
    assert download.value.suggested_filename == "eval_always.py"
    exported = tmp_path / "eval_always.py"
    download.value.save_as(exported)
    compile(exported.read_text(), str(exported), "exec")

    # The trend chart of the active version: its scoring run is one point today; the list's sparkline too.
    trend = page.locator(".trend-section")
    expect(trend).to_have_attribute("data-points", "1")
    expect(trend.locator("svg.trend-chart circle.trend-point")).to_have_count(1)
    trend.get_by_role("button", name="Per hour").click()
    expect(trend.locator(".trend-bucket[data-bucket=hour]")).to_have_attribute("aria-pressed", "true")
    expect(trend.locator("svg.trend-chart circle.trend-point")).to_have_count(1)
    page.get_by_role("link", name="Eval sets", exact=True).click()
    spark = page.locator(".set-card").filter(has_text="Tour set").locator(".set-trend")
    expect(spark).to_have_attribute("data-points", "1")
    expect(spark.locator("svg.sparkline")).to_be_visible()

    # The eval set's recent ratings name their traces.
    page.goto(f"{servers.dashboard_url}#/eval-sets/{set_id}")
    recent = page.locator("section.card").filter(has=page.get_by_role("heading", name="Recent ratings"))
    expect(recent.locator(".trace-ref-name")).to_have_count(len(rated))
    assert sorted(recent.locator(".trace-ref-name").all_inner_texts()) == sorted(names[t] for t in rated)
    expect(recent.locator(".notes")).to_contain_text("first one <b>with a note</b>")

    # Integrations, the jobs list and a job's page.
    page.get_by_role("link", name="Integrations").click()
    expect(page.get_by_role("heading", name="No sources connected")).to_be_visible()
    page.get_by_role("link", name="Jobs").click()
    generate_row = page.locator(".job-row").filter(has=page.locator("a.job-type", has_text="generate"))
    expect(generate_row.locator(".badge")).to_have_text("succeeded")
    generate_row.locator("a.job-type").click()
    expect(page.locator(".page-title")).to_have_text("Generation job")
    expect(page.locator(".event-log")).to_contain_text("chose a candidate")
    expect(page.locator(".job-stages [data-stage=folds] .job-stage-step")).to_have_text(re.compile(r"^(\d+) of \1$"))
    expect(page.locator(".job-stages [data-state=done]")).to_have_count(5)
    expect(page.locator(".job-eval-link")).to_have_attribute("href", f"#/evals/{v1}")


def test_the_eval_set_shows_the_rated_count_the_minimum_and_the_balance(page, servers, workspace):
    eval_set = workspace.ok("POST", "/eval-sets", json={"name": "Many ratings"})
    queue = workspace.ok("GET", f"/eval-sets/{eval_set['id']}/review-queue?limit=8")["items"]
    for item, rating in zip(queue, ["positive"] * 4 + ["negative"] * 3 + ["neutral"]):
        workspace.ok("PUT", f"/eval-sets/{eval_set['id']}/feedback/{item['id']}", json={"rating": rating})
    sign_in(page, servers, workspace, f"eval-sets/{eval_set['id']}")
    expect(page.locator(".progress-label").first).to_have_text("8 rated · minimum 5")  # not "5 of 5"
    expect(page.locator("section.card .hint").first).to_have_text("4 good · 3 bad · 1 unsure.")
    page.get_by_role("link", name="Eval sets", exact=True).click()
    card = page.locator(".set-card").filter(has_text="Many ratings")
    expect(card.locator(".progress-label")).to_have_text("8 rated · minimum 5")


def test_names_notes_and_links_from_traces_are_shown_as_text(page, servers):
    workspace = create_workspace(servers.api_url, "Hostile text")
    hostile = '<img src=x onerror="document.body.dataset.pwned=1">'
    trace = {"id": "ignored", "source": {"platform": "upload", "external_id": "hostile-1",
                                         "url": "javascript:document.body.dataset.pwned=2"},
             "name": hostile, "messages": [{"role": "user", "content": hostile}]}
    job = workspace.ok("POST", "/traces/upload?format=unified", content=json.dumps(trace),
                       headers={"Content-Type": "application/x-ndjson"})
    assert workspace.wait_job(job["job_id"])["status"] == "succeeded"
    trace_id = next(t["id"] for t in workspace.ok("GET", "/traces?limit=200")["items"] if t["name"] == hostile)
    eval_set = workspace.ok("POST", "/eval-sets", json={"name": hostile, "criteria": hostile})
    workspace.ok("PUT", f"/eval-sets/{eval_set['id']}/feedback/{trace_id}", json={"rating": "negative", "notes": hostile})

    sign_in(page, servers, workspace, f"traces/{trace_id}")
    expect(page.locator(".page-title")).to_have_text(hostile)
    expect(page.get_by_role("link", name="open in source")).to_have_count(0)  # a javascript: link is dropped
    page.goto(f"{servers.dashboard_url}#/eval-sets/{eval_set['id']}")
    expect(page.locator(".page-title")).to_have_text(hostile)
    expect(page.locator(".feedback-list .trace-ref-name")).to_have_text(hostile)
    expect(page.locator(".feedback-list .notes")).to_have_text(f"“{hostile}”")
    page.wait_for_timeout(300)
    assert page.locator("img[src=x]").count() == 0
    assert page.evaluate("document.body.dataset.pwned") is None


def test_the_sign_in_hint_shows_code_not_backticks(page, servers):
    page.goto(servers.dashboard_url + "#/signin")
    hint = page.locator(".signin .field .hint")
    expect(hint.locator("code").first).to_have_text("make dev")
    assert "`" not in hint.inner_text()


def test_the_error_fixture_sees_throws_rejections_and_console_errors(page, servers, no_page_errors):
    page.goto(servers.dashboard_url + "#/signin")
    expect(page.locator(".page-title")).to_have_text("Sign in")
    page.evaluate("""() => {
      setTimeout(() => { throw new Error("thrown"); });
      Promise.reject(new Error("rejected"));
      console.error("logged");
      fetch("missing-file.json");
    }""")
    page.wait_for_timeout(500)
    assert len(no_page_errors) == 3, no_page_errors
    assert "uncaught: thrown" in no_page_errors
    assert "uncaught: rejected" in no_page_errors  # an unhandled rejection
    assert "console.error: logged" in no_page_errors
    no_page_errors.clear()  # seen: this test passes
