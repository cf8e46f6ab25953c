"""Run one eval over many traces in fresh locked-down child processes (SECURITY.md layers 1-3, 6).

The parent never imports or calls user code. It starts ``child.py`` as ``python -I -S -B``
with an empty environment in an empty directory, streams the job to its stdin and reads
one bounded JSON line per trace back. Each trace gets its own deadline, measured from the
previous answer; past it the child's process group is SIGKILLed, the trace is marked
``timeout`` and a fresh child resumes with the next trace. A child that dies mid-trace
marks that trace ``error`` the same way. Normally one child serves the whole batch.
"""

from __future__ import annotations

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
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from chalicelib.errors import IofoldError
from chalicelib.sandbox import child as policy
from chalicelib.sandbox.validate import validate_code

logger = logging.getLogger(__name__)

CHILD_SCRIPT = Path(policy.__file__).resolve()
DEFAULT_TIMEOUT_S = 5.0
START_TIMEOUT_S = 20.0  # interpreter start, warm-up and lockdown; not user code
MAX_LINE_BYTES = 1024 * 1024  # a result line: 64 KiB stdout + 16 KiB reason, JSON-escaped
READ_CHUNK = 256 * 1024
WRITE_AHEAD = 512 * 1024
LAYERS_REQUIRED = ("rlimits", "uid", "no_new_privs")
LAYERS_OPTIONAL = ("netns", "landlock", "seccomp")


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


def _cap(value: Any, limit: int) -> str:
    """A string from the child, re-capped and made valid UTF-8 (anything else -> '')."""
    if type(value) is not str:
        return ""
    return policy.cap_text(value, limit).encode("utf-8", "replace").decode("utf-8")


def _cpu_limit(timeout_s: float) -> int:
    return max(policy.CPU_LIMIT_S, int(timeout_s) + 2)


class _Child:
    """One child process and the bounded line reader on its stdout."""

    def __init__(self, cwd: str, cpu_limit_s: int, cpu_budget_s: float, headroom_mb: int):
        self.proc = subprocess.Popen(
            [sys.executable, "-I", "-S", "-B", str(CHILD_SCRIPT), str(cpu_limit_s),
             f"{cpu_budget_s:.3f}", str(headroom_mb)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            env={}, cwd=cwd, start_new_session=True, close_fds=True)
        self.stdin_fd = self.proc.stdin.fileno()
        self.stdout_fd = self.proc.stdout.fileno()
        os.set_blocking(self.stdin_fd, False)
        os.set_blocking(self.stdout_fd, False)
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.stdout_fd, selectors.EVENT_READ)
        self.writing = True
        self.selector.register(self.stdin_fd, selectors.EVENT_WRITE)
        self.buffer = bytearray()
        self.eof = False

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


class _Session:
    """Feeds traces[start:] to one child and collects its answers until it ends."""

    def __init__(self, job: bytes, traces: list[dict], start: int, timeout_s: float, child: _Child):
        self.job = job
        self.traces = traces
        self.next_to_send = start
        self.current = start
        self.timeout_s = timeout_s
        self.child = child
        self.pending = bytearray(job)
        self.violation = False

    def _fill(self) -> None:
        while len(self.pending) < WRITE_AHEAD and self.next_to_send < len(self.traces):
            line = json.dumps(self.traces[self.next_to_send], ensure_ascii=False,
                              separators=(",", ":"), default=str)
            self.pending += line.encode("utf-8", "surrogatepass") + b"\n"
            self.next_to_send += 1
        if not self.pending and self.next_to_send >= len(self.traces):
            self.child.stop_writing()

    def _write(self) -> None:
        try:
            written = os.write(self.child.stdin_fd, self.pending[:65536])
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

    def start(self) -> None:
        self._fill()


def _result(trace: dict, result: str, reason: str, duration_ms: int, stdout: str = "", stderr: str = "") -> TraceResult:
    trace_id = trace.get("id") if isinstance(trace, dict) else None
    return TraceResult(trace_id=str(trace_id) if trace_id is not None else "", result=result,
                       reason=reason, duration_ms=duration_ms, stdout=stdout, stderr=stderr)


def _check_layers(layers: Any) -> dict[str, str]:
    if type(layers) is not dict or not all(type(k) is str and type(v) is str for k, v in layers.items()):
        raise SandboxUnavailable("sandbox child reported malformed lockdown layers")
    missing = [name for name in LAYERS_REQUIRED if not layers.get(name, "").startswith("on")]
    if missing:
        raise SandboxUnavailable(f"sandbox lockdown incomplete: {', '.join(missing)} not applied")
    return layers


