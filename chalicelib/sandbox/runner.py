"""Run one eval over many traces in new locked-down child processes (SECURITY.md layers 1-3, 6).

The parent never imports or calls user code. Children come from a pre-warmed zygote
(``child.zygote_main``: started as ``python -I -S -B`` with an empty environment in an empty
directory, it imports and warms the allowed modules once and then only forks, on requests that
carry limits, layer names and two pipe descriptors, never code or traces); with
``IOFOLD_SANDBOX_SPAWN=fresh`` each child is a new interpreter started the same way. Either way
the child locks itself down and reports the layers it applied; the parent checks them against
the required set (fail closed: nothing is sent to a child that is not fully locked down), then
streams the job to the child's stdin and reads one bounded JSON line per trace back from the
result pipe, the child's fd 3 (its fds 1 and 2 are captured output, never the channel).
``IOFOLD_SANDBOX_PROFILE`` (``host`` | ``lambda``, see child.py) says which layers the child
attempts and which must be on. Each trace gets its own deadline, measured from the previous
answer; past it the child's process group is SIGKILLed, the trace is marked ``timeout`` and a
new child resumes with the next trace. A child that dies mid-trace marks that trace ``error``
the same way. Normally one child serves the whole batch.

Traces may be passed already JSON-encoded (:class:`EncodedTrace`), as the sandbox Lambda
receives them; they then go to the child byte for byte, and the results can be had as plain
dicts (:func:`run_batch_dicts`) so no per-trace pydantic work happens in the parent.
"""

from __future__ import annotations

import atexit
import fcntl
import json
import logging
import os
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Collection, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, NamedTuple

from pydantic import BaseModel, Field

from chalicelib.errors import IofoldError
from chalicelib.sandbox import child as policy
from chalicelib.sandbox import limits
from chalicelib.sandbox.validate import validate_code

logger = logging.getLogger(__name__)

CHILD_SCRIPT = Path(policy.__file__).resolve()
# Runs child.py as an imported module, so its cached bytecode is used instead of compiling it per child.
CHILD_BOOTSTRAP = ("import sys; sys.path.insert(0, sys.argv[1]); import child; del sys.path[0]; "
                   "sys.exit(child.main(sys.argv[1:]))")
ZYGOTE_BOOTSTRAP = CHILD_BOOTSTRAP.replace("child.main(", "child.zygote_main(")
DEFAULT_TIMEOUT_S = limits.TRACE_TIMEOUT_S
START_TIMEOUT_S = 20.0  # interpreter start, warm-up and lockdown; not user code
MAX_LINE_BYTES = 1024 * 1024  # a result line: 64 KiB stdout + 16 KiB reason, JSON-escaped
READ_CHUNK = 1024 * 1024
WRITE_AHEAD = 1024 * 1024
STREAMING_LINES = 8  # a read that brought this many results ...
COALESCE_S = 0.001  # ... is followed by this pause before waiting again (fewer wake-ups per result)
PIPE_BYTES = 1024 * 1024  # asked of the kernel for both pipes (fewer wake-ups); best effort
LAYERS_REQUIRED = tuple(policy.PROFILES["host"]["required"])  # always, in the default profile
LAYERS_OPTIONAL = ("netns", "landlock", "seccomp")
LAYERS_ALL = ("rlimits", "uid", "no_new_privs") + LAYERS_OPTIONAL
REQUIRE_ENV = "IOFOLD_SANDBOX_REQUIRE"
SPAWN_ENV = "IOFOLD_SANDBOX_SPAWN"
PROFILE_ENV = "IOFOLD_SANDBOX_PROFILE"
Spawn = Literal["zygote", "fresh"]
SPAWN_MODES: tuple[Spawn, ...] = ("zygote", "fresh")
PROFILES: tuple[str, ...] = tuple(policy.PROFILES)


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


