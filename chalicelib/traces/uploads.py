"""Uploaded trace files: where they live in S3, how a job prepares and pages through them.

An upload is one object under ``uploads/<workspace>/<upload_id>``, sent either in the body of
``POST /v1/traces/upload`` or straight to S3 through a presigned PUT (``POST /v1/traces/uploads``,
then ``…/{upload_id}/import``). The import job then runs, in order:

1. ``prepare_upload`` (once): checks the object's size, detects gzip by its magic bytes and
   decompresses it as a stream with a cap (a gzip bomb fails the job before anything is
   written), and for OTLP groups every span of the file by traceId, writing one grouped trace
   per line. Its output is the file the pages read: the upload itself when it is plain JSON
   Lines, else a prepared file under ``jobs/<workspace>/<job_id>/``.
2. ``read_upload_page`` (per page): ranged reads from a byte offset (``jsonlines.read_lines``),
   so the whole job reads the file about once.
"""

from __future__ import annotations

import json
import zlib
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable, Iterator

from botocore.exceptions import ClientError
from pydantic import BaseModel

from chalicelib.errors import NotFound
from chalicelib.jobs.failures import FAILURES_INLINE, FailureLog
from chalicelib.jobs.repository import JobRepository
from chalicelib.sources.models import SourceFailure, SourcePage
from chalicelib.sources.otlp import group_spans
from chalicelib.storage import is_missing_object
from chalicelib.timeutil import format_iso
from chalicelib.traces.models import UploadFormat, UploadTicket
from chalicelib.traces.jsonlines import MAX_DEPTH, MAX_LINE_BYTES, Cursor, LineError, iter_lines, parse_line, read_lines

GZIP_MAGIC = b"\x1f\x8b"
STREAM_CHUNK = 1024 * 1024
PART_BYTES = 8 * 1024 * 1024
PUT_URL_TTL_S = 15 * 60
# grouping wraps each OTLP span in {"spans": [{"span": …}]}: the prepared lines may nest a little deeper
_PREPARED_DEPTH = MAX_DEPTH + 8


class UploadRejected(Exception):
    """The uploaded file as a whole cannot be imported (gone, too large, not gzip after all …);
    its class name is the Step Functions ``errorType`` the import state machine catches."""


class UploadRecord(BaseModel):
    """What is kept beside a presigned upload until it is imported."""

    upload_id: str
    format: UploadFormat
    filename: str
    content_encoding: str | None = None
    created_at: str
    expires_at: str
    job_id: str | None = None


