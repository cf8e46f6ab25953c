"""Fail closed: layers named as required (IOFOLD_SANDBOX_REQUIRE, seccomp in Lambda) must be on, or nothing runs."""

from __future__ import annotations

import pytest

from chalicelib.sandbox import SandboxUnavailable, check_layers, parse_required_layers, sandbox_capabilities
from chalicelib.sandbox.runner import required_by
from chalicelib.sandbox.tasks import required_layers, run_sandbox
from tests.security.probes import run_child

ON = {"netns": "on", "rlimits": "on (AS 90 MB, CPU 6 s)", "uid": "on (nobody 65534)", "no_new_privs": "on",
      "landlock": "on (ABI 4)", "seccomp": "on (37 syscalls allowed, others EPERM)"}
CODE = "def eval_x(trace):\n    return (True, trace['id'])\n"


def test_required_layers_come_from_the_env_and_default_to_seccomp_in_lambda():
    assert required_layers({}) == frozenset()
    assert required_layers({"IOFOLD_SANDBOX_REQUIRE": "seccomp, landlock,netns"}) == {"seccomp", "landlock", "netns"}
    assert required_layers({"AWS_LAMBDA_FUNCTION_NAME": "iofold-sandbox"}) == {"seccomp"}
    assert required_layers({"AWS_LAMBDA_FUNCTION_NAME": "f", "IOFOLD_SANDBOX_REQUIRE": "landlock"}) == {"landlock"}


def test_an_unknown_layer_name_is_refused_rather_than_ignored():
    with pytest.raises(SandboxUnavailable, match="seccmop"):
        parse_required_layers("seccmop")
    with pytest.raises(SandboxUnavailable, match="seccmop"):
        run_sandbox({"code": CODE, "traces": [{"id": "a"}]}, env={"IOFOLD_SANDBOX_REQUIRE": "seccmop"})


@pytest.mark.parametrize("layer", ["seccomp", "landlock", "netns"])
def test_check_layers_raises_when_a_required_layer_is_unavailable(layer):
    layers = {**ON, layer: "unavailable (EPERM)"}
    assert check_layers(layers) == layers
    with pytest.raises(SandboxUnavailable, match=rf"{layer} \(unavailable \(EPERM\)\) not applied"):
        check_layers(layers, {layer})


def test_check_layers_always_requires_rlimits_uid_and_no_new_privs():
    with pytest.raises(SandboxUnavailable, match="no_new_privs"):
        check_layers({**ON, "no_new_privs": "skipped"})
    with pytest.raises(SandboxUnavailable, match="uid"):
        check_layers({k: v for k, v in ON.items() if k != "uid"})


@pytest.mark.parametrize("profile, skip", [("host", "seccomp"), ("lambda", "seccomp"), ("lambda", "no_new_privs")])
def test_child_itself_aborts_before_reading_anything_when_a_required_layer_is_off(profile, skip, tmp_path):
    job = [{"code": "def eval_x(trace):\n    print('ran')\n    return (True, 'ran')\n", "entry": "eval_x", "first": 0},
           {"id": "a"}]
    code, messages = run_child(job, tmp_path, skip=skip, required=",".join(required_by(profile, {"seccomp"})),
                               profile=profile)
    assert code == 70
    assert len(messages) == 1 and f"{skip} (skipped)" in messages[0]["lock_error"]
    assert messages[0]["layers"][skip] == "skipped"


def test_lambda_task_runs_when_every_available_layer_is_required():
    available = [name for name in ("seccomp", "landlock", "netns") if sandbox_capabilities()[name].startswith("on")]
    if not available:
        pytest.skip("no optional layer is available on this machine")
    out = run_sandbox({"code": CODE, "traces": [{"id": "a"}]}, env={"IOFOLD_SANDBOX_REQUIRE": ",".join(available)})
    assert [(r["trace_id"], r["result"]) for r in out["results"]] == [("a", "pass")]
