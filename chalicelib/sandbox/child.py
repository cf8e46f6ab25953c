"""The sandbox child process: locks itself down, then runs one eval over the traces it reads.

Started by ``runner.py`` as ``python -I -S -B child.py`` with an empty environment and an
empty working directory. Stdlib only (it runs outside the project's import path), and it
doubles as the one place that states the execution policy (allowed modules, caps), which
the parent-side validator imports.

Order inside the child (SECURITY.md, layer 2):
 1. take the descriptors: the job pipe as fd 0, the result pipe as fd 3, fds 1 and 2 onto a
    pipe of the child's own (captured output), nothing else;
 2. import and warm the allowed modules (and their lazy imports), build the stand-ins;
 3. lock down, aborting on any failure: new network namespace (if permitted), rlimits with
    soft == hard, drop to nobody (when root), no_new_privs, Landlock deny-all (if the kernel
    has it), seccomp syscall allowlist (if the kernel/arch has it); then drop ctypes;
 4. only then read the code and the traces from stdin.

Arguments: CPU limit (s), CPU budget before recycling (s), memory headroom (MB), layers to
skip (tests only), layers that must be on (comma-separated; lockdown fails without them),
the descriptor of the result pipe's write end, the profile (``host`` | ``lambda``).

Profiles: ``host`` applies every layer the kernel offers and always requires rlimits, uid and
no_new_privs. ``lambda`` is what AWS Lambda offers (5.10 kernel: no Landlock, no user
namespaces, no uid switch): it does not attempt netns, Landlock or the uid switch (reported
unavailable, exactly as on Lambda, so a host can simulate it) and requires rlimits,
no_new_privs and seccomp; the seccomp allowlist is then the wall on its own.

Protocol: the child reports its layers first and reads nothing until the parent has checked
them. Stdin then carries newline-delimited JSON — first ``{"code", "entry", "first"}``, then
one trace per line. Fd 3 (the result channel; nothing but the channel writes to it) carries
newline-delimited JSON messages:
``{"locked": layers}`` | ``{"lock_error": str, "layers": layers}`` | ``{"ready": true}`` |
``{"setup_error": str}`` | ``{"recycle": true}`` | one result per trace
``{"i", "r", "reason", "stdout", "stderr", "ms"}``. Only strings, bools and ints cross back.
Whatever reaches fds 1 and 2 (library code printing, e.g. ``re.DEBUG``, warnings, raw writes)
and ``sys.stdout``/``sys.stderr`` joins the current trace's captured ``stdout``, capped like
``print``.
"""

from __future__ import annotations

import sys

ALLOWED_MODULES = ("json", "re", "typing", "math", "statistics", "collections", "datetime",
                   "itertools", "functools", "string", "difflib")

# Modules whose public surface is too wide: only these names are exposed.
EXPLICIT_MEMBERS = {
    "typing": ("Any", "Optional", "Union", "List", "Dict", "Tuple", "Set", "FrozenSet",
               "Iterable", "Iterator", "Sequence", "Mapping", "MutableMapping", "Callable",
               "Literal", "Final", "Counter", "DefaultDict", "Deque", "cast"),
    "functools": ("reduce", "partial", "lru_cache", "cache", "cmp_to_key"),
    "string": ("ascii_letters", "ascii_lowercase", "ascii_uppercase", "digits", "hexdigits",
               "octdigits", "punctuation", "printable", "whitespace", "capwords", "Template"),
}
# Public names dropped from the other modules (threading handles and the like).
HIDDEN_MEMBERS = {
    "datetime": ("datetime_CAPI",),
    "collections": ("abc",),
}

STDOUT_CAP = 64 * 1024
REASON_CAP = 16 * 1024
ERROR_CAP = 4 * 1024
MEMORY_HEADROOM_MB = 50
CPU_LIMIT_S = 6
NOBODY = 65534
TRUNCATED = "…[truncated]"
RESULT_FD = 3  # the result channel; fds 1 and 2 are captured output
# Imported only to lock down (or to talk to the zygote); gone from sys.modules (with their
# submodules) before user code runs, and nothing of the child keeps a reference to them.
LOCKDOWN_MODULES = ("ctypes", "_ctypes", "resource", "socket", "_socket", "array")
PROFILES = {
    # layers not attempted (reported unavailable), layers that must be on
    "host": {"disabled": (), "required": ("rlimits", "uid", "no_new_privs")},
    "lambda": {"disabled": ("netns", "landlock", "uid"), "required": ("rlimits", "no_new_privs", "seccomp")},
}

