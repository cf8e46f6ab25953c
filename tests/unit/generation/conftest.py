"""Fixtures for generator tests: no API key in the environment, no socket may connect, a scripted Messages API."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any

import anthropic
import httpx2
import openai
import pytest

API_HOST = "api.anthropic.com"


@pytest.fixture(autouse=True)
def no_anthropic_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """Remove ANTHROPIC_API_KEY so nothing can pick up a real key."""
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail any attempt to open a real connection (the mock transport never needs one)."""

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError(f"a test tried to open a network connection: {args!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def message(text: str, *, input_tokens: int = 1000, output_tokens: int = 200, stop_reason: str = "end_turn",
            model: str = "claude-sonnet-5-5") -> httpx2.Response:
    """A Messages API success response with one text block."""
    return httpx2.Response(
        200,
        json={
            "id": "msg_test",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [{"type": "text", "text": text}],
            "stop_reason": stop_reason,
            "stop_sequence": None,
            "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens},
        },
    )


def api_error(status: int, error_type: str, text: str = "test error", headers: dict[str, str] | None = None) -> httpx2.Response:
    """A Messages API error response."""
    return httpx2.Response(
        status, headers=headers or {}, json={"type": "error", "error": {"type": error_type, "message": text}}
    )


Reply = httpx2.Response | Exception | Callable[[dict[str, Any]], "httpx2.Response"]


class FakeMessagesAPI:
    """The Messages API behind httpx2.MockTransport: plays replies in order and records request bodies."""

    def __init__(self, replies: list[Reply] | None = None, *, default: Reply | None = None, host: str = API_HOST,
                 path: str = "/v1/messages"):
        self.host, self.path = host, path
        self.replies = list(replies or [])
        self.default = default
        self.bodies: list[dict[str, Any]] = []
        self.calls = 0
        self.problems: list[AssertionError] = []
        self._lock = threading.Lock()

    def handle(self, request: httpx2.Request) -> httpx2.Response:
        """Answer one HTTP request made by the SDK."""
        try:
            assert request.url.host == self.host and request.url.path == self.path, request.url
            assert "test" in (request.headers.get("x-api-key"), request.headers.get("authorization", "")[7:])
        except AssertionError as exc:
            # The SDK turns transport exceptions into APIConnectionError; keep the real cause for teardown.
            self.problems.append(exc)
            raise
        body = json.loads(request.content)
        with self._lock:
            self.calls += 1
            self.bodies.append(body)
            reply = self.replies.pop(0) if self.replies else self.default
        if reply is None:
            self.problems.append(AssertionError("the fake Messages API ran out of scripted replies"))
            raise self.problems[-1]
        if isinstance(reply, Exception):
            raise reply
        if callable(reply):
            return reply(body)
        return reply

    def client(self, max_retries: int = 0) -> anthropic.Anthropic:
        """A real SDK client whose HTTP goes to this fake."""
        transport = httpx2.MockTransport(self.handle)
        return anthropic.Anthropic(api_key="test", http_client=httpx2.Client(transport=transport), max_retries=max_retries)

    def openai_client(self, base_url: str) -> openai.OpenAI:
        """A real OpenAI SDK client for ``base_url`` whose HTTP goes to this fake."""
        transport = httpx2.MockTransport(self.handle)
        return openai.OpenAI(api_key="test", base_url=base_url, http_client=httpx2.Client(transport=transport),
                             max_retries=0)


@pytest.fixture
def fake_api() -> Iterator[Callable[..., FakeMessagesAPI]]:
    """Build FakeMessagesAPI instances; fails the test if any saw an unexpected request.

    A fixture rather than an import, so conftest module names never collide.
    """
    made: list[FakeMessagesAPI] = []

    def build(*args: Any, **kwargs: Any) -> FakeMessagesAPI:
        made.append(FakeMessagesAPI(*args, **kwargs))
        return made[-1]

    yield build
    problems = [p for api in made for p in api.problems]
    assert not problems, f"the fake Messages API saw unexpected requests: {problems}"


def completion(text: str, *, prompt_tokens: int = 1000, completion_tokens: int = 200, finish_reason: str = "stop",
               model: str = "qwen2.5-coder:32b") -> httpx2.Response:
    """A chat.completions success response (the shape OpenAI, vLLM and Ollama return)."""
    return httpx2.Response(200, json={
        "id": "chatcmpl-test", "object": "chat.completion", "created": 1765000000, "model": model,
        "system_fingerprint": "fp_test",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text, "refusal": None},
                     "logprobs": None, "finish_reason": finish_reason}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                  "total_tokens": prompt_tokens + completion_tokens}})


def chat_error(status: int, code: str, text: str = "test error") -> httpx2.Response:
    """A chat.completions error response."""
    return httpx2.Response(status, json={"error": {"message": text, "type": code, "param": None, "code": code}})


@pytest.fixture
def reply() -> SimpleNamespace:
    """Builders of scripted responses: reply.message(text), reply.error(status, type) (Messages API);
    reply.completion(text), reply.chat_error(status, code) (chat.completions)."""
    return SimpleNamespace(message=message, error=api_error, completion=completion, chat_error=chat_error)