class Budget:
    """When a batch stops taking traces: before a trace that might not finish by ``deadline``
    (``time.monotonic()`` seconds), and before a result that would take the results past
    ``max_bytes`` of JSON (as Lambda's runtime encodes them). The first result is always kept, so
    every call makes progress; the traces not run are the tail of the batch, and ``stopped`` says why."""

    def __init__(self, deadline: float | None = None, max_bytes: int | None = None):
        self.deadline = deadline
        self.max_bytes = max_bytes
        self.used_bytes = 0
        self.kept = 0
        self.stopped: Literal["time", "size"] | None = None

    def time_for(self, timeout_s: float) -> bool:
        """True when one more trace (at most ``timeout_s``) still fits before the deadline."""
        if self.deadline is not None and time.monotonic() + timeout_s > self.deadline:
            self.stopped = "time"
            return False
        return True

    def take(self, result: dict) -> bool:
        """Count a result's bytes; False (nothing counted) when it would pass ``max_bytes``."""
        if self.max_bytes is None:
            return True
        size = len(json.dumps(result)) + 2  # ", " between results in the response
        if self.kept and self.used_bytes + size > self.max_bytes:
            self.stopped = "size"
            return False
        self.used_bytes += size
        self.kept += 1
        return True

    def count(self, result: dict) -> None:
        """Count a short result the parent wrote itself (a timeout or crash: its reason is ours, not the eval's)."""
        if self.max_bytes is not None:
            self.used_bytes += len(json.dumps(result)) + 2
            self.kept += 1


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


def spawn_mode(spawn: str | None = None) -> Spawn:
    """How children start: ``spawn`` if given, else IOFOLD_SANDBOX_SPAWN, else "zygote" (forked by the
    pre-warmed zygote); "fresh" starts a new interpreter per child. SandboxUnavailable on anything else."""
    mode = spawn or os.environ.get(SPAWN_ENV) or "zygote"
    if mode not in SPAWN_MODES:
        raise SandboxUnavailable(f"unknown sandbox spawn mode {mode!r} in {SPAWN_ENV}; known: {', '.join(SPAWN_MODES)}")
    return mode


def sandbox_profile(profile: str | None = None) -> str:
    """Which layers children attempt and must have: ``profile`` if given, else IOFOLD_SANDBOX_PROFILE,
    else "host"; "lambda" is what AWS Lambda offers (see child.py). SandboxUnavailable on anything else."""
    name = profile or os.environ.get(PROFILE_ENV) or "host"
    if name not in PROFILES:
        raise SandboxUnavailable(f"unknown sandbox profile {name!r} in {PROFILE_ENV}; known: {', '.join(PROFILES)}")
    return name


def required_by(profile: str, required: Collection[str] = ()) -> list[str]:
    """The layers that must be on: the profile's own, then ``required`` (sorted)."""
    base = list(policy.PROFILES[profile]["required"])
    return base + sorted(set(required) - set(base))


def check_layers(layers: Any, required: Collection[str] = (), profile: str = "host") -> dict[str, str]:
    """The child's reported layers when every required one (and every one ``profile`` requires) is on;
    SandboxUnavailable otherwise."""
    if type(layers) is not dict or not all(type(k) is str and type(v) is str for k, v in layers.items()):
        raise SandboxUnavailable("sandbox child reported malformed lockdown layers")
    wanted = required_by(profile, required)
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


class _FreshProcess:
    """A child started as a new interpreter (``python -I -S -B`` running child.main), its result
    pipe passed by number (the child moves it to fd 3); its stdout and stderr are /dev/null
    until the child points them at its own capture pipe."""

    def __init__(self, args: list[str], cwd: str, profile: str):
        self.results_fd, child_out = os.pipe()
        try:
            self.popen = subprocess.Popen(
                [sys.executable, "-I", "-S", "-B", "-c", CHILD_BOOTSTRAP, str(CHILD_SCRIPT.parent), *args,
                 str(child_out), profile],
                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                env={}, cwd=cwd, start_new_session=True, close_fds=True, pass_fds=(child_out,))
        except BaseException:
            os.close(self.results_fd)
            raise
        finally:
            os.close(child_out)
        self.pid = self.popen.pid
        self.stdin_fd = self.popen.stdin.fileno()
        self.results_open = True

    def close_stdin(self) -> None:
        if not self.popen.stdin.closed:
            try:
                self.popen.stdin.close()
            except BrokenPipeError:
                pass

    def close_results(self) -> None:
        if self.results_open:
            self.results_open = False
            os.close(self.results_fd)

    def kill(self) -> None:
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def wait(self, timeout: float) -> int:
        """The exit status; subprocess.TimeoutExpired if it is still running after ``timeout``."""
        return self.popen.wait(timeout=timeout)


