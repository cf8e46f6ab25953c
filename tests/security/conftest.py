"""Fixtures for the attack corpus: the corpus itself, a canary secret and file, a loopback listener."""

from __future__ import annotations

import importlib.util
import os
import socket
import stat
import tempfile
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# ../shared beside the checkout (a worktree may sit one level deeper: the nearest one up the tree wins)
ATTACKS_FILE = next((parent / "shared" / "security" / "attacks.py" for parent in ROOT.parents
                     if (parent / "shared" / "security" / "attacks.py").exists()),
                    ROOT.parent / "shared" / "security" / "attacks.py")
CANARY_SECRET = "iofold-canary-secret-7f3a9c"
CANARY_FILE_TEXT = "iofold-canary-file-contents-51b2e8"


def load_attacks() -> list[dict]:
    """The shared attack corpus, or [] when ../shared is not beside this checkout."""
    if not ATTACKS_FILE.exists():
        return []
    spec = importlib.util.spec_from_file_location("iofold_shared_attacks", ATTACKS_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return list(module.ATTACKS)


class Listener:
    """A TCP listener on 127.0.0.1 that counts the connections it accepts."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.stopping.is_set():
            try:
                conn, _ = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            self.accepted += 1
            conn.close()

    def close(self):
        self.stopping.set()
        self.thread.join(timeout=2)
        self.sock.close()


@pytest.fixture
def listener():
    server = Listener()
    yield server
    server.close()


@pytest.fixture
def canary(monkeypatch):
    """A secret in the parent's environment and a world-readable file beside a writable path."""
    monkeypatch.setenv("IOFOLD_CANARY", CANARY_SECRET)
    directory = Path(tempfile.mkdtemp(prefix="iofold-canary-"))
    directory.chmod(0o777)  # so only the sandbox's own layers, not file permissions, stop the child
    secret_file = directory / "canary.txt"
    secret_file.write_text(CANARY_FILE_TEXT)
    secret_file.chmod(stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
    yield {"dir": directory, "file": secret_file, "write_path": str(directory / "pwned")}
    for path in directory.iterdir():
        path.unlink() if not path.is_dir() else os.rmdir(path)
    directory.rmdir()


@pytest.fixture(params=("host", "lambda"))
def sandbox_profile(request, monkeypatch) -> str:
    """Each test using it runs under both sandbox profiles (IOFOLD_SANDBOX_PROFILE): the host's every
    layer, and Lambda's (netns, Landlock and the uid switch off; seccomp is then the wall alone)."""
    from chalicelib.sandbox.runner import PROFILE_ENV, sandbox_capabilities

    if request.param == "lambda" and not sandbox_capabilities(profile="host")["seccomp"].startswith("on"):
        pytest.skip("the lambda profile needs seccomp, which this machine does not offer")
    monkeypatch.setenv(PROFILE_ENV, request.param)
    return request.param


def assert_within_caps(result) -> None:
    """Reason, stdout and stderr of a result (TraceResult or execution record) are within the sandbox's caps."""
    from chalicelib.sandbox.child import ERROR_CAP, REASON_CAP, STDOUT_CAP

    assert len(result.reason.encode()) <= (ERROR_CAP if result.result == "error" else REASON_CAP)
    assert len(result.stdout.encode()) <= STDOUT_CAP
    assert len(result.stderr.encode()) <= ERROR_CAP


def outcome_matches(category: str, result) -> bool:
    """Whether a result (TraceResult or execution record) is what a 'contained' entry's category allows."""
    if category == "timeout":
        return result.result == "timeout"
    if category == "memory":
        return result.result == "error" and "memory" in result.reason.lower()
    if category == "exception":
        return result.result == "error"
    if category == "invalid_result":
        return result.result == "error" and result.reason.startswith("invalid result")
    if category == "output_capped":
        return result.result in ("pass", "fail", "error")
    if category == "ok_no_leak":
        return result.result in ("pass", "fail") and "<module" not in result.reason
    raise AssertionError(f"unknown category {category}")