# x86_64 syscalls a locked child may make; anything else fails with EPERM (other ABIs: killed).
# Nothing here takes a path: no open/openat/openat2/creat, no stat/lstat/newfstatat/statx,
# access/faccessat, readlink(at) — glibc's fstat() is newfstatat(fd, "", AT_EMPTY_PATH), and
# newfstatat would stat any absolute path whatever the fd, so it is denied and os.fstat() fails
# after lockdown (nothing in the child needs it); the fd-only fstat(2) stays. No socket,
# socketpair, connect; no kill/tkill/tgkill (not even to itself: nothing needs it), ptrace,
# pidfd_*, process_vm_readv/writev; no execve, fork, vfork, clone/clone3 (so no threads
# either); no memfd_create, io_uring_*, mount, unshare, setns, bpf, perf_event_open, keyctl,
# userfaultfd, prctl or seccomp (the filter cannot be changed).
SECCOMP_ALLOW_X86_64 = {
    "read": 0, "write": 1, "close": 3, "fstat": 5, "lseek": 8, "mmap": 9, "mprotect": 10,
    "munmap": 11, "brk": 12, "rt_sigaction": 13, "rt_sigprocmask": 14, "rt_sigreturn": 15,
    "pread64": 17, "readv": 19, "writev": 20, "sched_yield": 24, "mremap": 25, "madvise": 28,
    "getpid": 39, "exit": 60, "gettimeofday": 96, "getrusage": 98, "getuid": 102,
    "getgid": 104, "geteuid": 107, "getegid": 108, "sigaltstack": 131, "gettid": 186,
    "time": 201, "futex": 202, "restart_syscall": 219, "clock_gettime": 228,
    "clock_getres": 229, "exit_group": 231, "getrandom": 318,
}


def public_members(name: str) -> dict:
    """The attributes an eval may reach on allowed module ``name``: no modules, nothing private."""
    import types

    module = sys.modules.get(name) or __import__(name)
    if name in EXPLICIT_MEMBERS:
        return {attr: getattr(module, attr) for attr in EXPLICIT_MEMBERS[name]}
    plain = (types.FunctionType, types.BuiltinFunctionType, type, int, float, str, bytes,
             tuple, frozenset, type(None))
    members = {}
    for attr in dir(module):
        if attr.startswith("_") or attr in HIDDEN_MEMBERS.get(name, ()):
            continue
        value = getattr(module, attr)
        if isinstance(value, plain) and not isinstance(value, types.ModuleType):
            members[attr] = value
    return members


def make_standin(name: str, members: dict):
    """A read-only object exposing ``members`` as attributes, standing in for module ``name``."""
    table = dict(members)

    class AllowedModule:
        __slots__ = ()

        def __getattr__(self, attr):
            if attr in table:
                return table[attr]
            raise AttributeError(f"module {name!r} has no attribute {attr!r} in the sandbox") from None

        def __setattr__(self, attr, value):
            raise AttributeError(f"module {name!r} is read-only in the sandbox")

        def __delattr__(self, attr):
            raise AttributeError(f"module {name!r} is read-only in the sandbox")

        def __dir__(self):
            return sorted(table)

        def __repr__(self):
            return f"<sandboxed {name}>"

    AllowedModule.__name__ = AllowedModule.__qualname__ = name
    return AllowedModule()


def warm_imports() -> None:
    """Import everything the allowed modules load lazily, while files can still be read."""
    import collections
    import datetime
    import difflib  # noqa: F401
    import encodings
    import functools  # noqa: F401
    import heapq  # noqa: F401  (Counter.most_common)
    import itertools  # noqa: F401
    import json
    import math  # noqa: F401
    import re
    import statistics
    import string  # noqa: F401
    import time  # noqa: F401
    import typing  # noqa: F401
    import unicodedata  # noqa: F401

    import _strptime  # noqa: F401

    for codec in ("utf_8", "ascii", "latin_1", "utf_16", "utf_32", "cp1252", "idna",
                  "unicode_escape", "raw_unicode_escape", "utf_8_sig", "punycode"):
        __import__(f"encodings.{codec}")
    encodings.search_function("utf-8")
    "x".encode("idna")
    "é".encode("latin-1").decode("cp1252")
    datetime.datetime.strptime("2024-01-02 03:04:05", "%Y-%m-%d %H:%M:%S").strftime("%A %B %c")
    datetime.datetime.fromisoformat("2024-01-02T03:04:05+00:00").astimezone(datetime.timezone.utc)
    collections.Counter("abca").most_common(1)
    statistics.mean([1, 2.5]), statistics.median([1, 2]), statistics.stdev([1.0, 2.0, 4.0])
    statistics.mean([1, 2]), statistics.pstdev([1, 2]), statistics.quantiles([1, 2, 3, 4])
    re.compile(r"\N{LATIN SMALL LETTER A}\w+\d", re.I | re.M).findall("ab1")
    json.loads(json.dumps({"a": [1.5, "é"]}, indent=1, sort_keys=True))
    "ß".casefold().upper().title()
    f"{3.14159:.2f}{12:>5}{1e9:,}"