class UploadStore:
    """Upload objects and their records in the data bucket; the only place that knows their keys."""

    def __init__(self, bucket: Any, presigner: Any, *, max_bytes: int, url_ttl_s: int = PUT_URL_TTL_S):
        self._bucket = bucket
        self._s3 = bucket.meta.client
        self._presigner = presigner
        self.max_bytes = max_bytes
        self._ttl = url_ttl_s

    @staticmethod
    def upload_key(workspace_id: str, upload_id: str) -> str:
        return f"uploads/{workspace_id}/{upload_id}"

    @staticmethod
    def _record_key(workspace_id: str, upload_id: str) -> str:
        return f"uploads/{workspace_id}/{upload_id}.record.json"

    @staticmethod
    def prepared_key(workspace_id: str, job_id: str) -> str:
        return f"jobs/{workspace_id}/{job_id}/upload.jsonl"

    def put(self, workspace_id: str, upload_id: str, body: bytes) -> str:
        """Store a file sent in a request body; its key."""
        key = self.upload_key(workspace_id, upload_id)
        self._bucket.put_object(Key=key, Body=body, ContentType="application/octet-stream")
        return key

    def presign_put(self, workspace_id: str, record: UploadRecord) -> UploadTicket:
        """Keep the record and return a presigned PUT for the file."""
        self.save_record(workspace_id, record)
        content_type = "application/gzip" if record.content_encoding == "gzip" else "application/x-ndjson"
        url = self._presigner.generate_presigned_url(
            "put_object", ExpiresIn=self._ttl, HttpMethod="PUT",
            Params={"Bucket": self._bucket.name, "Key": self.upload_key(workspace_id, record.upload_id),
                    "ContentType": content_type})
        return UploadTicket(upload_id=record.upload_id, put_url=url, headers={"Content-Type": content_type},
                            expires_at=record.expires_at, max_bytes=self.max_bytes,
                            import_path=f"/v1/traces/uploads/{record.upload_id}/import")

    def new_record(self, upload_id: str, fmt: UploadFormat, filename: str, content_encoding: str | None) -> UploadRecord:
        now = datetime.now(timezone.utc)
        return UploadRecord(upload_id=upload_id, format=fmt, filename=filename, content_encoding=content_encoding,
                            created_at=format_iso(now), expires_at=format_iso(now + timedelta(seconds=self._ttl)))

    def save_record(self, workspace_id: str, record: UploadRecord) -> None:
        self._bucket.put_object(Key=self._record_key(workspace_id, record.upload_id),
                                Body=record.model_dump_json().encode(), ContentType="application/json")

    def record(self, workspace_id: str, upload_id: str) -> UploadRecord:
        """The record of a presigned upload; 404 when this workspace has none by that id."""
        try:
            body = self._s3.get_object(Bucket=self._bucket.name, Key=self._record_key(workspace_id, upload_id))["Body"]
        except ClientError as exc:
            if is_missing_object(exc):
                raise NotFound(f"upload {upload_id} not found") from exc
            raise
        return UploadRecord.model_validate_json(body.read())

    def size(self, key: str) -> int | None:
        """The object's size in bytes; None when it does not exist."""
        try:
            return int(self._s3.head_object(Bucket=self._bucket.name, Key=key)["ContentLength"])
        except ClientError as exc:
            if is_missing_object(exc):
                return None
            raise

    def delete(self, key: str) -> None:
        self._s3.delete_object(Bucket=self._bucket.name, Key=key)

    def read_range(self, key: str, start: int, end: int) -> bytes:
        """Bytes [start, end) of the object."""
        return self._s3.get_object(Bucket=self._bucket.name, Key=key, Range=f"bytes={start}-{end - 1}")["Body"].read()

    def stream(self, key: str) -> Iterator[bytes]:
        """The object's bytes, front to back, a chunk at a time."""
        body = self._s3.get_object(Bucket=self._bucket.name, Key=key)["Body"]
        try:
            yield from body.iter_chunks(chunk_size=STREAM_CHUNK)
        finally:
            body.close()

    def writer(self, key: str) -> "ObjectWriter":
        return ObjectWriter(self._s3, self._bucket.name, key)


class ObjectWriter:
    """Writes an object of any size as it is produced (multipart past one part); nothing is
    visible under the key unless ``close`` completes, and ``abort`` leaves nothing behind."""

    def __init__(self, s3: Any, bucket_name: str, key: str):
        self._s3, self._bucket, self.key = s3, bucket_name, key
        self._buffer = bytearray()
        self._upload_id: str | None = None
        self._parts: list[dict] = []
        self.size = 0

    def write(self, data: bytes) -> None:
        self._buffer += data
        self.size += len(data)
        if len(self._buffer) >= PART_BYTES:
            self._flush_part()

    def _flush_part(self) -> None:
        if self._upload_id is None:
            self._upload_id = self._s3.create_multipart_upload(Bucket=self._bucket, Key=self.key)["UploadId"]
        number = len(self._parts) + 1
        etag = self._s3.upload_part(Bucket=self._bucket, Key=self.key, UploadId=self._upload_id, PartNumber=number,
                                    Body=bytes(self._buffer))["ETag"]
        self._parts.append({"ETag": etag, "PartNumber": number})
        self._buffer.clear()

    def close(self) -> None:
        if self._upload_id is None:
            self._s3.put_object(Bucket=self._bucket, Key=self.key, Body=bytes(self._buffer))
            return
        if self._buffer:
            self._flush_part()
        self._s3.complete_multipart_upload(Bucket=self._bucket, Key=self.key, UploadId=self._upload_id,
                                           MultipartUpload={"Parts": self._parts})

    def abort(self) -> None:
        if self._upload_id is not None:
            self._s3.abort_multipart_upload(Bucket=self._bucket, Key=self.key, UploadId=self._upload_id)


