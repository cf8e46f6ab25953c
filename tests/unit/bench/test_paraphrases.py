"""bench/paraphrases.py: every wording rewords a criterion the agent benchmarks label, both groups are there,
and a tiny run writes the table with the criterion's own wording beside the paraphrase's."""

from __future__ import annotations

import importlib
from pathlib import Path

from bench import criteria, paraphrases


def test_every_paraphrase_rewords_an_existing_criterion_in_other_words():
    for p in paraphrases.PARAPHRASES:
        criteria = {c.name: c for c in importlib.import_module(f"bench.{p.bench}").CRITERIA}
        assert p.criterion in criteria, p
        assert p.text != criteria[p.criterion].text and p.group in ("development", "held-out"), p
    assert {p.group for p in paraphrases.PARAPHRASES} == {"development", "held-out"}
    assert len({p.text for p in paraphrases.PARAPHRASES}) == len(paraphrases.PARAPHRASES)


def test_a_tiny_run_writes_each_wording_beside_the_own_one(tmp_path: Path):
    out = tmp_path / "paraphrases.md"
    paraphrases.main(["--seeds", "1", "--groups", "development", "--only",
                      "refund_only_if_eligible,search_before_flight_change", "--out", str(out)])
    text = out.read_text()
    if criteria.DATA.exists():  # the tau-bench rows need the shared traces
        assert "**development** (5 wordings, 1 seeds each" in text and "tau-bench search_before_flight_change" in text
    else:
        assert "**development** (3 wordings, 1 seeds each" in text and "Skipped (tau-bench data not found" in text
    assert "Only refund orders the return-window check found eligible." in text and "held-out" not in text.split(
        "Notes:")[0]
