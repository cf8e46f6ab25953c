"""Each kernel layer alone holds against what it covers (SECURITY.md: "each one alone must hold").

These drive child.py directly with all other layers switched off (an argument only tests pass),
then run the escape probe, which already owns the real os/sys and (armed) ctypes' syscall.
"""

from __future__ import annotations

import os

import pytest

from chalicelib.sandbox.child import ERROR_CAP
from chalicelib.sandbox.runner import sandbox_capabilities
from tests.security.probes import ESCAPE_PROBE, run_child

ALL_LAYERS = ("netns", "rlimits", "uid", "no_new_privs", "landlock", "seccomp")


def run_probe(skip: str, trace: dict, tmp_path) -> list[dict]:
    """The escape probe's messages from a child.main run with the ``skip`` layers off, ctypes armed
    (probes.ARMED_BOOTSTRAP: the probe owns raw syscalls whatever the child drops after lockdown)."""
    _code, messages = run_child([{"code": ESCAPE_PROBE, "entry": "eval_probe", "first": 0}, trace], tmp_path,
                                skip=skip, armed=True, timeout=20)
    return messages


def run_probe_with_only(layer: str, trace: dict, tmp_path) -> dict[str, str]:
    messages = run_probe(",".join(name for name in ALL_LAYERS if name != layer), trace, tmp_path)
    assert messages[0]["locked"][layer].startswith("on"), messages[0]
    result = messages[-1]
    assert result["r"] == "pass", result
    return {line.partition(":")[0]: line.partition(":")[2] for line in result["reason"][:ERROR_CAP * 4].splitlines()}


def _available(layer: str) -> bool:
    return sandbox_capabilities()[layer].startswith("on")


@pytest.mark.parametrize("layer, must_fail", [
    ("seccomp", ("read_canary", "read_etc_passwd", "write_file", "mkdir", "fork", "posix_spawn", "setuid_root",
                 "kill_parent", "stat_etc_passwd", "lstat_etc_passwd", "readlink_proc_self_exe")),
    ("landlock", ("read_canary", "read_etc_passwd", "write_file", "mkdir", "listdir_root", "posix_spawn",
                  "import_socket", "import_subprocess")),
    ("netns", ("connect_loopback",)),
])
def test_layer_alone_stops_the_escaped_probe(layer, must_fail, canary, listener, tmp_path):
    if not _available(layer):
        pytest.skip(f"{layer} is not available on this machine")
    tmp_path.chmod(0o755)
    trace = {"id": "p", "canary_path": str(canary["file"]), "write_path": canary["write_path"], "port": listener.port}

    outcomes = run_probe_with_only(layer, trace, tmp_path)

    for name in must_fail:
        assert outcomes.get(name, "FAIL").startswith("FAIL"), (layer, name, outcomes.get(name))
    if layer == "seccomp":
        assert outcomes["raw_socket"].startswith("OK:(-1,")
    if layer in ("seccomp", "landlock"):
        assert sorted(p.name for p in canary["dir"].iterdir()) == ["canary.txt"]
    assert listener.accepted == 0
    if layer == "netns":
        assert "connect_loopback" in outcomes  # the probe did reach a socket module and tried


def test_probe_without_any_layer_does_escape(canary, listener, tmp_path):
    """Control: the probe is a real escape, so the tests above show the layer, not a dud probe."""
    if os.geteuid() != 0:
        pytest.skip("control run only as root")
    tmp_path.chmod(0o755)
    trace = {"id": "p", "canary_path": str(canary["file"]), "write_path": canary["write_path"], "port": listener.port}
    reason = run_probe(",".join(ALL_LAYERS), trace, tmp_path)[-1]["reason"]
    assert "read_canary:OK" in reason and "connect_loopback:OK" in reason and "raw_socket:OK:(" in reason
    assert listener.accepted >= 1
