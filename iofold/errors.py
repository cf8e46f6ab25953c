"""Exceptions the iofold client raises, mapped from the API's error codes.

    IofoldError
    ├── ConfigError           no API URL or key could be found (flags, environment, login file, local stack)
    ├── ConnectionFailed      the API could not be reached (after retries)
    ├── JobFailed             ``wait(..., check=True)`` on a job that failed or was cancelled
    └── ApiError              the API answered with an error: .status, .code, .message, .details, .request_id
        ├── ValidationError   400 VALIDATION_ERROR (.details says which fields)
        ├── Unauthenticated   401 UNAUTHENTICATED
        ├── Forbidden         403 FORBIDDEN
        ├── NotFound          404 NOT_FOUND (also another workspace's object)
        ├── MethodNotAllowed  405
        ├── Conflict          409 CONFLICT
        ├── PayloadTooLarge   413 PAYLOAD_TOO_LARGE
        ├── Unprocessable     422 UNPROCESSABLE (valid JSON, impossible request)
        ├── RateLimited       429 RATE_LIMITED (after the client's retries)
        └── ServerError       5xx INTERNAL (after the client's retries)
"""

from __future__ import annotations

from typing import Any


class IofoldError(Exception):
    """Anything the iofold client raises."""


class ConfigError(IofoldError):
    """No API URL or key was configured."""


class ConnectionFailed(IofoldError):
    """The API could not be reached."""


class JobFailed(IofoldError):
    """A job ended failed or cancelled."""

    def __init__(self, job: Any):
        self.job = job
        super().__init__(f"job {job.id} {job.status}: {job.error or ''}".rstrip(": "))


class ApiError(IofoldError):
    """The API answered with an error in its contract's shape."""

    def __init__(self, status: int, code: str, message: str, details: list | None = None,
                 request_id: str | None = None):
        self.status, self.code, self.message = status, code, message
        self.details = details or []
        self.request_id = request_id
        super().__init__(f"{status} {code}: {message}")


class ValidationError(ApiError):
    """400: the request's fields were wrong; ``details`` says which."""


class Unauthenticated(ApiError):
    """401: no key, or a key the API does not know."""


class Forbidden(ApiError):
    """403: the key's role may not do this."""


class NotFound(ApiError):
    """404: no such object in the key's workspace."""


class MethodNotAllowed(ApiError):
    """405."""


class Conflict(ApiError):
    """409: the object's state forbids it now."""


class PayloadTooLarge(ApiError):
    """413."""


class Unprocessable(ApiError):
    """422: well-formed but impossible (e.g. generate with no negative examples)."""


class RateLimited(ApiError):
    """429, still after the client's retries."""


class ServerError(ApiError):
    """5xx, still after the client's retries."""


BY_CODE: dict[str, type[ApiError]] = {
    "VALIDATION_ERROR": ValidationError, "UNAUTHENTICATED": Unauthenticated, "FORBIDDEN": Forbidden,
    "NOT_FOUND": NotFound, "METHOD_NOT_ALLOWED": MethodNotAllowed, "CONFLICT": Conflict,
    "PAYLOAD_TOO_LARGE": PayloadTooLarge, "UNPROCESSABLE": Unprocessable, "RATE_LIMITED": RateLimited,
    "INTERNAL": ServerError,
}
BY_STATUS: dict[int, type[ApiError]] = {
    400: ValidationError, 401: Unauthenticated, 403: Forbidden, 404: NotFound, 405: MethodNotAllowed,
    409: Conflict, 413: PayloadTooLarge, 422: Unprocessable, 429: RateLimited,
}


def error_from_response(status: int, body: Any) -> ApiError:
    """The exception for an error response: by the body's code, else by the status."""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        error = {"code": "HTTP_%d" % status, "message": str(body)[:500] if body else f"HTTP {status}"}
    code = str(error.get("code") or f"HTTP_{status}")
    cls = BY_CODE.get(code) or BY_STATUS.get(status) or (ServerError if status >= 500 else ApiError)
    return cls(status, code, str(error.get("message", "")), error.get("details") or [], error.get("request_id"))
