"""The packed time index (chalicelib/traces/timeindex.py): one import call's time entries share a few
items of ``trace_times`` instead of one by_time GSI entry (one write unit) per trace. Listing merges it
with the by_time GSI (items written before it), drops stale entries, pages newest first across items,
pages and time prefixes. Real DynamoDB and S3 (moto)."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

import pytest

from bench.scale import _json_body, gsi_write_units, table_shapes, write_units
from chalicelib import clients
from chalicelib.config import get_settings
from chalicelib.errors import NotFound, ValidationError
from chalicelib.storage import encode_cursor, item_size, serialize, to_dynamo
from chalicelib.traces import timeindex
from chalicelib.traces.bodies import pack as pack_body
from chalicelib.traces.models import UnifiedTrace
from chalicelib.traces.repository import TraceRepository, _stored_summary
from chalicelib.traces.summary import summarize
from chalicelib.traces.timeindex import pack, time_key

NOW = "2026-12-07T00:00:00.000Z"
T0 = datetime(2025, 3, 3, 9, 0, tzinfo=timezone.utc)


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _trace(trace_id: str, at: str | None, **fields) -> UnifiedTrace:
    return UnifiedTrace.model_validate({
        "id": trace_id, "name": fields.pop("name", "agent"), "timestamp": at,
        "source": {"platform": "upload", "external_id": trace_id}, "tags": fields.pop("tags", ["t"]),
        "input": [{"role": "user", "content": f"question {trace_id} " + "about an order " * 5}],
        "output": f"answer {trace_id}", **fields})


def _spread(prefix: str, n: int, start: datetime, gap: timedelta, seed: int = 0) -> list[UnifiedTrace]:
    """``n`` traces from ``start``, ``gap`` apart on average (jittered), ids ``<prefix><i>``."""
    rng = random.Random(seed)
    out, at = [], start
    for i in range(n):
        at += gap * rng.uniform(0.5, 1.5)
        out.append(_trace(f"{prefix}{i:05d}", _iso(at)))
    return out


@pytest.fixture
def repo(api):
    return TraceRepository(clients.dynamodb_table("traces"), clients.s3_bucket(get_settings().bucket),
                           times=clients.dynamodb_table("trace_times"), inline_bytes=48 * 1024)


def _expected(traces: dict[str, UnifiedTrace], since=None, until=None, keep=lambda t: True) -> list[str]:
    keys = sorted((time_key(t.timestamp or NOW, t.id) for t in traces.values()
                   if (since is None or (t.timestamp or NOW) >= since)
                   and (until is None or (t.timestamp or NOW) <= until + "\uffff") and keep(t)), reverse=True)
    return [k.partition("#")[2] for k in keys]


def _all(repo, ws, *, limit, ids=False, **kw) -> list[str]:
    out, cursor, pages = [], None, 0
    while True:
        if ids:
            page, cursor = repo.list_ids(ws, limit=limit, cursor=cursor, **kw)
        else:
            summaries, cursor = repo.list(ws, limit=limit, cursor=cursor, **kw)
            page = [s.id for s in summaries]
        assert len(page) <= limit
        out += page
        pages += 1
        assert pages < 10_000
        if not cursor:
            return out


def _listed_for_a_run(repo, ws, **kw) -> list[str]:
    """What an unfiltered run lists (``index_entries``: the items unread, stale entries included) and keeps
    after each chunk's own check of its entries (``get_many_text``'s ``listed_slots``), in listing order."""
    entries = list(repo.index_entries(ws, **kw))
    rounds: list[dict] = []  # the entries split so that no round holds an id twice (as a chunk never does)
    for trace_id, slot in entries:
        free = next((r for r in rounds if trace_id not in r), None)
        if free is None:
            rounds.append(free := {})
        free[trace_id] = slot
    kept = {(t, r[t]) for r in rounds for t in repo.get_many_text(ws, list(r), {t: [s] for t, s in r.items()})}
    return [t for t, slot in entries if (t, slot) in kept]


# --- packing -----------------------------------------------------------------------------------

def test_dense_page_packs_into_one_item_per_minute():
    keys = {f"tr{i}": time_key(f"2025-03-03T09:07:{i % 60:02d}.{i:03d}Z", f"tr{i}") for i in range(500)}
    items, slots = pack("pg_a", keys)
    assert [i["slot"] for i in items] == ["2025-03-03T09:07~pg_a~0"]
    assert set(slots) == set(keys) and set(slots.values()) == {"2025-03-03T09:07~pg_a~0"}
    assert sorted("2025-03-03T09:07" + e for e in items[0]["entries"]) == sorted(keys.values())


def test_sparse_page_goes_up_to_the_level_where_entries_gather_never_above_its_span():
    traces = _spread("tr", 400, T0, timedelta(minutes=50))  # ~29 a day: days, not hours or minutes
    items, slots = pack("pg_b", {t.id: time_key(t.timestamp, t.id) for t in traces})
    prefixes = {i["slot"].split("~")[0] for i in items}
    assert prefixes and all(len(p) in (10, 7) for p in prefixes), prefixes
    assert sum(len(i["entries"]) for i in items) == 400
    lone = pack("pg_c", {"x": time_key("2025-03-03T09:07:00Z", "x")})[0]
    assert [i["slot"] for i in lone] == ["2025-03-03T09:07~pg_c~0"]  # a page of one stays at its minute
    two = pack("pg_d", {"x": time_key("2025-03-03T09:07:00Z", "x"), "y": time_key("2025-05-03T09:07:00Z", "y")})[0]
    assert [i["slot"] for i in two] == ["2025~pg_d~0"]
    odd = pack("pg_e", {"x": time_key("yesterday", "x"), "y": time_key("2025-03-03T09:07:00Z", "y")})[0]
    assert [i["slot"] for i in odd] == ["~pg_e~0"]


def test_large_groups_are_split_under_the_item_limit(monkeypatch):
    monkeypatch.setattr(timeindex, "MAX_ITEM_BYTES", 2_000)
    keys = {f"tr{i}": time_key(f"2025-03-03T09:07:{i % 60:02d}.{i:03d}Z", f"tr{i}") for i in range(300)}
    items, slots = pack("pg_f", keys)
    assert len(items) >= 3 and len(set(slots.values())) == len(items)
    assert sorted(e for i in items for e in i["entries"]) == sorted(k[16:] for k in keys.values())
    assert all(item_size(serialize({"workspace_id": "ws", **i})) < 2_300 for i in items)


# --- cost ----------------------------------------------------------------------------------------

def _count_write_units(repo) -> dict:
    """WRU of every BatchWriteItem the repository's DynamoDB client makes (items + their GSI entries),
    by DynamoDB's sizing rules as bench/scale.py applies them."""
    shapes = table_shapes()
    names = {get_settings().table(name): name for name in shapes}
    counted = {"units": 0}

    def count(params, **_):
        for table, requests in _json_body(params)["RequestItems"].items():
            keys, indexes = shapes[names[table]]
            for request in requests:
                if "PutRequest" in request:
                    item = request["PutRequest"]["Item"]  # wire format, as DynamoDB sizes it
                    counted["units"] += write_units(item_size(item)) + gsi_write_units(item, keys, indexes)

    clients.dynamodb_table("traces").meta.client.meta.events.register("before-call.dynamodb.BatchWriteItem", count)
    return counted