def gunzip(chunks: Iterable[bytes], *, limit: int) -> Iterator[bytes]:
    """Decompress a gzip stream (several concatenated members too) chunk by chunk; UploadRejected
    as soon as the output passes ``limit`` bytes, so a gzip bomb costs at most ``limit``."""
    decoder = zlib.decompressobj(wbits=31)
    in_member = False
    total = 0
    for chunk in chunks:
        data = chunk
        while data:
            if not in_member and not data.strip(b"\x00"):
                break  # zero padding after the last member
            in_member = True
            try:
                out = decoder.decompress(data, STREAM_CHUNK)
            except zlib.error as exc:
                raise UploadRejected(f"the upload is not valid gzip: {exc}") from None
            total += len(out)
            if total > limit:
                raise UploadRejected(f"the upload decompresses to more than {limit} bytes (the limit)")
            if out:
                yield out
            if decoder.eof:
                data, decoder, in_member = decoder.unused_data, zlib.decompressobj(wbits=31), False
            else:
                data = decoder.unconsumed_tail
    if in_member:
        try:
            out = decoder.flush()
        except zlib.error as exc:
            raise UploadRejected(f"the upload is not valid gzip: {exc}") from None
        if total + len(out) > limit:
            raise UploadRejected(f"the upload decompresses to more than {limit} bytes (the limit)")
        if out:
            yield out
        if not decoder.eof:
            raise UploadRejected("the upload's gzip data is truncated")


# --- the job's steps ----------------------------------------------------------------------


def prepare_upload(workspace_id: str, job_id: str, params: dict[str, Any], *, jobs: JobRepository,
                   uploads: UploadStore, failure_log: FailureLog) -> dict[str, Any] | None:
    """The job params with the file the pages read (``file_key``, ``file_size``, ``numbered``);
    None when the job is no longer running. Raises UploadRejected for a file that cannot be read."""
    if not jobs.mark_running(workspace_id, job_id):
        return None
    source = params["upload_key"]
    size = uploads.size(source)
    if size is None:
        raise UploadRejected("the uploaded file is gone")
    if size > uploads.max_bytes:
        raise UploadRejected(f"the upload is {size} bytes; the limit is {uploads.max_bytes}")
    head = uploads.read_range(source, 0, 2) if size >= 2 else b""
    gzipped = head == GZIP_MAGIC
    chunks = uploads.stream(source)
    if gzipped:
        chunks = gunzip(chunks, limit=uploads.max_bytes)
    if params.get("format") == "otlp":
        writer = uploads.writer(uploads.prepared_key(workspace_id, job_id))
        _write_otlp_traces(iter_lines(chunks), writer, workspace_id, job_id, jobs=jobs, failure_log=failure_log)
        return {**params, "file_key": writer.key, "file_size": writer.size, "numbered": "doc"}
    if gzipped:
        writer = uploads.writer(uploads.prepared_key(workspace_id, job_id))
        _copy(chunks, writer)
        return {**params, "file_key": writer.key, "file_size": writer.size, "numbered": "file"}
    return read_as_is(params, size=size, head=head)


def read_as_is(params: dict[str, Any], *, size: int, head: bytes) -> dict[str, Any] | None:
    """The params the pages read when the uploaded file needs no preparing (neither OTLP, whose spans are
    grouped first, nor gzipped: ``head`` is its first bytes): the file itself; else None. The API calls it
    with the file it holds, so such an import starts at its first page (no PrepareUpload step)."""
    if params.get("format") == "otlp" or head[:2] == GZIP_MAGIC:
        return None
    return {**params, "file_key": params["upload_key"], "file_size": size, "numbered": "file"}


