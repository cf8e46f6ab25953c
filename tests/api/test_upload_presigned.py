"""Files past the API's 6 MB request limit: POST /v1/traces/uploads returns a presigned S3 PUT,
the client PUTs the file straight to S3 (moto on loopback here), then
POST /v1/traces/uploads/{upload_id}/import starts the same import job as a direct upload."""

from __future__ import annotations

import gzip
import json

import httpx
import pytest

from chalicelib.config import reset_settings
from infra.local.demo_traces import make_demo_traces
from tests.unit.sources.test_otlp_payloads import agent_spans, request


def _ticket(api, fmt: str = "langfuse", **extra) -> dict:
    return api.ok("POST", "/v1/traces/uploads", {"format": fmt, "filename": "traces.jsonl", **extra}, status=201)


def _put(ticket: dict, body: bytes) -> None:
    response = httpx.put(ticket["put_url"], content=body, headers=ticket["headers"], timeout=30)
    assert response.status_code == 200, response.text


def _body(n: int) -> bytes:
    return b"\n".join(json.dumps(t).encode() for t in make_demo_traces(n=n)) + b"\n"


def test_presign_put_then_import_stores_the_traces(api, stack):
    ticket = _ticket(api)
    assert ticket["put_url"].startswith(stack.endpoint_url) and ticket["method"] == "PUT"
    assert "X-Amz-Algorithm=AWS4-HMAC-SHA256" in ticket["put_url"] and "X-Amz-Expires=900" in ticket["put_url"]
    assert ticket["max_bytes"] == 1024 ** 3 and ticket["headers"] == {"Content-Type": "application/x-ndjson"}
    assert ticket["import_path"] == f"/v1/traces/uploads/{ticket['upload_id']}/import"
    _put(ticket, _body(5))

    job = api.ok("POST", ticket["import_path"], status=202)
    done = api.wait_ok(job["job_id"])

    assert (done["result"]["imported"], done["result"]["failed"]) == (5, 0), done
    assert len(api.ok("GET", "/v1/traces?source=upload")["items"]) == 5
    again = api.ok("POST", ticket["import_path"], status=202)
    assert again["job_id"] == job["job_id"]


def test_a_gzipped_otlp_file_goes_the_same_way(api):
    ticket = _ticket(api, "otlp", content_encoding="gzip")
    assert ticket["headers"] == {"Content-Type": "application/gzip"}
    spans = agent_spans()
    _put(ticket, gzip.compress(f"{json.dumps(request(spans[:4]))}\n{json.dumps(request(spans[4:]))}\n".encode()))
    done = api.wait_ok(api.ok("POST", ticket["import_path"], status=202)["job_id"])
    assert done["result"]["imported"] == 1, done


def test_another_workspace_cannot_import_someone_elses_upload(api, other):
    ticket = _ticket(api)
    _put(ticket, _body(2))
    response = other.post(ticket["import_path"])
    assert response.status_code == 404 and response.json_body["error"]["code"] == "NOT_FOUND"
    assert other.all_traces() == [] and api.all_traces() == []


def test_importing_before_the_put_is_a_409_and_unknown_ids_are_404(api):
    ticket = _ticket(api)
    response = api.post(ticket["import_path"])
    assert response.status_code == 409 and "PUT it to the put_url first" in response.json_body["error"]["message"]
    assert api.post("/v1/traces/uploads/up_0000/import").status_code == 404


@pytest.fixture
def small_upload_limit(monkeypatch):
    monkeypatch.setenv("IOFOLD_UPLOAD_MAX_BYTES", "1000")
    reset_settings()
    yield 1000
    monkeypatch.delenv("IOFOLD_UPLOAD_MAX_BYTES")
    reset_settings()


def test_a_file_past_the_limit_is_a_413_and_is_removed(api, small_upload_limit):
    ticket = _ticket(api)
    assert ticket["max_bytes"] == small_upload_limit
    _put(ticket, _body(5))
    response = api.post(ticket["import_path"])
    assert response.status_code == 413 and response.json_body["error"]["code"] == "PAYLOAD_TOO_LARGE"
    assert api.post(ticket["import_path"]).status_code == 409


def test_the_request_is_validated(api):
    assert api.post("/v1/traces/uploads", {"format": "csv", "filename": "x"}).status_code == 400
    assert api.post("/v1/traces/uploads", {"format": "otlp", "content_encoding": "br"}).status_code == 400
    doc = api.ok("GET", "/v1/openapi.json")
    assert "post" in doc["paths"]["/v1/traces/uploads"] and "post" in doc["paths"]["/v1/traces/uploads/{upload_id}/import"]