@pytest.mark.parametrize("gap", [timedelta(seconds=2), timedelta(minutes=50)])
def test_an_import_page_costs_well_under_two_write_units_per_trace(api, repo, gap):
    """Before the packed index a trace cost 2 write units (its item + its by_time entry): dense and
    sparse pages of 500 now cost at most ~1.1 (the item, ≤ 1 KB, plus a share of a few index items)."""
    counted = _count_write_units(repo)
    traces = _spread("tr", 500, T0, gap, seed=3)
    repo.upsert_many(api.workspace_id, traces, imported_at=NOW)
    per_trace = counted["units"] / len(traces)
    assert 1 <= per_trace <= 1.15, per_trace


def test_a_page_spread_over_many_hours_costs_no_more_than_before(api, repo):
    counted = _count_write_units(repo)
    traces = [_trace(f"tr{i}", _iso(T0 + timedelta(days=400 * i))) for i in range(20)]  # one a year or so
    repo.upsert_many(api.workspace_id, traces, imported_at=NOW)
    assert 1 <= counted["units"] / len(traces) <= 2.0


# --- listing -------------------------------------------------------------------------------------

def test_lists_newest_first_across_pages_prefixes_and_page_sizes(api, repo):
    ws = api.workspace_id
    traces: dict[str, UnifiedTrace] = {}
    batches = [_spread("a", 300, T0, timedelta(seconds=3), seed=1),            # minutes
               _spread("b", 250, T0, timedelta(minutes=50), seed=2),           # days, overlapping the first
               _spread("c", 40, T0 - timedelta(days=300), timedelta(days=9), seed=3),  # months / a year
               [_trace("d0", None), _trace("d1", "not a time"), _trace("d2", "2025-03-03T09:30:00Z")]]
    for batch in batches:
        traces.update({t.id: t for t in batch})
        repo.upsert_many(ws, batch, imported_at=NOW)
    expected = _expected(traces)
    assert len(expected) == len(traces) == 593
    for limit in (1, 7, 50, 200):
        assert _all(repo, ws, limit=limit) == expected, limit
    assert _all(repo, ws, limit=1000, ids=True) == expected
    for since, until in (("2025-03-03T09:05", "2025-03-03T09:20"), ("2025-03-04", None), (None, "2025-03-03"),
                         ("2024-06", "2024-12-31T23:59:59Z"), ("2025-03-03T09:30:00Z", "2025-03-03T09:30:00Z")):
        want = _expected(traces, since, until)
        assert want, (since, until)
        assert _all(repo, ws, limit=13, since=since, until=until) == want, (since, until)
        assert _all(repo, ws, limit=100, ids=True, since=since, until=until) == want
        assert _listed_for_a_run(repo, ws, since=since, until=until) == want
    keep = lambda s: s.id.startswith("c") or s.id.endswith("7")  # noqa: E731
    assert _all(repo, ws, limit=9, keep=keep) == _expected(traces, keep=keep)


