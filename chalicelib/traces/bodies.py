"""Trace bodies in S3, many to an object: each import page's bodies are one object of concatenated,
independent gzip members (``traces/<workspace>/pages/<page_id>.gz``), and a trace's item keeps the
page id, its member's byte offset and length. One PUT per page (S3 PUTs cost 12.5 times a GET),
ranged GETs to read them back.

Reading coalesces: the wanted members of one object whose gaps are at most ``GAP_BYTES`` are read by
one ranged GET (a chunk of traces imported together is usually one GET of one object); the GETs of
one read run concurrently.

Erasing: a deleted or re-imported trace's member is overwritten with zero bytes, so offsets of the
other members stay valid and its content is gone from S3 (a zeroed member reads as missing). The
object is read, patched and written back with ``If-Match`` on the ETag it was read at; a concurrent
rewrite of the same object makes S3 answer 412 and the patch is redone on the newer object. An object
whose every member is zero is deleted.

Known leftover: an import page that fails after its PUT and before all its items were written is
retried with a new page object; its old object keeps copies no item names (not listed, not read, and
not erased by a later delete). The job's files and the bucket's lifecycle do not cover them.
"""

from __future__ import annotations

import contextvars
import gzip
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Iterable, NamedTuple

from botocore.exceptions import ClientError

from chalicelib.ids import new_id
from chalicelib.storage import is_missing_object

GAP_BYTES = 256 * 1024  # read across a gap up to this rather than make another request
ERASE_ATTEMPTS = 8
READERS = 16  # concurrent ranged GETs in one read (the S3 client keeps 32 connections)
_GZIP_MAGIC = b"\x1f\x8b"


class Member(NamedTuple):
    """Where one trace body lives: its page, byte offset and length in that page's object."""

    page: str
    offset: int
    length: int


class BodyConflict(RuntimeError):
    """A page object kept changing under an erase (more than ERASE_ATTEMPTS concurrent rewrites)."""


class PageWriter:
    """Collects one page's gzipped bodies; ``members`` are known before the single PUT."""

    def __init__(self) -> None:
        self.page = new_id("pg")
        self._parts: list[bytes] = []
        self._size = 0

    def add(self, packed: bytes) -> Member:
        member = Member(self.page, self._size, len(packed))
        self._parts.append(packed)
        self._size += len(packed)
        return member

    def __bool__(self) -> bool:
        return bool(self._parts)

    def body(self) -> bytes:
        return b"".join(self._parts)


class PageBodies:
    """The page objects of one bucket; the only place that knows their keys."""

    def __init__(self, bucket: Any):
        self._bucket = bucket

    @property
    def _s3(self) -> Any:
        return self._bucket.meta.client

    @staticmethod
    def key(workspace_id: str, page: str) -> str:
        return f"traces/{workspace_id}/pages/{page}.gz"

    def write(self, workspace_id: str, page: PageWriter) -> None:
        """One PUT of the page's members (nothing when it has none)."""
        if page:
            self._s3.put_object(Bucket=self._bucket.name, Key=self.key(workspace_id, page.page), Body=page.body(),
                                ContentType="application/gzip")

    def read(self, workspace_id: str, wanted: dict[str, Member]) -> dict[str, bytes]:
        """The gzipped body of each wanted id (by id); members erased or objects gone are left out. The
        ranged GETs run READERS at a time (a chunk of traces listed by time may span many pages)."""
        by_page: dict[str, list[tuple[str, Member]]] = defaultdict(list)
        for trace_id, member in wanted.items():
            by_page[member.page].append((trace_id, member))
        reads = [(self.key(workspace_id, page), *span) for page, members in by_page.items()
                 for span in _coalesce(members)]
        if len(reads) > 1:
            with ThreadPoolExecutor(max_workers=min(READERS, len(reads))) as pool:  # each in the caller's context
                found = [f.result() for f in [pool.submit(contextvars.copy_context().run, self._read_range, *r)
                                              for r in reads]]
        else:
            found = [self._read_range(*r) for r in reads]
        return {trace_id: packed for part in found for trace_id, packed in part.items()}

    def _read_range(self, key: str, start: int, end: int, group: list[tuple[str, Member]]) -> dict[str, bytes]:
        try:
            data = self._s3.get_object(Bucket=self._bucket.name, Key=key, Range=f"bytes={start}-{end - 1}")["Body"].read()
        except ClientError as exc:
            if is_missing_object(exc):
                return {}
            raise
        out = {}
        for trace_id, member in group:
            packed = data[member.offset - start: member.offset - start + member.length]
            if packed[:2] == _GZIP_MAGIC:
                out[trace_id] = packed
        return out

    def erase(self, workspace_id: str, members: Iterable[Member]) -> None:
        """Overwrite these members with zeros (one conditional rewrite per object); delete objects left empty."""
        by_page: dict[str, list[Member]] = defaultdict(list)
        for member in members:
            by_page[member.page].append(member)
        for page, group in by_page.items():
            self._erase_in(self.key(workspace_id, page), group)

    def _erase_in(self, key: str, members: list[Member]) -> None:
        for _ in range(ERASE_ATTEMPTS):
            try:
                got = self._s3.get_object(Bucket=self._bucket.name, Key=key)
            except ClientError as exc:
                if is_missing_object(exc):
                    return
                raise
            data = bytearray(got["Body"].read())
            for m in members:
                data[m.offset:m.offset + m.length] = bytes(min(m.length, max(0, len(data) - m.offset)))
            try:
                if not any(data):
                    self._s3.delete_object(Bucket=self._bucket.name, Key=key)
                else:
                    self._s3.put_object(Bucket=self._bucket.name, Key=key, Body=bytes(data),
                                        ContentType="application/gzip", IfMatch=got["ETag"])
                return
            except ClientError as exc:
                if is_missing_object(exc):  # emptied and deleted by a concurrent erase
                    return
                if exc.response["Error"]["Code"] not in ("PreconditionFailed", "412", "ConditionalRequestConflict"):
                    raise
        raise BodyConflict(f"{key} changed under {ERASE_ATTEMPTS} erase attempts")


def _coalesce(members: list[tuple[str, Member]]) -> list[tuple[int, int, list[tuple[str, Member]]]]:
    """Byte ranges [start, end) to GET, each with the members it covers: sorted, merged across small gaps."""
    ranges: list[tuple[int, int, list[tuple[str, Member]]]] = []
    for trace_id, m in sorted(members, key=lambda tm: tm[1].offset):
        if ranges and m.offset - ranges[-1][1] <= GAP_BYTES:
            start, end, group = ranges[-1]
            group.append((trace_id, m))
            ranges[-1] = (start, max(end, m.offset + m.length), group)
        else:
            ranges.append((m.offset, m.offset + m.length, [(trace_id, m)]))
    return ranges


def pack(body: bytes) -> bytes:
    """One body as an independent gzip member."""
    return gzip.compress(body, compresslevel=5)
