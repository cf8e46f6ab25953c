"""Regroup uploaded OTLP export requests (one per JSON line) into one raw trace per traceId.

A line may hold spans of several traces, and a trace's spans may arrive on several lines
(exporters batch by time, not by trace): spans are merged by traceId across every line of
the upload (``traces.uploads.prepare_upload`` groups the whole file once, then pages read the
grouped traces).

What fails where: a line whose envelope (resourceSpans/scopeSpans/spans) is not a list of
objects fails as a whole line; a span without a readable traceId fails alone (it belongs
to no trace); anything else wrong in a span fails its trace in the normalizer.
"""

from __future__ import annotations

from typing import Any, Iterable

from chalicelib.sources.models import SourceFailure, SourcePage
from chalicelib.sources.otlp.values import OtlpFormatError, decode_id

LINE_KEY = "__line__"


def group_otlp_page(page: SourcePage) -> SourcePage:
    """The same page with each OTLP export request line replaced by the traces its spans belong to."""
    documents = [(doc.pop(LINE_KEY, None) if isinstance(doc, dict) else None, doc) for doc in page.traces]
    traces, failures = group_spans(documents)
    return page.model_copy(update={"traces": traces, "failures": [*page.failures, *failures]})


def group_spans(documents: Iterable[tuple[int | None, Any]]) -> tuple[list[dict[str, Any]], list[SourceFailure]]:
    """Raw traces ({id, __line__, lines, spans: [{line, resource, scope, span}]}) in first-seen order, and line failures."""
    traces: dict[str, dict[str, Any]] = {}
    failures: list[SourceFailure] = []
    for line, doc in documents:
        where = f"line {line}" if line is not None else "request"
        try:
            entries = span_entries(doc)
        except OtlpFormatError as exc:
            failures.append(SourceFailure(external_id=where, line=line,
                                          reason=f"{where}: not an OTLP export request: {exc}"))
            continue
        for position, (resource, scope, span) in enumerate(entries, start=1):
            try:
                trace_id = decode_id(span.get("traceId"), size=16, field="traceId")
                if trace_id is None:
                    raise OtlpFormatError("no traceId")
            except OtlpFormatError as exc:
                failures.append(SourceFailure(external_id=where, line=line,
                                              reason=f"{where}: span {position} ({_span_label(span)}): {exc}"))
                continue
            trace = traces.setdefault(trace_id, {"id": trace_id, LINE_KEY: line, "lines": [], "spans": []})
            if line is not None and line not in trace["lines"]:
                trace["lines"].append(line)
            trace["spans"].append({"line": line, "resource": resource, "scope": scope, "span": span})
    return list(traces.values()), failures


def span_entries(doc: Any) -> list[tuple[dict[str, Any], dict[str, Any], dict[str, Any]]]:
    """(resource, scope, span) of every span in one export request (OtlpFormatError for a bad envelope)."""
    if not isinstance(doc, dict):
        raise OtlpFormatError("a line must be a JSON object")
    if "resourceSpans" not in doc:
        raise OtlpFormatError("no 'resourceSpans'")
    entries = []
    for resource_spans in _objects(doc["resourceSpans"], "resourceSpans"):
        resource = resource_spans.get("resource") or {}
        if not isinstance(resource, dict):
            raise OtlpFormatError("resource must be an object")
        scope_list = resource_spans.get("scopeSpans", resource_spans.get("instrumentationLibrarySpans"))
        for scope_spans in _objects(scope_list, "scopeSpans"):
            scope = scope_spans.get("scope", scope_spans.get("instrumentationLibrary")) or {}
            if not isinstance(scope, dict):
                raise OtlpFormatError("scope must be an object")
            for span in _objects(scope_spans.get("spans"), "spans"):
                entries.append((resource, scope, span))
    return entries


def _objects(value: Any, field: str) -> list[dict[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise OtlpFormatError(f"'{field}' must be a list of objects")
    return value


def _span_label(span: dict[str, Any]) -> str:
    name = span.get("name")
    return repr(name) if isinstance(name, str) else "unnamed"
