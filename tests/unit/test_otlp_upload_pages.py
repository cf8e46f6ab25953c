"""Paging an uploaded OTLP file: spans grouped over the whole file once (prepare_upload), then
pages of grouped traces read by byte offset, in S3 (moto)."""

from __future__ import annotations

import gzip
import json

from chalicelib import wiring
from chalicelib.ids import new_id
from chalicelib.jobs.failures import FailureLog
from chalicelib.jobs.models import Job
from chalicelib.timeutil import now_iso
from chalicelib.traces.uploads import prepare_upload, read_upload_page
from tests.unit.sources.test_otlp_payloads import request, simple_spans


def _body(n: int) -> bytes:
    lines = [json.dumps(request(simple_spans(f"{i + 1:032x}", question=f"q{i}"))) for i in range(n)]
    return ("\n".join(["{broken", *lines, json.dumps(request(simple_spans(f"{1:032x}", question="again")))])
            + "\n").encode()


def _prepared(stack, body: bytes) -> tuple[str, str, dict]:
    workspace_id, job_id, upload_id = new_id("ws"), new_id("job"), new_id("up")
    jobs, uploads = wiring.job_repo(), wiring.upload_store()
    jobs.add(workspace_id, Job(id=job_id, type="upload", status="queued", created_at=now_iso()))
    key = uploads.put(workspace_id, upload_id, body)
    params = prepare_upload(workspace_id, job_id, {"format": "otlp", "upload_key": key}, jobs=jobs, uploads=uploads,
                            failure_log=FailureLog(wiring.job_files()))
    return workspace_id, job_id, params


def _walk(params: dict) -> tuple[list[dict], int, int]:
    uploads = wiring.upload_store()
    traces, cursor, pages, read = [], None, 0, 0
    while True:
        page = read_upload_page(uploads, params, cursor)
        pages += 1
        read += page.bytes_read
        assert not page.failures
        traces += page.traces
        cursor = page.next_cursor
        if cursor is None:
            return traces, pages, read


def test_spans_are_grouped_once_and_pages_walk_every_trace_once_reading_the_grouped_file_about_once(stack):
    workspace_id, job_id, params = _prepared(stack, _body(450))

    traces, pages, read = _walk(params)

    ids = [trace["id"] for trace in traces]
    assert pages == 3 and len(ids) == len(set(ids)) == 450
    assert params["file_size"] <= read <= params["file_size"] + pages * 256 * 1024
    assert traces[0]["lines"] == [2, 452] and traces[0]["__line__"] == 2
    assert len(traces[0]["spans"]) == 2 * len(simple_spans())
    job = wiring.job_repo().get_item(workspace_id, job_id)
    assert job["counters"]["failed"] == 1
    assert [(f["line"], f["reason"][:22]) for f in job["failures"]] == [(1, "line 1: malformed JSON")]


def test_a_gzipped_otlp_file_is_grouped_like_the_plain_one(stack):
    _, _, plain = _prepared(stack, _body(30))
    _, _, packed = _prepared(stack, gzip.compress(_body(30)))
    assert [t["id"] for t in _walk(packed)[0]] == [t["id"] for t in _walk(plain)[0]]
    assert packed["file_size"] == plain["file_size"]
