"""iofold's Python client and CLI: ``from iofold import Client``; ``iofold --help``."""

from iofold.client import Client
from iofold.errors import (
    ApiError, ConfigError, Conflict, ConnectionFailed, Forbidden, IofoldError, JobFailed, NotFound, PayloadTooLarge,
    RateLimited, ServerError, Unauthenticated, Unprocessable, ValidationError,
)

__version__ = "0.1.0"
__all__ = ["ApiError", "Client", "ConfigError", "Conflict", "ConnectionFailed", "Forbidden", "IofoldError",
           "JobFailed", "NotFound", "PayloadTooLarge", "RateLimited", "ServerError", "Unauthenticated",
           "Unprocessable", "ValidationError"]
