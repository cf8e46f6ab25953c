"""Hostile eval code that gets out of the restricted namespace on purpose (validation off), so the
tests can check that the process layer alone holds: no file, no process, no socket, no secret."""

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
    ctypes = [m for m in gc.get_objects() if type(m) is type(os) and m.__name__ == "ctypes"]
    if ctypes:
        libc = ctypes[0].CDLL(None, use_errno=True)
        attempt("raw_socket", lambda: (libc.syscall(41, 2, 1, 0), ctypes[0].get_errno()))
        attempt("raw_openat", lambda: (libc.syscall(257, -100, trace["canary_path"].encode(), 0), ctypes[0].get_errno()))
        attempt("raw_unshare_user", lambda: (libc.syscall(272, 0x10000000), ctypes[0].get_errno()))
        attempt("raw_prctl_seccomp_off", lambda: (libc.prctl(22, 0, 0, 0, 0), ctypes[0].get_errno()))
        attempt("raw_ptrace_parent", lambda: (libc.syscall(101, 16, os.getppid(), 0, 0), ctypes[0].get_errno()))
    else:
        out.append("ctypes:ABSENT")
    sock = [m for m in gc.get_objects() if type(m) is type(os) and m.__name__ in ("_socket", "socket")]
    if sock:
        attempt("connect_loopback", lambda: sock[0].socket().connect(("127.0.0.1", trace["port"])))
    else:
        out.append("socket_module:ABSENT")
    return (True, "\\n".join(out))
'''
