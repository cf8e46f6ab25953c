"""Shared fixtures: one local stack (moto server + real state machines + app handlers) per
test process; every test works in workspaces of its own, so tests do not see each other."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from chalicelib.jobs.polling import poll_job

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
TAUBENCH = SHARED / "data" / "taubench-airline"
PRIVATE_SOURCES = "IOFOLD_ALLOW_PRIVATE_SOURCES"

# Nothing in tests may reach the network: no real Anthropic key, even for session fixtures
# that read settings before the autouse fixture below runs.
os.environ.pop("ANTHROPIC_API_KEY", None)
os.environ.setdefault("IOFOLD_ALLOW_SIGNUP", "true")
os.environ.setdefault("IOFOLD_RESOURCE_PREFIX", "iofold-test")
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
os.environ.setdefault("IOFOLD_LOG_LEVEL", "WARNING")


def requires_shared(path: Path = TAUBENCH):
    """Skip (visibly) when ../shared is not beside the checkout, as in a user's clone."""
    return pytest.mark.skipif(not path.exists(), reason=f"needs {path} (../shared is not beside this clone)")


@pytest.fixture(autouse=True)
def _no_anthropic_key(monkeypatch):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)


@contextmanager
def private_sources(value: str) -> Iterator[None]:
    """IOFOLD_ALLOW_PRIVATE_SOURCES set to ``value`` inside the block, the settings re-read on both sides."""
    from chalicelib.config import reset_settings

    previous = os.environ.get(PRIVATE_SOURCES)
    os.environ[PRIVATE_SOURCES] = value
    reset_settings()
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(PRIVATE_SOURCES, None)
        else:
            os.environ[PRIVATE_SOURCES] = previous
        reset_settings()


@pytest.fixture
def private_sources_refused() -> Iterator[None]:
    """Sources may not be on loopback or private addresses, as in a deployed stack."""
    with private_sources("0"):
        yield


@pytest.fixture
def private_sources_allowed() -> Iterator[None]:
    """Sources may be on loopback and private addresses, as in the local stack."""
    with private_sources("1"):
        yield


@pytest.fixture(scope="session")
def stack():
    from app import app
    from chalicelib import wiring
    from infra.local.dev import lambda_handlers
    from infra.local.stack import LocalStack, scope_api

    # the fake sources tests start listen on loopback, which only this setting lets sources use
    os.environ[PRIVATE_SOURCES] = "1"
    scope_api(app)
    local = LocalStack(lambda_handlers(app), data_dir=None).start()
    wiring.reset()
    yield local
    local.stop()


class Api:
    """A signed-in API caller over chalice.test.Client."""

    def __init__(self, http: Any, key: str | None, workspace_id: str | None = None):
        self.http = http
        self.key = key
        self.workspace_id = workspace_id

    def _headers(self, extra: dict | None = None) -> dict:
        headers = {"Content-Type": "application/json"}
        if self.key:
            headers["Authorization"] = f"Bearer {self.key}"
        return {**headers, **(extra or {})}

    def call(self, method: str, path: str, body: Any = None, *, raw: bytes | str | None = None,
             headers: dict | None = None):
        data = raw if raw is not None else (json.dumps(body) if body is not None else None)
        return getattr(self.http, method.lower())(path, headers=self._headers(headers), body=data)

    def get(self, path: str, **kw):
        return self.call("GET", path, **kw)

    def post(self, path: str, body: Any = None, **kw):
        return self.call("POST", path, body, **kw)

    def put(self, path: str, body: Any = None, **kw):
        return self.call("PUT", path, body, **kw)

    def patch(self, path: str, body: Any = None, **kw):
        return self.call("PATCH", path, body, **kw)

    def delete(self, path: str, **kw):
        return self.call("DELETE", path, **kw)

    def ok(self, method: str, path: str, body: Any = None, *, status: int | None = None, **kw) -> Any:
        """Call and assert a 2xx (or ``status``); the JSON body."""
        response = self.call(method, path, body, **kw)
        expected = status or response.status_code
        assert response.status_code == expected and response.status_code < 300, (
            f"{method} {path} -> {response.status_code}: {response.body[:500]!r}")
        return response.json_body

    def wait_job(self, job_id: str, timeout_s: float = 120) -> dict:
        """Poll a job until it ends; the job."""
        return poll_job(lambda: self.ok("GET", f"/v1/jobs/{job_id}"), timeout_s=timeout_s)

    def all_traces(self) -> list[dict]:
        """Every trace summary of the workspace, through all pages of GET /v1/traces."""
        items, cursor = [], None
        while True:
            page = self.ok("GET", "/v1/traces?limit=200" + (f"&cursor={cursor}" if cursor else ""))
            items += page["items"]
            cursor = page["next_cursor"]
            if not cursor:
                return items

    def run_import(self, integration_id: str, filters: dict | None = None, timeout_s: float = 300) -> dict:
        """Start an import from an integration and wait for it; the ended job."""
        job = self.ok("POST", "/v1/traces/import", {"integration_id": integration_id, "filters": filters or {}},
                      status=202)
        return self.wait_job(job["job_id"], timeout_s=timeout_s)

    def wait_ok(self, job_id: str, timeout_s: float = 240) -> dict:
        """Poll a job until it ends and assert it succeeded; the job."""
        job = self.wait_job(job_id, timeout_s=timeout_s)
        assert job["status"] == "succeeded", job
        return job

    def upload_demo(self, n: int, seed: int) -> list[tuple[str, str]]:
        """Upload n demo traces (Langfuse-shaped); (trace id, the demo's rating) in demo order."""
        from infra.local.demo_traces import make_demo_cases

        cases = make_demo_cases(n=n, seed=seed)
        job = self.ok("POST", "/v1/traces/upload?format=langfuse", raw="\n".join(json.dumps(c.trace) for c in cases),
                      headers={"Content-Type": "application/x-ndjson"}, status=202)
        self.wait_ok(job["job_id"])
        by_external = {t["source"]["external_id"]: t["id"] for t in self.all_traces()}
        return [(by_external[c.trace["id"]], c.rating) for c in cases]

    def rate(self, eval_set_id: str, ratings: list[tuple[str, str]]) -> None:
        """Rate each (trace id, rating) in the eval set, without notes."""
        for trace_id, rating in ratings:
            self.ok("PUT", f"/v1/eval-sets/{eval_set_id}/feedback/{trace_id}", {"rating": rating, "notes": ""})

    def with_key(self, key: str) -> "Api":
        return Api(self.http, key, self.workspace_id)


