"""The shared attack corpus through the real sandbox path, and every 'reject' entry again with
validation switched off, so the process layer is tested alone (SECURITY.md, "The attack corpus");
both under the host profile and the simulated Lambda one (seccomp alone)."""

from __future__ import annotations

from pathlib import Path

import pytest

from chalicelib.errors import CodeRejected
from chalicelib.sandbox import run_batch, validate_code
from tests.security.conftest import (ATTACKS_FILE, CANARY_FILE_TEXT, CANARY_SECRET, assert_within_caps,
                                     load_attacks, outcome_matches)

ATTACKS = load_attacks()
needs_corpus = pytest.mark.skipif(not ATTACKS, reason=f"needs {ATTACKS_FILE} (../shared is not beside this clone)")
REJECTS = [a for a in ATTACKS if a["expected"] == "reject"] or [None]
CONTAINED = [a for a in ATTACKS if a["expected"] == "contained"] or [None]
PWNED = Path("/tmp/pwned")


def _ids(entries):
    return [e["id"] if e else "corpus-missing" for e in entries]


@needs_corpus
def test_corpus_is_loaded_with_both_kinds():
    assert len(ATTACKS) >= 40
    assert {a["expected"] for a in ATTACKS} == {"reject", "contained"}


@needs_corpus
@pytest.mark.parametrize("attack", REJECTS, ids=_ids(REJECTS))
def test_reject_entry_is_refused_by_validation(attack):
    with pytest.raises(CodeRejected) as raised:
        validate_code(attack["code"])
    assert raised.value.reason


@needs_corpus
@pytest.mark.parametrize("attack", CONTAINED, ids=_ids(CONTAINED))
@pytest.mark.usefixtures("sandbox_profile")
def test_contained_entry_passes_validation_and_ends_in_its_category(attack, canary):
    assert validate_code(attack["code"]).startswith("eval_")
    allowed = attack["category"].split("|")
    traces = [{"id": "t1"}] if "timeout" in allowed else [{"id": "t1"}, {"id": "t2"}]
    # a short deadline only where a timeout is the expected end; the rest (e.g. a 10**6-deep list
    # that ends in MemoryError after ~1.5 s on a loaded machine) get the production deadline
    results = run_batch(attack["code"], traces, timeout_s=1.0 if "timeout" in allowed else 5.0)

    assert [r.trace_id for r in results] == [t["id"] for t in traces]
    for result in results:
        assert any(outcome_matches(c, result) for c in allowed), (attack["id"], result)
        assert_within_caps(result)
        assert CANARY_SECRET not in result.reason + result.stdout + result.stderr


@needs_corpus
@pytest.mark.parametrize("attack", REJECTS, ids=_ids(REJECTS))
@pytest.mark.usefixtures("sandbox_profile")
def test_reject_entry_run_without_validation_harms_nothing(attack, canary, listener):
    PWNED.unlink(missing_ok=True)
    trace = {"id": "t1", "canary_path": str(canary["file"]), "write_path": canary["write_path"],
             "port": listener.port}

    results = run_batch(attack["code"], [trace, {"id": "t2"}], validate=False, timeout_s=2.0)

    assert [r.trace_id for r in results] == ["t1", "t2"]
    for result in results:
        assert result.result in ("pass", "fail", "error", "timeout")
        assert_within_caps(result)
        seen = result.reason + result.stdout + result.stderr
        assert CANARY_SECRET not in seen
        assert CANARY_FILE_TEXT not in seen
        assert "uid=" not in seen  # no `id` ran
        assert "root:x:" not in seen
    assert not PWNED.exists()
    assert sorted(p.name for p in canary["dir"].iterdir()) == ["canary.txt"]
    assert listener.accepted == 0
