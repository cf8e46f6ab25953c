"""The pre-warmed zygote (SECURITY.md layer 1): it forks the children but never reads request data,
and what it hands a child is two pipes and nothing else (the child adds its own output pipe)."""

from __future__ import annotations

import os
import re
import signal

import pytest

from chalicelib.sandbox import run_batch
from chalicelib.sandbox.runner import SandboxUnavailable, _get_zygote, _start_child

TRACE_MARKER = "zygote-must-never-see-this-trace-3f81c0"
CODE_MARKER = "zygote-must-never-see-this-code-9d27a4"

# With validation off, a probe that owns the real os (see probes.py) lists its open descriptors
# (lseek: fstat is denied after lockdown; a pipe answers ESPIPE, a closed descriptor EBADF).
FD_PROBE = '''
def eval_fds(trace):
    os = print.__globals__["sys"].modules["os"]
    open_fds = []
    for fd in range(64):
        try:
            os.lseek(fd, 0, 1)
        except OSError as error:
            if error.errno == 9:
                continue
        open_fds.append(fd)
    return (True, ",".join(str(fd) for fd in open_fds))
'''


def _memory_of(pid: int) -> bytes:
    """Every readable mapping of process ``pid`` (root only)."""
    chunks = []
    with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/mem", "rb", buffering=0) as mem:
        for line in maps:
            match = re.match(r"([0-9a-f]+)-([0-9a-f]+) (\S+)", line)
            start, end, perms = int(match[1], 16), int(match[2], 16), match[3]
            if not perms.startswith("r") or "[vvar" in line or "[vsyscall" in line:
                continue
            try:
                mem.seek(start)
                chunks.append(mem.read(end - start))
            except OSError:
                continue
    return b"".join(chunks)


def test_the_zygote_never_holds_the_code_or_the_traces_its_children_ran():
    if os.geteuid() != 0:
        pytest.skip("reading another process's memory needs root")
    code = f"def eval_x(trace):\n    return (True, {CODE_MARKER!r} + trace['secret'][:4])\n"
    [result] = run_batch(code, [{"id": "a", "secret": TRACE_MARKER}])
    assert result.result == "pass" and result.reason.startswith(CODE_MARKER)

    memory = _memory_of(_get_zygote().popen.pid)

    assert len(memory) > 1_000_000  # the read worked: an interpreter's heap is there
    assert TRACE_MARKER.encode() not in memory
    assert CODE_MARKER.encode() not in memory


def test_a_forked_child_holds_only_its_job_and_result_pipes_and_its_output_pipe():
    [result] = run_batch(FD_PROBE, [{"id": "a"}], validate=False)
    assert result.result == "pass", result
    assert result.reason == "0,1,2,3,4"  # job, output (1, 2), results, output's read end


def test_a_forked_child_leads_its_own_session_so_a_deadline_kill_takes_its_group():
    zygote = _get_zygote()
    child, _layers = _start_child("zygote", "", 6, 0.5, 50, (), ())  # returns once the child locked down
    try:
        pid = child.proc.pid
        assert os.getsid(pid) == pid and os.getpgid(pid) == pid
        assert os.getsid(pid) != os.getsid(zygote.popen.pid)
    finally:
        child.kill()
        code = child.close()
    assert code == -signal.SIGKILL


def test_the_zygote_refuses_requests_other_than_fork_and_reap_of_its_own_children():
    zygote = _get_zygote()
    with pytest.raises(SandboxUnavailable, match="could not reap"):
        zygote.reap(os.getpid())  # not its child: it must not kill or wait for it
    assert zygote._call({"op": "fork", "cpu_limit": 6}, ())["error"] == "malformed request"
    assert zygote._call({"op": "read", "path": "/etc/passwd"}, ())["error"] == "malformed request"
    assert zygote.alive()
    [result] = run_batch("def eval_x(trace):\n    return (True, 'still serving')\n", [{"id": "a"}])
    assert result.reason == "still serving"


def test_a_dead_zygote_is_replaced_on_the_next_batch():
    old = _get_zygote()
    os.kill(old.popen.pid, signal.SIGKILL)
    old.popen.wait()

    [result] = run_batch("def eval_x(trace):\n    return (True, 'ok')\n", [{"id": "a"}])

    assert result.result == "pass"
    assert _get_zygote() is not old and _get_zygote().alive()
