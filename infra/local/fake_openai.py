"""A fake OpenAI stored-completions API, built from the public API's shapes, for tests.

``GET /v1/chat/completions`` (``limit``, ``after``, ``order``, ``model``, ``metadata[key]=value``)
lists stored completions as ``{"object": "list", "data", "first_id", "last_id", "has_more"}``;
``GET /v1/chat/completions/{id}/messages`` lists a completion's request messages the same way;
``GET /v1/chat/completions/{id}`` returns one. Bearer-key auth (401 otherwise), and the shared
faults of fake_source (429 with Retry-After, 500s, delays).
"""

from __future__ import annotations

import json
import random
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from infra.local.fake_source import FakeSource, FakeSourceHandler

MAX_LIMIT = 100


class FakeOpenAI(FakeSource):
    """Stored chat completions, each with its request ``messages``."""

    label = "fake OpenAI"

    def __init__(self, completions: list[dict[str, Any]], *, api_key: str = "sk-test", **kw: Any):
        super().__init__(**kw)
        self.api_key = api_key
        self.completions = {str(c["id"]): c for c in completions}

    def list_completions(self, query: list[tuple[str, str]]) -> tuple[int, Any]:
        params = dict(query)
        metadata = {k[len("metadata["):-1]: v for k, v in query if k.startswith("metadata[") and k.endswith("]")}
        found = [c for c in self.completions.values()
                 if all(str((c.get("metadata") or {}).get(k)) == v for k, v in metadata.items())
                 and (not params.get("model") or c.get("model") == params["model"])]
        found.sort(key=lambda c: (c["created"], c["id"]), reverse=params.get("order", "asc") == "desc")
        listed = [{k: v for k, v in c.items() if k != "messages"} for c in found]
        return _page(listed, params)

    def list_messages(self, completion_id: str, query: list[tuple[str, str]]) -> tuple[int, Any]:
        completion = self.completions.get(completion_id)
        if completion is None:
            return 404, _error(f"No chat completion found with id '{completion_id}'.", "not_found")
        params = dict(query)
        messages = [{"id": f"{completion_id}-{i}", **m} for i, m in enumerate(completion.get("messages") or [])]
        if params.get("order") == "desc":
            messages.reverse()
        return _page(messages, params)

    def get_completion(self, completion_id: str) -> tuple[int, Any]:
        completion = self.completions.get(completion_id)
        if completion is None:
            return 404, _error(f"No chat completion found with id '{completion_id}'.", "not_found")
        return 200, {k: v for k, v in completion.items() if k != "messages"}


def _error(message: str, code: str) -> dict:
    return {"error": {"message": message, "type": "invalid_request_error", "param": None, "code": code}}


def _page(items: list[dict[str, Any]], params: dict[str, str]) -> tuple[int, Any]:
    try:
        limit = min(int(params.get("limit", 20)), MAX_LIMIT)
    except ValueError:
        return 400, _error("limit must be an integer", "invalid_value")
    start = 0
    if params.get("after"):
        ids = [str(i["id"]) for i in items]
        if params["after"] not in ids:
            return 400, _error(f"after: no item with id '{params['after']}'", "invalid_value")
        start = ids.index(params["after"]) + 1
    chunk = items[start:start + limit]
    return 200, {"object": "list", "data": chunk, "first_id": chunk[0]["id"] if chunk else None,
                 "last_id": chunk[-1]["id"] if chunk else None, "has_more": start + limit < len(items)}


class _Handler(FakeSourceHandler):
    fake: FakeOpenAI
    error_key = "error"

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        parts = urlsplit(self.path)
        path = parts.path.rstrip("/")
        query = parse_qsl(parts.query)
        fake = self.fake
        number = self.begin(path)
        if self.headers.get("Authorization") != f"Bearer {fake.api_key}":
            self.send_json(401, _error("Incorrect API key provided.", "invalid_api_key"))
            return
        if self.send_fault(number):
            return
        prefix = "/v1/chat/completions"
        if path == prefix:
            self.send_json(*fake.list_completions(query))
        elif path.startswith(prefix + "/") and path.endswith("/messages"):
            self.send_json(*fake.list_messages(unquote(path[len(prefix) + 1:-len("/messages")]), query))
        elif path.startswith(prefix + "/"):
            self.send_json(*fake.get_completion(unquote(path[len(prefix) + 1:])))
        else:
            self.send_json(404, _error("Not found", "not_found"))


FakeOpenAI.handler = _Handler


def make_completions(conversations: int, singles: int = 0, *, seed: int = 3, group_key: str = "conversation_id",
                     start: int = 1_741_000_000) -> list[dict[str, Any]]:
    """Stored completions of a support agent: each conversation is two completions (a tool call, then
    the answer after the tool's result) sharing ``metadata[group_key]``; singles have no such key."""
    rng = random.Random(seed)
    out: list[dict[str, Any]] = []
    created = start
    system = {"role": "system", "content": "You are Ava, the support assistant of Northwind Outfitters."}
    for n in range(conversations):
        order = f"NW-{rng.randint(100000, 999999)}"
        user = {"role": "user", "content": f"Where is my order {order}?"}
        call = {"id": f"call_{n}", "type": "function",
                "function": {"name": "get_order", "arguments": json.dumps({"order_id": order})}}
        asked = {"role": "assistant", "content": None, "tool_calls": [call]}
        failed = n % 3 == 2
        result = {"role": "tool", "tool_call_id": call["id"],
                  "content": "error: order service unavailable" if failed else json.dumps({"status": "shipped"})}
        meta = {group_key: f"conv-{n}", "user_id": f"user-{n % 4}"}
        created += rng.randint(60, 600)
        out.append(_completion(f"chatcmpl-{n}a", created, [system, user], asked, meta, "tool_calls"))
        answer = ("Sorry, I could not look your order up just now." if failed
                  else f"Your order {order} has shipped.")
        created += rng.randint(1, 5)
        out.append(_completion(f"chatcmpl-{n}b", created, [system, user, asked, result],
                               {"role": "assistant", "content": answer}, meta, "stop"))
    for n in range(singles):
        created += rng.randint(60, 600)
        out.append(_completion(f"chatcmpl-single-{n}", created,
                               [{"role": "user", "content": f"Recommend a tent for {n + 2} people."}],
                               {"role": "assistant", "content": "The Trailhead 4 fits four."}, {}, "stop"))
    return out


def _completion(cid: str, created: int, messages: list[dict], message: dict, metadata: dict,
                finish: str) -> dict[str, Any]:
    return {"id": cid, "object": "chat.completion", "created": created, "model": "gpt-4o-mini-2024-07-18",
            "request_id": f"req_{cid}", "tool_choice": None, "usage": {
                "prompt_tokens": 20 * len(messages), "completion_tokens": 12, "total_tokens": 20 * len(messages) + 12},
            "seed": None, "top_p": 1.0, "temperature": 1.0, "presence_penalty": 0.0, "frequency_penalty": 0.0,
            "system_fingerprint": "fp_test", "input_user": None, "service_tier": "default", "tools": None,
            "metadata": metadata, "choices": [{"index": 0, "message": {**message, "refusal": None, "annotations": []},
                                               "finish_reason": finish, "logprobs": None}],
            "response_format": None, "messages": messages}