# ---------------------------------------------------------------- lockdown


class LockdownError(Exception):
    pass


def _libc():
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    libc.prctl.restype = ctypes.c_int
    return ctypes, libc


def _vm_size_bytes() -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    raise LockdownError("cannot read VmSize")


def lock_network(layers: dict) -> None:
    """Move into a fresh network namespace (no interfaces up) where permitted."""
    import errno

    ctypes, libc = _libc()
    if libc.unshare(0x40000000) == 0:  # CLONE_NEWNET
        layers["netns"] = "on"
        return
    err = ctypes.get_errno()
    if err in (errno.EPERM, errno.EINVAL, errno.ENOSYS, errno.EACCES):
        layers["netns"] = f"unavailable ({errno.errorcode.get(err, err)})"
        return
    raise LockdownError(f"unshare(CLONE_NEWNET) failed: errno {err}")


def lock_rlimits(layers: dict, cpu_limit_s: int, headroom_mb: int) -> None:
    """Set soft == hard limits on memory, CPU, file size, descriptors, processes and cores."""
    import resource

    address_space = _vm_size_bytes() + headroom_mb * 1024 * 1024
    limits = {
        resource.RLIMIT_AS: address_space,
        resource.RLIMIT_CPU: cpu_limit_s,
        resource.RLIMIT_FSIZE: 0,
        resource.RLIMIT_NOFILE: 16,
        resource.RLIMIT_NPROC: 0,
        resource.RLIMIT_CORE: 0,
    }
    for which, value in limits.items():
        resource.setrlimit(which, (value, value))
        if resource.getrlimit(which) != (value, value):
            raise LockdownError(f"rlimit {which} did not stick")
    layers["rlimits"] = f"on (AS {address_space // (1024 * 1024)} MB, CPU {cpu_limit_s} s)"


def lock_user(layers: dict, switch: bool = True) -> None:
    """Drop root to nobody/nogroup for good (real, effective and saved ids); without ``switch``
    (the lambda profile: Lambda cannot switch uid) a root child reports the layer unavailable."""
    import os

    if os.geteuid() != 0:
        layers["uid"] = f"on (not root: uid {os.geteuid()})"
        return
    if not switch:
        layers["uid"] = "unavailable (lambda profile: no uid switch, running as root)"
        return
    os.setgroups([])
    os.setresgid(NOBODY, NOBODY, NOBODY)
    os.setresuid(NOBODY, NOBODY, NOBODY)
    if os.getresuid() != (NOBODY,) * 3 or os.getresgid() != (NOBODY,) * 3 or os.getgroups():
        raise LockdownError("uid/gid drop did not stick")
    try:
        os.setuid(0)
    except PermissionError:
        layers["uid"] = f"on (nobody {NOBODY})"
        return
    raise LockdownError("could regain root after dropping it")


def lock_no_new_privs(layers: dict) -> None:
    """prctl(PR_SET_NO_NEW_PRIVS): no setuid binaries, no file capabilities, ever."""
    ctypes, libc = _libc()
    if libc.prctl(38, 1, 0, 0, 0) != 0 or libc.prctl(39, 0, 0, 0, 0) != 1:
        raise LockdownError(f"PR_SET_NO_NEW_PRIVS failed: errno {ctypes.get_errno()}")
    layers["no_new_privs"] = "on"


