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
3. The result channel was the child's fd 1, and library code writes there: ``re.compile(p,
   re.DEBUG)`` prints the parse tree to ``sys.stdout``, which broke the line protocol (the trace
   became a "protocol violation"); an escaped eval could write a well-formed fake result line.
   Results now travel on fd 3; fds 1 and 2 and ``sys.stdout``/``sys.stderr`` are captured output.
4. ``stat`` and friends were allowed (seccomp allowed newfstatat for glibc's fstat; Landlock does
   not cover stat), so an escaped eval could probe the filesystem; and ``_ctypes`` and
   ``ctypes._endian`` (with dlopen, CDLL's bases) stayed reachable through the garbage collector.

Every test here runs under both profiles (host, and the simulated Lambda one: seccomp alone).
"""

from __future__ import annotations

import os

import pytest

from chalicelib.errors import CodeRejected
from chalicelib.sandbox import run_batch, validate_code
from tests.security.conftest import CANARY_FILE_TEXT, CANARY_SECRET
from tests.security.probes import ESCAPE_PROBE

MUST_FAIL = ("read_canary", "read_proc_parent_environ", "read_etc_passwd", "listdir_root", "write_file",
             "mkdir", "fork", "posix_spawn", "setuid_root", "kill_parent", "import_socket", "import_subprocess",
             "stat_etc_passwd", "lstat_etc_passwd", "readlink_proc_self_exe", "import_ctypes", "child_libc")
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


@pytest.mark.usefixtures("sandbox_profile")
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
    assert outcomes["access_etc_passwd"] == "OK:False"
    assert outcomes["ctypes_modules"] == ""  # no ctypes module with anything left in it
    assert outcomes["ctypes"] == "ABSENT"
    if os.geteuid() == 0 and os.environ["IOFOLD_SANDBOX_PROFILE"] == "host":
        assert outcomes["getuid"] == "OK:(65534, 65534)"
    assert CANARY_SECRET not in result.reason and CANARY_FILE_TEXT not in result.reason
    assert outcomes["system"] != "OK:0"
    assert sorted(p.name for p in canary["dir"].iterdir()) == ["canary.txt"]
    assert listener.accepted == 0


@pytest.mark.usefixtures("sandbox_profile")
def test_patching_json_classes_cannot_forge_later_results():
    code = ("import json\n"
            "def eval_x(trace):\n"
            "    json.JSONEncoder.encode = lambda self, o: '{\"i\": 1, \"r\": \"pass\", \"reason\": \"forged\"}'\n"
            "    json.JSONDecoder.decode = lambda self, s: {'id': 'forged', 'n': 0}\n"
            "    return (trace['n'] > 0, str(trace['n']))\n")
    results = run_batch(code, [{"id": "a", "n": 1}, {"id": "b", "n": 2}, {"id": "c", "n": 3}])
    assert [(r.trace_id, r.result, r.reason) for r in results] == [
        ("a", "pass", "1"), ("b", "pass", "2"), ("c", "pass", "3")]


FAKE_RESULT = '{"i": 0, "r": "pass", "reason": "forged", "stdout": "", "stderr": "", "ms": 0}'
# Validated code: print() and re.DEBUG (the real re prints the parse tree to sys.stdout).
LIBRARY_OUTPUT = f'''
import re

FAKE = {FAKE_RESULT!r}

def eval_x(trace):
    print(FAKE)
    re.compile(FAKE * 3, re.DEBUG)  # over 8 KiB: more than a buffered sys.stdout holds back
    return (False, "real " + trace["id"])
'''
# Escaped code (validation off) writing well-formed fake result lines for this very trace to the
# raw fds 1 and 2 and through sys.stdout/sys.stderr.
RAW_OUTPUT = '''
def eval_x(trace):
    sys = print.__globals__["sys"]
    os = sys.modules["os"]
    fake = '{"i": %d, "r": "pass", "reason": "forged", "stdout": "", "stderr": "", "ms": 0}\\n' % trace["i"]
    os.write(1, fake.encode())
    os.write(2, fake.encode())
    sys.stdout.write(fake)
    sys.stderr.write(fake)
    sys.__stdout__.write(fake)
    sys.__stdout__.flush()
    return (False, "real " + trace["id"])
'''


@pytest.mark.usefixtures("sandbox_profile")
@pytest.mark.parametrize("spawn", ["zygote", "fresh"])
def test_library_output_on_stdout_cannot_forge_or_corrupt_a_result(spawn):
    validate_code(LIBRARY_OUTPUT)

    results = run_batch(LIBRARY_OUTPUT, [{"id": "a"}, {"id": "b"}, {"id": "c"}], spawn=spawn)

    assert [(r.trace_id, r.result, r.reason) for r in results] == [
        ("a", "fail", "real a"), ("b", "fail", "real b"), ("c", "fail", "real c")]
    for result in results:
        assert result.stdout.startswith(FAKE_RESULT + "\n")  # print, then the parse tree, captured in order
        assert "LITERAL 123" in result.stdout  # '{' from re.DEBUG: it ran, and its output is this trace's


@pytest.mark.usefixtures("sandbox_profile")
@pytest.mark.parametrize("spawn", ["zygote", "fresh"])
def test_raw_writes_to_fds_1_and_2_are_captured_output_not_results(spawn):
    traces = [{"id": "a", "i": 0}, {"id": "b", "i": 1}, {"id": "c", "i": 2}]

    results = run_batch(RAW_OUTPUT, traces, validate=False, spawn=spawn)

    assert [(r.trace_id, r.result, r.reason) for r in results] == [
        ("a", "fail", "real a"), ("b", "fail", "real b"), ("c", "fail", "real c")]
    for trace, result in zip(traces, results):
        fake = FAKE_RESULT.replace('"i": 0', f'"i": {trace["i"]}') + "\n"
        assert result.stdout.count(fake) == 5, result.stdout  # every write landed in the trace's own output
