"""The dashboard's bundled demo traces are the ones infra/local/demo_traces.py makes."""

from __future__ import annotations

import json
from pathlib import Path

from infra.local.demo_traces import make_demo_traces

DEMO_FILE = Path(__file__).resolve().parents[2] / "dashboard" / "demo" / "traces.langfuse.jsonl"


def test_bundled_demo_traces_match_the_generator():
    lines = DEMO_FILE.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line) for line in lines] == make_demo_traces(len(lines))
    assert len(lines) == 24
