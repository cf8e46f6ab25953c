"""HTTP pieces every source client shares: how long to wait, how to show a failed response."""

from __future__ import annotations

import email.utils
from datetime import datetime, timezone

import httpx

MAX_RETRY_AFTER_S = 60.0
BACKOFF_BASE_S = 0.5
BACKOFF_CAP_S = 30.0


def retry_after_seconds(response: httpx.Response) -> float | None:
    """Retry-After as seconds (a number or an HTTP date); None when absent or unreadable."""
    header = response.headers.get("Retry-After")
    if not header:
        return None
    header = header.strip()
    try:
        return max(0.0, float(header))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(header)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


def short_text(response: httpx.Response) -> str:
    """The first 200 characters of a response body, on one line."""
    return response.text.strip().replace("\n", " ")[:200]


def iso_utc(moment: datetime) -> str:
    """A datetime as ``2025-01-01T10:00:00.000Z`` (naive = UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
