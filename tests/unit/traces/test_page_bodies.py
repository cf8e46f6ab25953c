"""Trace bodies live in one S3 object per import page (chalicelib/traces/bodies.py), not in the item:
items stay one DynamoDB write unit, a page costs one PUT, reads of traces imported together are
coalesced, and deleting or replacing a trace erases its bytes. Real S3 and DynamoDB (moto)."""

from __future__ import annotations

import gzip
import json
import secrets
import zlib
from collections import Counter

import pytest

from chalicelib import clients
from chalicelib.config import get_settings
from chalicelib.errors import NotFound
from chalicelib.storage import item_size, serialize
from chalicelib.traces import bodies
from chalicelib.traces.models import UnifiedTrace
from chalicelib.traces.repository import ITEM_BYTES, TraceRepository

NOW = "2026-12-07T00:00:00.000000Z"


class Calls:
    """S3 calls one repository's client makes, by operation (a handler on that client only)."""

    def __init__(self, bucket):
        self.ops: Counter = Counter()
        self.ranges: list[str | None] = []
        bucket.meta.client.meta.events.register("before-call.s3", self._count)

    def _count(self, model, params, **_):
        self.ops[model.name] += 1
        if model.name == "GetObject":
            self.ranges.append(params.get("headers", {}).get("Range"))


@pytest.fixture
def repo(api):
    bucket = clients.s3_bucket(get_settings().bucket)
    repository = TraceRepository(clients.dynamodb_table("traces"), bucket, times=clients.dynamodb_table("trace_times"),
                                 inline_bytes=48 * 1024)
    repository.calls = Calls(bucket)
    return repository


def _trace(i: int, **fields) -> UnifiedTrace:
    return UnifiedTrace.model_validate({
        "id": f"tr_{i:04d}", "name": "support-agent", "timestamp": f"2026-01-01T00:{i // 60:02d}:{i % 60:02d}Z",
        "source": {"platform": "upload", "external_id": f"x{i}"}, "tags": ["support", "northwind"],
        "input": [{"role": "user", "content": f"question {i} " + "about an order " * 5}],
        "output": f"answer {i}", **fields})


def _objects(workspace_id: str) -> dict[str, bytes]:
    s3 = clients.aws_client("s3")
    bucket = get_settings().bucket
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=f"traces/{workspace_id}/").get("Contents", [])
    return {o["Key"]: s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read() for o in listed}


def _item(workspace_id: str, trace_id: str) -> dict:
    return clients.dynamodb_table("traces").get_item(Key={"workspace_id": workspace_id, "trace_id": trace_id})["Item"]


def test_a_page_of_traces_is_one_s3_put_and_every_item_is_one_write_unit(api, repo):
    long_text = "the customer explains at length why the refund matters " * 60  # previews at full length
    traces = [_trace(i) for i in range(40)] + [_trace(40, input=long_text, output=long_text,
                                                                  tags=[f"team-{j}-northwind" for j in range(8)],
                                                                  user_id="cust_9875", session_id="sess_0299_942864")]
    assert repo.upsert_many(api.workspace_id, traces, imported_at=NOW) == ["imported"] * 41
    assert repo.calls.ops["PutObject"] == 1
    (key, blob), = _objects(api.workspace_id).items()
    assert key.startswith(f"traces/{api.workspace_id}/pages/")
    for trace in traces:
        item = _item(api.workspace_id, trace.id)
        assert "body" not in item and item_size(serialize(item)) <= ITEM_BYTES, trace.id
        offset, length = (int(v) for v in item["body_at"])
        assert json.loads(gzip.decompress(blob[offset:offset + length]))["id"] == trace.id
    long = repo.summaries(api.workspace_id, [traces[-1].id])[traces[-1].id]
    assert long.id == traces[-1].id and 64 <= len(long.input_preview) < 280 and long.input_preview.endswith("…")
    assert repo.get(api.workspace_id, traces[-1].id)["output"] == long_text  # the body keeps everything


