"""The issue's acceptance path: the CLI uploads the real tau-bench export from its .gz as it is."""

from __future__ import annotations

import gzip
import json

import pytest

from tests.conftest import TAUBENCH, requires_shared

pytestmark = [pytest.mark.slow, requires_shared()]


def test_iofold_upload_sends_the_taubench_gz_and_traces_lists_every_trace(cli):
    export = TAUBENCH / "traces.langfuse.jsonl.gz"
    with gzip.open(export, "rt") as f:
        ids = {json.loads(line)["id"] for line in f if line.strip()}
    run = cli("upload", str(export), "--json", timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    job = json.loads(run.stdout)
    assert job["result"]["imported"] == len(ids) and job["result"]["failed"] == 0, job
    listed = cli.json("traces", "--limit", "0")
    assert {t["source"]["external_id"] for t in listed} == ids