class _ForkedProcess:
    """A child forked by the zygote onto two pipes made here (its job and its results); the zygote reaps it on request."""

    def __init__(self, zygote: _Zygote, args: dict):
        child_in, self.stdin_fd = os.pipe()
        self.results_fd, child_out = os.pipe()
        try:
            self.pid = zygote.fork(args, (child_in, child_out))
        except BaseException:
            os.close(self.stdin_fd)
            os.close(self.results_fd)
            raise
        finally:
            os.close(child_in)
            os.close(child_out)
        self.zygote = zygote
        self.stdin_open = self.results_open = True
        self.code: int | None = None

    def close_stdin(self) -> None:
        if self.stdin_open:
            self.stdin_open = False
            os.close(self.stdin_fd)

    def close_results(self) -> None:
        if self.results_open:
            self.results_open = False
            os.close(self.results_fd)

    def kill(self) -> None:
        if self.code is not None:  # reaped: the pid may belong to someone else by now
            return
        for kill in (os.killpg, os.kill):  # the group, and the pid itself in case it has no group yet
            try:
                kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def wait(self, timeout: float) -> int:
        """The exit status once the child closed its stdout (it has then exited, or it is killed);
        subprocess.TimeoutExpired if it keeps stdout open past ``timeout``."""
        if self.code is None:
            if self.results_open and not _drain_until_eof(self.results_fd, timeout):
                raise subprocess.TimeoutExpired("sandbox child", timeout)
            self.code = self.zygote.reap(self.pid)
        return self.code


def _drain_until_eof(fd: int, timeout: float) -> bool:
    """Read and drop what is left on ``fd`` until EOF; False when ``timeout`` passes first."""
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while True:
            try:
                if not os.read(fd, READ_CHUNK):
                    return True
                continue
            except BlockingIOError:
                pass
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            selector.select(timeout=remaining)


class _Zygote:
    """The pre-warmed process that forks children (child.zygote_main), started like a fresh child:
    ``python -I -S -B``, empty environment, empty working directory, a session of its own. It only
    ever reads fork and reap requests from its control socket, never code or traces."""

    def __init__(self):
        self.workdir = tempfile.mkdtemp(prefix="iofold-zygote-")
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self.popen = subprocess.Popen(
                [sys.executable, "-I", "-S", "-B", "-c", ZYGOTE_BOOTSTRAP, str(CHILD_SCRIPT.parent),
                 str(theirs.fileno())],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                env={}, cwd=self.workdir, start_new_session=True, close_fds=True, pass_fds=(theirs.fileno(),))
        except OSError as error:
            ours.close()
            shutil.rmtree(self.workdir, ignore_errors=True)
            raise SandboxUnavailable(f"sandbox zygote could not start: {error}") from None
        finally:
            theirs.close()
        self.owner = os.getpid()
        self.sock = ours
        self.sock.settimeout(START_TIMEOUT_S)
        self.lock = threading.Lock()
        self.children_cpu_s = self.own_cpu_s = 0.0  # as of the last reap
        self._call(None, ())

    def alive(self) -> bool:
        return self.owner == os.getpid() and self.popen.poll() is None and self.sock.fileno() >= 0

    def fork(self, args: dict, fds: tuple[int, int]) -> int:
        """The pid of a new child on pipes ``fds`` (its stdin's read end, its result pipe's write end)."""
        reply = self._call({"op": "fork", **args}, fds)
        if type(reply.get("pid")) is not int:
            raise SandboxUnavailable(f"sandbox zygote refused to fork: {reply.get('error', reply)}")
        return reply["pid"]

    def reap(self, pid: int) -> int:
        """Kill ``pid`` if it still runs, wait for it; its exit status (negative: killed by that signal)."""
        reply = self._call({"op": "reap", "pid": pid}, ())
        if type(reply.get("code")) is not int:
            raise SandboxUnavailable(f"sandbox zygote could not reap {pid}: {reply.get('error', reply)}")
        self.children_cpu_s += float(reply.get("cpu_s") or 0.0)
        self.own_cpu_s = float(reply.get("zygote_cpu_s") or 0.0)
        return reply["code"]

    def _call(self, request: dict | None, fds: tuple[int, ...]) -> dict:
        with self.lock:
            try:
                if request is not None:
                    socket.send_fds(self.sock, [json.dumps(request).encode()], list(fds))
                data = self.sock.recv(4096)
            except OSError as error:
                self.close()
                raise SandboxUnavailable(f"sandbox zygote is not answering: {error}") from None
        if not data:
            self.close()
            raise SandboxUnavailable(f"sandbox zygote ended: {self.popen.poll()}")
        try:
            reply = json.loads(data)
        except ValueError:
            reply = None
        if type(reply) is not dict:
            raise SandboxUnavailable("sandbox zygote answered nonsense")
        return reply

    def close(self) -> None:
        """End the zygote (closing its socket is its signal to exit) and remove its directory."""
        self.sock.close()
        try:
            self.popen.wait(timeout=2)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()
        shutil.rmtree(self.workdir, ignore_errors=True)


