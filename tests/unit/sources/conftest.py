"""Shared fixtures for the source adapters: the tau-bench airline traces from /work/shared."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[3]
TAUBENCH_FILE = REPO_ROOT.parent / "shared" / "data" / "taubench-airline" / "traces.langfuse.jsonl.gz"


@pytest.fixture(scope="session")
def taubench_file() -> Path:
    if not TAUBENCH_FILE.exists():
        pytest.skip(f"tau-bench data not found at {TAUBENCH_FILE}")
    return TAUBENCH_FILE


@pytest.fixture(scope="session")
def taubench_traces(taubench_file: Path) -> list[dict[str, Any]]:
    with gzip.open(taubench_file, "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]
