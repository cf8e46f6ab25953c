"""Langfuse as a trace source: the API client and the normalizer to the unified trace."""

from chalicelib.sources.langfuse.client import LangfuseClient
from chalicelib.sources.langfuse.normalize import normalize_langfuse_trace

__all__ = ["LangfuseClient", "normalize_langfuse_trace"]