_zygote: _Zygote | None = None
_zygote_lock = threading.Lock()


def _get_zygote() -> _Zygote:
    """This process's zygote, started on first use and again if it died (or this process forked)."""
    global _zygote
    with _zygote_lock:
        if _zygote is None or not _zygote.alive():
            if _zygote is not None and _zygote.owner == os.getpid():
                _zygote.close()
            _zygote = _Zygote()
            atexit.register(_zygote.close)
        return _zygote


def zygote_workdir() -> str | None:
    """The working directory of this process's zygote (its children start there), if one runs."""
    zygote = _zygote
    return zygote.workdir if zygote is not None and zygote.owner == os.getpid() else None


def zygote_cpu_seconds() -> float:
    """CPU time of the current zygote and the children it reaped so far (they are not this process's
    children, so RUSAGE_CHILDREN does not count them); 0 before the first zygote starts."""
    zygote = _zygote
    return zygote.children_cpu_s + zygote.own_cpu_s if zygote is not None and zygote.owner == os.getpid() else 0.0


class _Child:
    """One child process (fresh or forked) and the bounded line reader on its result pipe."""

    def __init__(self, spawn: Spawn, cwd: str, cpu_limit_s: int, cpu_budget_s: float, headroom_mb: int,
                 required: Collection[str] = (), skip: Collection[str] = (), profile: str = "host"):
        if spawn == "zygote":
            self.proc: _FreshProcess | _ForkedProcess = _ForkedProcess(_get_zygote(), {
                "cpu_limit": cpu_limit_s, "cpu_budget": round(cpu_budget_s, 3), "headroom": headroom_mb,
                "skip": sorted(skip), "required": sorted(required), "profile": profile})
        else:
            self.proc = _FreshProcess([str(cpu_limit_s), f"{cpu_budget_s:.3f}", str(headroom_mb),
                                       ",".join(sorted(skip)), ",".join(sorted(required))], cwd, profile)
        self.stdin_fd = self.proc.stdin_fd
        self.results_fd = self.proc.results_fd
        for fd in (self.stdin_fd, self.results_fd):
            _grow_pipe(fd)
            os.set_blocking(fd, False)
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.results_fd, selectors.EVENT_READ)
        self.writing = False
        self.stdin_closed = False
        self.buffer = bytearray()
        self.eof = False

    def start_writing(self) -> None:
        if not self.writing and not self.stdin_closed:
            self.selector.register(self.stdin_fd, selectors.EVENT_WRITE)
            self.writing = True

    def stop_writing(self) -> None:
        if self.writing:
            self.selector.unregister(self.stdin_fd)
            self.writing = False
        if not self.stdin_closed:
            self.stdin_closed = True
            self.proc.close_stdin()

    def kill(self) -> None:
        self.proc.kill()

    def close(self) -> int:
        """Reap the child (killing it if it lingers); its return code."""
        self.stop_writing()
        try:
            code = self.proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            self.kill()
            code = self.proc.wait(timeout=60)
        self.selector.close()
        self.proc.close_results()
        return code

    def describe_exit(self) -> str:
        try:
            code = self.proc.wait(timeout=1)
        except subprocess.TimeoutExpired:
            self.kill()
            code = self.proc.wait(timeout=60)
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
        self.streaming = False

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
            chunk = os.read(self.child.results_fd, READ_CHUNK)
        except BlockingIOError:
            return
        if chunk:
            self.child.buffer += chunk
            self.streaming = chunk.count(b"\n") >= STREAMING_LINES
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
            if self.streaming and remaining > COALESCE_S:
                # results are streaming in: let a few more arrive before the next wake-up
                self.streaming = False
                time.sleep(COALESCE_S)
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


