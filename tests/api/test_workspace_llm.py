"""A workspace's own LLM through the API: an OpenAI-compatible endpoint (base URL + model) whose key
is sealed by KMS and never returned, checked by the SSRF guard, and chosen per request. The
endpoint is a loopback server answering in the recorded chat.completions shape; the real openai
SDK reaches it through the guarded transport."""

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from chalicelib import clients, wiring
from tests.conftest import new_workspace, private_sources

KEY = "sk-test-workspace-llm-key-0123456789"
MODEL = "qwen2.5-coder:32b"


class FakeChatServer:
    """/v1/chat/completions on 127.0.0.1: answers every request with a valid eval for the prompt's function."""

    def __init__(self):
        self.requests: list[dict] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.requests.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": body})
                name = re.search(r"def (eval_\w+)\(trace", body["messages"][0]["content"]).group(1)
                code = ("def pred_refund_without_lookup(trace: dict) -> bool:\n"
                        "    \"\"\"A refund was issued without looking the order up.\"\"\"\n"
                        "    names = [c.get(\"name\") for c in trace.get(\"tool_calls\") or []]\n"
                        "    return \"issue_refund\" in names and \"get_order\" not in names\n\n\n"
                        f"def {name}(trace: dict) -> tuple[bool, str]:\n"
                        "    names = [c.get(\"name\") for c in trace.get(\"tool_calls\") or []]\n"
                        "    if \"issue_refund\" in names and \"get_order\" not in names:\n"
                        "        return False, \"refund without looking the order up\"\n"
                        "    return True, \"order looked up before any refund\"\n")
                answer = {"id": "chatcmpl-1", "object": "chat.completion", "created": 1765000000, "model": MODEL,
                          "choices": [{"index": 0, "finish_reason": "stop", "logprobs": None,
                                       "message": {"role": "assistant", "content": f"Rule.\n```python\n{code}```"}}],
                          "usage": {"prompt_tokens": 1234, "completion_tokens": 56, "total_tokens": 1290}}
                data = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def _endpoints(allowed: str):
    """IOFOLD_ALLOW_PRIVATE_SOURCES for this test only, with the cached clients rebuilt on both sides."""
    with private_sources(allowed):
        clients.reset_clients()
        wiring.reset()
        yield
    clients.reset_clients()
    wiring.reset()


@pytest.fixture
def private_endpoints_allowed():
    """As the local stack's fakes: loopback allowed."""
    yield from _endpoints("1")


@pytest.fixture
def private_endpoints_refused():
    """As deployed: loopback and private addresses refused."""
    yield from _endpoints("0")


@pytest.fixture
def chat_server():
    server = FakeChatServer()
    yield server
    server.close()


def _rated_set(api) -> str:
    traces = api.upload_demo(16, seed=3)
    es = api.ok("POST", "/v1/eval-sets", {"name": "refunds", "criteria": "look the order up first"}, status=201)["id"]
    api.rate(es, traces)
    return es


def test_an_openai_compatible_endpoint_drives_generation_and_its_key_is_never_shown(
        http, private_endpoints_allowed, chat_server):
    api = new_workspace(http, "llm")
    saved = api.ok("PUT", "/v1/workspace/llm", {"provider": "openai", "base_url": chat_server.base_url + "/",
                                               "model": MODEL, "api_key": KEY})
    assert saved == {**saved, "provider": "openai", "base_url": chat_server.base_url, "model": MODEL,
                     "has_api_key": True}
    shown = api.get("/v1/workspace/llm")
    assert shown.status_code == 200 and KEY not in shown.body.decode()
    item = clients.dynamodb_table("workspaces").get_item(Key={"workspace_id": api.workspace_id})["Item"]
    assert KEY not in repr(item)  # sealed by KMS, not stored in the clear

    es = _rated_set(api)
    job = api.wait_ok(api.ok("POST", f"/v1/eval-sets/{es}/generate", {"generator": "openai", "candidates": 1},
                             status=202)["job_id"])
    result = job["result"]
    assert result["generator"] == "openai"
    assert chat_server.base_url in result["generator_reason"] and MODEL in result["generator_reason"]
    assert "hybrid" in result["generator_reason"] and result["selection"].startswith("chose candidate")
    # the model's predicate was measured in the sandbox (from the generate_candidates task) and competed
    assert "1 model predicate(s) competed" in result["selection"]
    assert chat_server.requests and all(r["auth"] == f"Bearer {KEY}" for r in chat_server.requests)
    assert {r["path"] for r in chat_server.requests} == {"/v1/chat/completions"}
    version = api.ok("GET", f"/v1/evals/{result['eval_id']}")
    assert version["generator"] == "openai" and version["model"] == MODEL
    assert version["generation"]["candidates"][0]["input_tokens"] == 1234
    assert version["generation"]["candidates"][0]["output_tokens"] == 56
    assert version["input_tokens"] == 1234 * len(chat_server.requests)  # every call, CV folds included

    # keep the key when it is omitted; the per-request model wins over the workspace's
    api.ok("PUT", "/v1/workspace/llm", {"provider": "openai", "base_url": chat_server.base_url, "model": "other"})
    assert api.ok("GET", "/v1/workspace/llm")["has_api_key"] is True
    before = len(chat_server.requests)
    api.wait_ok(api.ok("POST", f"/v1/eval-sets/{es}/generate", {"generator": "openai", "model": MODEL,
                                                               "candidates": 1}, status=202)["job_id"])
    assert {r["body"]["model"] for r in chat_server.requests[before:]} == {MODEL}
    assert all(r["auth"] == f"Bearer {KEY}" for r in chat_server.requests[before:])


def test_an_endpoint_at_a_refused_address_is_a_422_and_nothing_is_stored(api, private_endpoints_refused):
    for url in ("http://169.254.169.254/v1", "http://127.0.0.1:11434/v1", "file:///etc/passwd"):
        refused = api.put("/v1/workspace/llm", {"provider": "openai", "base_url": url, "model": MODEL})
        assert refused.status_code == 422, (url, refused.body)
        assert "base_url refused" in refused.json_body["error"]["message"]
    assert api.put("/v1/workspace/llm", {"provider": "openai", "model": MODEL}).status_code == 400
    assert api.get("/v1/workspace/llm").status_code == 404


def test_openai_requested_without_an_endpoint_fails_saying_why(api):
    es = _rated_set(api)
    job = api.wait_job(api.ok("POST", f"/v1/eval-sets/{es}/generate", {"generator": "openai"}, status=202)["job_id"])
    assert job["status"] == "failed" and job["error"].startswith("LlmKeyMissing"), job
    assert "PUT /v1/workspace/llm" in job["error"]


def test_every_connection_to_the_endpoint_goes_through_the_ssrf_guard(http, private_endpoints_allowed, chat_server,
                                                                      monkeypatch):
    api = new_workspace(http, "llm-guard")
    api.ok("PUT", "/v1/workspace/llm", {"provider": "openai", "base_url": chat_server.base_url, "model": MODEL})
    es = _rated_set(api)
    monkeypatch.delenv("IOFOLD_ALLOW_PRIVATE_SOURCES")  # as deployed: the saved loopback URL is now refused
    clients.reset_clients()
    job = api.wait_job(api.ok("POST", f"/v1/eval-sets/{es}/generate", {"generator": "openai"}, status=202)["job_id"])
    assert job["status"] == "failed" and "loopback" in job["error"], job
    assert chat_server.requests == []