def lock_landlock(layers: dict) -> None:
    """Landlock ruleset that handles every filesystem (and TCP, scope) right and grants none."""
    import errno
    import os

    if os.uname().machine not in ("x86_64", "aarch64"):
        layers["landlock"] = "unavailable (unknown syscall numbers)"
        return
    ctypes, libc = _libc()
    create, restrict = (444, 446)
    abi = libc.syscall(create, None, ctypes.c_size_t(0), ctypes.c_uint32(1))
    if abi < 0:
        err = ctypes.get_errno()
        if err in (errno.ENOSYS, errno.EOPNOTSUPP):
            layers["landlock"] = f"unavailable ({errno.errorcode[err]})"
            return
        raise LockdownError(f"landlock ABI probe failed: errno {err}")
    fs_bits = {1: 13, 2: 14, 3: 15, 4: 15}.get(abi, 16)
    handled_fs = (1 << fs_bits) - 1
    handled_net = 0b11 if abi >= 4 else 0
    scoped = 0b11 if abi >= 6 else 0

    class RulesetAttr(ctypes.Structure):
        _fields_ = [("fs", ctypes.c_uint64), ("net", ctypes.c_uint64), ("scoped", ctypes.c_uint64)]

    attr = RulesetAttr(handled_fs, handled_net, scoped)
    size = 8 if abi < 4 else (16 if abi < 6 else 24)
    fd = libc.syscall(create, ctypes.byref(attr), ctypes.c_size_t(size), ctypes.c_uint32(0))
    if fd < 0:
        raise LockdownError(f"landlock_create_ruleset failed: errno {ctypes.get_errno()}")
    try:
        if libc.syscall(restrict, ctypes.c_int(fd), ctypes.c_uint32(0)) != 0:
            raise LockdownError(f"landlock_restrict_self failed: errno {ctypes.get_errno()}")
    finally:
        os.close(fd)
    layers["landlock"] = f"on (ABI {abi}, deny all files" + (", TCP" if handled_net else "") + \
        (", signals/abstract sockets)" if scoped else ")")


def lock_seccomp(layers: dict) -> None:
    """Classic-BPF seccomp filter: allowlisted syscalls pass, the rest fail with EPERM."""
    import os

    machine = os.uname().machine
    if machine != "x86_64":
        layers["seccomp"] = f"unavailable (no syscall table for {machine})"
        return
    ctypes, libc = _libc()

    class SockFilter(ctypes.Structure):
        _fields_ = [("code", ctypes.c_uint16), ("jt", ctypes.c_uint8), ("jf", ctypes.c_uint8),
                    ("k", ctypes.c_uint32)]

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(SockFilter))]

    ld_abs, jeq, ret = 0x20, 0x15, 0x06
    allow, errno_eperm, kill = 0x7FFF0000, 0x00050000 | 1, 0x80000000
    numbers = sorted(set(SECCOMP_ALLOW_X86_64.values()))
    n = len(numbers)
    program = [(ld_abs, 0, 0, 4), (jeq, 0, n + 3, 0xC000003E), (ld_abs, 0, 0, 0)]
    for index, nr in enumerate(numbers):
        program.append((jeq, n - index, 0, nr))
    program += [(ret, 0, 0, errno_eperm), (ret, 0, 0, allow), (ret, 0, 0, kill)]
    filters = (SockFilter * len(program))(*[SockFilter(*ins) for ins in program])
    prog = SockFprog(len(program), filters)
    if libc.prctl(22, 2, ctypes.byref(prog), 0, 0) != 0:  # PR_SET_SECCOMP, SECCOMP_MODE_FILTER
        raise LockdownError(f"seccomp filter refused: errno {ctypes.get_errno()}")
    layers["seccomp"] = f"on ({n} syscalls allowed, others EPERM)"


def lock_down(cpu_limit_s: int, headroom_mb: int, skip: frozenset = frozenset(),
              required: frozenset = frozenset(), profile: str = "host", layers: dict | None = None) -> dict:
    """Apply every layer in order into ``layers`` (those ``profile`` disables are reported
    unavailable); them, or LockdownError (also when a layer in ``required`` is not on; the
    parent passes the profile's own required layers with the rest).

    ``skip`` exists so tests can show that each layer holds alone; production never passes it.
    """
    layers = {} if layers is None else layers
    policy = PROFILES[profile]
    disabled = policy["disabled"]
    steps = (("netns", lock_network), ("rlimits", lambda l: lock_rlimits(l, cpu_limit_s, headroom_mb)),
             ("uid", lambda l: lock_user(l, switch="uid" not in disabled)), ("no_new_privs", lock_no_new_privs),
             ("landlock", lock_landlock), ("seccomp", lock_seccomp))
    for name, step in steps:
        if name in skip:
            layers[name] = "skipped"
        elif name in disabled and name != "uid":
            layers[name] = f"unavailable ({profile} profile)"
        else:
            step(layers)
    missing = sorted(name for name in required if not str(layers.get(name, "")).startswith("on"))
    if missing:
        raise LockdownError("required layer(s) not applied: " +
                            ", ".join(f"{name} ({layers.get(name, 'unknown')})" for name in missing))
    return layers