def _run_session(code: str, entry: str | None, traces: list[dict], start: int, timeout_s: float,
                 results: list[TraceResult], workdir: str, headroom_mb: int) -> int:
    """Run traces[start:] in one child, appending results; the index to resume from."""
    cpu_limit = _cpu_limit(timeout_s)
    child = _Child(workdir, cpu_limit, max(0.2, cpu_limit - timeout_s - 0.5), headroom_mb)
    job = json.dumps({"code": code, "entry": entry, "first": start}).encode() + b"\n"
    session = _Session(job, traces, start, timeout_s, child)
    try:
        session.start()
        message = session.wait_message(time.monotonic() + START_TIMEOUT_S)
        if message is None or "locked" not in message:
            why = message.get("lock_error") if message else None
            raise SandboxUnavailable(f"sandbox child did not lock down: {_cap(why, policy.ERROR_CAP) or child.describe_exit()}")
        layers = _check_layers(message["locked"])
        logger.debug("sandbox child %s locked down: %s", child.proc.pid, layers)

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
            results.extend(_result(t, result, reason, elapsed) for t in traces[start:])
            return len(traces)

        index = start
        while index < len(traces):
            started = time.monotonic()
            message = session.wait_message(started + timeout_s)
            elapsed = int((time.monotonic() - started) * 1000)
            if message is None:
                if session.violation:
                    child.kill()
                    results.append(_result(traces[index], "error", "sandbox protocol violation", elapsed))
                elif child.eof:
                    reason = child.describe_exit()
                    results.append(_result(traces[index], "error", reason, elapsed))
                else:
                    child.kill()
                    results.append(_result(traces[index], "timeout",
                                           f"exceeded the {timeout_s:g} s time limit", elapsed))
                return index + 1
            if message.get("recycle") is True:
                return index
            parsed = _parse_result(message, index)
            if parsed is None:
                child.kill()
                results.append(_result(traces[index], "error", "sandbox protocol violation", elapsed))
                return index + 1
            result, reason, stdout, stderr, ms = parsed
            results.append(_result(traces[index], result, reason, ms, stdout, stderr))
            index += 1
        return index
    finally:
        child.close()


def _parse_result(message: dict, index: int) -> tuple[str, str, str, str, int] | None:
    result = message.get("r")
    ms = message.get("ms")
    if message.get("i") != index or type(message.get("i")) is not int or result not in ("pass", "fail", "error") \
            or type(ms) is not int:
        return None
    reason_cap = policy.ERROR_CAP if result == "error" else policy.REASON_CAP
    return (result, _cap(message.get("reason"), reason_cap), _cap(message.get("stdout"), policy.STDOUT_CAP),
            _cap(message.get("stderr"), policy.ERROR_CAP), max(0, ms))


def run_batch(code: str, traces: list[dict], *, validate: bool = True, timeout_s: float = DEFAULT_TIMEOUT_S,
              memory_headroom_mb: int = policy.MEMORY_HEADROOM_MB) -> list[TraceResult]:
    """Run one eval over traces (each a unified trace dict with "id") in fresh locked-down child processes; one result per trace, in order."""
    entry = validate_code(code) if validate else None
    results: list[TraceResult] = []
    if not traces:
        return results
    workdir = tempfile.mkdtemp(prefix="iofold-sandbox-")
    try:
        index = 0
        while index < len(traces):
            index = _run_session(code, entry, traces, index, timeout_s, results, workdir, memory_headroom_mb)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return results


@lru_cache(maxsize=1)
def sandbox_capabilities() -> dict[str, str]:
    """The isolation layers a child applies on this machine: layer -> 'on (...)' or 'unavailable (...)'."""
    workdir = tempfile.mkdtemp(prefix="iofold-sandbox-")
    child = _Child(workdir, policy.CPU_LIMIT_S, 0.5, policy.MEMORY_HEADROOM_MB)
    try:
        session = _Session(b"", [], 0, DEFAULT_TIMEOUT_S, child)
        child.stop_writing()
        message = session.wait_message(time.monotonic() + START_TIMEOUT_S)
        if message is None or "locked" not in message:
            why = message.get("lock_error") if message else None
            raise SandboxUnavailable(f"sandbox child did not lock down: {_cap(why, policy.ERROR_CAP) or child.describe_exit()}")
        return _check_layers(message["locked"])
    finally:
        child.close()
        shutil.rmtree(workdir, ignore_errors=True)