def _copy(chunks: Iterable[bytes], writer: ObjectWriter) -> None:
    try:
        for chunk in chunks:
            writer.write(chunk)
    except BaseException:
        writer.abort()
        raise
    writer.close()


PREPARE_PART = "a-prepare"  # before every page's part (p…): the file's failures found while grouping


def _write_otlp_traces(lines: Iterable, writer: ObjectWriter, workspace_id: str, job_id: str, *,
                       jobs: JobRepository, failure_log: FailureLog) -> None:
    """Group every span of the file by traceId (a trace is never stored in pieces) and write one
    grouped trace per line; line failures go straight to the job's counters."""
    failures: list[SourceFailure] = []

    def documents():
        for line in lines:
            if line.error:
                failures.append(_line_failure(line.number, line.error))
                continue
            try:
                yield line.number, parse_line(line.data)
            except LineError as exc:
                failures.append(_line_failure(line.number, str(exc)))

    try:
        traces, span_failures = group_spans(documents())
        for trace in traces:
            writer.write(json.dumps(trace, separators=(",", ":")).encode() + b"\n")
    except BaseException:
        writer.abort()
        raise
    writer.close()
    failures += span_failures
    if failures:
        records = [failure_record(f.reason, line=f.line, external_id=f.external_id) for f in failures]
        failure_log.write(workspace_id, job_id, PREPARE_PART, records)
        jobs.add_counts(workspace_id, job_id, {"failed": len(failures)}, progress=None,
                        failures=records[:FAILURES_INLINE], once="upload-prepare")


def read_upload_page(uploads: UploadStore, params: dict[str, Any], cursor: str | None) -> SourcePage:
    """One page of the prepared upload, from the cursor's byte offset."""
    key, size = params["file_key"], int(params["file_size"])
    page = read_lines(lambda start, end: uploads.read_range(key, start, end), size, Cursor.decode(cursor),
                      max_line_bytes=MAX_LINE_BYTES if params.get("numbered") == "file" else 4 * MAX_LINE_BYTES)
    prepared = params.get("numbered") == "doc"
    traces: list[dict[str, Any]] = []
    failures: list[SourceFailure] = []
    for line in page.lines:
        try:
            if line.error:
                raise LineError(line.error)
            doc = parse_line(line.data, max_depth=_PREPARED_DEPTH if prepared else MAX_DEPTH)
        except LineError as exc:
            failures.append(_line_failure(line.number, str(exc)))
            continue
        if not isinstance(doc, dict):
            failures.append(_line_failure(line.number, "not a JSON object"))
            continue
        if not prepared:
            doc["__line__"] = line.number
        traces.append(doc)
    return SourcePage(traces=traces, failures=failures, next_cursor=page.next.encode() if page.next else None,
                      done_fraction=page.end_offset / size if size else 1.0, bytes_read=page.bytes_read)


def _line_failure(number: int, reason: str) -> SourceFailure:
    return SourceFailure(external_id=f"line {number}", line=number, reason=f"line {number}: {reason}")


MAX_REASON_CHARS = 500
MAX_EXTERNAL_ID_CHARS = 200


def failure_record(reason: str, *, line: int | None = None, external_id: str | None = None) -> dict[str, Any]:
    """One entry of a job's ``failures``, with bounded strings (the job item must stay < 400 KB)."""
    record: dict[str, Any] = {"external_id": _clip(external_id, MAX_EXTERNAL_ID_CHARS),
                              "reason": _clip(reason, MAX_REASON_CHARS)}
    if line is not None:
        record["line"] = line
    return record


def _clip(text: str | None, limit: int) -> str | None:
    if text is None or len(text) <= limit:
        return text
    return text[: limit - 1] + "…"
