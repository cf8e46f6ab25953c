"""A child missing a required layer runs nothing: no module code, no trace, no side effect."""

from __future__ import annotations

from pathlib import Path

import pytest

from chalicelib.sandbox import SandboxUnavailable, run_batch

# Validation off and the optional walls down: if this code ran at all, the file would appear
# (the canary directory is world-writable; creating an empty file needs no FSIZE).
LEAVE_MARK = '''
real = print.__globals__["sys"].modules["builtins"]

def eval_x(trace):
    real.open(trace["path"], "w").close()
    return (True, "marked")
'''
OFF = {"netns", "landlock", "seccomp"}


@pytest.mark.parametrize("layer", sorted(OFF))
def test_missing_required_layer_raises_and_runs_nothing(layer, canary):
    mark = Path(canary["write_path"])
    with pytest.raises(SandboxUnavailable, match=layer):
        run_batch(LEAVE_MARK, [{"id": "a", "path": str(mark)}], validate=False, require={layer}, skip_layers=OFF)
    assert not mark.exists()


def test_control_the_same_code_leaves_its_mark_when_nothing_is_required(canary):
    mark = Path(canary["write_path"])
    [result] = run_batch(LEAVE_MARK, [{"id": "a", "path": str(mark)}], validate=False, skip_layers=OFF)
    assert (result.result, result.reason) == ("pass", "marked"), result
    assert mark.exists()
