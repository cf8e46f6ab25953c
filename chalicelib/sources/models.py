"""Contracts between a trace source adapter and the import task.

Errors raised by source clients::

    SourceError (chalicelib.errors, 502)      the source failed in a way retrying will not fix
    ├── SourceAuthError                       401/403: wrong or revoked credentials, never retried
    ├── SourceSettingsError                   the source answered, but not for the integration's
    │                                         settings (an unknown project); safe to show
    └── AddressRefused (sources/addresses.py) the URL resolves where sources may not be
    TransientSourceError                      429/5xx/timeouts after the client's own retries ran out;
                                              its class name is the Step Functions ``errorType`` to retry on
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from chalicelib.errors import SourceError


class ImportFilters(BaseModel):
    """Which traces to import from a source."""

    model_config = ConfigDict(extra="forbid")

    from_timestamp: datetime | None = Field(default=None, description="only traces at or after this time")
    to_timestamp: datetime | None = Field(default=None, description="only traces before this time")
    tags: list[str] = Field(default_factory=list, description="only traces carrying all of these tags")
    name: str | None = Field(default=None, description="only traces with this name")
    user_id: str | None = Field(default=None, description="only traces of this user")
    limit: int | None = Field(default=None, ge=1, description="most traces to import in total; None = all")


class SourceFailure(BaseModel):
    """One trace that could not be fetched, after retries."""

    model_config = ConfigDict(extra="forbid")

    external_id: str = Field(description="the trace's id in the source")
    reason: str = Field(description="why it failed, e.g. 'HTTP 404'")
    line: int | None = Field(default=None, description="for uploads: the failed line (1-based)")


class SourcePage(BaseModel):
    """One page of full traces from a source."""

    model_config = ConfigDict(extra="forbid")

    traces: list[dict[str, Any]] = Field(default_factory=list, description="raw full source traces")
    failures: list[SourceFailure] = Field(default_factory=list, description="traces of this page that failed")
    next_cursor: str | None = Field(default=None, description="opaque cursor for the next page; None when done")
    total: int | None = Field(default=None, description="traces matching the filters (capped by limit), if known")
    done_fraction: float | None = Field(default=None, description="how far through the source this page ends (0-1), if known")
    bytes_read: int | None = Field(default=None, description="for uploads: bytes this page read from storage")


class TransientSourceError(Exception):
    """The source kept failing with 429/5xx/timeouts after the client's retries; retry the task later."""


class SourceAuthError(SourceError):
    """The source refused the credentials (401/403)."""


class SourceSettingsError(SourceError):
    """The source answered, but the integration's settings do not match it (an unknown project).
    The message holds only our text and those settings, never the source's answer."""
