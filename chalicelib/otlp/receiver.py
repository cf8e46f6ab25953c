"""The OTLP/HTTP trace receiver (``POST /v1/otlp/v1/traces``): decode, validate, store, answer.

Bodies are ``ExportTraceServiceRequest`` messages, as protobuf (the SDKs' default, decoded with
the official ``opentelemetry-proto`` classes) or as OTLP/JSON, gzipped or not. Protobuf is turned
into the OTLP/JSON shape (base64 ids, int64 as strings: both read by ``sources.otlp.values``), so
every span goes through the one set of convention helpers the upload path uses. Each span is
checked alone by the normalizer; the ones it refuses are counted in ``partial_success``.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass
from typing import Any

from chalicelib.errors import PayloadTooLarge, ValidationError
from chalicelib.otlp.spans import SpanStore, StoredSpan
from chalicelib.sources.otlp import OtlpFormatError, group_spans, normalize_otlp_trace
from chalicelib.sources.otlp.grouping import span_entries
from chalicelib.sources.otlp.values import decode_id
from chalicelib.traces.uploads import GZIP_MAGIC

PROTOBUF = "application/x-protobuf"
JSON = "application/json"


@dataclass(frozen=True)
class ExportResult:
    """What one export request came to: spans stored, spans refused and why (the first reasons)."""

    accepted: int
    rejected: int
    message: str = ""


def media_type(content_type: str | None) -> str:
    """``application/x-protobuf`` or ``application/json`` (400 for anything else)."""
    kind = (content_type or "").split(";")[0].strip().lower()
    if kind in (PROTOBUF, "application/protobuf"):
        return PROTOBUF
    if kind == JSON:
        return JSON
    raise ValidationError(f"unsupported Content-Type {kind or '(none)'!r}: send {PROTOBUF} or {JSON}")


def decode_export_request(body: bytes, kind: str, content_encoding: str | None, *,
                          max_bytes: int) -> dict[str, Any]:
    """The request as an OTLP/JSON ``ExportTraceServiceRequest`` dict (400 undecodable, 413 too large);
    ``kind`` is what :func:`media_type` made of the Content-Type."""
    raw = _decompress(body, (content_encoding or "").strip().lower(), max_bytes)
    if kind == PROTOBUF:
        from google.protobuf.json_format import MessageToDict
        from google.protobuf.message import DecodeError
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

        try:
            message = ExportTraceServiceRequest.FromString(raw)
        except (DecodeError, ValueError) as exc:
            raise ValidationError(f"body is not an OTLP ExportTraceServiceRequest (protobuf): {exc}") from exc
        return MessageToDict(message)
    try:
        doc = json.loads(raw) if raw.strip() else {}
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValidationError(f"body is not valid JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise ValidationError("body must be an OTLP ExportTraceServiceRequest JSON object")
    return doc


def _decompress(body: bytes, encoding: str, max_bytes: int) -> bytes:
    # API Gateway may have inflated the body already (payload compression): only gzip magic is gzip
    if encoding in ("", "identity") or (encoding == "gzip" and not body.startswith(GZIP_MAGIC)):
        return body
    if encoding not in ("gzip", "deflate"):
        raise ValidationError(f"unsupported Content-Encoding {encoding!r}: send gzip or none")
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS if encoding == "gzip" else zlib.MAX_WBITS)
    try:
        out = inflater.decompress(body, max_bytes + 1)
    except zlib.error as exc:
        raise ValidationError(f"body is not valid {encoding}: {exc}") from exc
    if len(out) > max_bytes:
        raise PayloadTooLarge(f"the decompressed body exceeds the limit of {max_bytes} bytes")
    if not inflater.eof:
        raise ValidationError(f"body is truncated {encoding}")
    return out


def receive_export(workspace_id: str, request: dict[str, Any], *, spans: SpanStore) -> ExportResult:
    """Check each span with the upload path's normalizer, store the good ones keyed by span id."""
    if not request:  # an empty message: protobuf encodes one as no bytes at all
        return ExportResult(accepted=0, rejected=0)
    try:
        span_entries(request)
    except OtlpFormatError as exc:
        raise ValidationError(f"body is not an OTLP ExportTraceServiceRequest: {exc}") from exc
    traces, failures = group_spans([(None, request)])
    reasons = [f.reason for f in failures]
    stored: list[StoredSpan] = []
    for trace in traces:
        for entry in trace["spans"]:
            try:
                span_id = decode_id(entry["span"].get("spanId"), size=8, field="spanId")
                if span_id is None:
                    raise OtlpFormatError("no spanId")
                normalize_otlp_trace({"id": trace["id"], "spans": [entry]}, integration_id=None)
            except (OtlpFormatError, ValueError, TypeError) as exc:
                reasons.append(f"trace {trace['id']}: {exc}")
                continue
            stored.append(StoredSpan(trace_id=trace["id"], span_id=span_id, entry=_entry(entry)))
    spans.put_spans(workspace_id, stored)
    return ExportResult(accepted=len(stored), rejected=len(reasons), message="; ".join(reasons[:5]))


def _entry(entry: dict[str, Any]) -> dict[str, Any]:
    return {"resource": entry["resource"], "scope": entry["scope"], "span": entry["span"]}


def export_response(result: ExportResult, kind: str) -> tuple[bytes | str, str]:
    """The ``ExportTraceServiceResponse`` body in the request's encoding, and its Content-Type."""
    partial = {"rejectedSpans": str(result.rejected), "errorMessage": result.message} if result.rejected else None
    if kind == PROTOBUF:
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

        message = ExportTraceServiceResponse()
        if partial:
            message.partial_success.rejected_spans = result.rejected
            message.partial_success.error_message = result.message
        return message.SerializeToString(), PROTOBUF
    return json.dumps({"partialSuccess": partial} if partial else {}), JSON
