"""Listing, reading and deleting traces; starting imports and uploads."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any, Mapping, get_args

from pydantic import BaseModel, Field

from chalicelib.auth.models import Caller
from chalicelib.errors import Conflict, NotFound, PayloadTooLarge, ValidationError
from chalicelib.ids import new_id
from chalicelib.integrations.repository import IntegrationRepository
from chalicelib.jobs import service as jobs_service
from chalicelib.jobs.models import Job
from chalicelib.jobs.repository import JobRepository
from chalicelib.paging import Page
from chalicelib.timeutil import format_iso
from chalicelib.traces.repository import TraceRepository
from chalicelib.traces.summary import TraceSummary
from chalicelib.traces.models import CreateUploadRequest, ImportRequest, UploadFormat, UploadTicket
from chalicelib.traces.uploads import GZIP_MAGIC, UploadStore, read_as_is

__all__ = ["CreateUploadRequest", "ImportRequest", "UploadTicket"]

UPLOAD_ID = re.compile(r"up_[0-9a-f]{20}")


TRACE_PLATFORMS = ("langfuse", "langsmith", "openai", "otlp", "upload")
_INTEGRATION_ID = re.compile(r"^int_[0-9a-f]{20}$")
# the filters POST /v1/evals/{id}/execute takes in its body (as GET /v1/traces takes them in the query)
TRACE_FILTER_KEYS = ("source", "tag", "name", "integration_id", "from", "to")


def parse_time_bound(name: str, value: str | None) -> str | None:
    """``from``/``to``: an ISO 8601 date or time (400 otherwise). A time not already in UTC ``Z``
    form is converted to it, so it compares correctly with stored timestamps."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except (ValueError, TypeError) as exc:
        raise ValidationError(f"{name} must be an ISO 8601 date or time, e.g. 2026-01-31 or 2026-01-31T12:00:00Z",
                              [{"field": name}]) from exc
    if len(value) <= 10 or value.endswith("Z"):
        return value
    return format_iso(moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc))


def parse_source(value: str | None) -> str | None:
    """``source``: a trace platform or an integration id (400 otherwise)."""
    if not value:
        return None
    if value in TRACE_PLATFORMS or _INTEGRATION_ID.match(value):
        return value
    raise ValidationError(f"source must be one of {', '.join(TRACE_PLATFORMS)} or an integration id",
                          [{"field": "source"}])


def parse_trace_range(values: Mapping[str, Any]) -> dict[str, str | None]:
    """``from``, ``to`` and ``source`` of a trace filter, validated: the one parser behind every route
    that filters traces by them (GET /v1/traces, the matrix, execute's ``filters``)."""
    return {"from": parse_time_bound("from", values.get("from")), "to": parse_time_bound("to", values.get("to")),
            "source": parse_source(values.get("source"))}


def parse_trace_filters(filters: Mapping[str, Any]) -> dict[str, Any]:
    """Filters given as a JSON object (execute's ``filters``), validated like GET /v1/traces' query:
    400 for an unknown key, a non-string value or a bad ``from``/``to``/``source``."""
    unknown = sorted(set(filters) - set(TRACE_FILTER_KEYS))
    if unknown:
        raise ValidationError(f"unknown filters {', '.join(unknown)}; known: {', '.join(TRACE_FILTER_KEYS)}",
                              [{"field": f"filters.{k}"} for k in unknown])
    not_text = [k for k, v in filters.items() if v is not None and not isinstance(v, str)]
    if not_text:
        raise ValidationError(f"filter values must be strings: {', '.join(not_text)}",
                              [{"field": f"filters.{k}"} for k in not_text])
    return {**filters, **parse_trace_range(filters)}


class TraceFilters(BaseModel):
    """Query filters of GET /v1/traces."""

    source: str | None = Field(default=None, description="a platform (langfuse, otlp …) or 'upload'")
    tag: str | None = None
    name: str | None = None
    integration_id: str | None = None
    from_: str | None = Field(default=None, alias="from")
    to: str | None = None
    rated_ids: set[str] | None = Field(default=None, description="with rated: the traces rated in the eval set")
    rated: bool | None = None

    def keep(self, s: TraceSummary) -> bool:
        if self.source and self.source not in (s.source.platform, s.source.integration_id, s.source.kind):
            return False
        if self.integration_id and s.source.integration_id != self.integration_id:
            return False
        if self.tag and self.tag not in s.tags:
            return False
        if self.name and s.name != self.name:
            return False
        if self.rated is not None and self.rated_ids is not None and (s.id in self.rated_ids) != self.rated:
            return False
        return True


def list_traces(caller: Caller, filters: TraceFilters, *, limit: int, cursor: str | None,
                traces: TraceRepository) -> Page[TraceSummary]:
    needs_filter = any([filters.source, filters.tag, filters.name, filters.integration_id, filters.rated is not None])
    items, nxt = traces.list(caller.workspace_id, limit=limit, cursor=cursor, since=filters.from_, until=filters.to,
                             keep=filters.keep if needs_filter else None)
    return Page[TraceSummary](items=items, next_cursor=nxt)