def drop_lockdown_modules() -> None:
    """Forget the modules only lockdown needed (ctypes and its submodules, _ctypes, resource,
    socket, ...). ctypes' modules are also emptied (all but their dunder names): the interpreter
    keeps the _ctypes extension module alive whatever sys.modules says, and ctypes' classes keep
    its namespace alive, so a walk of the garbage collector's objects would otherwise still find
    CDLL, dlopen and friends.
    What cannot go: _ctypes' built-in C types (reachable via ``object.__subclasses__()``), which
    without dlopen/dlsym have no function to call; the seccomp filter bounds them anyway."""
    import gc

    for name in list(sys.modules):
        root = name.partition(".")[0]
        if root in LOCKDOWN_MODULES:
            module = sys.modules.pop(name)
            if root in ("ctypes", "_ctypes"):
                namespace = vars(module)
                for attr in [attr for attr in namespace if not (attr.startswith("__") and attr.endswith("__"))]:
                    del namespace[attr]
    gc.collect()


# ---------------------------------------------------------------- running user code


def cap_text(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` UTF-8 bytes, marked when cut."""
    if len(text) <= limit // 4:
        return text
    head = text[: limit + 1]
    data = head.encode("utf-8", "replace")
    if len(data) <= limit and len(head) == len(text):
        return text
    marker = TRUNCATED.encode()
    return data[: limit - len(marker)].decode("utf-8", "ignore") + TRUNCATED


class Output:
    """Captured print() output for one trace, capped."""

    def __init__(self):
        self.parts: list[str] = []
        self.size = 0
        self.full = False

    def print(self, *args, sep=" ", end="\n"):
        if self.full:
            return
        if sep is None:
            sep = " "
        if end is None:
            end = "\n"
        if type(sep) is not str or type(end) is not str:
            raise TypeError("print() sep and end must be strings")
        text = sep.join(str(arg) for arg in args) + end
        room = STDOUT_CAP + 1 - self.size
        if len(text) >= room:
            text = text[:room]
            self.full = True
        self.parts.append(text)
        self.size += len(text)

    def text(self) -> str:
        return cap_text("".join(self.parts), STDOUT_CAP)


SAFE_BUILTINS = (
    "abs", "all", "any", "ascii", "bin", "bool", "bytearray", "bytes", "callable", "chr",
    "complex", "dict", "divmod", "enumerate", "filter", "float", "format", "frozenset",
    "hasattr", "hash", "hex", "id", "int", "isinstance", "issubclass", "iter", "len", "list",
    "map", "max", "min", "next", "oct", "ord", "pow", "range", "repr", "reversed", "round",
    "set", "slice", "sorted", "str", "sum", "tuple", "zip", "True", "False", "None",
    "Ellipsis", "NotImplemented",
)


def make_builtins(standins: dict, output_ref: list) -> dict:
    """The builtins an eval sees: safe functions, exception classes, print and import."""
    import builtins

    table = {name: getattr(builtins, name) for name in SAFE_BUILTINS}
    for name in dir(builtins):
        value = getattr(builtins, name)
        if isinstance(value, type) and issubclass(value, BaseException) and not name.startswith("_"):
            table[name] = value

    def sandbox_import(name, globals=None, locals=None, fromlist=(), level=0):
        if level != 0 or name not in standins:
            raise ImportError(f"import of {name!r} is not allowed in the sandbox")
        return standins[name]

    def sandbox_print(*args, sep=" ", end="\n"):
        output_ref[0].print(*args, sep=sep, end=end)

    table["print"] = sandbox_print
    table["__import__"] = sandbox_import
    return table


def describe_error(error: BaseException) -> str:
    """``Type: message`` of an exception raised by user code, capped."""
    name = type(error).__name__
    if isinstance(error, MemoryError):
        return "MemoryError: memory limit exceeded"
    if isinstance(error, RecursionError):
        return f"RecursionError: {cap_text(str(error), 200)}"
    try:
        message = str(error)
    except BaseException:  # a hostile __str__; the name alone is enough
        message = "<unprintable message>"
    return cap_text(f"{name}: {message}" if message else name, ERROR_CAP)


def user_traceback(error: BaseException) -> str:
    """The user-code frames of a traceback, as 'line N in fn' lines, capped."""
    lines = []
    tb = error.__traceback__
    while tb is not None:
        code = tb.tb_frame.f_code
        if code.co_filename == "<eval>":
            lines.append(f"line {tb.tb_lineno}, in {code.co_name}")
        tb = tb.tb_next
    return cap_text("\n".join(lines), ERROR_CAP)


def check_result(value) -> tuple[bool, str] | str:
    """(passed, reason) from an eval's return value, or the error text when it is malformed."""
    if type(value) is not tuple or len(value) != 2:
        return f"invalid result: expected tuple[bool, str], got {type(value).__name__}"
    passed, reason = value
    if type(passed) is not bool or type(reason) is not str:
        return (f"invalid result: expected tuple[bool, str], got "
                f"tuple[{type(passed).__name__}, {type(reason).__name__}]")
    return passed, reason


class Channel:
    """Newline-delimited JSON to the parent over fd 3 (RESULT_FD), built from C-level pieces
    captured at start-up, so user code that patches json classes cannot change what the parent
    reads. Nothing else in the child writes to fd 3: fds 1 and 2 are captured output."""

    def __init__(self, json_module, os_module):
        self.quote = json_module.encoder.c_encode_basestring_ascii or json_module.encoder.py_encode_basestring_ascii
        self.dumps = json_module.JSONEncoder(ensure_ascii=True).encode
        self.write = os_module.write

    def send(self, message: dict) -> None:
        self.send_line(self.dumps(message))

    def send_result(self, index: int, result: str, reason: str, stdout: str, stderr: str, ms: int) -> None:
        quote = self.quote
        self.send_line(f'{{"i": {int.__repr__(index)}, "r": {quote(result)}, "reason": {quote(reason)}, '
                       f'"stdout": {quote(stdout)}, "stderr": {quote(stderr)}, "ms": {int.__repr__(ms)}}}')

    def send_line(self, line: str) -> None:
        data = (line + "\n").encode("ascii")
        while data:
            written = self.write(RESULT_FD, data)
            data = data[written:]


def take_descriptors(job_fd: int, result_fd: int) -> int:
    """Put the job pipe on fd 0 and the result pipe on fd 3 (RESULT_FD), close every other
    descriptor, and point fds 1 and 2 at a non-blocking pipe of the child's own; its read end,
    which the child drains into each trace's captured output (see :class:`CapturedStreams`)."""
    import os

    if job_fd != 0:
        os.dup2(job_fd, 0)
    if result_fd != RESULT_FD:
        os.dup2(result_fd, RESULT_FD)
    os.closerange(RESULT_FD + 1, 1 << 20)
    read_end, write_end = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    os.dup2(write_end, 1)
    os.dup2(write_end, 2)
    os.close(write_end)
    return read_end


class CapturedStreams:
    """Output that does not come through the sandbox's print: ``sys.stdout``/``sys.stderr``
    writes (library code such as ``re.DEBUG``, warnings) and raw writes to fds 1 and 2 (read
    back from the child's own pipe after each trace). Both join the current trace's Output."""

    def __init__(self, output_ref: list, read_fd: int, os_module):
        self.output_ref = output_ref
        self.read_fd = read_fd
        self.read = os_module.read

    def write(self, text) -> int:
        if type(text) is not str:
            raise TypeError("write() argument must be str")
        self.output_ref[0].print(text, end="")
        return len(text)

    def flush(self) -> None:
        pass

    def drain(self) -> None:
        """Move what reached fds 1 and 2 into the current trace's output (at most STDOUT_CAP bytes kept)."""
        kept, size = [], 0
        while True:
            try:
                data = self.read(self.read_fd, 1 << 16)
            except OSError:  # EAGAIN: empty
                break
            if not data:
                break
            if size <= STDOUT_CAP:
                kept.append(data)
                size += len(data)
        if kept:
            self.output_ref[0].print(b"".join(kept).decode("utf-8", "replace"), end="")


def make_decoder(json_module):
    """A JSON line decoder bound to the C scanner, immune to later class patching."""
    scanner = json_module.scanner.make_scanner(json_module.JSONDecoder())

    def decode(line: bytes):
        text = line.decode("utf-8")
        try:
            value, end = scanner(text, 0)
        except StopIteration:
            raise ValueError("expected a JSON value") from None
        if text[end:].strip():
            raise ValueError("extra data after the JSON value")
        return value

    return decode


def run_traces(channel: Channel, standins: dict, cpu_budget_s: float, stdin, output_fd: int) -> None:
    """Read the job header and traces from ``stdin``; send one result per trace. ``output_fd`` is
    the read end of the pipe behind fds 1 and 2."""
    import json
    import os
    import time

    decode = make_decoder(json)
    header = decode(stdin.readline())
    output_ref = [Output()]
    streams = CapturedStreams(output_ref, output_fd, os)
    sys.stdout = sys.stderr = streams
    drain = streams.drain
    namespace = {"__builtins__": make_builtins(standins, output_ref), "__name__": "eval_module"}
    try:
        exec(compile(header["code"], "<eval>", "exec"), namespace)
        entry = header.get("entry") or next(
            (name for name, value in namespace.items() if name.startswith("eval_") and callable(value)), None)
        function = namespace.get(entry) if entry else None
        if function is None or not callable(function):
            raise NameError("no eval_* function defined")
    except BaseException as error:  # user module code: report it, never crash the channel
        channel.send({"setup_error": describe_error(error)})
        return
    drain()  # what module-level code wrote to fds 1 and 2 belongs to no trace
    channel.send({"ready": True})
    index = header["first"]
    ran = 0
    readline = stdin.readline
    send_result = channel.send_result
    process_time = time.process_time
    perf_counter = time.perf_counter
    while True:
        line = readline()
        if not line:
            return
        if ran and process_time() > cpu_budget_s:
            channel.send({"recycle": True})
            return
        try:
            trace = decode(line)
        except ValueError as error:  # not JSON (or not UTF-8): this trace's error, not the child's end
            send_result(index, "error", f"trace is not valid JSON: {cap_text(str(error), 200)}", "", "", 0)
            index += 1
            ran += 1
            continue
        output = output_ref[0] = Output()
        started = perf_counter()
        stderr = ""
        try:
            value = function(trace)
            checked = check_result(value)
            del value
            if type(checked) is str:
                result, reason = "error", checked
            else:
                result = "pass" if checked[0] else "fail"
                reason = cap_text(checked[1], REASON_CAP)
            del checked
        except BaseException as error:  # the eval's own exception is its result
            if isinstance(error, MemoryError):
                error.__traceback__ = None  # frees the eval's frames before anything else
            result, reason = "error", describe_error(error)
            stderr = user_traceback(error)
        elapsed = int((perf_counter() - started) * 1000)
        del trace
        drain()
        send_result(index, result, reason, output.text() if output.parts else "", stderr, elapsed)
        index += 1
        ran += 1


def lock_and_serve(channel: Channel, standins: dict, stdin, output_fd: int, params: tuple) -> int:
    """Lock down (reporting the layers, or the failure and the layers applied so far), then serve
    the job on ``stdin``; the exit status. ``params`` as from :func:`fork_params`."""
    cpu_limit_s, cpu_budget_s, headroom_mb, skip, required, profile = params
    layers: dict = {}
    try:
        lock_down(cpu_limit_s, headroom_mb, skip, required, profile, layers)
    except BaseException as error:  # fail closed: the parent refuses to run anything
        channel.send({"lock_error": f"{type(error).__name__}: {error}"[:ERROR_CAP],
                      "layers": {str(k): str(v) for k, v in layers.items()}})
        return 70
    drop_lockdown_modules()
    channel.send({"locked": layers})
    run_traces(channel, standins, cpu_budget_s, stdin, output_fd)
    return 0


def prepare() -> dict:
    """Warm the allowed modules and what lockdown needs; the read-only stand-ins, by module name."""
    import ctypes  # noqa: F401  (everything lockdown needs is loaded while files are readable)
    import errno  # noqa: F401
    import gc  # noqa: F401
    import resource  # noqa: F401

    warm_imports()
    _libc()
    return {name: make_standin(name, public_members(name)) for name in ALLOWED_MODULES}


def main(argv: list[str]) -> int:
    """Entry point of a fresh child: take its descriptors, warm, lock down, then serve the job from stdin."""
    import json
    import os

    result_fd = int(argv[6]) if len(argv) > 6 else RESULT_FD
    output_fd = take_descriptors(0, result_fd)
    channel = Channel(json, os)
    try:
        params = (int(argv[1]) if len(argv) > 1 else CPU_LIMIT_S,
                  float(argv[2]) if len(argv) > 2 else 0.5,
                  int(argv[3]) if len(argv) > 3 else MEMORY_HEADROOM_MB,
                  frozenset(filter(None, argv[4].split(","))) if len(argv) > 4 else frozenset(),
                  frozenset(filter(None, argv[5].split(","))) if len(argv) > 5 else frozenset(),
                  argv[7] if len(argv) > 7 else "host")
        if params[5] not in PROFILES:
            raise LockdownError(f"unknown profile {params[5]!r}")
        standins = prepare()
        stdin = open(0, "rb", buffering=1 << 20, closefd=False)  # before lockdown: no syscalls needed later
    except BaseException as error:
        channel.send({"lock_error": f"{type(error).__name__}: {error}"[:ERROR_CAP]})
        return 70
    return lock_and_serve(channel, standins, stdin, output_fd, params)


# ---------------------------------------------------------------- the zygote


def fork_params(request) -> tuple[int, float, int, frozenset, frozenset, str] | None:
    """(cpu limit, cpu budget, headroom, skip, required, profile) from a fork request, or None when malformed."""
    if type(request) is not dict:
        return None
    cpu_limit, budget, headroom = request.get("cpu_limit"), request.get("cpu_budget"), request.get("headroom")
    skip, required, profile = request.get("skip"), request.get("required"), request.get("profile", "host")
    if (type(cpu_limit) is not int or type(budget) not in (int, float) or type(headroom) is not int
            or type(skip) is not list or type(required) is not list
            or not all(type(name) is str for name in skip + required)
            or type(profile) is not str or profile not in PROFILES):
        return None
    return cpu_limit, float(budget), headroom, frozenset(skip), frozenset(required), profile


def serve_forked(control, fds: list, params: tuple, standins: dict) -> int:
    """In a child just forked by the zygote: take the pipes as fds 0 and 3 (fds 1 and 2 onto its
    own output pipe), drop every other descriptor, start a session of its own, then lock down and
    serve; the exit status."""
    import json
    import os

    control.detach()  # the zygote's socket: closed by take_descriptors with every other inherited descriptor
    os.setsid()
    output_fd = take_descriptors(fds[0], fds[1])
    channel = Channel(json, os)
    stdin = open(0, "rb", buffering=1 << 20, closefd=False)
    return lock_and_serve(channel, standins, stdin, output_fd, params)


def zygote_main(argv: list[str]) -> int:
    """Entry point of the zygote: warm once, then fork one child per request on the control socket.

    SECURITY.md allows a pre-warmed zygote only if it never reads request data: it reads nothing
    but fork and reap requests (limits, layer names, two pipe descriptors passed with
    SCM_RIGHTS; a reap kills the child if it still runs, waits for it and answers its exit
    status and CPU time). Each child takes those pipes as its stdin and result channel (fd 3),
    locks itself down and reads its own code and traces from them, exactly like a fresh child.
    """
    import json
    import os
    import resource
    import socket

    control = socket.socket(fileno=int(argv[1]))
    standins = prepare()
    children: set[int] = set()

    def reply(message: dict) -> None:
        control.send(json.dumps(message).encode())

    reply({"zygote": "ready"})
    while True:
        try:
            data, fds, _flags, _addr = socket.recv_fds(control, 4096, 2)
        except (OSError, ValueError):
            return 0
        if not data:
            return 0
        try:
            request = json.loads(data)
        except ValueError:
            request = None
        op = request.get("op") if type(request) is dict else None
        params = fork_params(request) if op == "fork" else None
        if params is not None and len(fds) == 2:
            try:
                pid = os.fork()
            except OSError as error:
                for fd in fds:
                    os.close(fd)
                reply({"error": f"fork failed: {error}"})
                continue
            if pid == 0:
                status = 70
                try:
                    status = serve_forked(control, fds, params, standins)
                finally:
                    os._exit(status)
            children.add(pid)
            for fd in fds:
                os.close(fd)
            reply({"pid": pid})
            continue
        for fd in fds:
            os.close(fd)
        pid = request.get("pid") if op == "reap" else None
        if type(pid) is not int or pid not in children:
            reply({"error": "malformed request"})
            continue
        try:
            os.killpg(pid, 9)
        except OSError:  # already gone from its group (or not yet in it): the pid itself is still ours
            pass
        try:
            os.kill(pid, 9)
        except OSError:
            pass
        _, status, usage = os.wait4(pid, 0)
        children.discard(pid)
        own = resource.getrusage(resource.RUSAGE_SELF)
        reply({"pid": pid, "code": os.waitstatus_to_exitcode(status), "cpu_s": usage.ru_utime + usage.ru_stime,
               "zygote_cpu_s": own.ru_utime + own.ru_stime})


if __name__ == "__main__":
    sys.exit(main(sys.argv))
