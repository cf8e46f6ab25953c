"""ISO 8601 UTC times."""

from __future__ import annotations

from datetime import datetime, timezone


def format_iso(moment: datetime) -> str:
    """An aware datetime as ``2026-11-27T18:00:00.123Z`` (UTC, milliseconds)."""
    utc = moment.astimezone(timezone.utc)
    # the year by hand: strftime's %Y does not pad years before 1000 on glibc ("296-09-29"), which
    # fromisoformat refuses and which sorts wrongly as text
    return f"{utc.year:04d}" + utc.strftime("-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def now_iso() -> str:
    """The current time as ``2026-11-27T18:00:00.123Z``."""
    return format_iso(datetime.now(timezone.utc))
