import gzip
import json

from chalicelib import clients
from chalicelib.jobs.failures import FAILURES_INLINE, PART_SIZE
from chalicelib.sources.langfuse.normalize import normalize_langfuse_trace
from chalicelib.storage import to_plain
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


NDJSON = {"Content-Type": "application/x-ndjson"}


def _post(api, body: bytes, fmt: str = "langfuse", headers: dict | None = None) -> dict:
    """Upload a body and wait for the job to end; the ended job."""
    job = api.ok("POST", f"/v1/traces/upload?format={fmt}", raw=body, headers=headers or NDJSON, status=202)
    return api.wait_job(job["job_id"])


def _lines(traces) -> list[bytes]:
    return [json.dumps(t).encode() for t in traces]


def test_two_hundred_thousand_blank_lines_cost_one_page_and_one_read_of_the_file(api):
    first, second, third = _lines(make_demo_traces(n=3))
    body = first + b"\n" * 200_000 + second + b"\n" + b"  \r\n" * 1000 + third + b"\n"

    done = _post(api, body)

    assert done["status"] == "succeeded", done
    result = done["result"]
    assert (result["imported"], result["failed"], result["partial"]) == (3, 0, False), result
    assert result["pages"] == 1
    assert len(body) <= result["bytes_read"] <= len(body) + 256 * 1024
    events = api.ok("GET", f"/v1/jobs/{done['id']}/events?after=0")["items"]
    assert len(events) <= 3, [e["message"] for e in events]


def test_hostile_lines_fail_alone_with_their_line_and_reason_and_the_rest_import(api):
    good = make_demo_traces(n=3)
    oversized = {**good[2], "id": "many-tags", "tags": [f"tag-{i:06d}-" + "x" * 80 for i in range(3000)]}
    body = b"\n".join([
        _lines(good[:1])[0],
        b'{"id": "huge-number", "n": ' + b"7" * 5000 + b"}",
        b"[" * 100_000,
        b'{"id": "caf\xe9", "name": "latin-1, not UTF-8"}',
        b'{"id": "deep", "metadata": ' + b'{"a": ' * 70 + b"1" + b"}" * 70 + b"}",
        _lines(good[1:2])[0],
        json.dumps(oversized).encode(),
    ])

    done = _post(api, body)

    assert done["status"] == "succeeded", done
    result = done["result"]
    assert (result["imported"], result["failed"], result["partial"]) == (2, 5, True), result
    reasons = {f["line"]: f["reason"] for f in result["failures"]}
    assert reasons[2].startswith("line 2: a number longer than 100 characters")
    assert reasons[3] == "line 3: nested deeper than 64 levels"
    assert reasons[4].startswith("line 4: not UTF-8 text")
    assert reasons[5] == "line 5: nested deeper than 64 levels"
    assert reasons[7].startswith("line 7: invalid trace: the trace's summary (name, tags, ids) is")
    assert {t["source"]["external_id"] for t in api.all_traces()} == {good[0]["id"], good[1]["id"]}


def test_an_upload_whose_every_line_fails_ends_failed_with_its_failures(api):
    done = _post(api, b'{not json\n\n["an array"]\n')
    assert done["status"] == "failed", done
    assert "every trace of the upload failed (2)" in done["error"]
    assert [(f["line"], f["reason"][:22]) for f in done["result"]["failures"]] == [
        (1, "line 1: malformed JSON"), (3, "line 3: not a JSON obj")]
    assert api.all_traces() == []


def test_thousands_of_failures_go_to_s3_and_the_job_keeps_the_count_and_the_first_few(api, other):
    failing = 3 * PART_SIZE + 500
    long_id = "x" * 150  # each failure near its bounded size: ~300 B, 1 MB in all
    good = normalize_langfuse_trace(make_demo_traces(n=1)[0], integration_id=None).model_dump(mode="json")
    body = b"\n".join([json.dumps({"source": {"external_id": f"{long_id}{i}"}, "steps": "not a list"}).encode()
                       for i in range(failing)] + [json.dumps(good).encode()])
    job = _post(api, body, fmt="unified")
    result = job["result"]
    assert (result["imported"], result["failed"], result["partial"]) == (1, failing, True)
    assert len(result["failures"]) == FAILURES_INLINE and result["failures_truncated"] is True
    item = clients.dynamodb_table("jobs").get_item(Key={"workspace_id": api.workspace_id, "job_id": job["id"]})["Item"]
    assert len(item["failures"]) == FAILURES_INLINE and len(json.dumps(to_plain(item))) < 50_000
    walked, cursor, pages = [], None, 0
    while True:
        page = api.ok("GET", result["failures_url"] + "?limit=200" + (f"&cursor={cursor}" if cursor else ""))
        walked += page["items"]
        pages += 1
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert pages == -(-failing // 200) and [f["line"] for f in walked] == list(range(1, failing + 1))
    assert walked[:FAILURES_INLINE] == result["failures"]
    assert all(f["external_id"] == f"{long_id}{n}" and "invalid trace" in f["reason"] for n, f in enumerate(walked))
    assert other.get(result["failures_url"]).status_code == 404
    assert api.get(result["failures_url"] + "?cursor=bm9wZQ").status_code == 400


def test_gzip_bodies_import_with_or_without_content_encoding(api):
    traces = make_demo_traces(n=4)
    packed = gzip.compress(b"\n".join(_lines(traces[:2])))
    done = _post(api, packed, headers={**NDJSON, "Content-Encoding": "gzip"})
    assert done["status"] == "succeeded" and done["result"]["imported"] == 2, done
    done = _post(api, gzip.compress(b"\n".join(_lines(traces[2:]))), headers={"Content-Type": "application/gzip"})
    assert done["status"] == "succeeded" and done["result"]["imported"] == 2, done
    assert len(api.all_traces()) == 4


def test_content_encoding_gzip_on_a_plain_body_is_a_400(api):
    response = api.post("/v1/traces/upload?format=langfuse", raw=b"\n".join(_lines(make_demo_traces(n=1))),
                        headers={**NDJSON, "Content-Encoding": "gzip"})
    assert response.status_code == 400 and "not gzip" in response.json_body["error"]["message"]


def test_a_gzip_bomb_fails_the_job_and_writes_nothing(api, upload_limit):
    limit = upload_limit(1_000_000)
    bomb = gzip.compress(b"\n".join(_lines(make_demo_traces(n=2))) + b"\n" + b" " * 5_000_000)
    assert len(bomb) < 20_000

    done = _post(api, bomb, headers={**NDJSON, "Content-Encoding": "gzip"})

    assert done["status"] == "failed", done
    assert f"UploadRejected: the upload decompresses to more than {limit} bytes" in done["error"]
    assert api.all_traces() == []
    from chalicelib import wiring

    assert list(wiring.bucket().objects.filter(Prefix=f"jobs/{api.workspace_id}/{done['id']}/")) == []


def test_uploaded_traces_are_found_by_source_upload(api):
    api.upload_demo(3, seed=11)
    uploaded = api.ok("GET", "/v1/traces?source=upload")["items"]
    assert len(uploaded) == 3 and {t["source"]["kind"] for t in uploaded} == {"upload"}
    assert {t["source"]["integration_id"] for t in uploaded} == {None}
    assert len(api.ok("GET", "/v1/traces?source=langfuse")["items"]) == 3