def test_get_many_reads_traces_imported_together_in_one_get_and_far_apart_ones_by_range(api, repo, monkeypatch):
    traces = [_trace(i) for i in range(200)]
    repo.upsert_many(api.workspace_id, traces, imported_at=NOW)
    ids = [t.id for t in traces]
    got = repo.get_many(api.workspace_id, ids)
    assert set(got) == set(ids) and got[ids[7]]["output"] == "answer 7"
    assert repo.calls.ops["GetObject"] == 1

    monkeypatch.setattr(bodies, "GAP_BYTES", 0)  # every gap too wide to read across
    repo.calls.ops.clear()
    repo.calls.ranges.clear()
    got = repo.get_many(api.workspace_id, [ids[0], ids[100], ids[199]])
    assert set(got) == {ids[0], ids[100], ids[199]}
    assert repo.calls.ops["GetObject"] == 3 and all(r and r.startswith("bytes=") for r in repo.calls.ranges)
    assert repo.get(api.workspace_id, ids[50])["id"] == ids[50]


def test_deleting_a_trace_zeroes_its_bytes_and_the_others_still_read(api, repo):
    traces = [_trace(i, output=f"secret answer {i}") for i in range(3)]
    repo.upsert_many(api.workspace_id, traces, imported_at=NOW)
    offset, length = (int(v) for v in _item(api.workspace_id, traces[1].id)["body_at"])
    repo.delete(api.workspace_id, traces[1].id)
    (blob,) = _objects(api.workspace_id).values()
    assert blob[offset:offset + length] == bytes(length)
    with pytest.raises(NotFound):
        repo.get(api.workspace_id, traces[1].id)
    assert set(repo.get_many(api.workspace_id, [t.id for t in traces])) == {traces[0].id, traces[2].id}
    repo.delete(api.workspace_id, traces[0].id)
    repo.delete(api.workspace_id, traces[2].id)
    assert _objects(api.workspace_id) == {}  # a page left with no live member is deleted


def test_reimporting_a_changed_trace_erases_its_old_content(api, repo):
    repo.upsert_many(api.workspace_id, [_trace(1, output="old secret"), _trace(2)], imported_at=NOW)
    assert repo.upsert_many(api.workspace_id, [_trace(1, output="new text"), _trace(2)],
                            imported_at=NOW) == ["updated", "skipped"]
    assert repo.get(api.workspace_id, "tr_0001")["output"] == "new text"
    everything = b"".join(gzip.decompress(part) for blob in _objects(api.workspace_id).values()
                          for part in _members(blob))
    assert b"old secret" not in everything and b"new text" in everything


def _members(blob: bytes) -> list[bytes]:
    """The non-zero gzip members of a page object."""
    out, rest = [], blob.lstrip(b"\0")
    while rest:
        d = zlib.decompressobj(31)
        d.decompress(rest)
        out.append(rest[: len(rest) - len(d.unused_data)])
        rest = d.unused_data.lstrip(b"\0")
    return out


def test_an_erase_racing_another_rewrite_of_the_object_keeps_both(api, repo):
    traces = [_trace(i) for i in range(3)]
    repo.upsert_many(api.workspace_id, traces, imported_at=NOW)
    key, = _objects(api.workspace_id)
    first, second = (_item(api.workspace_id, t.id) for t in traces[:2])
    raced = []

    def concurrent_rewrite(model, **_):  # after our GET, someone else zeroes trace 0 and rewrites the object
        if model.name == "GetObject" and not raced:
            raced.append(True)
            bodies.PageBodies(clients.s3_bucket(get_settings().bucket)).erase(
                api.workspace_id, [bodies.Member(first["body_page"], *(int(v) for v in first["body_at"]))])

    repo._bucket.meta.client.meta.events.register("after-call.s3", concurrent_rewrite)
    repo.delete(api.workspace_id, traces[1].id)
    # (the handlers see both clients) the racer's GET and PUT, then ours twice: our first PUT met 412
    # (If-Match on the ETag we read) and the patch was redone on the racer's object
    assert raced and (repo.calls.ops["GetObject"], repo.calls.ops["PutObject"]) == (1 + 2, 1 + 1 + 2)
    blob = _objects(api.workspace_id)[key]
    for item in (first, second):
        offset, length = (int(v) for v in item["body_at"])
        assert blob[offset:offset + length] == bytes(length)
    assert [json.loads(gzip.decompress(m))["id"] for m in _members(blob)] == [traces[2].id]


