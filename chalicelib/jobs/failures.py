"""A job's failures (traces or lines that could not be imported), unbounded in number: every one is
written to the job's files in S3, in parts of at most PART_SIZE (one set of parts per page of work, so
a retried page overwrites its own); the job item keeps only the count (``counters.failed``) and the
first FAILURES_INLINE, so it stays far below DynamoDB's 400 KB. ``GET /v1/jobs/{id}/failures`` pages
through the parts in order; a cursor names a part and an offset in it."""

from __future__ import annotations

import hashlib
from typing import Any

from chalicelib.errors import ValidationError
from chalicelib.jobs.files import JobFiles
from chalicelib.storage import decode_cursor, encode_cursor

FAILURES_INLINE = 20
"""Failures the job item (and so GET /v1/jobs/{id} and the job's result) carries."""
PART_SIZE = 1000
_FOLDER = "failures/"


def part_name(page: int, cursor: str | None) -> str:
    """The parts of one page of work: ordered by page, unique per page even when numbering restarts."""
    return f"p{page:08d}-{hashlib.sha256((cursor or '').encode()).hexdigest()[:12]}"


class FailureLog:
    def __init__(self, files: JobFiles):
        self._files = files

    def write(self, workspace_id: str, job_id: str, part: str, failures: list[dict[str, Any]]) -> None:
        """Store ``failures`` as ``part`` (in pieces of PART_SIZE); writing the same part again replaces it."""
        for n, start in enumerate(range(0, len(failures), PART_SIZE)):
            self._files.put(workspace_id, job_id, f"{_FOLDER}{part}-{n:05d}", failures[start:start + PART_SIZE])

    def page(self, workspace_id: str, job_id: str, *, limit: int,
             cursor: str | None) -> tuple[list[dict[str, Any]], str | None]:
        """Up to ``limit`` failures from ``cursor`` and the cursor after them (None at the end); reads at
        most the parts the page spans."""
        name, offset = _decode(cursor, job_id)
        if name is None:
            name = self._next_part(workspace_id, job_id, after=None)
        out: list[dict[str, Any]] = []
        while name is not None:
            part = self._files.get(workspace_id, job_id, _FOLDER + name)
            taken = part[offset:offset + limit - len(out)]
            out += taken
            offset += len(taken)
            if len(out) == limit:
                if offset < len(part):
                    return out, _encode(job_id, name, offset)
                following = self._next_part(workspace_id, job_id, after=name)
                return out, _encode(job_id, following, 0) if following else None
            name, offset = self._next_part(workspace_id, job_id, after=name), 0
        return out, None

    def _next_part(self, workspace_id: str, job_id: str, *, after: str | None) -> str | None:
        names = self._files.names(workspace_id, job_id, _FOLDER, after=_FOLDER + after if after else None, limit=1)
        return names[0][len(_FOLDER):] if names else None


def _encode(job_id: str, name: str, offset: int) -> str:
    return encode_cursor({"j": job_id, "p": name, "o": offset})  # type: ignore[return-value]


def _decode(cursor: str | None, job_id: str) -> tuple[str | None, int]:
    doc = decode_cursor(cursor)
    if doc is None:
        return None, 0
    if (doc.get("j") != job_id or not isinstance(doc.get("p"), str) or not doc["p"].replace("-", "").isalnum()
            or not isinstance(doc.get("o"), int) or doc["o"] < 0):
        raise ValidationError("invalid cursor")
    return doc["p"], doc["o"]
