"""Hostile eval code that gets out of the restricted namespace on purpose (validation off), so the
tests can check that the process layer alone holds: no file, no process, no socket, no secret;
and :func:`run_child`, which drives child.py by hand the way the runner's fresh path does."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from chalicelib.sandbox.runner import CHILD_BOOTSTRAP, CHILD_SCRIPT

# The child, run with ctypes' syscall entry points kept in __main__ (ARMED): the probe then owns
# raw syscalls whatever the child itself drops after lockdown (the worst case: an escape that
# reached ctypes). Everything is fetched before lockdown, while ctypes can still load it.
ARMED_BOOTSTRAP = ("import ctypes, sys; LIBC = ctypes.CDLL(None, use_errno=True); "
                   "ARMED = (LIBC.syscall, LIBC.prctl, ctypes.get_errno, ctypes.create_string_buffer); "
                   "sys.path.insert(0, sys.argv[1]); import child; sys.exit(child.main(sys.argv[1:]))")


def run_child(job: list[dict], cwd, *, skip: str = "", required: str = "", profile: str = "host",
              armed: bool = False, timeout: float = 30) -> tuple[int, list[dict]]:
    """Run child.main in a new interpreter on ``job`` (header, then traces); its exit status and the
    messages it sent on its result pipe (its fd 3; its stdout and stderr are /dev/null)."""
    read_end, write_end = os.pipe()
    try:
        proc = subprocess.Popen([sys.executable, "-I", "-S", "-B", "-c", ARMED_BOOTSTRAP if armed else CHILD_BOOTSTRAP,
                                 str(CHILD_SCRIPT.parent), "6", "0.5", "50", skip, required, str(write_end), profile],
                                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                pass_fds=(write_end,), env={}, cwd=cwd, start_new_session=True)
    finally:
        os.close(write_end)
    with open(read_end, "rb") as results:
        try:
            proc.stdin.write("".join(json.dumps(line) + "\n" for line in job).encode())
            proc.stdin.close()
        except BrokenPipeError:  # the child stopped before reading (fail closed)
            pass
        out = results.read()
    return proc.wait(timeout=timeout), [json.loads(line) for line in out.decode().splitlines()]

ESCAPE_PROBE = '''
def eval_probe(trace):
    out = []

    def attempt(name, action):
        try:
            value = action()
        except BaseException as error:
            out.append(name + ":FAIL:" + type(error).__name__ + ":" + str(error)[:120])
            return None
        out.append(name + ":OK:" + repr(value)[:300])
        return value

    g = print.__globals__
    sys = g["sys"]
    os = sys.modules["os"]
    real = sys.modules["builtins"]
    gc = real.__import__("gc")
    type = real.type
    repr = real.repr
    attempt("environ", lambda: dict(os.environ))
    attempt("getuid", lambda: (os.getuid(), os.geteuid()))
    attempt("read_canary", lambda: real.open(trace["canary_path"]).read())
    attempt("read_proc_parent_environ", lambda: real.open("/proc/%d/environ" % os.getppid(), "rb").read())
    attempt("read_etc_passwd", lambda: real.open("/etc/passwd").read())
    attempt("listdir_root", lambda: os.listdir("/"))
    attempt("write_file", lambda: real.open(trace["write_path"], "w").write("pwned"))
    attempt("mkdir", lambda: os.mkdir(trace["write_path"] + ".d"))
    attempt("fork", lambda: os.fork())
    attempt("system", lambda: os.system("touch " + trace["write_path"] + ".sh"))
    attempt("posix_spawn", lambda: os.posix_spawn("/bin/sh", ["sh", "-c", "touch " + trace["write_path"] + ".sp"], {}))
    attempt("setuid_root", lambda: os.setuid(0))
    attempt("kill_parent", lambda: os.kill(os.getppid(), 0))
    attempt("import_socket", lambda: real.__import__("socket"))
    attempt("import_subprocess", lambda: real.__import__("subprocess"))
    attempt("stat_etc_passwd", lambda: os.stat("/etc/passwd").st_size)
    attempt("lstat_etc_passwd", lambda: os.lstat("/etc/passwd").st_size)
    attempt("access_etc_passwd", lambda: os.access("/etc/passwd", 0))
    attempt("readlink_proc_self_exe", lambda: os.readlink("/proc/self/exe"))
    # ctypes after lockdown: no module of it with anything in it, not importable, not reloadable
    main = sys.modules.get("__main__")
    left = sorted({m.__name__ for m in gc.get_objects() + list(sys.modules.values())
                   if type(m) is type(os) and m.__name__.partition(".")[0] in ("ctypes", "_ctypes")
                   and [k for k in m.__dict__ if not k.startswith("__")]})
    out.append("ctypes_modules:" + ",".join(left))
    attempt("import_ctypes", lambda: real.__import__("ctypes").CDLL)
    attempt("child_libc", lambda: main.child._libc())
    armed = main.ARMED if "ARMED" in main.__dict__ else None  # see probes.ARMED_BOOTSTRAP
    if armed:
        syscall, prctl, get_errno, _buffer = armed
        attempt("raw_socket", lambda: (syscall(41, 2, 1, 0), get_errno()))
        attempt("raw_openat", lambda: (syscall(257, -100, trace["canary_path"].encode(), 0), get_errno()))
        attempt("raw_unshare_user", lambda: (syscall(272, 0x10000000), get_errno()))
        attempt("raw_prctl_seccomp_off", lambda: (prctl(22, 0, 0, 0, 0), get_errno()))
        attempt("raw_ptrace_parent", lambda: (syscall(101, 16, os.getppid(), 0, 0), get_errno()))
    else:
        out.append("ctypes:ABSENT")
    sock = [m for m in gc.get_objects() if type(m) is type(os) and m.__name__ in ("_socket", "socket")]
    if sock:
        attempt("connect_loopback", lambda: sock[0].socket().connect(("127.0.0.1", trace["port"])))
    else:
        out.append("socket_module:ABSENT")
    return (True, "\\n".join(out))
'''
