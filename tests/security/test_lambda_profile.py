"""The simulated Lambda profile (IOFOLD_SANDBOX_PROFILE=lambda): no Landlock, no network namespace,
no uid switch, so the seccomp filter must hold alone (SECURITY.md, "The Lambda profile").

The probe runs in a child whose ctypes syscall entry points were kept before lockdown
(probes.ARMED_BOOTSTRAP, the worst case: an escape that reached ctypes) and tries the raw
syscalls Lambda's seccomp filter must refuse. Each must fail with EPERM, the filter's answer,
not some other error. A control run without seccomp shows the same calls really work.
"""

from __future__ import annotations

import json
import os
import platform
import socket
import struct

import pytest

from chalicelib.sandbox.runner import required_by, sandbox_capabilities
from tests.security.probes import run_child

EPERM = 1

RAW_PROBE = '''
def eval_raw(trace):
    sys = print.__globals__["sys"]
    real = sys.modules["builtins"]
    type = real.type
    syscall, _prctl, get_errno, _buffer = sys.modules["__main__"].ARMED
    out = {}
    sock = 0
    for name, nr, *args in trace["calls"]:
        args = [sock if arg is None else bytes.fromhex(arg[4:]) if type(arg) is str and arg.startswith("hex:")
                else arg.encode() if type(arg) is str else arg for arg in args]
        ret = syscall(nr, *args)
        out[name] = [ret, get_errno() if ret == -1 else 0]
        if name == "socket" and ret >= 0:
            sock = ret
    for name, path in (("py_open_etc_passwd", "/etc/passwd"), ("py_open_parent_mem", trace["parent_mem"])):
        try:
            real.open(path, "rb").close()
            out[name] = [0, 0]
        except OSError as error:
            out[name] = [-1, error.errno]
    os = sys.modules["os"]
    for name, action in (("py_kill_parent", lambda: os.kill(trace["parent"], 0)),
                         ("py_stat_etc_passwd", lambda: os.stat("/etc/passwd"))):
        try:
            action()
            out[name] = [0, 0]
        except OSError as error:
            out[name] = [-1, error.errno]
    return (True, sys.modules["json"].dumps(out))
'''


def _calls(parent: int, port: int, *, dangerous: bool) -> list[list]:
    """[name, x86_64 syscall number, args...]: str args go as bytes ("hex:" prefix: raw bytes), None is the
    descriptor from the probe's own socket() (fd 0 when that failed). Arguments are chosen so that,
    without seccomp, each call fails harmlessly or does nothing lasting (control run); ``dangerous`` adds
    fork/vfork, which would really fork without the filter."""
    sockaddr = "hex:" + struct.pack("<H", socket.AF_INET).hex() + struct.pack(">H", port).hex() + "7f000001" + "00" * 8
    calls = [
        ["open", 2, "/etc/passwd", 0], ["openat", 257, -100, "/etc/passwd", 0],
        ["openat_parent_mem", 257, -100, f"/proc/{parent}/mem", 0], ["openat2", 437, -100, "/etc/passwd", 0, 24],
        ["creat", 85, "/nonexistent-iofold/x", 0o600],
        ["stat", 4, "/etc/passwd", 0], ["lstat", 6, "/etc/passwd", 0], ["newfstatat", 262, -100, "/etc/passwd", 0, 0],
        ["statx", 332, -100, "/etc/passwd", 0, 0x7FF, 0], ["access", 21, "/etc/passwd", 0],
        ["faccessat", 269, -100, "/etc/passwd", 0], ["faccessat2", 439, -100, "/etc/passwd", 0, 0],
        ["readlink", 89, "/proc/self/exe", 0, 0], ["readlinkat", 267, -100, "/proc/self/exe", 0, 0],
        ["socket", 41, socket.AF_INET, socket.SOCK_STREAM, 0], ["connect", 42, None, sockaddr, 16],
        ["socketpair", 53, socket.AF_UNIX, socket.SOCK_STREAM, 0, 0],
        ["kill_parent", 62, parent, 0], ["tkill_parent", 200, parent, 0], ["tgkill_parent", 234, parent, parent, 0],
        ["ptrace_seize_parent", 101, 0x4206, parent, 0, -1], ["process_vm_readv", 310, parent, 0, 0, 0, 0, 0],
        ["process_vm_writev", 311, parent, 0, 0, 0, 0, 0], ["pidfd_open", 434, parent, 0],
        ["pidfd_send_signal", 424, -1, 0, 0, 0], ["pidfd_getfd", 438, -1, 0, 0],
        ["execve", 59, "/nonexistent-iofold", 0, 0], ["execveat", 322, -100, "/nonexistent-iofold", 0, 0, 0],
        ["clone_thread_only", 56, 0x10000, 0, 0, 0, 0], ["clone3", 435, 0, 0],
        ["memfd_create", 319, "x", 0], ["io_uring_setup", 425, 1, 0], ["io_uring_enter", 426, -1, 0, 0, 0, 0, 0],
        ["io_uring_register", 427, -1, 0, 0, 0], ["mount", 165, 0, 0, 0, 0, 0], ["unshare_user", 272, 0x10000000],
        ["setns", 308, -1, 0], ["bpf", 321, 0, 0, 0], ["perf_event_open", 298, 0, 0, -1, -1, 0],
        ["keyctl", 250, 0, 0], ["userfaultfd", 323, 0], ["seccomp_filter", 317, 1, 0, 0], ["prctl", 157, 38, 1, 0, 0, 0],
    ]
    if dangerous:
        calls += [["fork", 57], ["vfork", 58]]
    return calls


