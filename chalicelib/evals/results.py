"""What one result means against one human rating (the matrix, the diff and the drill-down agree on it)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from chalicelib.metrics import compute_metrics


def agrees(rating: str | None, result: str | None) -> bool | None:
    """True/False for a pass/fail against a positive/negative rating; None for neutral, unrated, error, timeout."""
    if rating not in ("positive", "negative") or result not in ("pass", "fail"):
        return None
    return (rating == "positive") == (result == "pass")


def metrics_on(ratings: Iterable[tuple[str, str]], results: Mapping[str, str]) -> dict:
    """chalicelib.metrics over (trace_id, rating) pairs with each trace's result (None when it has not run)."""
    return compute_metrics((rating, results.get(trace_id)) for trace_id, rating in ratings).model_dump(mode="json")
