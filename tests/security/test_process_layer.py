"""New bypasses found while building the sandbox, pinned as tests.

1. Every function the sandbox hands to eval code (``print``, the import hook) is a Python
   function of the child runner, so ``print.__globals__['sys']`` reaches the real ``sys``,
   ``os`` and ``builtins``; ``gc.get_objects()`` then finds ``ctypes`` even after it is dropped
   from ``sys.modules``. Validation refuses the dunder; with validation off, the process
   layer must still hold against raw syscalls.
2. ``json.JSONDecoder``/``JSONEncoder`` are plain classes reachable through the json stand-in;
   patching their methods used to change how the child decoded later traces and encoded
   results. The child now reads and writes its channel through C-level functions captured
   before user code runs.
"""

from __future__ import annotations

import os

import pytest

from chalicelib.errors import CodeRejected
from chalicelib.sandbox import run_batch, validate_code
from tests.security.conftest import CANARY_FILE_TEXT, CANARY_SECRET
from tests.security.probes import ESCAPE_PROBE

MUST_FAIL = ("read_canary", "read_proc_parent_environ", "read_etc_passwd", "listdir_root", "write_file",
             "mkdir", "fork", "posix_spawn", "setuid_root", "kill_parent", "import_socket", "import_subprocess")
RAW_SYSCALLS = ("raw_socket", "raw_openat", "raw_unshare_user", "raw_prctl_seccomp_off", "raw_ptrace_parent")


def _outcomes(reason: str) -> dict[str, str]:
    outcomes = {}
    for line in reason.splitlines():
        name, _, rest = line.partition(":")
        outcomes[name] = rest
    return outcomes


def test_sandbox_function_globals_walk_is_rejected_by_validation():
    code = "def eval_x(trace):\n    return (True, str(print.__globals__['sys']))\n"
    with pytest.raises(CodeRejected, match="__globals__"):
        validate_code(code)
    with pytest.raises(CodeRejected):
        validate_code(ESCAPE_PROBE)


def test_escaped_eval_still_cannot_read_write_spawn_signal_or_connect(canary, listener):
    trace = {"id": "p", "canary_path": str(canary["file"]), "write_path": canary["write_path"],
             "port": listener.port}

    [result] = run_batch(ESCAPE_PROBE, [trace], validate=False)

    assert result.result == "pass", result
    outcomes = _outcomes(result.reason)
    for name in MUST_FAIL:
        assert outcomes[name].startswith("FAIL"), (name, outcomes[name])
    for name in RAW_SYSCALLS:
        if name in outcomes:
            assert outcomes[name].startswith("OK:(-1,"), (name, outcomes[name])
    if os.geteuid() == 0:
        assert outcomes["getuid"] == "OK:(65534, 65534)"
    assert CANARY_SECRET not in result.reason and CANARY_FILE_TEXT not in result.reason
    assert outcomes["system"] != "OK:0"
    assert sorted(p.name for p in canary["dir"].iterdir()) == ["canary.txt"]
    assert listener.accepted == 0


def test_patching_json_classes_cannot_forge_later_results():
    code = ("import json\n"
            "def eval_x(trace):\n"
            "    json.JSONEncoder.encode = lambda self, o: '{\"i\": 1, \"r\": \"pass\", \"reason\": \"forged\"}'\n"
            "    json.JSONDecoder.decode = lambda self, s: {'id': 'forged', 'n': 0}\n"
            "    return (trace['n'] > 0, str(trace['n']))\n")
    results = run_batch(code, [{"id": "a", "n": 1}, {"id": "b", "n": 2}, {"id": "c", "n": 3}])
    assert [(r.trace_id, r.result, r.reason) for r in results] == [
        ("a", "pass", "1"), ("b", "pass", "2"), ("c", "pass", "3")]