def get_trace(caller: Caller, trace_id: str, *, traces: TraceRepository) -> dict[str, Any]:
    return traces.get(caller.workspace_id, trace_id)


def delete_trace(caller: Caller, trace_id: str, *, traces: TraceRepository) -> None:
    traces.delete(caller.workspace_id, trace_id)


def start_import(caller: Caller, req: ImportRequest, *, integrations: IntegrationRepository, jobs: JobRepository,
                 sfn: Any, state_machine_arn: str) -> Job:
    """Start importing from an integration (404 for another workspace's integration)."""
    integration = integrations.get(caller.workspace_id, req.integration_id)
    params = {"integration_id": req.integration_id, "filters": req.filters.model_dump(mode="json"),
              "format": integration.platform}
    return jobs_service.start_job(caller.workspace_id, "import", params, state_machine_arn=state_machine_arn,
                                  jobs=jobs, sfn=sfn)


def start_upload(caller: Caller, body: bytes, fmt: str | None, *, content_encoding: str | None,
                 uploads: UploadStore, jobs: JobRepository, sfn: Any, state_machine_arn: str) -> Job:
    """Keep a file sent in the request body (JSON Lines, gzipped or not) and start importing it."""
    fmt = _upload_format(fmt)
    encoding = (content_encoding or "identity").strip().lower()
    if encoding not in ("identity", "gzip"):
        raise ValidationError("Content-Encoding must be gzip or identity", [{"field": "Content-Encoding",
                                                                              "value": content_encoding}])
    if encoding == "gzip" and not body.startswith(GZIP_MAGIC):
        raise ValidationError("the body says Content-Encoding: gzip but is not gzip data")
    if not body.strip():
        raise ValidationError("the upload is empty: send one JSON trace per line")
    upload_id = new_id("up")
    key = uploads.put(caller.workspace_id, upload_id, body)
    return _start_upload_job(caller, upload_id, key, fmt, size=len(body), head=body[:2], jobs=jobs, sfn=sfn,
                             state_machine_arn=state_machine_arn)


def create_upload(caller: Caller, req: CreateUploadRequest, *, uploads: UploadStore) -> UploadTicket:
    """A presigned S3 PUT for a file past the API's request limit (import it with ``import_upload``)."""
    record = uploads.new_record(new_id("up"), req.format, req.filename, req.content_encoding)
    return uploads.presign_put(caller.workspace_id, record)


def import_upload(caller: Caller, upload_id: str, *, uploads: UploadStore, jobs: JobRepository, sfn: Any,
                  state_machine_arn: str) -> Job:
    """Start importing a file PUT to its presigned URL: 404 for another workspace's upload id,
    409 before the file arrived, 413 past the size limit; a second call returns the same job."""
    if not UPLOAD_ID.fullmatch(upload_id):
        raise NotFound(f"upload {upload_id[:80]} not found")
    record = uploads.record(caller.workspace_id, upload_id)
    if record.job_id:
        return jobs.get(caller.workspace_id, record.job_id)
    key = uploads.upload_key(caller.workspace_id, upload_id)
    size = uploads.size(key)
    if size is None:
        raise Conflict(f"upload {upload_id} has no file yet: PUT it to the put_url first")
    if size > uploads.max_bytes:
        uploads.delete(key)
        raise PayloadTooLarge(f"the uploaded file is {size} bytes; the limit is {uploads.max_bytes}")
    if size == 0:
        raise ValidationError("the uploaded file is empty: send one JSON trace per line")
    job = _start_upload_job(caller, upload_id, key, record.format, size=size, head=uploads.read_range(key, 0, min(2, size)),
                            jobs=jobs, sfn=sfn, state_machine_arn=state_machine_arn)
    uploads.save_record(caller.workspace_id, record.model_copy(update={"job_id": job.id}))
    return job


def _upload_format(fmt: str | None) -> UploadFormat:
    if fmt not in get_args(UploadFormat):
        raise ValidationError("format must be langfuse, unified or otlp", [{"field": "format", "value": fmt}])
    return fmt  # type: ignore[return-value]


def _start_upload_job(caller: Caller, upload_id: str, key: str, fmt: str, *, size: int, head: bytes,
                      jobs: JobRepository, sfn: Any, state_machine_arn: str) -> Job:
    params = {"format": fmt, "upload_id": upload_id, "upload_key": key}
    params = read_as_is(params, size=size, head=head) or params  # else the job's PrepareUpload step names the file
    return jobs_service.start_job(caller.workspace_id, "upload", params, state_machine_arn=state_machine_arn,
                                  jobs=jobs, sfn=sfn)