def test_items_written_with_the_body_inline_still_read_list_and_delete(api, repo):
    trace = _trace(7, output="stored before page objects")
    body = json.dumps(trace.model_dump(mode="json"), sort_keys=True, separators=(",", ":")).encode()
    summary = {k: v for k, v in trace.model_dump(mode="json").items() if k in ("id", "name", "timestamp", "tags")}
    clients.dynamodb_table("traces").put_item(Item={
        "workspace_id": api.workspace_id, "trace_id": trace.id, "sort_key": f"{trace.timestamp}#{trace.id}",
        "summary": {**summary, "source": {"platform": "upload", "external_id": "x7"}, "imported_at": NOW},
        "content_hash": "old", "body": gzip.compress(body)})
    assert repo.get(api.workspace_id, trace.id)["output"] == "stored before page objects"
    assert repo.get_many(api.workspace_id, [trace.id])[trace.id]["id"] == trace.id
    assert [s.id for s in repo.list(api.workspace_id, limit=10, cursor=None)[0]] == [trace.id]
    assert repo.calls.ops["GetObject"] == 0
    assert repo.upsert_many(api.workspace_id, [trace], imported_at=NOW) == ["updated"]  # moves to a page
    assert "body" not in _item(api.workspace_id, trace.id)
    assert repo.get(api.workspace_id, trace.id)["output"] == "stored before page objects"
    repo.delete(api.workspace_id, trace.id)
    with pytest.raises(NotFound):
        repo.get(api.workspace_id, trace.id)


def test_a_body_past_the_inline_budget_keeps_its_own_object_and_delete_removes_it(api, repo):
    big = _trace(9, output=secrets.token_hex(100_000))  # 200 KB of random hex: ~100 KB gzipped
    small = _trace(10)
    repo.upsert_many(api.workspace_id, [big, small], imported_at=NOW)
    keys = set(_objects(api.workspace_id))
    assert f"traces/{api.workspace_id}/{big.id}.json.gz" in keys and len(keys) == 2
    assert repo.get_many(api.workspace_id, [big.id, small.id])[big.id]["output"] == big.output
    repo.delete(api.workspace_id, big.id)
    assert f"traces/{api.workspace_id}/{big.id}.json.gz" not in _objects(api.workspace_id)


def test_list_ids_pages_through_the_same_ids_as_list_reading_only_keys(repo):
    repo.upsert_many("ws_ids", [_trace(i) for i in range(25)], imported_at=NOW)
    since, until = "2026-01-01T00:00:05", "2026-01-01T00:00:19"
    expected, cursor = [], None
    while True:
        page, cursor = repo.list("ws_ids", limit=4, cursor=cursor, since=since, until=until)
        expected += [s.id for s in page]
        if not cursor:
            break
    got, cursor, requests = [], None, []
    while True:
        ids, cursor = repo.list_ids("ws_ids", limit=4, cursor=cursor, since=since, until=until)
        got += ids
        requests.append(ids)
        if not cursor:
            break
    assert got == expected and len(got) == 15 and max(map(len, requests)) == 4


def test_get_many_text_is_the_stored_json_of_each_body_wherever_it_lives(api, repo):
    big, small = _trace(11, output=secrets.token_hex(100_000)), _trace(12, output="naïve café")
    repo.upsert_many(api.workspace_id, [big, small], imported_at=NOW)  # own object, page member
    texts = repo.get_many_text(api.workspace_id, [big.id, small.id, "tr_missing"])
    assert set(texts) == {big.id, small.id}
    for trace in (big, small):
        assert texts[trace.id] == json.dumps(trace.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        assert json.loads(texts[trace.id]) == repo.get_many(api.workspace_id, [trace.id])[trace.id]
