"""An eval set's scope on screen: set when the set is created, shown in words, followed by review, and
edited on the set's page."""

from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import create_workspace, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _trace(platform: str, i: int, tags: list[str]) -> dict:
    return {"id": "x", "source": {"platform": platform, "external_id": f"{platform}-{i}"}, "name": f"{platform} agent {i}",
            "tags": tags, "timestamp": f"2025-03-01T12:{10 + i:02d}:00.000Z",
            "messages": [{"role": "user", "content": f"question {i}"}]}


def test_a_scoped_eval_set_reviews_only_its_traces_and_its_scope_can_be_edited(page, servers):
    ws = create_workspace(servers.api_url, "Scope test")
    lines = ([_trace("langsmith", i, ["refunds"]) for i in range(3)] + [_trace("langfuse", i, ["refunds"]) for i in range(3, 6)]
             + [_trace("langsmith", i, ["search"]) for i in range(6, 8)])
    job = ws.ok("POST", "/traces/upload?format=unified", content="\n".join(json.dumps(t) for t in lines),
                headers={"Content-Type": "application/x-ndjson"})
    assert ws.wait_job(job["job_id"])["status"] == "succeeded"
    traces = {t["id"]: t for t in ws.ok("GET", "/traces?limit=200")["items"]}

    sign_in(page, servers, ws, "eval-sets?new=1")
    form = page.get_by_role("form", name="New eval set")
    form.get_by_label("Name", exact=True).fill("LangSmith refunds")
    form.get_by_text("Limit to some traces").click()
    form.get_by_label("Source").select_option("langsmith")
    form.get_by_label("Tags").fill("refunds")
    form.get_by_label("From").fill("2025-03-01T12:11")
    form.get_by_role("button", name="Create").click()
    expect(page.locator(".page-title")).to_have_text("LangSmith refunds")
    set_id = re.search(r"#/eval-sets/(es_\w+)", page.url).group(1)
    stored = ws.ok("GET", f"/eval-sets/{set_id}")["scope"]
    local_from = page.evaluate("new Date('2025-03-01T12:11').toISOString()")
    assert (stored["source"], stored["tags"], stored["from_timestamp"]) == ("langsmith", ["refunds"], local_from)
    expect(page.locator(".scope-card .scope-summary")).to_contain_text("Only traces from LangSmith, tagged refunds, since")

    # Review offers only the traces in scope; skip through them to the end of the queue.
    expected = {t for t, s in traces.items() if s["source"]["platform"] == "langsmith" and "refunds" in s["tags"]
                and s["timestamp"] >= stored["from_timestamp"]}
    page.get_by_role("link", name="Review traces").click()
    expect(page.locator(".review-progress")).to_be_visible()
    expect(page.locator(".scope-summary")).to_contain_text("from LangSmith")
    card = page.locator(".review-card")
    shown = set()
    for _ in range(len(expected)):
        expect(card).to_be_visible()
        trace_id = card.get_attribute("data-trace-id")
        shown.add(trace_id)
        page.keyboard.press("s")
        page.wait_for_function("id => document.querySelector('.review-card')?.dataset.traceId !== id", arg=trace_id)
    assert shown == expected

    # Widen the scope on the set's page: every source, still tagged refunds.
    page.goto(f"{servers.dashboard_url}#/eval-sets/{set_id}")
    scope_card = page.locator(".scope-card")
    scope_card.get_by_role("button", name="Edit scope").click()
    scope_form = scope_card.get_by_role("form", name="Scope")
    expect(scope_form.get_by_label("Tags")).to_have_value("refunds")
    expect(scope_form.get_by_label("Source")).to_have_value("langsmith")
    scope_form.get_by_label("Source").select_option("")
    scope_form.get_by_label("From").fill("")
    scope_form.get_by_role("button", name="Save scope").click()
    expect(scope_card.locator(".scope-summary")).to_have_text("Only traces tagged refunds.")
    assert ws.ok("GET", f"/eval-sets/{set_id}")["scope"]["source"] is None
    queue = ws.ok("GET", f"/eval-sets/{set_id}/review-queue?limit=50")["items"]
    assert {i["id"] for i in queue} == {t for t, s in traces.items() if "refunds" in s["tags"]}
