"""OpenAI stored chat completions (``store: true``) as a trace source."""

from chalicelib.sources.openai.client import OpenAIClient
from chalicelib.sources.openai.normalize import normalize_openai_trace

__all__ = ["OpenAIClient", "normalize_openai_trace"]
