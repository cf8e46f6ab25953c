import json

import pytest


@pytest.mark.parametrize("raw, fragment", [
    ("{not json", "not valid JSON"),
    ("[1, 2]", "JSON object"),
    ("", "empty"),
    ('{"platform": "langfuse", "name": 5, "base_url": "http://x", "credentials": {}}', "name"),
    ('{"platform": "nope", "name": "a", "base_url": "http://x", "credentials": {}}', "platform"),
    ('{"platform": "langfuse", "name": "a", "base_url": "http://x", "credentials": {"public_key": "p"}}', "secret_key"),
    ('{"platform": "langfuse", "name": "a", "base_url": "http://x", "credentials": {"public_key": "p", "secret_key": "s"}, "x": 1}', "x"),
])
def test_bad_bodies_are_400_with_a_clear_message_and_nothing_written(api, raw, fragment):
    response = api.post("/v1/integrations", raw=raw)
    assert response.status_code == 400
    error = response.json_body["error"]
    assert error["code"] == "VALIDATION_ERROR" and fragment in json.dumps(error)
    assert api.ok("GET", "/v1/integrations")["items"] == []


def test_duplicate_integration_name_is_409(api):
    body = {"platform": "langfuse", "name": "same", "base_url": "http://127.0.0.1:9",
            "credentials": {"public_key": "p", "secret_key": "s"}}
    api.ok("POST", "/v1/integrations", body, status=201)
    response = api.post("/v1/integrations", body)
    assert response.status_code == 409 and response.json_body["error"]["code"] == "CONFLICT"
    assert len(api.ok("GET", "/v1/integrations")["items"]) == 1


def test_unknown_ids_are_404(api):
    for path in ("/v1/traces/tr_0000", "/v1/jobs/job_0000", "/v1/integrations/int_0000"):
        response = api.get(path)
        assert response.status_code == 404 and response.json_body["error"]["code"] == "NOT_FOUND", path


def test_oversized_body_is_413_and_starts_nothing(api):
    from chalicelib.config import get_settings

    big = "x" * (get_settings().max_body_bytes + 1)
    response = api.post("/v1/traces/upload?format=langfuse", raw=big, headers={"Content-Type": "application/x-ndjson"})
    assert response.status_code == 413 and response.json_body["error"]["code"] == "PAYLOAD_TOO_LARGE"
    assert api.ok("GET", "/v1/jobs")["items"] == []


@pytest.mark.parametrize("query", ["limit=0", "limit=201", "limit=abc", "cursor=!!!"])
def test_bad_paging_is_400(api, query):
    assert api.get(f"/v1/traces?{query}").status_code == 400


def test_upload_needs_a_known_format(api):
    response = api.post("/v1/traces/upload?format=csv", raw="{}", headers={"Content-Type": "application/x-ndjson"})
    assert response.status_code == 400 and "format" in response.json_body["error"]["message"]


def test_unified_upload_reports_invalid_traces_by_line(api):
    good = {"id": "ignored", "source": {"platform": "upload", "external_id": "e1"}, "name": "ok",
            "messages": [{"role": "user", "content": "hi"}]}
    bad = {"id": "x", "source": {"platform": "upload", "external_id": "e2"}, "messages": [{"role": "robot"}]}
    job = api.ok("POST", "/v1/traces/upload?format=unified", raw=f"{json.dumps(good)}\n{json.dumps(bad)}\n",
                 headers={"Content-Type": "application/x-ndjson"}, status=202)
    done = api.wait_job(job["job_id"])
    assert done["result"]["imported"] == 1 and done["result"]["failed"] == 1
    assert done["result"]["failures"][0]["reason"].startswith("line 2:")


@pytest.mark.parametrize("raw", [
    "[" * 100_000,  # json.loads raises RecursionError
    '{"name": ' + "[" * 500 + "]" * 500 + "}",  # parses, but nests past the limit
    "{" + '"a": {' * 200 + "}" * 201,
])
def test_deeply_nested_json_is_400_and_logs_no_stack_trace(api, capfd, raw):
    capfd.readouterr()
    response = api.post("/v1/eval-sets", raw=raw)
    assert response.status_code == 400, response.body[:300]
    error = response.json_body["error"]
    assert error["code"] == "VALIDATION_ERROR" and "nested deeper than" in error["message"] and error["request_id"]
    out, err = capfd.readouterr()
    assert "Traceback" not in out + err and len(out + err) < 2000
    assert api.ok("GET", "/v1/eval-sets")["items"] == []


def test_a_deeply_nested_cursor_is_400(api):
    import base64

    cursor = base64.urlsafe_b64encode(b"[" * 5000).decode()
    response = api.get(f"/v1/traces?cursor={cursor}")
    assert response.status_code == 400 and response.json_body["error"]["message"] == "invalid cursor"


def test_an_upload_line_nested_too_deep_is_reported_and_the_rest_import(api):
    good = {"id": "ignored", "source": {"platform": "upload", "external_id": "e1"}, "name": "ok",
            "messages": [{"role": "user", "content": "hi"}]}
    deep = '{"id": "x", "metadata": ' + "[" * 50_000 + "]" * 50_000 + "}"
    job = api.ok("POST", "/v1/traces/upload?format=unified", raw=f"{json.dumps(good)}\n{deep}\n",
                 headers={"Content-Type": "application/x-ndjson"}, status=202)
    done = api.wait_job(job["job_id"])
    assert done["status"] == "succeeded", done
    assert done["result"]["imported"] == 1 and done["result"]["failed"] == 1
    assert done["result"]["failures"][0]["reason"].startswith("line 2:")
    assert "nested deeper than" in done["result"]["failures"][0]["reason"]


@pytest.mark.parametrize("query, field", [("from=notadate", "from"), ("to=notadate", "to"), ("source=nope", "source"),
                                          ("from=2026-02-30", "from")])
def test_every_trace_filtering_list_refuses_bad_dates_and_unknown_sources(api, query, field):
    es = api.ok("POST", "/v1/eval-sets", {"name": "q", "criteria": "c"}, status=201)["id"]
    for path in ("/v1/traces", f"/v1/eval-sets/{es}/matrix", f"/v1/eval-sets/{es}/matrix.csv"):
        response = api.get(f"{path}?{query}")
        assert response.status_code == 400, (path, response.body)
        error = response.json_body["error"]
        assert error["code"] == "VALIDATION_ERROR" and error["details"] == [{"field": field}], path


def test_trace_filters_take_platforms_integration_ids_and_times_with_offsets(api):
    good = {"id": "x", "source": {"platform": "upload", "external_id": "e1"}, "name": "ok",
            "timestamp": "2026-03-01T10:00:00Z",
            "messages": [{"role": "user", "content": "hi"}]}
    job = api.ok("POST", "/v1/traces/upload?format=unified", raw=json.dumps(good),
                 headers={"Content-Type": "application/x-ndjson"}, status=202)
    api.wait_ok(job["job_id"])
    assert len(api.ok("GET", "/v1/traces?source=upload")["items"]) == 1
    assert api.ok("GET", "/v1/traces?source=langfuse")["items"] == []
    assert api.ok("GET", "/v1/traces?source=int_0123456789abcdef0123")["items"] == []
    # 11:30+02:00 is 09:30Z: before the trace; compared as text it would sort after it
    assert len(api.ok("GET", "/v1/traces?from=2026-03-01T11:30:00%2B02:00")["items"]) == 1
    assert api.ok("GET", "/v1/traces?to=2026-03-01T11:30:00%2B02:00")["items"] == []
    assert len(api.ok("GET", "/v1/traces?from=2026-03-01&to=2026-03-01")["items"]) == 1
