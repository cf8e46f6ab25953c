import json

from infra.local.demo_traces import make_demo_traces


def _ndjson(items) -> str:
    return "\n".join(json.dumps(i) for i in items)


def test_upload_imports_demo_traces_and_reports_malformed_lines(api):
    traces = make_demo_traces(n=12)
    lines = [json.dumps(t) for t in traces]
    lines.insert(3, "{not json")
    job = api.ok("POST", "/v1/traces/upload?format=langfuse", raw="\n".join(lines),
                 headers={"Content-Type": "application/x-ndjson"}, status=202)
    done = api.wait_job(job["job_id"])
    assert done["status"] == "succeeded", done
    assert done["result"]["imported"] == 12
    assert done["result"]["failed"] == 1
    assert "line 4" in done["result"]["failures"][0]["reason"]
    listed = api.ok("GET", "/v1/traces?limit=200")
    assert len(listed["items"]) == 12


def test_reupload_is_an_upsert(api):
    body = _ndjson(make_demo_traces(n=5))
    for expected in ("imported", "skipped"):
        job = api.ok("POST", "/v1/traces/upload?format=langfuse", raw=body,
                     headers={"Content-Type": "application/x-ndjson"}, status=202)
        done = api.wait_job(job["job_id"])
        assert done["result"][expected] == 5, done
    assert len(api.ok("GET", "/v1/traces")["items"]) == 5