def test_a_reimported_trace_lists_once_at_its_new_time_and_a_deleted_one_not_at_all(api, repo):
    ws = api.workspace_id
    first = _spread("tr", 60, T0, timedelta(minutes=1))
    repo.upsert_many(ws, first, imported_at=NOW)
    moved = _trace("tr00010", "2024-01-01T00:00:00Z")           # another time, another page
    same_time = first[20].model_copy(update={"name": "renamed"})  # same time, another page
    assert repo.upsert_many(ws, [moved, same_time, first[30]], imported_at=NOW) == ["updated", "updated", "skipped"]
    repo.delete(ws, "tr00040")
    traces = {t.id: t for t in first}
    traces.update({"tr00010": moved, same_time.id: same_time})
    del traces["tr00040"]
    listed = _all(repo, ws, limit=7)
    assert listed == _expected(traces) and listed[-1] == "tr00010" and "tr00040" not in listed
    # a run lists the index unread: 3 stale entries (moved, renamed, deleted), each dropped by the chunk's check
    assert len(list(repo.index_entries(ws))) == len(traces) + 3
    assert _listed_for_a_run(repo, ws) == listed
    summaries, _ = repo.list(ws, limit=100, cursor=None)
    assert {s.id: s.name for s in summaries}[same_time.id] == "renamed"
    with pytest.raises(NotFound):
        repo.get(ws, "tr00040")


def test_items_written_before_the_packed_index_still_list_merged_and_once(api, repo):
    """Legacy items carry sort_key (the by_time GSI lists them); a re-import moves one to the packed index."""
    ws = api.workspace_id
    legacy = _spread("old", 30, T0, timedelta(minutes=7), seed=5)
    table = clients.dynamodb_table("traces")
    with table.batch_writer() as batch:
        for t in legacy:
            batch.put_item(Item=to_dynamo({"workspace_id": ws, "trace_id": t.id, "content_hash": "old",
                                           "sort_key": time_key(t.timestamp, t.id), "body": pack_body(
                                               t.model_dump_json().encode()),  # inline, as items of then held it
                                           "summary": _stored_summary(summarize(t, imported_at=NOW))}))
    new = _spread("new", 40, T0, timedelta(minutes=5), seed=6)
    repo.upsert_many(ws, new, imported_at=NOW)
    reimported = legacy[3].model_copy(update={"timestamp": "2025-03-03T09:00:00.001Z"})
    assert repo.upsert_many(ws, [reimported], imported_at=NOW) == ["updated"]
    traces = {t.id: t for t in legacy + new}
    traces[reimported.id] = reimported
    assert _all(repo, ws, limit=6) == _expected(traces)
    assert _all(repo, ws, limit=1000, ids=True) == _expected(traces)
    assert _listed_for_a_run(repo, ws) == _expected(traces)
    assert _all(repo, ws, limit=4, since="2025-03-03T10:00") == _expected(traces, since="2025-03-03T10:00")
    # a cursor handed out by the by_time listing before this change resumes where it pointed
    middle = sorted(time_key(t.timestamp, t.id) for t in legacy)[15]
    old_cursor = encode_cursor({"workspace_id": ws, "trace_id": middle.partition("#")[2], "sort_key": middle})
    page, _ = repo.list_ids(ws, limit=1000, cursor=old_cursor)
    assert page == [i for i in _expected(traces) if time_key(traces[i].timestamp, i) < middle]


def test_a_cursor_of_another_workspace_or_not_ours_is_refused(api, other, repo):
    repo.upsert_many(api.workspace_id, _spread("tr", 5, T0, timedelta(minutes=1)), imported_at=NOW)
    _, cursor = repo.list(api.workspace_id, limit=2, cursor=None)
    assert cursor
    with pytest.raises(ValidationError):
        repo.list(other.workspace_id, limit=2, cursor=cursor)
    with pytest.raises(ValidationError):
        repo.list_ids(api.workspace_id, limit=2, cursor=encode_cursor({"workspace_id": api.workspace_id}))
