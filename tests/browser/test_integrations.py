"""The Integrations screen: connect LangSmith and test it, upload files (plain, gzipped, and past 5 MB
through the presigned S3 upload) with a progress bar, and edit a schedule whose expression is checked
as the API checks it, with its next three runs and its last run's status and counts."""

from __future__ import annotations

import gzip
import json
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import create_workspace, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.slow]

EXPRESSIONS = [
    "rate(1 hour)", "rate(5 minutes)", "rate(2 days)", "rate(1 hours)", "rate(0 minutes)", "rate(1 second)",
    "cron(0 6 * * ? *)", "cron(15 10 ? * MON-FRI *)", "cron(0/15 * * * ? *)", "cron(0 0 29 FEB ? *)",
    "cron(5,35 8-17/3 ? * SUN,SAT 2026-2030)", "cron(0 6 * * * *)", "cron(0 6 ? * ? *)", "cron(61 * * * ? *)",
    "cron(0 6 * * ?)", "cron(0 25 * * ? *)", "cron(0 6 L * ? *)", "cron(30 9 ? JAN-MAR TUE *)", "every hour", "",
]


def test_the_schedule_parser_agrees_with_the_api_and_finds_the_next_cron_runs(page, servers):
    from chalicelib.errors import ValidationError
    from chalicelib.schedules.expressions import Cron, parse_expression

    page.goto(servers.dashboard_url + "#/signin")
    expect(page.locator(".page-title")).to_have_text("Sign in")
    now = datetime(2026, 12, 6, 21, 20, 30, tzinfo=timezone.utc)
    answers = page.evaluate("""async ([expressions, now]) => {
      const m = await import("./js/schedule.js");
      return expressions.map((e) => {
        try {
          return { runs: m.nextRuns(m.parseExpression(e), { now: new Date(now) }).map((d) => d.toISOString()) };
        } catch (err) {
          return { error: err.message };
        }
      });
    }""", [EXPRESSIONS, now.isoformat()])
    for expression, answer in zip(EXPRESSIONS, answers):
        try:
            parsed = parse_expression(expression)
        except ValidationError as exc:
            assert answer == {"error": exc.message.replace('"', "'")}, expression
            continue
        assert "runs" in answer, (expression, answer)
        runs = [datetime.fromisoformat(r.replace("Z", "+00:00")) for r in answer["runs"]]
        assert len(runs) == 3, (expression, runs)
        if isinstance(parsed, Cron):  # the first three matching minutes after now (those within 400 days)
            minute, expected = now.replace(second=0) + timedelta(minutes=1), []
            while len(expected) < 3 and minute < now + timedelta(days=400):
                if parsed.matches(minute):
                    expected.append(minute)
                minute += timedelta(minutes=1)
            assert runs[:len(expected)] == expected and all(parsed.matches(r) for r in runs), expression
        else:
            assert [b - a for a, b in zip([now, *runs], runs)][1:] == [timedelta(seconds=parsed.seconds)] * 2


def test_connecting_langsmith_tests_the_connection_with_the_routes_message(page, servers):
    from infra.local.fake_langsmith import FakeLangSmith, make_demo_runs

    ws = create_workspace(servers.api_url, "LangSmith test")
    with FakeLangSmith(make_demo_runs(3), api_key="lsv2_pt_right") as fake:
        sign_in(page, servers, ws, "integrations")
        page.get_by_role("button", name="Connect LangSmith").click()
        form = page.get_by_role("form", name="Connect LangSmith")
        form.get_by_label("Name").fill("Prod LangSmith")
        form.get_by_label("Host").fill(fake.base_url)
        form.get_by_label("API key").fill("lsv2_pt_wrong")
        form.get_by_label("Project").fill("default")
        form.get_by_role("button", name="Connect").click()

        card = page.locator(".integration").filter(has_text="Prod LangSmith")
        expect(card).to_contain_text("project default")
        card.get_by_role("button", name="Test connection").click()
        stored = ws.ok("GET", "/integrations")["items"][0]
        assert (stored["platform"], stored["project"]) == ("langsmith", "default")
        expect(card.locator(".test-result")).to_have_text(re.compile(r"^✗ Failed: LangSmith refused the credentials \(HTTP 40[13]\)$"))
    expect(card.locator(".test-result")).to_have_text(f"✗ Failed: {ws.ok('GET', '/integrations')['items'][0]['status_detail']}")


def _lines(n: int, seed: int) -> bytes:
    from infra.local.demo_traces import make_demo_traces

    return b"\n".join(json.dumps(t).encode() for t in make_demo_traces(n, seed=seed)) + b"\n"


def _upload(card, path: Path, *, via: str):
    """Upload ``path`` from the upload card; its progress box once the import succeeded."""
    card.get_by_label("Trace file").set_input_files(str(path))
    card.get_by_role("button", name="Upload").click()
    box = card.locator(".upload-progress").filter(has_text=path.name)
    expect(box).to_have_attribute("data-via", via, timeout=30_000)
    expect(box.locator(".job-status .badge")).to_have_text("succeeded", timeout=60_000)
    return box


