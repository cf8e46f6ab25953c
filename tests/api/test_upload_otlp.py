"""POST /v1/traces/upload?format=otlp: OTLP/JSON export requests, one per line, through the upload job."""

from __future__ import annotations

import json

from chalicelib.ids import trace_id_for
from tests.unit.sources.test_otlp_payloads import (
    AGENT_TRACE,
    OTHER_TRACE,
    agent_spans,
    request,
    simple_spans,
)

NDJSON = {"Content-Type": "application/x-ndjson"}


def _upload(api, lines: list[str]) -> dict:
    job = api.ok("POST", "/v1/traces/upload?format=otlp", raw="\n".join(lines) + "\n", headers=NDJSON, status=202)
    done = api.wait_job(job["job_id"])
    assert done["status"] == "succeeded", done
    return done["result"]


def test_otlp_upload_imports_traces_split_across_lines_as_unified_traces(api):
    spans = agent_spans()
    lines = [json.dumps(request(spans[:4] + simple_spans())), json.dumps(request(spans[4:]))]
    result = _upload(api, lines)
    assert (result["imported"], result["failed"]) == (2, 0), result

    trace = api.ok("GET", f"/v1/traces/{trace_id_for('upload', AGENT_TRACE)}")
    assert trace["source"]["platform"] == "otlp" and trace["name"] == "support-agent"
    assert len(trace["messages"]) == 8 and trace["messages"][-1]["content"].startswith("Your order 42 shipped")
    assert [(c["name"], c["error"]) for c in trace["tool_calls"]] == [
        ("get_order", None), ("refund_policy", "TimeoutError: policy service timed out"), ("lookup_shipping", None)]
    assert trace["stats"]["tool_errors"] == 1 and trace["stats"]["steps"] == 7
    listed = api.ok("GET", "/v1/traces?source=otlp")
    assert {item["id"] for item in listed["items"]} == {trace_id_for("upload", AGENT_TRACE), trace_id_for("upload", OTHER_TRACE)}


def test_malformed_spans_and_lines_fail_alone_with_their_line_number(api):
    broken = agent_spans()
    broken[2]["spanId"] = "not-hex"
    lines = [
        json.dumps(request(simple_spans())),
        "{not json",
        json.dumps({"id": "a-langfuse-trace", "observations": []}),
        json.dumps(request(broken)),
    ]
    result = _upload(api, lines)
    assert (result["imported"], result["failed"]) == (1, 3), result
    reasons = sorted(failure["reason"] for failure in result["failures"])
    assert reasons[0].startswith("line 2: malformed JSON")
    assert reasons[1].startswith("line 3: not an OTLP export request")
    assert reasons[2].startswith("line 4: invalid trace: span not-hex: spanId 'not-hex'")
    failed_trace = next(f for f in result["failures"] if f["reason"].startswith("line 4"))
    assert failed_trace["external_id"] == AGENT_TRACE
    assert len(api.ok("GET", "/v1/traces")["items"]) == 1


def test_otlp_reupload_is_an_upsert(api):
    lines = [json.dumps(request(agent_spans())), json.dumps(request(simple_spans()))]
    assert _upload(api, lines)["imported"] == 2
    again = _upload(api, lines)
    assert (again["imported"], again["skipped"]) == (0, 2), again
    assert len(api.ok("GET", "/v1/traces")["items"]) == 2


def test_a_trace_whose_spans_are_hundreds_of_lines_apart_is_imported_whole(api):
    spans = agent_spans()
    fillers = [json.dumps(request(simple_spans(f"{n:032x}", question=f"q{n}"))) for n in range(1, 260)]
    lines = [json.dumps(request(spans[:4])), *fillers, json.dumps(request(spans[4:]))]

    result = _upload(api, lines)

    assert (result["imported"], result["updated"], result["failed"]) == (260, 0, 0), result
    trace = api.ok("GET", f"/v1/traces/{trace_id_for('upload', AGENT_TRACE)}")
    assert trace["stats"]["steps"] == 7 and len(trace["messages"]) == 8
