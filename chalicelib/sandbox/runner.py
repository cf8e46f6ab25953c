"""Run one eval over many traces in fresh locked-down child processes (SECURITY.md layers 1-3, 6).

The parent never imports or calls user code. It starts ``child.py`` as ``python -I -S -B``
with an empty environment in an empty directory, waits for the child to report the layers it
applied, checks them against the required set (fail closed: nothing is sent to a child that
is not fully locked down), then streams the job to its stdin and reads one bounded JSON line
per trace back. Each trace gets its own deadline, measured from the previous answer; past it
the child's process group is SIGKILLed, the trace is marked ``timeout`` and a fresh child
resumes with the next trace. A child that dies mid-trace marks that trace ``error`` the same
way. Normally one child serves the whole batch.

Traces may be passed already JSON-encoded (:class:`EncodedTrace`), as the sandbox Lambda
receives them; they then go to the child byte for byte, and the results can be had as plain
dicts (:func:`run_batch_dicts`) so no per-trace pydantic work happens in the parent.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Collection, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, NamedTuple

from pydantic import BaseModel, Field

from chalicelib.errors import IofoldError
from chalicelib.sandbox import child as policy
from chalicelib.sandbox.validate import validate_code

logger = logging.getLogger(__name__)

CHILD_SCRIPT = Path(policy.__file__).resolve()
# Runs child.py as an imported module, so its cached bytecode is used instead of compiling it per child.
CHILD_BOOTSTRAP = ("import sys; sys.path.insert(0, sys.argv[1]); import child; del sys.path[0]; "
                   "sys.exit(child.main(sys.argv[1:]))")
DEFAULT_TIMEOUT_S = 5.0
START_TIMEOUT_S = 20.0  # interpreter start, warm-up and lockdown; not user code
MAX_LINE_BYTES = 1024 * 1024  # a result line: 64 KiB stdout + 16 KiB reason, JSON-escaped
READ_CHUNK = 1024 * 1024
WRITE_AHEAD = 1024 * 1024
PIPE_BYTES = 1024 * 1024  # asked of the kernel for both pipes (fewer wake-ups); best effort
LAYERS_REQUIRED = ("rlimits", "uid", "no_new_privs")
LAYERS_OPTIONAL = ("netns", "landlock", "seccomp")
LAYERS_ALL = LAYERS_REQUIRED + LAYERS_OPTIONAL
REQUIRE_ENV = "IOFOLD_SANDBOX_REQUIRE"


class SandboxUnavailable(IofoldError):
    """The locked-down child could not be started or could not lock itself down; nothing ran."""


class TraceResult(BaseModel):
    """The outcome of one eval on one trace."""

    trace_id: str = Field(description="the trace's id, from the input")
    result: Literal["pass", "fail", "error", "timeout"]
    reason: str = Field(description="the eval's reason, or the error/timeout explanation")
    duration_ms: int = Field(description="wall time of the eval call (of the wait, for a timeout)")
    stdout: str = Field(default="", description="what the eval printed, capped at 64 KiB")
    stderr: str = Field(default="", description="user-code line numbers of an error's traceback")


class EncodedTrace(NamedTuple):
    """A trace already serialized as one JSON object, with its id; sent to the child as is."""

    trace_id: str
    line: bytes | str


def parse_required_layers(spec: str | None) -> frozenset[str]:
    """The optional layers named in a comma-separated spec (e.g. "seccomp,landlock"); SandboxUnavailable on an unknown name."""
    names = frozenset(part.strip() for part in (spec or "").split(",") if part.strip())
    unknown = sorted(names - set(LAYERS_ALL))
    if unknown:
        raise SandboxUnavailable(f"unknown sandbox layer(s) {', '.join(unknown)} in {REQUIRE_ENV}; "
                                 f"known: {', '.join(LAYERS_ALL)}")
    return names


def check_layers(layers: Any, required: Collection[str] = ()) -> dict[str, str]:
    """The child's reported layers when every required one is on; SandboxUnavailable otherwise."""
    if type(layers) is not dict or not all(type(k) is str and type(v) is str for k, v in layers.items()):
        raise SandboxUnavailable("sandbox child reported malformed lockdown layers")
    wanted = list(LAYERS_REQUIRED) + sorted(set(required) - set(LAYERS_REQUIRED))
    missing = [f"{name} ({layers.get(name, 'not reported')})" for name in wanted
               if not layers.get(name, "").startswith("on")]
    if missing:
        raise SandboxUnavailable(f"sandbox lockdown incomplete: {', '.join(missing)} not applied")
    return layers