def test_uploads_show_progress_and_large_files_go_through_the_presigned_upload(page, servers, tmp_path: Path):
    ws = create_workspace(servers.api_url, "Upload test")
    sign_in(page, servers, ws, "integrations")
    sent: list[tuple[str, str]] = []
    page.on("request", lambda r: sent.append((r.method, r.url)))
    card = page.locator(".upload-card")

    small = tmp_path / "traces.jsonl.gz"
    small.write_bytes(gzip.compress(_lines(4, seed=11)))
    box = _upload(card, small, via="direct")
    expect(box.locator(".job-summary")).to_contain_text("4 new")
    expect(box.get_by_role("progressbar", name="Uploading traces.jsonl.gz")).to_have_attribute("aria-valuenow", "1")

    # Past 5 MB: a presigned PUT straight to S3, then the import. Blank lines pad the file cheaply.
    large = tmp_path / "large.jsonl"
    large.write_bytes(_lines(6, seed=12) + b"\n" * (5 * 1024 * 1024 + 10))
    box = _upload(card, large, via="presigned")
    expect(box.locator(".job-summary")).to_contain_text("6 new")
    expect(box.get_by_role("progressbar", name="Uploading large.jsonl")).to_have_attribute("aria-valuetext",
                                                                                          re.compile("straight to storage"))
    puts = [url for method, url in sent if method == "PUT"]
    assert len(puts) == 1 and "X-Amz-Signature=" in puts[0] and not puts[0].startswith(servers.api_url)
    posts = [url for method, url in sent if method == "POST" and "/traces/upload" in url]
    assert [re.sub(r"\?.*", "", u.removeprefix(servers.api_url)) for u in posts] == [
        "/traces/upload", "/traces/uploads", re.sub(r"\?.*", "", posts[2].removeprefix(servers.api_url))]
    assert re.fullmatch(r"/traces/uploads/up_\w+/import", posts[2].removeprefix(servers.api_url))
    assert len(ws.ok("GET", "/traces?limit=200")["items"]) == 10


def test_the_schedule_editor_checks_the_expression_saves_and_shows_the_last_run(page, servers):
    from chalicelib import handlers
    from infra.local.demo_traces import make_demo_traces
    from infra.local.fake_langfuse import FakeLangfuse

    ws = create_workspace(servers.api_url, "Schedule test")
    with FakeLangfuse(make_demo_traces(5, seed=2), port=0, public_key="pk-lf-s", secret_key="sk-lf-s") as fake:
        integration = ws.ok("POST", "/integrations", json={
            "platform": "langfuse", "name": "Nightly Langfuse", "base_url": fake.base_url,
            "credentials": {"public_key": "pk-lf-s", "secret_key": "sk-lf-s"}})
        sign_in(page, servers, ws, "integrations")
        puts: list[str] = []
        page.on("request", lambda r: puts.append(r.url) if r.method == "PUT" else None)
        card = page.locator(".integration").filter(has_text="Nightly Langfuse")
        card.get_by_role("button", name="Schedule").click()
        editor = card.get_by_role("form", name="Schedule for Nightly Langfuse")
        expression = editor.get_by_label("Expression")
        runs = editor.get_by_role("list", name="Next runs").locator("li")
        expect(runs).to_have_count(3)  # rate(1 hour) to start with

        expression.fill("cron(0 6 * * * *)")
        expect(editor.locator(".schedule-message")).to_have_text(
            "in a cron expression exactly one of day-of-month and day-of-week must be '?'")
        expect(expression).to_have_attribute("aria-invalid", "true")
        expect(runs).to_have_count(0)
        editor.get_by_role("button", name="Save schedule").click()
        page.wait_for_timeout(300)
        assert puts == []  # refused before asking the API

        expression.fill("cron(30 6 ? * MON-FRI *)")
        expect(runs).to_have_count(3)
        for at in runs.evaluate_all("items => items.map(i => i.dataset.at)"):
            when = datetime.fromisoformat(at.replace("Z", "+00:00"))
            assert (when.hour, when.minute, when.isoweekday() <= 5) == (6, 30, True) and when > datetime.now(timezone.utc)
        expect(runs.first).to_contain_text("06:30 UTC")
        editor.get_by_label("Run the active evals").check()
        editor.get_by_label("Only with tags").fill("prod, refunds")
        editor.get_by_role("button", name="Save schedule").click()
        expect(card.locator(".schedule-summary code")).to_have_text("cron(30 6 ? * MON-FRI *)")
        expect(card.locator(".schedule-summary")).to_contain_text("then runs the active evals")
        expect(card.locator(".last-run")).to_have_text("Not run yet.")
        schedule = ws.ok("GET", f"/integrations/{integration['id']}")["schedule"]
        assert (schedule["expression"], schedule["run_active_evals"], schedule["filters"]["tags"]) == (
            "cron(30 6 ? * MON-FRI *)", True, ["prod", "refunds"])

        # The schedule fires (what EventBridge Scheduler invokes); the card shows that run's outcome.
        ws.ok("PUT", f"/integrations/{integration['id']}/schedule", json={"expression": "rate(1 hour)"})
        job_id = handlers.scheduled_import({"workspace_id": ws.workspace_id, "integration_id": integration["id"]})["job_id"]
        assert ws.wait_job(job_id)["status"] == "succeeded"
        page.reload()
        last = page.locator(".integration").filter(has_text="Nightly Langfuse").locator(".last-run")
        expect(last.locator(".badge")).to_have_text("succeeded")
        expect(last).to_contain_text("5 new, 0 updated, 0 unchanged, 0 failed")
        expect(last.get_by_role("link", name="details")).to_have_attribute("href", f"#/jobs/{job_id}")

        # The API's own refusal shows in the form too: a member may not schedule.
        member = ws.ok("POST", "/api-keys", json={"label": "member", "role": "member"})["key"]
        page.evaluate("key => localStorage.setItem('iofold.apiKey', key)", member)
        page.reload()
        card = page.locator(".integration").filter(has_text="Nightly Langfuse")
        card.get_by_role("button", name="Edit schedule").click()
        editor = card.get_by_role("form", name="Schedule for Nightly Langfuse")
        expect(editor.get_by_label("Expression")).to_have_value("rate(1 hour)")
        editor.get_by_role("button", name="Save schedule").click()
        expect(editor.locator(".form-error")).to_contain_text(re.compile("admin", re.I))
