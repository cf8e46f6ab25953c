"""The sandbox Lambda task: profile from its environment, the capability probe event, scratch wiping."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from chalicelib.errors import ValidationError
from chalicelib.sandbox import SandboxUnavailable, check_layers, sandbox_capabilities
from chalicelib.sandbox.runner import LAYERS_ALL, probe_layers, zygote_workdir
from chalicelib.sandbox.tasks import run_sandbox, wipe_scratch

LAMBDA_ENV = {"IOFOLD_SANDBOX_PROFILE": "lambda", "IOFOLD_SANDBOX_REQUIRE": "seccomp"}
CODE = "def eval_x(trace):\n    return (True, trace['id'])\n"


def _seccomp() -> bool:
    return sandbox_capabilities(profile="host")["seccomp"].startswith("on")


def test_the_lambda_profile_requires_seccomp_but_not_the_uid_switch():
    layers = {"netns": "unavailable (lambda profile)", "rlimits": "on (AS 90 MB, CPU 6 s)",
              "uid": "unavailable (lambda profile: no uid switch, running as root)", "no_new_privs": "on",
              "landlock": "unavailable (lambda profile)", "seccomp": "on (35 syscalls allowed, others EPERM)"}
    assert check_layers(layers, (), "lambda") == layers
    with pytest.raises(SandboxUnavailable, match="uid"):
        check_layers(layers, (), "host")
    with pytest.raises(SandboxUnavailable, match=r"seccomp \(unavailable"):
        check_layers({**layers, "seccomp": "unavailable (no syscall table)"}, (), "lambda")


def test_probe_event_answers_the_layers_a_real_child_applied_under_the_env_profile():
    if not _seccomp():
        pytest.skip("seccomp is not available on this machine")

    answer = run_sandbox({"action": "probe"}, env=LAMBDA_ENV)

    assert set(answer) == {"action", "profile", "spawn", "required", "details", "layers", "ok"}
    assert (answer["action"], answer["profile"], answer["spawn"], answer["ok"]) == ("probe", "lambda", "zygote", True)
    assert answer["required"] == ["rlimits", "no_new_privs", "seccomp"]
    assert set(answer["layers"]) == set(LAYERS_ALL) == set(answer["details"])
    assert answer["layers"]["seccomp"] is True and answer["details"]["seccomp"].startswith("on (")
    assert answer["layers"]["landlock"] is False and answer["layers"]["netns"] is False
    assert answer["details"]["landlock"] == "unavailable (lambda profile)"


def test_probe_reports_not_ok_and_why_when_a_required_layer_is_off():
    report = probe_layers("fresh", "lambda", {"seccomp"}, skip_layers={"seccomp"})
    assert report["ok"] is False
    assert report["layers"]["seccomp"] is False and report["details"]["seccomp"] == "skipped"
    assert "seccomp (skipped)" in report["error"]


def test_a_normal_event_runs_under_the_env_profile_and_fails_closed_without_seccomp():
    if not _seccomp():
        with pytest.raises(SandboxUnavailable, match="seccomp"):
            run_sandbox({"code": CODE, "traces": [{"id": "a"}]}, env=LAMBDA_ENV)
        return
    out = run_sandbox({"code": CODE, "traces": [{"id": "a"}, {"id": "b"}]}, env=LAMBDA_ENV)
    assert [(r["trace_id"], r["result"], r["reason"]) for r in out["results"]] == [
        ("a", "pass", "a"), ("b", "pass", "b")]


@pytest.mark.parametrize("event", [{"action": "run"}, {"action": "probe", "code": CODE}])
def test_any_other_action_is_refused(event):
    with pytest.raises(ValidationError, match="probe"):
        run_sandbox(event, env={})


def test_an_unknown_profile_is_refused_rather_than_ignored():
    with pytest.raises(SandboxUnavailable, match="lamda"):
        run_sandbox({"code": CODE, "traces": [{"id": "a"}]}, env={"IOFOLD_SANDBOX_PROFILE": "lamda"})


def test_each_invocation_empties_the_zygote_directory_children_start_in():
    run_sandbox({"code": CODE, "traces": [{"id": "a"}]}, env={})
    workdir = Path(zygote_workdir())
    (workdir / "left-behind").write_text("x")
    (workdir / "dir").mkdir()

    run_sandbox({"code": CODE, "traces": [{"id": "b"}]}, env={})

    assert workdir.is_dir() and list(workdir.iterdir()) == []


def test_in_lambda_the_whole_temp_directory_is_wiped_but_the_zygote_keeps_its_directory(tmp_path, monkeypatch):
    zygote_dir = tmp_path / "iofold-zygote-x"
    zygote_dir.mkdir()
    (zygote_dir / "left-behind").write_text("x")
    (tmp_path / "file").write_text("x")
    (tmp_path / "dir").mkdir()
    (tmp_path / "dir" / "nested").write_text("y")
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr("chalicelib.sandbox.tasks.zygote_workdir", lambda: str(zygote_dir))

    wipe_scratch({})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dir", "file", "iofold-zygote-x"]  # elsewhere /tmp is shared
    wipe_scratch({"AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9001"})

    assert [p.name for p in tmp_path.iterdir()] == ["iofold-zygote-x"]
    assert list(zygote_dir.iterdir()) == []
