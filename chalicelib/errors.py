"""Domain errors. Routes never choose status codes: ``app.py`` maps these classes to HTTP.

    IofoldError                      500 INTERNAL (never shows a stack trace)
    ├── ValidationError              400 VALIDATION_ERROR  (bad JSON, wrong types, bad query)
    ├── Unauthenticated              401 UNAUTHENTICATED
    ├── Forbidden                    403 FORBIDDEN          (role too low)
    ├── NotFound                     404 NOT_FOUND          (also: another workspace's object)
    ├── Conflict                     409 CONFLICT           (duplicate name, wrong state)
    ├── PayloadTooLarge              413 PAYLOAD_TOO_LARGE
    ├── Unprocessable                422 UNPROCESSABLE      (valid request, impossible to do)
    │   └── CodeRejected             422 with the line and reason of rejected eval code
    ├── RateLimited                  429 RATE_LIMITED       (Retry-After when retry_after is set)
    ├── Unavailable                  503 UNAVAILABLE        (storage throttled; always Retry-After)
    └── SourceError                  502 SOURCE_ERROR       (a trace source failed)

Step Functions task errors (``TransientSourceError`` …) are defined next to their tasks:
their class name is the ``errorType`` that ASL ``Retry``/``Catch`` match.
"""

from __future__ import annotations

from typing import Any


class IofoldError(Exception):
    status = 500
    code = "INTERNAL"

    def __init__(self, message: str, details: list[Any] | None = None):
        super().__init__(message)
        self.message = message
        self.details = details or []


class ValidationError(IofoldError):
    status = 400
    code = "VALIDATION_ERROR"


class Unauthenticated(IofoldError):
    status = 401
    code = "UNAUTHENTICATED"


class Forbidden(IofoldError):
    status = 403
    code = "FORBIDDEN"


class NotFound(IofoldError):
    status = 404
    code = "NOT_FOUND"


class Conflict(IofoldError):
    status = 409
    code = "CONFLICT"


class PayloadTooLarge(IofoldError):
    status = 413
    code = "PAYLOAD_TOO_LARGE"


class Unprocessable(IofoldError):
    status = 422
    code = "UNPROCESSABLE"


class CodeRejected(Unprocessable):
    """Eval code refused by static validation; ``line`` is 1-based, or None for the whole file."""

    def __init__(self, reason: str, line: int | None = None):
        where = f"line {line}: " if line else ""
        super().__init__(f"eval code rejected: {where}{reason}", [{"line": line, "reason": reason}])
        self.reason = reason
        self.line = line


class RateLimited(IofoldError):
    status = 429
    code = "RATE_LIMITED"
    retry_after: int | None = None  # seconds, sent as Retry-After when set


class Unavailable(IofoldError):
    """Storage is shedding load (throttled): the client should retry after ``retry_after`` seconds."""

    status = 503
    code = "UNAVAILABLE"

    def __init__(self, message: str, retry_after: int = 5):
        super().__init__(message)
        self.retry_after = retry_after


class SourceError(IofoldError):
    status = 502
    code = "SOURCE_ERROR"


class GenerationError(Unprocessable):
    """No valid eval code could be generated."""