def _start_child(spawn: Spawn, workdir: str, cpu_limit_s: int, cpu_budget_s: float, headroom_mb: int,
                 required: Collection[str], skip: Collection[str],
                 profile: str = "host") -> tuple[_Child, dict[str, str]]:
    """A child that reported every required layer on; SandboxUnavailable (child reaped) otherwise."""
    child = _Child(spawn, workdir, cpu_limit_s, cpu_budget_s, headroom_mb, required_by(profile, required), skip,
                   profile)
    try:
        message = _Session(b"", [], 0, child).wait_message(time.monotonic() + START_TIMEOUT_S)
        if message is None or "locked" not in message:
            why = message.get("lock_error") if message else None
            raise SandboxUnavailable("sandbox child did not lock down: "
                                     f"{_cap(why, policy.ERROR_CAP) or child.describe_exit()}")
        layers = check_layers(message["locked"], required, profile)
    except SandboxUnavailable:
        child.kill()
        child.close()
        raise
    logger.debug("sandbox child %s locked down: %s", child.proc.pid, layers)
    return child, layers


def _run_session(code: str, entry: str | None, traces: Sequence[dict | EncodedTrace], ids: list[str], start: int,
                 timeout_s: float, results: list[dict], workdir: str, headroom_mb: int,
                 required: Collection[str], skip: Collection[str], spawn: Spawn, profile: str,
                 budget: Budget | None = None) -> int:
    """Run traces[start:] in one child, appending results; the index to resume from (``budget.stopped``
    is set when the budget ended the batch there)."""
    cpu_limit = _cpu_limit(timeout_s)
    child, _ = _start_child(spawn, workdir, cpu_limit, max(0.2, cpu_limit - timeout_s - 0.5), headroom_mb, required,
                            skip, profile)
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
            for trace_id in ids[start:]:
                _add(results, budget, _result(trace_id, result, reason, elapsed))
            return len(traces)

        index = start
        total = len(traces)
        append = results.append
        wait = session.wait_message
        while index < total:
            if budget is not None and not budget.time_for(timeout_s):
                child.kill()
                return index
            started = time.monotonic()
            message = wait(started + timeout_s)
            if message is None:
                elapsed = int((time.monotonic() - started) * 1000)
                if session.violation:
                    child.kill()
                    _add(results, budget, _result(ids[index], "error", "sandbox protocol violation", elapsed))
                elif child.eof:
                    _add(results, budget, _result(ids[index], "error", child.describe_exit(), elapsed))
                else:
                    child.kill()
                    _add(results, budget, _result(ids[index], "timeout", f"exceeded the {timeout_s:g} s time limit",
                                                  elapsed))
                return index + 1
            if message.get("recycle") is True:
                return index
            parsed = _parse_result(message, index, ids[index])
            if parsed is None:
                child.kill()
                _add(results, budget, _result(ids[index], "error", "sandbox protocol violation",
                                              int((time.monotonic() - started) * 1000)))
                return index + 1
            if budget is not None and not budget.take(parsed):
                child.kill()
                return index
            append(parsed)
            index += 1
        return index
    finally:
        child.close()


def _add(results: list[dict], budget: Budget | None, result: dict) -> None:
    """Append a result the parent wrote itself (short: counted against the budget, never refused)."""
    if budget is not None:
        budget.count(result)
    results.append(result)


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
                    require: Collection[str] = (), skip_layers: Collection[str] = (),
                    spawn: Spawn | None = None, profile: str | None = None,
                    budget: Budget | None = None) -> list[dict]:
    """Like :func:`run_batch`, but each result as a plain dict with TraceResult's fields (no pydantic per trace).

    With a ``budget``, the batch may stop early: the results are then a prefix, one per trace run,
    and ``budget.stopped`` says why (the caller sends the rest again)."""
    unknown = sorted(set(require) - set(LAYERS_ALL))
    if unknown:
        raise SandboxUnavailable(f"unknown sandbox layer(s) required: {', '.join(unknown)}")
    mode = spawn_mode(spawn)
    profile = sandbox_profile(profile)
    entry = validate_code(code) if validate else None
    results: list[dict] = []
    if not traces:
        return results
    ids = [_trace_id(trace) for trace in traces]
    workdir = tempfile.mkdtemp(prefix="iofold-sandbox-")
    try:
        index = 0
        while index < len(traces) and (budget is None or (budget.stopped is None and budget.time_for(timeout_s))):
            index = _run_session(code, entry, traces, ids, index, timeout_s, results, workdir, memory_headroom_mb,
                                 frozenset(require), frozenset(skip_layers), mode, profile, budget)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return results


