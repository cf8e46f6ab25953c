"""The README's CLI examples run as written, against the API over HTTP."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys

import pytest

from tests.cli.conftest import write_demo_file
from tests.conftest import ROOT

pytestmark = pytest.mark.slow


def _readme_cli_block() -> str:
    text = (ROOT / "README.md").read_text()
    section = text.split("## The CLI and the Python client", 1)[1].split("\n## ", 1)[0]
    return re.search(r"<!-- tests/cli/test_readme.py runs this block.*?-->\n```bash\n(.*?)```", section, re.S).group(1)


@pytest.mark.skipif(shutil.which("jq") is None, reason="the README's example uses jq")
def test_the_readmes_cli_examples_run(cli, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    write_demo_file(work / "traces.jsonl.gz", 24, seed=8)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    # `iofold` as make install's console script runs it; `python` is the venv's (pytest for the export)
    (bin_dir / "iofold").write_text(f'#!/bin/sh\nexec "{sys.executable}" -m iofold "$@"\n')
    (bin_dir / "iofold").chmod(0o755)
    (bin_dir / "python").symlink_to(sys.executable)
    env = cli.env(PATH=f"{bin_dir}:/usr/bin:/bin")
    script = "set -euo pipefail\n" + _readme_cli_block()
    run = subprocess.run(["bash", "-c", script], cwd=work, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    client = cli.client
    eval_set = next(iter(client.eval_sets()))
    assert eval_set.name == "Refund policy" and client.get_eval_set(eval_set.id).counts.model_dump() == {
        "positive": 6, "negative": 1, "neutral": 0}
    assert (work / "test_refunds.py").exists() and len(list((work / "traces").glob("*.json"))) == 20
    assert re.search(r"\d+ (passed|failed)", run.stdout), run.stdout[-2000:]
