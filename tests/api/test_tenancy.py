"""Every route, called with a second workspace's key on the first workspace's objects, answers
404 (or lists nothing of them). New routes are walked automatically: a path parameter this
test cannot fill makes it fail, so extend ``_objects`` with the new object."""

import json
import re

import httpx
import pytest

from app import api as registry
from infra.local.demo_traces import make_demo_traces


@pytest.fixture
def objects(api):
    upload = api.ok("POST", "/v1/traces/upload?format=langfuse", raw="\n".join(json.dumps(t) for t in make_demo_traces(n=6)),
                    headers={"Content-Type": "application/x-ndjson"}, status=202)
    api.wait_job(upload["job_id"])
    trace_id = api.ok("GET", "/v1/traces")["items"][0]["id"]
    integration = api.ok("POST", "/v1/integrations", {
        "platform": "langfuse", "name": "lf", "base_url": "http://127.0.0.1:9",
        "credentials": {"public_key": "pk", "secret_key": "sk"}}, status=201)
    key = api.ok("POST", "/v1/api-keys", {"label": "k", "role": "viewer"}, status=201)
    ticket = api.ok("POST", "/v1/traces/uploads", {"format": "langfuse"}, status=201)
    httpx.put(ticket["put_url"], content=json.dumps(make_demo_traces(n=1)[0]), headers=ticket["headers"]).raise_for_status()
    # a public address as an IP literal: saved, never contacted
    api.ok("PUT", "/v1/workspace/llm", {"provider": "openai", "base_url": "https://8.8.8.8/v1", "model": "m"})
    ids = {"trace_id": trace_id, "integration_id": integration["id"], "job_id": upload["job_id"], "key_id": key["id"],
           "upload_id": ticket["upload_id"]}
    if any("{eval_set_id}" in r.path or "/eval-sets/{" in r.path for r in registry.routes):
        eval_set = api.ok("POST", "/v1/eval-sets", {"name": "es", "description": "", "criteria": "c"}, status=201)
        ids["eval_set_id"] = eval_set["id"]
        ids["id"] = eval_set["id"]
        api.ok("PUT", f"/v1/eval-sets/{eval_set['id']}/feedback/{trace_id}", {"rating": "positive", "notes": ""})
        second = api.ok("GET", "/v1/traces")["items"][1]["id"]
        api.ok("PUT", f"/v1/eval-sets/{eval_set['id']}/feedback/{second}", {"rating": "negative", "notes": ""})
        job = api.ok("POST", f"/v1/eval-sets/{eval_set['id']}/generate", {"generator": "offline"}, status=202)
        ids["eval_id"] = api.wait_job(job["job_id"])["result"]["eval_id"]
    return ids


def _fill(path: str, ids: dict) -> str:
    def sub(match):
        name = match.group(1)
        assert name in ids, f"tenancy walk cannot fill {{{name}}} in {path}: add such an object to the fixture"
        return ids[name]
    return re.sub(r"\{(\w+)\}", sub, path)


SAMPLE_BODIES = {
    "PUT /v1/integrations/{integration_id}/schedule": lambda ids: {"expression": "rate(1 hour)"},
    "POST /v1/traces/import": lambda ids: {"integration_id": ids["integration_id"]},
    "POST /v1/traces/uploads": lambda ids: {"format": "langfuse"},
    "PUT /v1/eval-sets/{eval_set_id}/feedback/{trace_id}": lambda ids: {"rating": "negative", "notes": "x"},
    "PUT /v1/eval-sets/{id}/feedback/{trace_id}": lambda ids: {"rating": "negative", "notes": "x"},
    "POST /v1/evals/{eval_id}/versions": lambda ids: {"code": "def eval_x(trace):\n    return True, ''\n"},
}


SAMPLE_QUERIES = {
    "GET /v1/evals": lambda ids: f"?eval_set_id={ids['eval_set_id']}",
    "GET /v1/traces": lambda ids: f"?eval_set_id={ids['eval_set_id']}&rated=true",
}


# The caller's own workspace's singletons: the other workspace has set none, and must not see the first's.
OWN_SINGLETONS = {"GET /v1/workspace/llm"}


def _expects_404(route) -> bool:
    return ("{" in route.path or f"{route.method} {route.path}" in SAMPLE_QUERIES
            or f"{route.method} {route.path}" in OWN_SINGLETONS)


def test_another_workspace_sees_none_of_it(api, other, objects):
    owned = set(objects.values())
    keys_before = api.ok("GET", "/v1/api-keys")["items"]
    walked = 0
    for route in registry.routes:
        if route.role is None:
            continue
        path = _fill(route.path, objects) + SAMPLE_QUERIES.get(f"{route.method} {route.path}", lambda ids: "")(objects)
        make_body = SAMPLE_BODIES.get(f"{route.method} {route.path}")
        body = make_body(objects) if make_body else ({} if route.method in ("POST", "PUT", "PATCH") else None)
        response = other.call(route.method, path, body)
        walked += 1
        if _expects_404(route):
            assert response.status_code == 404, f"{route.method} {route.path} -> {response.status_code} {response.body[:200]!r}"
        elif route.method == "GET":
            assert response.status_code == 200, f"{route.method} {route.path} -> {response.status_code}"
            assert not owned & set(re.findall(r'"(\w+_[0-9a-f]{20,32})"', response.body.decode())), route.path
        else:
            # creating in one's own workspace is fine; it must not land in the first workspace (checked below)
            assert response.status_code < 500, f"{route.method} {route.path} -> {response.status_code}"
    assert walked >= 15
    # and nothing of the first workspace changed
    assert api.ok("GET", "/v1/api-keys")["items"] == keys_before
    assert api.ok("GET", f"/v1/traces/{objects['trace_id']}")["id"] == objects["trace_id"]
    assert api.ok("GET", f"/v1/integrations/{objects['integration_id']}")["id"] == objects["integration_id"]
    assert api.ok("GET", "/v1/workspace/llm")["base_url"] == "https://8.8.8.8/v1"


def test_a_cursor_from_another_workspace_is_refused(api, other, objects):
    page = api.ok("GET", "/v1/traces?limit=2")
    assert page["next_cursor"]
    response = other.get(f"/v1/traces?limit=2&cursor={page['next_cursor']}")
    assert response.status_code == 400
