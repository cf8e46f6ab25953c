"""The eval screens driven in headless Chromium against the real API: generate from review mode,
the matrix (filters, drill-down, CSV), refine, diff, rollback, export, and the code editor."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import DEMO_TRACES, create_workspace, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def scenario_ratings(ws) -> list[tuple[str, str]]:
    """(trace id, the demo reviewer's rating) of the workspace's demo traces, non-neutral ones only."""
    from infra.local.demo_traces import make_demo_cases

    by_external = {}
    for item in ws.ok("GET", "/traces?limit=200")["items"]:
        by_external[item["source"]["external_id"]] = item["id"]
    return [(by_external[c.trace["id"]], c.rating) for c in make_demo_cases(DEMO_TRACES)
            if c.rating != "neutral" and c.trace["id"] in by_external]


def rate(ws, set_id: str, ratings) -> None:
    for trace_id, rating in ratings:
        ws.ok("PUT", f"/eval-sets/{set_id}/feedback/{trace_id}", json={"rating": rating})


def first_five(rated: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Five examples with both ratings present (what Generate needs)."""
    pos = [r for r in rated if r[1] == "positive"]
    neg = [r for r in rated if r[1] == "negative"]
    return pos[:3] + neg[:2]


def eval_id_in(page) -> str:
    match = re.search(r"#/evals/(ev_\w+)", page.url)
    assert match, page.url
    return match.group(1)


def wait_job_panel(page, title: str):
    panel = page.locator(".job-panel").filter(has_text=title).first
    expect(panel.locator(".badge")).to_have_text("succeeded", timeout=60_000)
    expect(panel.get_by_role("progressbar")).to_have_attribute("aria-valuenow", "100")
    return panel


def test_generate_matrix_refine_diff_rollback_and_export(page, servers, workspace, tmp_path: Path):
    eval_set = workspace.ok("POST", "/eval-sets", json={"name": "Refund policy", "criteria": "check before refunding"})
    set_id = eval_set["id"]
    rated = scenario_ratings(workspace)
    training = first_five(rated)
    rate(workspace, set_id, training)

    # Generate from review mode: a live progress bar, then the new version's page.
    sign_in(page, servers, workspace, f"eval-sets/{set_id}/review")
    page.get_by_role("button", name="Generate eval").click()
    expect(page.locator(".job-panel").get_by_role("progressbar")).to_be_visible()
    expect(page).to_have_url(re.compile(r"#/evals/ev_\w+$"), timeout=60_000)
    v1 = eval_id_in(page)
    expect(page.locator(".page-title")).to_contain_text("v1")
    expect(page.locator(".page-title [data-status]")).to_have_text("draft")
    expect(page.locator(".code-view .tok-keyword").first).to_be_visible()  # highlighted code
    expect(page.locator(".code-view .tok-defname").filter(has_text=re.compile(r"^eval_"))).to_have_count(1)
    expect(page.locator("[data-flag=low_confidence]")).to_be_visible()  # a flag shown as a warning
    more = workspace.ok("GET", f"/eval-sets/{set_id}")["more_for_heldout"]  # ... that says what to do
    asks = " and ".join(f"{n} more {word}" for n, word in ((more["positive"], "good"), (more["negative"], "bad")) if n)
    expect(page.locator("[data-flag=low_confidence]")).to_contain_text(f"Low confidence: rate {asks} traces")
    expect(page.locator("[data-flag=low_confidence]").get_by_role("link", name="Review traces")).to_have_attribute(
        "href", f"#/eval-sets/{set_id}/review")

    # Run it on every trace, with live progress.
    page.get_by_role("button", name="Run", exact=True).click()
    wait_job_panel(page, "Running v1")

    # Rate two more traces against what v1 said: two contradictions the matrix must show.
    executions = {e["trace_id"]: e["result"] for e in workspace.ok("GET", f"/evals/{v1}/executions?limit=200")["items"]}
    trained = {t for t, _ in training}
    fresh = [t for t, _ in rated if t not in trained and executions.get(t) in ("pass", "fail")][:2]
    assert len(fresh) == 2, executions
    rate(workspace, set_id, [(t, "negative" if executions[t] == "pass" else "positive") for t in fresh])
    # ... and any of the five it was written from that v1 gets wrong (a criteria rule need not fit every rating)
    human = {**dict(training), **{t: "negative" if executions[t] == "pass" else "positive" for t in fresh}}
    contradicted = sorted(t for t, r in human.items() if executions.get(t) != ("pass" if r == "positive" else "fail"))
    assert set(fresh) <= set(contradicted), (contradicted, fresh)

    page.get_by_role("link", name="Matrix").click()
    expect(page.get_by_role("heading", name="Matrix: Refund policy")).to_be_visible()
    rows = page.locator("table.matrix tbody tr")
    expect(rows).to_have_count(7)
    expect(page.locator("thead th.col-eval")).to_have_count(1)
    stats = page.locator(".version-stats").first
    expect(stats.locator("[data-metric='Scored (n)']")).to_have_text("7")
    expect(stats.locator("table.confusion [data-cm=tp]")).to_be_visible()

    page.get_by_role("button", name="Contradictions").click()
    expect(page).to_have_url(re.compile(r"filter=contradictions"))
    expect(rows).to_have_count(len(contradicted))
    assert sorted(rows.evaluate_all("rs => rs.map(r => r.dataset.traceId)")) == contradicted
    expect(page.locator("tbody .cell-contradict")).to_have_count(len(contradicted))
    expect(page.locator("tbody .cell-agree")).to_have_count(0)

    # Drill down into one cell.
    page.locator("tbody .cell-contradict").first.click()
    drawer = page.get_by_role("dialog")
    expect(drawer.locator(".drawer-reason")).not_to_be_empty()
    expect(drawer.locator(".code-view")).to_contain_text("def eval_")
    expect(drawer.locator(".drawer-verdict")).to_contain_text("contradicts the human")
    assert "[object" not in drawer.inner_text() and "\nnull\n" not in drawer.inner_text()
    expect(drawer.get_by_role("link", name="Open the trace")).to_have_attribute("href", re.compile(r"#/traces/tr_"))
    page.keyboard.press("Escape")
    expect(drawer).to_be_hidden()

    # The CSV with the same filter, fetched with the key and downloaded through a Blob URL.
    with page.expect_download() as download:
        page.get_by_role("button", name="Download CSV").click()
    csv_path = tmp_path / "matrix.csv"
    download.value.save_as(csv_path)
    csv_lines = csv_path.read_text().strip().splitlines()
    assert csv_lines[0].startswith("trace_id,") and "v1_result" in csv_lines[0]
    assert len(csv_lines) == 1 + len(contradicted)
    assert {line.split(",")[0] for line in csv_lines[1:]} == set(contradicted)

    # More filters: rating, a date range with nothing in it, then back to everything.
    page.get_by_label("Rating").select_option("negative")
    expect(page).to_have_url(re.compile(r"rating=negative"))
    expect(rows).to_have_count(sum(human[t] == "negative" for t in contradicted))
    page.get_by_label("From").fill("2030-01-01")
    page.get_by_role("button", name="Apply").click()
    expect(rows).to_have_count(0)
    expect(page.locator(".matrix-status")).to_have_text("No contradictions match these filters.")
    page.get_by_role("button", name="Reset").click()
    expect(rows).to_have_count(7)
    expect(page.get_by_role("button", name="All")).to_have_attribute("aria-pressed", "true")

    # Refine: a job, then the new version's page with the diff against v1 open.
    page.locator("thead th.col-eval a").first.click()
    expect(page.locator(".page-title")).to_contain_text("v1")
    page.get_by_role("button", name="Refine").click()
    expect(page).to_have_url(re.compile(rf"#/evals/ev_\w+\?against={v1}$"), timeout=60_000)
    v2 = eval_id_in(page)
    assert v2 != v1
    expect(page.locator(".page-title")).to_contain_text("v2")
    diff = page.locator(".diff-view")
    expect(diff.locator(".diff-summary")).to_contain_text("v1 → v2: compared on 7 rated traces")
    expect(diff.locator("table.diff-metrics")).to_contain_text("Accuracy")
    flipped = workspace.ok("GET", f"/evals/{v2}/diff?against={v1}")
    expect(diff.locator("table.flipped tbody tr")).to_have_count(len(flipped["flipped"]))
    if flipped["diff"]:
        expect(diff.locator(".diff-add, .diff-del").first).to_be_visible()

    # v2's held-out estimate is below v1's: saved as a rejected candidate, activated only when asked.
    assert workspace.ok("GET", f"/evals/{v2}")["status"] == "rejected"
    expect(page.locator(".page-title [data-status]")).to_have_text("rejected")

    # Activate v2 anyway, then roll back to v1.
    page.get_by_role("button", name="Activate anyway").click()
    expect(page.locator(".page-title [data-status]")).to_have_text("active")
    # the versions list is drawn again after the activation: click v1 once it shows the new state
    expect(page.locator(f".versions-list li[data-eval-id={v2}]")).to_have_attribute("data-status", "active")
    page.locator(f".versions-list li[data-eval-id={v1}] a").click()
    expect(page.locator(".page-title")).to_contain_text("v1")
    page.get_by_role("button", name="Roll back to v1").click()
    expect(page.locator(".page-title [data-status]")).to_have_text("active")
    expect(page.locator(f".versions-list li[data-eval-id={v2}]")).to_have_attribute("data-status", "draft")
    assert workspace.ok("GET", f"/evals/{v1}")["status"] == "active"
    assert workspace.ok("GET", f"/evals/{v2}")["status"] == "draft"

    # A draft can be archived; the active version cannot.
    expect(page.get_by_role("button", name="Archive")).to_be_disabled()
    page.locator(f".versions-list li[data-eval-id={v2}] a").click()
    expect(page.locator(".page-title")).to_contain_text("v2")
    page.get_by_role("button", name="Archive").click()
    expect(page.locator(".page-title [data-status]")).to_have_text("archived")
    page.locator(f".versions-list li[data-eval-id={v1}] a").click()
    expect(page.locator(".page-title")).to_contain_text("v1")

    # Export as a pytest module.
    with page.expect_download() as download:
        page.get_by_role("button", name="Export pytest").click()
    assert download.value.suggested_filename.startswith("test_eval_")
    exported = tmp_path / download.value.suggested_filename
    download.value.save_as(exported)
    text = exported.read_text()
    assert "exported from iofold" in text and f"({v1}, active" in text
    assert re.search(r"^def test_eval_\w+\(trace_file\):", text, re.M)
    assert re.search(r"^def eval_\w+\(trace", text, re.M)
    compile(text, str(exported), "exec")
    assert page.js_errors == []


def test_editing_code_shows_the_rejected_line_then_saves_a_version_and_scores_it(page, servers, workspace):
    eval_set = workspace.ok("POST", "/eval-sets", json={"name": "Hand edits"})
    rate(workspace, eval_set["id"], first_five(scenario_ratings(workspace)))
    job = workspace.wait_job(workspace.ok("POST", f"/eval-sets/{eval_set['id']}/generate",
                                          json={"generator": "offline"})["job_id"])
    assert job["status"] == "succeeded", job
    v1 = job["result"]["eval_id"]

    sign_in(page, servers, workspace, f"evals/{v1}")
    page.get_by_role("button", name="Edit code").click()
    editor = page.get_by_label("Eval code")
    expect(editor).to_be_focused()
    editor.fill("import json\n\nimport os\n\n\ndef eval_edited(trace: dict) -> tuple[bool, str]:\n")
    page.keyboard.press("Control+End")
    page.keyboard.press("Tab")  # Tab indents instead of leaving the editor
    page.keyboard.type("return True, 'ok'")
    assert editor.input_value().endswith("\n    return True, 'ok'")
    page.get_by_role("button", name="Save as new version").click()
    error = page.locator(".editor-error")
    expect(error.locator(".editor-error-where")).to_have_text("Line 3:")
    expect(error.locator(".editor-error-reason")).to_contain_text("'os' is not allowed")
    expect(error.locator(".editor-error-line")).to_contain_text("import os")
    expect(editor).to_have_attribute("aria-invalid", "true")
    assert page.evaluate("getSelection().toString() || document.activeElement.value.substring("
                         "document.activeElement.selectionStart, document.activeElement.selectionEnd)") == "import os"
    assert len(workspace.ok("GET", f"/evals?eval_set_id={eval_set['id']}")["items"]) == 1

    code = editor.input_value().replace("import os\n", "")
    editor.fill(code)
    page.get_by_role("button", name="Save as new version").click()
    expect(page.locator(".page-title")).to_contain_text("eval_edited v2")
    panel = wait_job_panel(page, "Scoring v2")
    expect(panel.locator(".job-summary")).to_contain_text("pass")
    expect(page.locator(".eval-metrics [data-metric='Scored (n)']")).to_have_text("5")
    assert page.js_errors == []


def test_matrix_and_eval_pages_fit_a_phone(phone_page, servers, workspace):
    eval_set = workspace.ok("POST", "/eval-sets", json={"name": "Phone"})
    rate(workspace, eval_set["id"], first_five(scenario_ratings(workspace)))
    job = workspace.wait_job(workspace.ok("POST", f"/eval-sets/{eval_set['id']}/generate",
                                          json={"generator": "offline"})["job_id"])
    v1 = job["result"]["eval_id"]
    sign_in(phone_page, servers, workspace, f"eval-sets/{eval_set['id']}/matrix?limit=2")
    rows = phone_page.locator("table.matrix tbody tr")
    expect(rows).to_have_count(2)
    more = phone_page.get_by_role("button", name="Load more")
    more.click()
    expect(rows).to_have_count(4)
    more.click()
    expect(rows).to_have_count(5)
    expect(more).to_be_hidden()
    assert len(set(rows.evaluate_all("rs => rs.map(r => r.dataset.traceId)"))) == 5
    for route in (f"eval-sets/{eval_set['id']}/matrix", f"evals/{v1}", f"eval-sets/{eval_set['id']}"):
        phone_page.goto(f"{servers.dashboard_url}#/{route}")
        phone_page.locator(".page-title").first.wait_for()
        phone_page.wait_for_timeout(300)
        width = phone_page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"#/{route} is {width}px wide on a 390px phone"
    assert phone_page.js_errors == []


def pct(x) -> str:
    """The dashboard's fmtPct: a share as a whole percentage (JS toFixed rounds a tie up)."""
    from decimal import ROUND_HALF_UP, Decimal

    return "—" if x is None else f"{Decimal(x * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP)}%"


def test_version_pages_show_the_estimate_on_current_ratings_else_the_heldout_figure(page, servers):
    """A generated version shows its estimate on the set's current ratings (metrics.estimate), with its interval
    and what it is made of, on its page, in the versions list and in the diff; a hand-edited one (no estimate)
    keeps the generation's held-out figure."""
    from infra.local.demo_traces import make_demo_cases, make_demo_traces

    ws = create_workspace(servers.api_url, "Estimates")  # more demo traces than the shared workspace's
    accepted = ws.ok("POST", "/traces/upload?format=langfuse", content="\n".join(json.dumps(t) for t in make_demo_traces(30)),
                     headers={"Content-Type": "application/x-ndjson"})
    assert ws.wait_job(accepted["job_id"])["status"] == "succeeded"
    by_external = {item["source"]["external_id"]: item["id"] for item in ws.ok("GET", "/traces?limit=200")["items"]}
    rated = [(by_external[c.trace["id"]], c.rating) for c in make_demo_cases(30) if c.rating != "neutral"]
    pos = [r for r in rated if r[1] == "positive"]
    neg = [r for r in rated if r[1] == "negative"]
    written_from = pos[:5] + neg[:5]
    eval_set = ws.ok("POST", "/eval-sets", json={"name": "Estimates"})
    rate(ws, eval_set["id"], written_from)
    job = ws.wait_job(ws.ok("POST", f"/eval-sets/{eval_set['id']}/generate", json={"generator": "offline"})["job_id"])
    assert job["status"] == "succeeded", job
    v1 = job["result"]["eval_id"]
    later = [r for r in rated if r not in written_from]  # rated after v1 was written: it never saw them
    assert later
    rate(ws, eval_set["id"], later)
    assert ws.wait_job(ws.ok("POST", f"/evals/{v1}/execute", json={})["job_id"])["status"] == "succeeded"
    saved = ws.ok("POST", f"/evals/{v1}/versions", json={"code": ws.ok("GET", f"/evals/{v1}")["code"]})
    assert ws.wait_job(saved["scoring_job_id"])["status"] == "succeeded"
    v2 = saved["id"]
    m1 = ws.ok("GET", f"/evals/{v1}")["metrics"]
    m2 = ws.ok("GET", f"/evals/{v2}")["metrics"]
    assert m1["estimate_unseen"] == len(later) and "estimate" not in m2, (m1, m2)
    shown = f"{pct(m1['estimate'])} ({pct(m1['estimate_interval'][0])}–{pct(m1['estimate_interval'][1])})"
    trained, unseen = m1["estimate_trained"], m1["estimate_unseen"]
    assert trained == len(written_from), m1  # 5 of each: the generation made a held-out estimate for them
    explained = (f"Estimated agreement on your current {trained + unseen} ratings: written from {trained}, "
                 f"checked on {unseen} it never saw (agreed on {pct(m1['estimate_unseen_accuracy'])}).")

    sign_in(page, servers, ws, f"evals/{v1}")
    headline = page.locator(".eval-metrics .headline-metric")
    expect(headline.locator("[data-metric=estimate]")).to_have_text(shown)
    expect(headline.locator("[data-metric=estimate-explanation]")).to_have_text(explained)
    expect(headline.locator("[data-metric=heldout]")).to_have_count(0)
    versions = page.locator(".versions-list")
    expect(versions.locator(f"li[data-eval-id={v1}] .version-metrics")).to_contain_text(f"estimate {shown}")
    expect(versions.locator(f"li[data-eval-id={v2}] .version-metrics")).not_to_contain_text("estimate")

    # The hand-edited version has no estimate: its page keeps the held-out figure of its own generation (none).
    versions.locator(f"li[data-eval-id={v2}] a").click()
    expect(page.locator(".page-title")).to_contain_text("v2")
    expect(headline.locator("[data-metric=estimate]")).to_have_count(0)
    expect(headline.locator("[data-metric=heldout]")).to_have_text(pct((ws.ok("GET", f"/evals/{v2}").get("generation")
                                                                       or {}).get("heldout_accuracy")))
    expect(headline).to_contain_text("Held-out accuracy (cross-validated)")

    # The diff puts both side by side: v1's estimate, none for v2.
    page.locator(".compare select").select_option(v1)
    page.get_by_role("button", name="Show diff").click()
    row = page.locator(".diff-view table.diff-metrics tr[data-row=estimate] td")
    expect(row).to_have_text([shown, "—"])
    assert page.js_errors == []
