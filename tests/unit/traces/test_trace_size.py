"""The per-trace budget: a trace too large for its DynamoDB item or for one sandbox call fails
alone (TraceTooLarge, a ValueError the import page reports per line), before anything is written."""

from __future__ import annotations

import pytest

from chalicelib.traces.models import UnifiedTrace
from chalicelib.traces.repository import MAX_BODY_BYTES, TraceRepository, TraceTooLarge


def _trace(**fields) -> UnifiedTrace:
    return UnifiedTrace.model_validate({"id": "tr_1", "source": {"platform": "upload", "external_id": "x"}, **fields})


class _Unused:
    """Neither table nor bucket may be touched by a size check."""

    def __getattr__(self, name):
        raise AssertionError(f"check_size touched storage: {name}")


REPO = TraceRepository(_Unused(), _Unused(), times=_Unused(), inline_bytes=48 * 1024)


def test_a_body_past_the_sandbox_payload_budget_is_too_large():
    with pytest.raises(TraceTooLarge, match=f"the limit is {MAX_BODY_BYTES}"):
        REPO.check_size(_trace(output="x" * MAX_BODY_BYTES))


def test_a_summary_past_the_item_budget_is_too_large():
    with pytest.raises(TraceTooLarge, match="summary"):
        REPO.check_size(_trace(tags=[f"{i:08d}" + "t" * 100 for i in range(2500)]))


def test_an_ordinary_trace_fits():
    REPO.check_size(_trace(output="x" * 100_000, tags=["a", "b"]))
