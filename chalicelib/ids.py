"""Identifiers: random ids with a type prefix, and deterministic trace ids."""

from __future__ import annotations

import secrets
import uuid
from typing import Annotated

from pydantic import StringConstraints

_TRACE_NAMESPACE = uuid.UUID("5b0f4c1e-7f0a-4f5e-9a49-1f0d7c2a9e01")


def new_id(prefix: str) -> str:
    """A random id such as ``es_3k9x…`` (prefix + 20 url-safe characters)."""
    return f"{prefix}_{secrets.token_hex(10)}"


def trace_id_for(integration_id: str, external_id: str) -> str:
    """The trace id for one external trace of one integration: re-imports upsert."""
    return "tr_" + uuid.uuid5(_TRACE_NAMESPACE, f"{integration_id}\x1f{external_id}").hex


ObjectId = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:\-]+$")]
"""An id in a request body (never empty: DynamoDB refuses empty key values)."""
