"""`make dev`'s entry point as a user runs it: ready with local.json, demo data imported
through the real paths, and a restart with the same data folder loses nothing."""

import json
import os
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow


def _free_port_block(n: int = 3) -> int:
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            base = s.getsockname()[1]
        if base + n < 65535 and all(_is_free(base + i) for i in range(n)):
            return base
    raise RuntimeError("no free ports")


def _is_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def _start(data_dir: Path, port: int) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MOTO_", "IOFOLD_"))}
    env.update(IOFOLD_PORT=str(port), IOFOLD_DATA_DIR=str(data_dir))
    # umask 0: a file or folder not created with an explicit private mode would be world-readable
    return subprocess.Popen([sys.executable, "-m", "infra.local.dev"], cwd=ROOT, env=env, umask=0,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _wait_ready(proc: subprocess.Popen, data_dir: Path, since: float, timeout_s: float = 180) -> dict:
    local = data_dir / "local.json"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            output = proc.stdout.read()
            if "Address already in use" in output:
                raise PortTaken(output)
            raise AssertionError(output)
        if local.exists() and local.stat().st_mtime >= since:
            return json.loads(local.read_text())
        time.sleep(0.5)
    proc.kill()
    raise AssertionError("the local stack did not become ready:\n" + proc.stdout.read())


class PortTaken(Exception):
    """Another process bound one of the chosen ports between the choice and the stack's bind."""


def _start_ready(data_dir: Path, since: float, attempts: int = 3) -> tuple[subprocess.Popen, int, dict]:
    """Start the stack on a free block of ports and wait until it is ready; (process, port, local.json).
    A port taken meanwhile (other tests run in parallel) means another block, not a failed test."""
    for _ in range(attempts):
        port = _free_port_block()
        proc = _start(data_dir, port)
        try:
            return proc, port, _wait_ready(proc, data_dir, since)
        except PortTaken:
            continue
    raise AssertionError(f"no free block of ports in {attempts} attempts")


def _stop(proc: subprocess.Popen) -> str:
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=60)
    return out


def _assert_private(data_dir: Path) -> None:
    """The data folder and everything in it is its owner's alone (keys, sealed credentials, KMS key)."""
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    found = {p.relative_to(data_dir).as_posix(): stat.S_IMODE(p.stat().st_mode) for p in data_dir.rglob("*")}
    assert {"local.json", "snapshot", "snapshot/kms.json", "snapshot/tables.json"} <= set(found)
    assert found == {name: 0o700 if (data_dir / name).is_dir() else 0o600 for name in found}


def _execute_once(info: dict, headers: dict, expected: int) -> None:
    """Rate a few traces, generate an eval offline and run it over every trace: `make dev` runs the
    run's chunks in worker processes of their own (infra/local/source_functions.py)."""
    from infra.local.dev import wait_for_job

    api = info["api_url"]
    es = httpx.post(f"{api}/eval-sets", headers=headers, json={"name": "dev", "criteria": "the agent helps"}).json()
    traces = httpx.get(f"{api}/traces?limit=8", headers=headers).json()["items"]
    for i, trace in enumerate(traces):
        rated = httpx.put(f"{api}/eval-sets/{es['id']}/feedback/{trace['id']}", headers=headers,
                          json={"rating": "positive" if i % 2 else "negative", "notes": ""})
        assert rated.status_code == 200, rated.text
    job = httpx.post(f"{api}/eval-sets/{es['id']}/generate", headers=headers, json={"generator": "offline"}).json()
    generated = wait_for_job(api, info["api_key"], job["job_id"])
    assert generated["status"] == "succeeded", generated
    run = httpx.post(f"{api}/evals/{generated['result']['eval_id']}/execute", headers=headers, json={}).json()
    done = wait_for_job(api, info["api_key"], run["job_id"])
    assert done["status"] == "succeeded" and done["result"]["executed"] == expected, done


def test_dev_stack_starts_with_demo_data_and_survives_a_restart(tmp_path):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    data_dir.chmod(0o755)  # an existing, readable folder gets tightened
    proc, port, info = _start_ready(data_dir, since=0)
    try:
        assert info["api_url"] == f"http://127.0.0.1:{port}/v1"
        headers = {"Authorization": f"Bearer {info['api_key']}"}
        traces = httpx.get(f"{info['api_url']}/traces?limit=200", headers=headers).json()["items"]
        assert len(traces) >= 24
        assert httpx.get(info["dashboard_url"]).status_code == 200
        assert httpx.get(info["dashboard_url"] + "config.json").json()["api_url"] == info["api_url"]
        _execute_once(info, headers, expected=len(traces))
        deleted = traces[0]["id"]
        assert httpx.delete(f"{info['api_url']}/traces/{deleted}", headers=headers).status_code == 204
        integration = httpx.get(f"{info['api_url']}/integrations", headers=headers).json()["items"][0]
    finally:
        output = _stop(proc)
    assert "API key" in output
    _assert_private(data_dir)
    assert any(p.name.endswith("-execute_chunk.log") for p in (data_dir / "logs").iterdir())

    started = time.time()
    proc = _start(data_dir, port)  # the same ports: the demo integration names its source's
    try:
        again = _wait_ready(proc, data_dir, since=started - 1)
        assert again["api_key"] == info["api_key"] and again["workspace_id"] == info["workspace_id"]
        after = httpx.get(f"{info['api_url']}/traces?limit=200", headers=headers).json()["items"]
        assert {t["id"] for t in after} == {t["id"] for t in traces} - {deleted}
        # the stored credentials still decrypt: the connection test reaches the demo source
        test = httpx.post(f"{info['api_url']}/integrations/{integration['id']}/test", headers=headers).json()
        assert test["ok"] is True, test
    finally:
        _stop(proc)
