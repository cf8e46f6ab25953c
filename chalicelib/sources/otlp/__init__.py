"""OTLP/JSON trace uploads (OpenInference and OpenTelemetry GenAI conventions) -> the unified trace."""

from chalicelib.sources.otlp.grouping import group_otlp_page, group_spans
from chalicelib.sources.otlp.normalize import normalize_otlp_trace
from chalicelib.sources.otlp.values import OtlpFormatError

__all__ = ["OtlpFormatError", "group_otlp_page", "group_spans", "normalize_otlp_trace"]