def _run(tmp_path, calls: list, *, skip: str, parent: int) -> tuple[dict, dict]:
    tmp_path.chmod(0o755)
    job = [{"code": RAW_PROBE, "entry": "eval_raw", "first": 0},
           {"id": "p", "calls": calls, "parent": parent, "parent_mem": f"/proc/{parent}/mem"}]
    required = "" if skip else ",".join(required_by("lambda"))
    code, messages = run_child(job, tmp_path, skip=skip, required=required, profile="lambda", armed=True)
    assert code == 0, messages
    assert messages[-1]["r"] == "pass", messages[-1]
    return messages[0]["locked"], json.loads(messages[-1]["reason"])


@pytest.fixture(autouse=True)
def _needs_seccomp():
    if platform.machine() != "x86_64" or not sandbox_capabilities(profile="host")["seccomp"].startswith("on"):
        pytest.skip("the lambda profile needs the x86_64 seccomp filter")


def test_lambda_profile_applies_only_what_lambda_has():
    layers = sandbox_capabilities(profile="lambda")
    assert layers["netns"] == layers["landlock"] == "unavailable (lambda profile)"
    assert layers["uid"].startswith("on (not root") or layers["uid"].startswith("unavailable (lambda profile")
    assert all(layers[name].startswith("on") for name in ("rlimits", "no_new_privs", "seccomp"))


def test_under_the_lambda_profile_seccomp_alone_refuses_files_sockets_signals_tracing_and_processes(
        tmp_path, listener):
    parent = os.getpid()  # run_child's child is this process's own

    layers, outcomes = _run(tmp_path, _calls(parent, listener.port, dangerous=True), skip="", parent=parent)

    assert layers["landlock"] == layers["netns"] == "unavailable (lambda profile)"
    assert layers["seccomp"].startswith("on")
    refused = {name: outcome for name, outcome in outcomes.items() if outcome != [-1, EPERM]}
    assert refused == {}, refused  # every call failed with the filter's EPERM
    assert listener.accepted == 0


def test_control_without_seccomp_the_same_probe_reaches_files_the_parent_and_the_network(tmp_path, listener):
    parent = os.getpid()

    layers, outcomes = _run(tmp_path, _calls(parent, listener.port, dangerous=False), skip="seccomp", parent=parent)

    assert layers["seccomp"] == "skipped"
    assert outcomes["openat"][0] >= 0 and outcomes["py_open_etc_passwd"] == [0, 0]
    assert outcomes["py_stat_etc_passwd"] == [0, 0] and outcomes["access"] == [0, 0]
    assert outcomes["socket"][0] >= 0 and outcomes["connect"] == [0, 0]
    assert outcomes["kill_parent"] == [0, 0] and outcomes["process_vm_readv"] == [0, 0]
    assert outcomes["ptrace_seize_parent"][1] != EPERM and outcomes["execve"][1] != EPERM
    assert listener.accepted == 1