def serve_api(workspace_name: str):
    """The app on Chalice's local HTTP server at a free loopback port, and a new workspace there:
    yields (origin, api key) and shuts the server down after."""
    import socket

    import httpx

    from app import app
    from infra.local.dev import start_api_server

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = start_api_server(app, port)
    origin = f"http://127.0.0.1:{port}"
    created = httpx.post(f"{origin}/v1/workspaces", json={"name": workspace_name}).json()
    yield origin, created["api_key"]
    server.shutdown()


def _http_client():
    from chalice.test import Client

    from app import app
    from infra.local.gateway import contract_http_client

    with Client(app, stage_name="local") as client:
        yield contract_http_client(client)


@pytest.fixture
def http(stack):
    yield from _http_client()


@pytest.fixture(scope="module")
def module_http(stack):
    """One test client for a module whose fixtures build a workspace once."""
    yield from _http_client()


@pytest.fixture(scope="module")
def api_server(stack):
    """The local API server ``make dev`` runs (chalice.local behind infra/local/dev.py), on a free
    loopback port for this module; (base URL, an owner key of a fresh workspace)."""
    yield from serve_api("served")


@pytest.fixture
def upload_limit(monkeypatch):
    """A setter of IOFOLD_UPLOAD_MAX_BYTES for one test (read by the API and the job's tasks alike)."""
    from chalicelib.config import reset_settings

    def set_limit(max_bytes: int) -> int:
        monkeypatch.setenv("IOFOLD_UPLOAD_MAX_BYTES", str(max_bytes))
        reset_settings()
        return max_bytes

    yield set_limit
    monkeypatch.delenv("IOFOLD_UPLOAD_MAX_BYTES", raising=False)
    reset_settings()


def invoke_function(stack, name: str, event: dict | None = None) -> dict:
    """Run one of the stack's functions once through Lambda (as its schedule does); its answer."""
    error, payload = invoke_function_raw(stack, name, event)
    assert not error, payload
    return payload


def invoke_function_raw(stack, name: str, event: dict | None = None) -> tuple[str | None, dict]:
    """Run one of the stack's functions once through Lambda: (its FunctionError or None, its payload)."""
    from chalicelib.clients import aws_client

    response = aws_client("lambda").invoke(FunctionName=stack.provisioned.function_arns[name],
                                           Payload=json.dumps(event or {}).encode())
    return response.get("FunctionError"), json.loads(response["Payload"].read())


@pytest.fixture
def aws_events(stack) -> Iterator[Any]:
    """``aws_events(event, handler)`` hooks a botocore event (``before-call.dynamodb.*`` ...) on every
    client the app builds from then on (chalicelib.clients.register_aws_event_handler, with the cached
    repositories forgotten so they build fresh clients); every hook is removed after the test."""
    from chalicelib import clients, wiring

    def register(event: str, handler: Any) -> None:
        clients.register_aws_event_handler(event, handler)
        wiring.reset()

    yield register
    clients.unregister_aws_event_handlers()
    wiring.reset()


@pytest.fixture
def anon(http) -> Api:
    return Api(http, None)


def new_workspace(http, name: str = "test") -> Api:
    created = Api(http, None).ok("POST", "/v1/workspaces", {"name": name}, status=201)
    return Api(http, created["api_key"], created["workspace"]["id"])


@pytest.fixture
def api(http) -> Api:
    """An owner of a fresh workspace."""
    return new_workspace(http, "primary")


@pytest.fixture
def other(http) -> Api:
    """An owner of a second, unrelated workspace."""
    return new_workspace(http, "other")