def _cap(value: Any, limit: int) -> str:
    """A string from the child, re-capped and made valid UTF-8 (anything else -> '')."""
    if type(value) is not str:
        return ""
    if len(value) <= limit // 4 and value.isascii():
        return value
    return policy.cap_text(value, limit).encode("utf-8", "replace").decode("utf-8")


def _cpu_limit(timeout_s: float) -> int:
    return max(policy.CPU_LIMIT_S, int(timeout_s) + 2)


def _grow_pipe(fd: int) -> None:
    try:
        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, PIPE_BYTES)
    except OSError:  # above /proc/sys/fs/pipe-max-size or unsupported: the default size works too
        pass


class _Child:
    """One child process and the bounded line reader on its stdout."""

    def __init__(self, cwd: str, cpu_limit_s: int, cpu_budget_s: float, headroom_mb: int,
                 required: Collection[str] = (), skip: Collection[str] = ()):
        self.proc = subprocess.Popen(
            [sys.executable, "-I", "-S", "-B", "-c", CHILD_BOOTSTRAP, str(CHILD_SCRIPT.parent), str(cpu_limit_s),
             f"{cpu_budget_s:.3f}", str(headroom_mb), ",".join(sorted(skip)), ",".join(sorted(required))],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            env={}, cwd=cwd, start_new_session=True, close_fds=True)
        self.stdin_fd = self.proc.stdin.fileno()
        self.stdout_fd = self.proc.stdout.fileno()
        for fd in (self.stdin_fd, self.stdout_fd):
            _grow_pipe(fd)
            os.set_blocking(fd, False)
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.stdout_fd, selectors.EVENT_READ)
        self.writing = False
        self.buffer = bytearray()
        self.eof = False

    def start_writing(self) -> None:
        if not self.writing and not self.proc.stdin.closed:
            self.selector.register(self.stdin_fd, selectors.EVENT_WRITE)
            self.writing = True

    def stop_writing(self) -> None:
        if self.writing:
            self.selector.unregister(self.stdin_fd)
            self.writing = False
        if not self.proc.stdin.closed:
            try:
                self.proc.stdin.close()
            except BrokenPipeError:
                pass

    def kill(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def close(self) -> int:
        """Reap the child (killing it if it lingers); its return code."""
        self.stop_writing()
        try:
            code = self.proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            self.kill()
            code = self.proc.wait()
        self.selector.close()
        self.proc.stdout.close()
        return code

    def describe_exit(self) -> str:
        try:
            code = self.proc.wait(timeout=1)
        except subprocess.TimeoutExpired:
            self.kill()
            code = self.proc.wait()
        if code < 0:
            try:
                name = signal.Signals(-code).name
            except ValueError:
                name = str(-code)
            hint = {"SIGXCPU": " (CPU time limit)", "SIGKILL": "", "SIGSEGV": " (crash)"}.get(name, "")
            return f"the sandbox process was killed by {name}{hint}"
        return f"the sandbox process exited with status {code}"


def _encode(trace: dict | EncodedTrace) -> bytes:
    """One newline-free JSON line for the child."""
    if type(trace) is EncodedTrace:
        line = trace.line
        if type(line) is str:
            line = line.encode("utf-8", "surrogatepass")
        # A raw newline can only sit between JSON tokens, where a space means the same.
        return line.replace(b"\n", b" ") if b"\n" in line else line
    return json.dumps(trace, ensure_ascii=False, separators=(",", ":"), default=str).encode("utf-8", "surrogatepass")


def _trace_id(trace: dict | EncodedTrace) -> str:
    if type(trace) is EncodedTrace:
        return str(trace.trace_id)
    trace_id = trace.get("id") if isinstance(trace, dict) else None
    return str(trace_id) if trace_id is not None else ""


class _Session:
    """Feeds traces[start:] to one child and collects its answers until it ends."""

    def __init__(self, job: bytes, traces: Sequence[dict | EncodedTrace], start: int, child: _Child):
        self.job = job
        self.traces = traces
        self.next_to_send = start
        self.child = child
        self.pending = bytearray()
        self.violation = False

    def start(self) -> None:
        """Begin streaming the job and the traces (only once the child's lockdown was checked)."""
        self.pending += self.job
        self.child.start_writing()
        self._fill()

    def _fill(self) -> None:
        pending, traces = self.pending, self.traces
        while len(pending) < WRITE_AHEAD and self.next_to_send < len(traces):
            pending += _encode(traces[self.next_to_send])
            pending += b"\n"
            self.next_to_send += 1
        if not pending and self.next_to_send >= len(traces):
            self.child.stop_writing()

    def _write(self) -> None:
        try:
            written = os.write(self.child.stdin_fd, self.pending)
        except BlockingIOError:
            return
        except BrokenPipeError:
            self.pending.clear()
            self.next_to_send = len(self.traces)
            self.child.stop_writing()
            return
        del self.pending[:written]
        self._fill()

    def _read(self) -> None:
        try:
            chunk = os.read(self.child.stdout_fd, READ_CHUNK)
        except BlockingIOError:
            return
        if chunk:
            self.child.buffer += chunk
        else:
            self.child.eof = True

    def wait_message(self, deadline: float) -> dict | None:
        """The child's next message, or None on deadline, EOF or a protocol violation."""
        child = self.child
        while True:
            end = child.buffer.find(b"\n")
            if end >= 0:
                line = bytes(child.buffer[:end])
                del child.buffer[: end + 1]
                return self._parse(line)
            if len(child.buffer) > MAX_LINE_BYTES:
                self.violation = True
                return None
            if child.eof:
                return None
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            for key, _ in child.selector.select(timeout=remaining):
                if key.fd == child.stdin_fd:
                    self._write()
                else:
                    self._read()

    def _parse(self, line: bytes) -> dict | None:
        try:
            message = json.loads(line)
        except ValueError:
            message = None
        if type(message) is not dict:
            self.violation = True
            return None
        return message


def _result(trace_id: str, result: str, reason: str, duration_ms: int, stdout: str = "", stderr: str = "") -> dict:
    return {"trace_id": trace_id, "result": result, "reason": reason, "duration_ms": duration_ms,
            "stdout": stdout, "stderr": stderr}


def _start_child(workdir: str, cpu_limit_s: int, cpu_budget_s: float, headroom_mb: int,
                 required: Collection[str], skip: Collection[str]) -> tuple[_Child, dict[str, str]]:
    """A child that reported every required layer on; SandboxUnavailable (child reaped) otherwise."""
    child = _Child(workdir, cpu_limit_s, cpu_budget_s, headroom_mb, required, skip)
    try:
        message = _Session(b"", [], 0, child).wait_message(time.monotonic() + START_TIMEOUT_S)
        if message is None or "locked" not in message:
            why = message.get("lock_error") if message else None
            raise SandboxUnavailable("sandbox child did not lock down: "
                                     f"{_cap(why, policy.ERROR_CAP) or child.describe_exit()}")
        layers = check_layers(message["locked"], required)
    except SandboxUnavailable:
        child.kill()
        child.close()
        raise
    logger.debug("sandbox child %s locked down: %s", child.proc.pid, layers)
    return child, layers


def _run_session(code: str, entry: str | None, traces: Sequence[dict | EncodedTrace], ids: list[str], start: int,
                 timeout_s: float, results: list[dict], workdir: str, headroom_mb: int,
                 required: Collection[str], skip: Collection[str]) -> int:
    """Run traces[start:] in one child, appending results; the index to resume from."""
    cpu_limit = _cpu_limit(timeout_s)
    child, _ = _start_child(workdir, cpu_limit, max(0.2, cpu_limit - timeout_s - 0.5), headroom_mb, required, skip)
    job = json.dumps({"code": code, "entry": entry, "first": start}).encode() + b"\n"
    session = _Session(job, traces, start, child)
    try:
        session.start()  # nothing reaches the child before its lockdown was checked
        started = time.monotonic()
        message = session.wait_message(started + timeout_s)
        if message is None or "ready" not in message:
            elapsed = int((time.monotonic() - started) * 1000)
            if message is not None and "setup_error" in message:
                result, reason = "error", f"module code failed: {_cap(message['setup_error'], policy.ERROR_CAP)}"
            elif message is None and not child.eof:
                result, reason = "timeout", f"module-level code exceeded the {timeout_s:g} s limit"
            else:
                result, reason = "error", f"module code failed: {child.describe_exit()}"
            child.kill()
            results.extend(_result(trace_id, result, reason, elapsed) for trace_id in ids[start:])
            return len(traces)

        index = start
        total = len(traces)
        append = results.append
        wait = session.wait_message
        while index < total:
            started = time.monotonic()
            message = wait(started + timeout_s)
            if message is None:
                elapsed = int((time.monotonic() - started) * 1000)
                if session.violation:
                    child.kill()
                    append(_result(ids[index], "error", "sandbox protocol violation", elapsed))
                elif child.eof:
                    append(_result(ids[index], "error", child.describe_exit(), elapsed))
                else:
                    child.kill()
                    append(_result(ids[index], "timeout", f"exceeded the {timeout_s:g} s time limit", elapsed))
                return index + 1
            if message.get("recycle") is True:
                return index
            parsed = _parse_result(message, index, ids[index])
            if parsed is None:
                child.kill()
                append(_result(ids[index], "error", "sandbox protocol violation",
                               int((time.monotonic() - started) * 1000)))
                return index + 1
            append(parsed)
            index += 1
        return index
    finally:
        child.close()


def _parse_result(message: dict, index: int, trace_id: str) -> dict | None:
    """A result dict from the child's message for trace ``index``, or None when it breaks the protocol."""
    result = message.get("r")
    ms = message.get("ms")
    i = message.get("i")
    if type(i) is not int or i != index or result not in ("pass", "fail", "error") or type(ms) is not int:
        return None
    reason_cap = policy.ERROR_CAP if result == "error" else policy.REASON_CAP
    return {"trace_id": trace_id, "result": result, "reason": _cap(message.get("reason"), reason_cap),
            "duration_ms": max(0, ms), "stdout": _cap(message.get("stdout"), policy.STDOUT_CAP),
            "stderr": _cap(message.get("stderr"), policy.ERROR_CAP)}


def run_batch_dicts(code: str, traces: Sequence[dict | EncodedTrace], *, validate: bool = True,
                    timeout_s: float = DEFAULT_TIMEOUT_S, memory_headroom_mb: int = policy.MEMORY_HEADROOM_MB,
                    require: Collection[str] = (), skip_layers: Collection[str] = ()) -> list[dict]:
    """Like :func:`run_batch`, but each result as a plain dict with TraceResult's fields (no pydantic per trace)."""
    unknown = sorted(set(require) - set(LAYERS_ALL))
    if unknown:
        raise SandboxUnavailable(f"unknown sandbox layer(s) required: {', '.join(unknown)}")
    entry = validate_code(code) if validate else None
    results: list[dict] = []
    if not traces:
        return results
    ids = [_trace_id(trace) for trace in traces]
    workdir = tempfile.mkdtemp(prefix="iofold-sandbox-")
    try:
        index = 0
        while index < len(traces):
            index = _run_session(code, entry, traces, ids, index, timeout_s, results, workdir, memory_headroom_mb,
                                 frozenset(require), frozenset(skip_layers))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return results


def run_batch(code: str, traces: Sequence[dict | EncodedTrace], *, validate: bool = True,
              timeout_s: float = DEFAULT_TIMEOUT_S, memory_headroom_mb: int = policy.MEMORY_HEADROOM_MB,
              require: Collection[str] = (), skip_layers: Collection[str] = ()) -> list[TraceResult]:
    """Run one eval over traces (unified trace dicts with "id", or EncodedTrace) in fresh locked-down children; one result per trace, in order.

    ``require`` names optional layers (netns, landlock, seccomp) that must be on, else
    SandboxUnavailable and nothing runs. ``skip_layers`` exists only so tests can switch a
    layer off to show the fail-closed check; production callers never pass it.
    """
    dicts = run_batch_dicts(code, traces, validate=validate, timeout_s=timeout_s,
                            memory_headroom_mb=memory_headroom_mb, require=require, skip_layers=skip_layers)
    return [TraceResult.model_construct(**result) for result in dicts]


@lru_cache(maxsize=1)
def sandbox_capabilities() -> dict[str, str]:
    """The isolation layers a child applies on this machine: layer -> 'on (...)' or 'unavailable (...)'."""
    workdir = tempfile.mkdtemp(prefix="iofold-sandbox-")
    try:
        child, layers = _start_child(workdir, policy.CPU_LIMIT_S, 0.5, policy.MEMORY_HEADROOM_MB, (), ())
        child.close()
        return layers
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