def run_batch(code: str, traces: Sequence[dict | EncodedTrace], *, validate: bool = True,
              timeout_s: float = DEFAULT_TIMEOUT_S, memory_headroom_mb: int = policy.MEMORY_HEADROOM_MB,
              require: Collection[str] = (), skip_layers: Collection[str] = (),
              spawn: Spawn | None = None, profile: str | None = None) -> list[TraceResult]:
    """Run one eval over traces (unified trace dicts with "id", or EncodedTrace) in new locked-down children; one result per trace, in order.

    ``require`` names optional layers (netns, landlock, seccomp) that must be on, else
    SandboxUnavailable and nothing runs. ``spawn`` chooses how children start (see :func:`spawn_mode`),
    ``profile`` which layers they attempt and must have (see :func:`sandbox_profile`). ``skip_layers`` exists
    only so tests can switch a layer off to show the fail-closed check; production callers never pass it.
    """
    dicts = run_batch_dicts(code, traces, validate=validate, timeout_s=timeout_s,
                            memory_headroom_mb=memory_headroom_mb, require=require, skip_layers=skip_layers,
                            spawn=spawn, profile=profile)
    return [TraceResult.model_construct(**result) for result in dicts]


def sandbox_capabilities(spawn: Spawn | None = None, profile: str | None = None) -> dict[str, str]:
    """The isolation layers a child applies on this machine: layer -> 'on (...)' or 'unavailable (...)'."""
    return _capabilities(spawn_mode(spawn), sandbox_profile(profile))


@lru_cache(maxsize=len(SPAWN_MODES) * len(PROFILES))
def _capabilities(spawn: Spawn, profile: str) -> dict[str, str]:
    workdir = tempfile.mkdtemp(prefix="iofold-sandbox-")
    try:
        child, layers = _start_child(spawn, workdir, policy.CPU_LIMIT_S, 0.5, policy.MEMORY_HEADROOM_MB, (), (),
                                     profile)
        child.close()
        return layers
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def probe_layers(spawn: Spawn | None = None, profile: str | None = None, require: Collection[str] = (),
                 skip_layers: Collection[str] = ()) -> dict[str, Any]:
    """Start one real child (never cached), let it lock down and report, run nothing in it
    (``skip_layers``: tests only, as for :func:`run_batch`).

    {"profile", "spawn", "required": [layers that must be on], "details": {layer: "on (...)" |
    "unavailable (...)" | ...}, "layers": {layer: bool}, "ok": bool} plus "error" when not ok.
    A child that could not lock down still reports the layers it applied before it stopped.
    """
    mode, name = spawn_mode(spawn), sandbox_profile(profile)
    required = required_by(name, require)
    report: dict[str, Any] = {"profile": name, "spawn": mode, "required": required}
    details: Any = {}
    error = None
    workdir = tempfile.mkdtemp(prefix="iofold-sandbox-")
    try:
        child = _Child(mode, workdir, policy.CPU_LIMIT_S, 0.5, policy.MEMORY_HEADROOM_MB, (), skip_layers, name)
        try:
            message = _Session(b"", [], 0, child).wait_message(time.monotonic() + START_TIMEOUT_S) or {}
            details = message.get("locked", message.get("layers", {}))
            error = None if "locked" in message else (_cap(message.get("lock_error"), policy.ERROR_CAP)
                                                      or child.describe_exit())
        finally:
            child.kill()
            child.close()
        check_layers(details, required, name)
    except SandboxUnavailable as unavailable:
        error = error or str(unavailable)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    details = {str(k): _cap(v, 200) for k, v in details.items()} if type(details) is dict else {}
    report.update(details=details, layers={layer: details.get(layer, "").startswith("on") for layer in LAYERS_ALL},
                  ok=error is None)
    if error is not None:
        report["error"] = error
    return report
