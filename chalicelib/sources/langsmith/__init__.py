"""LangSmith as a trace source: the API client and the normalizer to the unified trace."""

from chalicelib.sources.langsmith.client import LangSmithClient
from chalicelib.sources.langsmith.normalize import normalize_langsmith_trace

__all__ = ["LangSmithClient", "normalize_langsmith_trace"]
