"""Integrations may not point at private, loopback or metadata addresses (unless the local stack
allows its fakes), and the connection test never shows what the source answered."""

from __future__ import annotations

import pytest

from infra.local.demo_traces import make_demo_traces
from infra.local.fake_langfuse import FakeLangfuse
from infra.local.fake_langsmith import FakeLangSmith, make_demo_runs
from infra.local.fake_source import FakeSource, FakeSourceHandler
from tests.conftest import private_sources

SECRET = "AKIA-SECRET-FROM-THE-METADATA-SERVICE"


def _integration(base_url: str, **extra) -> dict:
    return {"platform": "langfuse", "name": "lf", "base_url": base_url,
            "credentials": {"public_key": "pk-lf-1", "secret_key": "sk-lf-1"}, **extra}


@pytest.mark.parametrize("base_url", [
    "http://169.254.169.254/", "http://10.0.0.1", "http://[::ffff:127.0.0.1]:9001", "http://127.0.0.1:9001",
    "http://2130706433:9001/", "http://[fd00::1]/", "http://[64:ff9b::a9fe:a9fe]/",
])
def test_creating_an_integration_at_a_private_address_is_refused(api, private_sources_refused, base_url):
    response = api.post("/v1/integrations", _integration(base_url))
    assert response.status_code == 422, response.body
    error = response.json_body["error"]
    assert error["code"] == "UNPROCESSABLE" and "base_url" in error["message"]
    assert error["details"][0]["field"] == "base_url"
    assert api.ok("GET", "/v1/integrations")["items"] == []


def test_metadata_address_is_refused_even_when_private_sources_are_allowed(api, private_sources_allowed):
    response = api.post("/v1/integrations", _integration("http://169.254.169.254/latest"))
    assert response.status_code == 422 and "link-local" in response.json_body["error"]["message"]


def test_loopback_is_accepted_when_private_sources_are_allowed(api, private_sources_allowed):
    created = api.ok("POST", "/v1/integrations", _integration("http://[::ffff:127.0.0.1]:9001"), status=201)
    assert created["base_url"] == "http://[::ffff:7f00:1]:9001"


def test_an_integration_saved_while_allowed_cannot_connect_once_refused(api):
    """Connect-time check: what was allowed when saved (or resolved differently then) is checked again."""
    with FakeLangfuse(make_demo_traces(n=2)) as fake:
        integration_id = api.ok("POST", "/v1/integrations", _integration(fake.base_url, credentials={
            "public_key": "pk-lf-test", "secret_key": "sk-lf-test"}), status=201)["id"]
        with private_sources("0"):
            result = api.ok("POST", f"/v1/integrations/{integration_id}/test")
            done = api.run_import(integration_id)
        assert fake.requests == 0
    assert result["ok"] is False and "loopback" in result["detail"]
    assert done["status"] == "failed" and "AddressRefused" in done["error"]


@pytest.mark.parametrize("status", [200, 404, 500])
def test_the_connection_test_shows_only_the_status_never_the_body_or_headers(api, status):
    with _SecretSource(status) as source:
        integration_id = api.ok("POST", "/v1/integrations", _integration(source.base_url), status=201)["id"]
        result = api.call("POST", f"/v1/integrations/{integration_id}/test")
        stored = api.ok("GET", f"/v1/integrations/{integration_id}")
    assert result.status_code == 200
    assert SECRET not in result.body.decode() and SECRET not in str(stored)
    assert f"HTTP {status}" in result.json_body["detail"]
    assert stored["status_detail"] == result.json_body["detail"]


def test_the_connection_test_shows_no_socket_error_text(api):
    integration_id = api.ok("POST", "/v1/integrations", _integration("http://127.0.0.1:9"), status=201)["id"]
    result = api.ok("POST", f"/v1/integrations/{integration_id}/test")
    assert result == {"ok": False, "detail": "could not connect to Langfuse"}


def test_the_connection_test_names_an_unknown_langsmith_project(api):
    with FakeLangSmith(make_demo_runs(1)) as fake:
        integration_id = api.ok("POST", "/v1/integrations", {
            "platform": "langsmith", "name": "ls", "base_url": fake.base_url, "project": "no-such-project",
            "credentials": {"api_key": fake.api_key}}, status=201)["id"]
        result = api.ok("POST", f"/v1/integrations/{integration_id}/test")
    assert result == {"ok": False, "detail": "LangSmith project 'no-such-project' not found (HTTP 200)"}


class _SecretHandler(FakeSourceHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        self.begin(self.path)
        self.send_json(self.fake.status, {"data": [], "meta": {"totalItems": SECRET}, "message": SECRET},
                       {"X-Secret": SECRET, "Retry-After": "0"})


class _SecretSource(FakeSource):
    """Answers every request with the given status and a secret in the body and a header."""

    handler = _SecretHandler
    label = "secret source"

    def __init__(self, status: int):
        super().__init__()
        self.status = status
