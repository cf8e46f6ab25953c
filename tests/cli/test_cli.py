"""The CLI end to end against a real local API over HTTP: upload (.gz too), traces --json,
generate, run gates, export then pytest, login, exit codes and error messages."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from tests.cli.conftest import new_cli, write_demo_file


@pytest.fixture(scope="module")
def rated(served_api, tmp_path_factory):
    """A workspace with 30 uploaded demo traces, an eval set with 16 of them rated, and an offline eval."""
    cli = new_cli(served_api, tmp_path_factory.mktemp("rated"), "rated")
    cases = write_demo_file(cli.home / "demo.jsonl.gz", 30, seed=11)
    assert cli.json("upload", "demo.jsonl.gz")["result"]["imported"] == 30
    by_external = {t["source"]["external_id"]: t["id"] for t in cli.json("traces", "--limit", "0")}
    es = cli("eval-sets", "create", "Refunds", "--criteria", "refund only after looking the order up", "-q")
    assert es.returncode == 0, es.stderr
    eval_set = es.stdout.strip()
    client = cli.client
    for case in cases[:16]:
        client.rate(eval_set, by_external[case.trace["id"]], case.rating)
    generated = cli.json("generate", eval_set, "--generator", "offline", "--activate")
    client.wait(client.execute(generated["eval"]["id"]), check=True)  # every trace has a result, whatever runs first
    return {"cli": cli, "eval_set": eval_set, "eval_id": generated["eval"]["id"], "generated": generated,
            "trace_ids": [by_external[c.trace["id"]] for c in cases],
            "scored": sum(c.rating != "neutral" for c in cases[:16])}


def test_upload_of_a_gz_file_then_traces_json_lists_them(cli):
    cases = write_demo_file(cli.home / "t.jsonl.gz", 6, seed=2)
    run = cli("upload", "t.jsonl.gz", "--format", "langfuse", "--json")
    assert run.returncode == 0, run.stderr
    job = json.loads(run.stdout)
    assert job["status"] == "succeeded" and job["result"]["imported"] == 6
    listed = cli.json("traces")
    assert sorted(t["source"]["external_id"] for t in listed) == sorted(c.trace["id"] for c in cases)
    assert all(t["source"]["platform"] == "langfuse" for t in listed)


def test_upload_of_a_plain_file_and_a_table_of_traces(cli):
    write_demo_file(cli.home / "t.jsonl", 3, seed=4)
    assert cli("upload", "t.jsonl").returncode == 0
    table = cli("traces", "--limit", "2")
    assert table.returncode == 0 and "2 traces" in table.stdout


@pytest.mark.slow
def test_generate_prints_the_new_version_with_its_agreement(rated):
    version = rated["generated"]["eval"]
    assert rated["generated"]["job"]["status"] == "succeeded"
    assert version["status"] == "active" and version["eval_set_id"] == rated["eval_set"]
    assert "heldout_accuracy" in version["metrics"]


@pytest.mark.slow
def test_run_fail_under_exits_0_at_the_pass_rate_and_1_above_it(rated):
    cli, eval_id = rated["cli"], rated["eval_id"]
    report = cli.json("run", eval_id)
    only = report["runs"][0]
    assert only["executed"] == 30 and only["pass"] + only["fail"] + only["error"] + only["timeout"] == 30
    rate = only["pass_rate"]
    assert 0 < rate < 1, report
    at = cli("run", eval_id, "--fail-under", f"{rate - 1e-9:.10f}", "--json")
    above = cli("run", eval_id, "--fail-under", f"{rate + 0.01:.4f}", "--json")
    assert at.returncode == 0, at.stderr
    assert above.returncode == 1 and "gate failed" in above.stderr
    assert json.loads(above.stdout)["passed"] is False


@pytest.mark.slow
def test_run_agreement_gates_on_agreement_with_the_humans_over_chosen_traces(rated):
    cli = rated["cli"]
    some = ",".join(rated["trace_ids"][:5])
    report = cli.json("run", rated["eval_set"], "--traces", some, "--agreement", "--fail-under", "0")
    only = report["runs"][0]
    assert only["executed"] == 5 and only["eval_id"] == rated["eval_id"] and only["gate"]["on"] == "agreement"
    agreement = only["agreement"]
    # agreement is over all of the set's rated (non-neutral) traces, which the run before scored
    assert agreement is not None and only["agreement_n"] == rated["scored"]
    strict = cli("run", rated["eval_set"], "--traces", some, "--agreement", "--fail-under",
                 f"{min(1.0, agreement + 0.001):.4f}")
    assert strict.returncode == (1 if agreement < 1 else 0), strict.stdout + strict.stderr


@pytest.mark.slow
def test_export_pytest_writes_a_file_pytest_runs_on_saved_traces(rated, tmp_path):
    cli = rated["cli"]
    work = tmp_path / "repo"
    work.mkdir()
    run = cli("export", rated["eval_id"], "--format", "pytest", "-o", "test_x.py", cwd=work)
    assert run.returncode == 0 and (work / "test_x.py").exists(), run.stderr
    saved = cli("traces", "--limit", "10", "--save", "traces", cwd=work)
    assert saved.returncode == 0 and len(list((work / "traces").glob("*.json"))) == 10
    results = {e.trace_id: e.result for e in cli.client.executions(rated["eval_id"])}
    report = tmp_path / "report.xml"
    pytest_run = subprocess.run([sys.executable, "-m", "pytest", "test_x.py", "-q", "-p", "no:cacheprovider",
                                 f"--junitxml={report}", "--rootdir", str(work)],
                                cwd=work, capture_output=True, text=True, timeout=120, env={"PATH": "/usr/bin:/bin"})
    assert pytest_run.returncode in (0, 1), pytest_run.stdout + pytest_run.stderr
    verdicts = {case.get("name").split("[", 1)[1].rstrip("]"): "fail" if case.find("failure") is not None else "pass"
                for case in ET.parse(report).getroot().iter("testcase")}
    assert len(verdicts) == 10 and verdicts == {t: results[t] for t in verdicts}


@pytest.mark.slow
def test_matrix_and_jobs_list_as_json(rated):
    cli = rated["cli"]
    matrix = cli.json("matrix", rated["eval_set"])
    assert len(matrix["rows"]) == 16 and rated["eval_id"] in matrix["stats"]
    jobs = cli.json("jobs", "--limit", "50")
    assert {"upload", "generate"} <= {j["type"] for j in jobs}
    shown = cli.json("jobs", jobs[0]["id"])
    assert shown["id"] == jobs[0]["id"]


def test_api_errors_exit_3_with_the_code_and_usage_errors_exit_2(cli):
    missing = cli("jobs", "job_missing")
    assert missing.returncode == 3 and "404 NOT_FOUND" in missing.stderr
    bad_key = cli("traces", env=cli.env(IOFOLD_API_KEY="iof_not_a_key"))
    assert bad_key.returncode == 3 and "401 UNAUTHENTICATED" in bad_key.stderr
    invalid = cli("generate", "es_missing", "--generator", "offline")
    assert invalid.returncode == 3 and "NOT_FOUND" in invalid.stderr
    assert cli("run").returncode == 2
    assert cli("upload", "no-such-file.jsonl").returncode == 2
    assert cli("traces", "--limit", "-1").returncode == 2


def test_a_viewer_key_is_forbidden_to_generate(cli):
    viewer = cli.client.create_api_key("ci", "viewer").key
    run = cli("generate", "es_any", env=cli.env(IOFOLD_API_KEY=viewer))
    assert run.returncode == 3 and "403 FORBIDDEN" in run.stderr


def test_login_checks_the_key_and_stores_it_privately_for_later_commands(cli):
    no_env = cli.env(IOFOLD_API_URL=None, IOFOLD_API_KEY=None)
    refused = cli("login", "--api-url", cli.api_url, "--api-key", "iof_wrong", env=no_env)
    login_file = cli.home / "xdg" / "iofold" / "config.json"
    assert refused.returncode == 3 and not login_file.exists()
    assert cli("traces", env=no_env).returncode == 2
    ok = cli("login", "--api-url", cli.api_url, "--api-key", cli.api_key, env=no_env)
    assert ok.returncode == 0, ok.stderr
    assert stat.S_IMODE(login_file.stat().st_mode) == 0o600
    assert json.loads(login_file.read_text()) == {"api_url": cli.api_url, "api_key": cli.api_key}
    assert cli("traces", "--json", env=no_env).returncode == 0
    # a flag still wins over the login file
    assert cli("--api-key", "iof_wrong", "traces", env=no_env).returncode == 3


def test_every_command_has_help(cli):
    from click.testing import CliRunner

    from iofold.cli import cli as group

    top = cli("--help")
    assert top.returncode == 0 and "Exit codes" in top.stdout
    runner = CliRunner()
    for name in ("login", "upload", "import", "traces", "review", "generate", "run", "matrix", "export", "jobs",
                 "schedule", "rate", "eval-sets", "eval-sets list", "eval-sets create"):
        assert name.split()[0] in top.stdout
        shown = runner.invoke(group, [*name.split(), "--help"], prog_name="iofold")
        assert shown.exit_code == 0 and f"Usage: iofold {name}" in shown.output, name
        assert "--json" in shown.output or name == "eval-sets", name


@pytest.mark.slow
def test_run_active_over_fresh_traces_as_the_ci_recipe_does(rated):
    cli = rated["cli"]
    report = cli.json("run", "--active", "--from", "2025-01-01T00:00:00Z", "--fail-under", "0")
    assert [r["eval_id"] for r in report["runs"]] == [rated["eval_id"]] and report["passed"] is True
    assert report["runs"][0]["executed"] == 30
    # no trace that new: nothing ran, and an empty run does not pass a gate silently
    empty = cli("run", "--active", "--from", "2999-01-01T00:00:00Z", "--fail-under", "0", "--json")
    assert empty.returncode == 1 and json.loads(empty.stdout)["runs"][0]["executed"] == 0


def test_run_active_with_no_active_eval_fails_the_gate_unless_empty_is_allowed(cli):
    assert cli("run", "--active", "--fail-under", "0.9").returncode == 1
    assert cli("run", "--active", "--fail-under", "0.9", "--allow-empty").returncode == 0


def test_a_file_past_the_limit_goes_through_the_presigned_url_to_storage(cli):
    import httpx

    from iofold import Client

    seen = []

    class Recording(httpx.HTTPTransport):
        def handle_request(self, request):
            seen.append((request.method, request.url.host, request.url.path))
            return super().handle_request(request)

    cases = write_demo_file(cli.home / "big.jsonl", 8, seed=12)
    with Client(cli.api_url, cli.api_key, transport=Recording(), presign_over=1024) as client:
        job = client.wait(client.upload(cli.home / "big.jsonl"), check=True)
        external = {t.source.external_id for t in client.traces()}
    assert job.result["imported"] == 8 and external == {c.trace["id"] for c in cases}
    api_path = httpx.URL(cli.api_url).path
    assert [(m, p) for m, _, p in seen[:1]] == [("POST", f"{api_path}/traces/uploads")]
    assert seen[1][0] == "PUT" and not seen[1][2].startswith(api_path)
    assert seen[2][:1] == ("POST",) and seen[2][2].endswith("/import")


@pytest.mark.slow
def test_schedule_and_import_drive_an_integration(cli):
    integration = cli.client.create_integration("langfuse", "Unreachable", "http://127.0.0.1:9/",
                                                {"public_key": "pk", "secret_key": "sk"}).id
    scheduled = cli.json("schedule", integration, "rate(1 hour)", "--run-active-evals")
    assert scheduled["schedule"]["expression"] == "rate(1 hour)" and scheduled["schedule"]["run_active_evals"] is True
    assert cli.json("schedule", integration)["schedule"]["expression"] == "rate(1 hour)"
    assert cli("schedule", integration, "--delete").returncode == 0
    assert cli.json("schedule", integration)["schedule"] is None
    assert cli("schedule", integration, "every tuesday").returncode == 3
    # nothing listens there: the import job fails, and the CLI says so with exit 3
    failed = cli("import", integration, "--limit", "5")
    assert failed.returncode == 3 and "failed" in failed.stderr
