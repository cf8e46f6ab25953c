"""Eval generation with any OpenAI-compatible chat endpoint (OpenAI, vLLM, Ollama, LM Studio,
hosted gateways) through the official ``openai`` SDK: a base URL and a model name.

The conversation, validation, retries and error tree are AnthropicGenerator's; only the wire
format differs (``chat.completions``, the system prompt as the first message, plain-string
contents because many compatible servers accept nothing else). A model missing from
chalicelib/generation/pricing.py costs 0.0: its tokens are still recorded per candidate.
"""

from __future__ import annotations

from typing import Any

import openai

from chalicelib.generation.anthropic import AnthropicGenerator, Reply


class OpenAICompatibleGenerator(AnthropicGenerator):
    """Writes eval functions with a model behind an OpenAI-compatible ``/chat/completions``."""

    name = "openai"
    vendor = "the OpenAI-compatible endpoint"
    key_hint = "the workspace's LLM settings (PUT /v1/workspace/llm)"
    sdk: Any = openai

    def _chat(self, model: str, system: str, messages: list[dict[str, Any]]) -> Reply:
        response = self._create(model, system, messages)
        choice = response.choices[0] if response.choices else None
        usage = response.usage
        return Reply(text=(choice.message.content or "") if choice else "",
                     input_tokens=usage.prompt_tokens if usage else 0,
                     output_tokens=usage.completion_tokens if usage else 0,
                     truncated=bool(choice and choice.finish_reason == "length"))

    def _send(self, model: str, system: str, messages: list[dict[str, Any]]) -> Any:
        chat = [{"role": "system", "content": system}] + [
            {"role": m["role"], "content": _plain(m["content"])} for m in messages]
        return self._client.chat.completions.create(model=model, messages=chat, max_tokens=self._max_output_tokens)


def _plain(content: str | list[dict[str, Any]]) -> str:
    """Anthropic-style text blocks as one string."""
    if isinstance(content, str):
        return content
    return "\n\n".join(block["text"] for block in content if block.get("type") == "text")
