"""ISO 8601 UTC times."""

from __future__ import annotations

from datetime import datetime, timezone


def now_iso() -> str:
    """The current time as ``2026-11-27T18:00:00.123Z``."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
