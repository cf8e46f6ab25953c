"""HTTP pieces every source client shares: how long to wait, how to show a failed response."""

from __future__ import annotations

import email.utils
import random
from collections.abc import Callable
from typing import Any
from datetime import datetime, timezone

import httpx

from chalicelib.sources.models import SourceAuthError, TransientSourceError

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


RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


class RequestFailed(Exception):
    """The source answered a request with a non-retryable error (4xx other than auth, bad body)."""


class Retrier:
    """Sends a request until it succeeds: Retry-After on 429 (capped), jittered exponential backoff
    on 5xx, timeouts and connection errors, a bounded number of attempts; 401/403 never retried."""

    def __init__(self, *, source: str, max_attempts: int, sleep: Callable[[float], None], rng: random.Random):
        self.source = source
        self.max_attempts = max_attempts
        self.sleep = sleep
        self.rng = rng

    def send(self, request: Callable[[], httpx.Response], *, what: str) -> httpx.Response:
        """The first 2xx response; SourceAuthError, RequestFailed or TransientSourceError otherwise."""
        last_problem = ""
        for attempt in range(1, self.max_attempts + 1):
            try:
                response = request()
            except httpx.TimeoutException as exc:
                last_problem = f"timeout ({type(exc).__name__})"
                wait = self.backoff(attempt)
            except httpx.TransportError as exc:
                last_problem = f"connection failed ({type(exc).__name__}: {exc})"
                wait = self.backoff(attempt)
            else:
                status = response.status_code
                if status in (401, 403):
                    raise SourceAuthError(f"{self.source} refused the credentials (HTTP {status})")
                if status in RETRY_STATUSES or status >= 500:
                    last_problem = f"HTTP {status}"
                    retry_after = retry_after_seconds(response) if status == 429 else None
                    wait = min(retry_after, MAX_RETRY_AFTER_S) if retry_after is not None else self.backoff(attempt)
                elif status >= 400:
                    detail = short_text(response)
                    raise RequestFailed(f"HTTP {status}: {detail}" if detail else f"HTTP {status}")
                else:
                    return response
            if attempt < self.max_attempts:
                self.sleep(wait)
        raise TransientSourceError(
            f"{self.source} {what} failed after {self.max_attempts} attempts; last: {last_problem}")

    def backoff(self, attempt: int) -> float:
        ceiling = min(BACKOFF_CAP_S, BACKOFF_BASE_S * (2 ** (attempt - 1)))
        return ceiling * (0.5 + 0.5 * self.rng.random())


def json_object(response: httpx.Response) -> dict[str, Any]:
    """A response's JSON object body; RequestFailed for invalid JSON or another JSON type."""
    try:
        body = response.json()
    except ValueError as exc:
        raise RequestFailed(f"invalid JSON in HTTP {response.status_code} response") from exc
    if not isinstance(body, dict):
        raise RequestFailed(f"response is a JSON {type(body).__name__}, expected an object")
    return body
