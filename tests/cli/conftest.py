"""The CLI as a user runs it: ``python -m iofold`` in a subprocess, against the API over real HTTP."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import ROOT


@dataclass
class Cli:
    """Runs ``iofold …`` with a workspace's URL and key in the environment."""

    api_url: str
    api_key: str
    home: Path

    def env(self, **extra: str) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("IOFOLD_", "AWS_", "XDG_"))}
        env.update(PYTHONPATH=str(ROOT), XDG_CONFIG_HOME=str(self.home / "xdg"),
                   IOFOLD_DATA_DIR=str(self.home / "no-local-stack"), COLUMNS="200",
                   IOFOLD_API_URL=self.api_url, IOFOLD_API_KEY=self.api_key)
        for key, value in extra.items():
            if value is None:
                env.pop(key, None)
            else:
                env[key] = value
        return env

    def __call__(self, *args: str, cwd: Path | None = None, env: dict | None = None, timeout: float = 240,
                 input: str | None = None) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "iofold", *args], capture_output=True, text=True,
                              cwd=cwd or self.home, env=env or self.env(), timeout=timeout, input=input)

    def json(self, *args: str, **kw) -> object:
        run = self(*args, "--json", **kw)
        assert run.returncode == 0, run.stdout + run.stderr
        return json.loads(run.stdout)

    @property
    def client(self):
        from iofold import Client

        return Client(self.api_url, self.api_key)


def new_cli(api_url: str, home: Path, name: str = "cli") -> Cli:
    created = httpx.post(f"{api_url}/workspaces", json={"name": name}, timeout=30).json()
    home.mkdir(parents=True, exist_ok=True)
    return Cli(api_url, created["api_key"], home)


def write_demo_file(path: Path, n: int, seed: int) -> list:
    """Demo cases (Langfuse-shaped traces with the demo's ratings) as JSON Lines, gzipped when path ends .gz."""
    from infra.local.demo_traces import make_demo_cases

    cases = make_demo_cases(n=n, seed=seed)
    body = "".join(json.dumps(c.trace) + "\n" for c in cases).encode()
    path.write_bytes(gzip.compress(body) if path.suffix == ".gz" else body)
    return cases


@pytest.fixture
def cli(served_api, tmp_path) -> Cli:
    """A CLI signed in to a fresh workspace."""
    return new_cli(served_api, tmp_path / "home")


@pytest.fixture(scope="session")
def served_api(stack) -> Iterator[str]:
    """The API over real HTTP on a free loopback port (Chalice's local server, as `make dev` runs it), one for
    the session's CLI tests; its URL."""
    import socket
    import time

    import httpx

    from app import app
    from infra.local.dev import start_api_server

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = start_api_server(app, port)
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 10
    while httpx.get(f"{url}/health", timeout=5).status_code != 200:
        assert time.monotonic() < deadline, "the API did not come up"
        time.sleep(0.1)
    yield url
    server.shutdown()
