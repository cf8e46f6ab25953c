"""execute_eval.asl.json in moto's interpreter: a Distributed Map over the S3 manifest of chunks, its
ResultWriter's files read by Aggregate, failed chunks tolerated up to the configured percentage, and
large trace-id lists travelling as a job file."""

from __future__ import annotations

import json
import time
from collections import Counter

import pytest

from chalicelib import clients, wiring
from chalicelib.config import reset_settings
from chalicelib.evals import tasks
from chalicelib.evals.models import EvalVersion
from chalicelib.ids import new_id, trace_id_for
from chalicelib.timeutil import now_iso
from chalicelib.sources.langfuse.normalize import normalize_langfuse_trace
from chalicelib.traces.models import UnifiedTrace
from infra.local import lambda_hook
from infra.local.demo_traces import make_demo_traces

# passes traces that called a tool, fails the others, errs on traces without messages
CODE = '''def eval_used_a_tool(trace: dict) -> tuple[bool, str]:
    if not trace.get("messages"):
        raise ValueError("no messages")
    return bool(trace.get("tool_calls")), "tools" if trace.get("tool_calls") else "no tools"
'''


@pytest.fixture
def settings(monkeypatch):
    """Set IOFOLD_* variables for one test (the in-process task handlers re-read them)."""
    def put(**values: object) -> None:
        for name, value in values.items():
            monkeypatch.setenv(name, str(value))
        reset_settings()

    yield put
    monkeypatch.undo()
    reset_settings()


def _version(api) -> str:
    """A version of a new eval set of the caller's workspace, stored directly (no generation job)."""
    eval_set_id = api.ok("POST", "/v1/eval-sets", {"name": "dmap", "criteria": "uses tools"}, status=201)["id"]
    version = EvalVersion(id=new_id("ev"), eval_set_id=eval_set_id, version=1, name="eval_used_a_tool", code=CODE,
                          generator="human", created_by="test", created_at=now_iso())
    wiring.eval_repo().add(api.workspace_id, version)
    return version.id


def _store_traces(workspace_id: str, n: int, *, small: bool = False) -> list[str]:
    """n traces (demo shapes, distinct ids) written straight to the traces table; their ids. ``small``
    keeps two messages and one tool call of each (the same results, a tenth of the bytes)."""
    shapes = [normalize_langfuse_trace(raw, integration_id=None) for raw in make_demo_traces(n=min(n, 40), seed=5)]
    if small:
        shapes = [s.model_copy(update={"messages": s.messages[:2], "tool_calls": s.tool_calls[:1], "steps": [],
                                       "input": None, "output": None, "metadata": {}}) for s in shapes]
    traces = []
    for i in range(n):
        shape = shapes[i % len(shapes)]
        external = f"bulk-{i}"
        source = shape.source.model_copy(update={"external_id": external, "kind": "upload"})
        traces.append(shape.model_copy(update={"id": trace_id_for("upload", external), "source": source}))
    repo = wiring.trace_repo()
    for i in range(0, n, 1000):
        repo.upsert_many(workspace_id, traces[i:i + 1000], imported_at=now_iso())
    return [t.id for t in traces]


def _expected(trace_ids: list[str], workspace_id: str) -> Counter:
    bodies = wiring.trace_repo().get_many(workspace_id, trace_ids)
    return Counter("error" if not b.get("messages") else "pass" if b.get("tool_calls") else "fail"
                   for b in bodies.values())


def _execution_arn(api, job_id: str) -> str:
    return wiring.job_repo().get_item(api.workspace_id, job_id)["execution_arn"]


def _history(arn: str) -> list[dict]:
    sfn = clients.aws_client("stepfunctions")
    for _ in range(100):
        if sfn.describe_execution(executionArn=arn)["status"] != "RUNNING":
            break
        time.sleep(0.1)
    return sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]


def _stored_results(eval_id: str) -> list[dict]:
    return wiring.eval_repo().executions(eval_id, limit=1000, cursor=None)[0]


def test_a_run_maps_over_chunks_and_counts_from_the_written_results(api, settings):
    settings(IOFOLD_EXECUTE_CHUNK_SIZE=7, IOFOLD_EXECUTE_MAX_CONCURRENCY=3)
    ids = _store_traces(api.workspace_id, 40)
    eval_id = _version(api)
    job = api.ok("POST", f"/v1/evals/{eval_id}/execute", {"trace_ids": ids}, status=202)
    done = api.wait_ok(job["job_id"])
    expected = _expected(ids, api.workspace_id)
    result = done["result"]
    assert result["total"] == result["executed"] == 40 and not result["partial"], result
    assert {k: result[k] for k in ("pass", "fail", "error")} == {k: expected[k] for k in ("pass", "fail", "error")}
    assert len(_stored_results(eval_id)) == 40

    events = _history(_execution_arn(api, job["job_id"]))
    kinds = [e["type"] for e in events]
    assert "MapRunStarted" in kinds and "MapRunSucceeded" in kinds
    # the parent's history holds no chunk's result: 6 chunks ran as children of the map run
    assert not any("TaskSucceeded" == k for k in kinds[kinds.index("MapRunStarted"):kinds.index("MapRunSucceeded")])
    s3 = clients.aws_client("s3")
    results = wiring.job_files().folder(api.workspace_id, job["job_id"], "results")
    written = s3.list_objects_v2(Bucket=results["Bucket"], Prefix=results["Prefix"] + "/")["Contents"]
    assert sorted(o["Key"].rsplit("/", 1)[1] for o in written) == ["SUCCEEDED_0.json", "manifest.json"]
    succeeded = next(o["Key"] for o in written if o["Key"].endswith("SUCCEEDED_0.json"))
    children = json.loads(s3.get_object(Bucket=results["Bucket"], Key=succeeded)["Body"].read())
    assert sorted(json.loads(c["Input"])["chunk"] for c in children) == list(range(6))  # ceil(40 / 7)


def _fail_chunks(failing: set[int]):
    def wrap(handler):
        def run(event, context):
            if int(event["chunk"]) in failing:
                raise RuntimeError(f"chunk {event['chunk']} lost its worker")  # not retried: the child fails
            return handler(event, context)
        return run
    return lambda_hook.wrapped("execute_chunk", wrap)


def _calls_per_chunk():
    """Within the block, every AWS call an execute_chunk handler makes, by (chunk, service, operation)
    (botocore's before-call on the clients the product builds; a context variable, so the calls of the
    threads a chunk reads with count as the chunk's)."""
    import contextlib
    import contextvars

    running: contextvars.ContextVar[int | None] = contextvars.ContextVar("chunk", default=None)
    calls: Counter = Counter()

    def record(model, **_):
        chunk = running.get()
        if chunk is not None:
            calls[(chunk, model.service_model.service_name, model.name)] += 1

    def wrap(handler):
        def run(event, context):
            token = running.set(int(event["chunk"]))
            try:
                return handler(event, context)
            finally:
                running.reset(token)
        return run

    @contextlib.contextmanager
    def block():
        clients.register_aws_event_handler("before-call", record)
        wiring.reset()
        try:
            with lambda_hook.wrapped("execute_chunk", wrap):
                yield calls
        finally:
            clients.unregister_aws_event_handlers()
            wiring.reset()

    return block()


def test_a_chunk_reads_only_its_ids_and_makes_a_bounded_number_of_calls(api, settings):
    """The run's total travels with each chunk (the Map's ItemSelector): a chunk's S3 reads are its ids and
    its traces' bodies (one object: the traces were stored as one import page);
    per chunk: the job (status, then progress), the version, its traces, one sandbox call per 150 traces,
    one BatchWriteItem per 25 results, the trend and the job's counters (two transactions), one event."""
    settings(IOFOLD_EXECUTE_CHUNK_SIZE=30, IOFOLD_EXECUTE_MAX_CONCURRENCY=2)
    ids = _store_traces(api.workspace_id, 75, small=True)  # chunks of 30, 30, 15
    eval_id = _version(api)
    with _calls_per_chunk() as calls:
        job = api.ok("POST", f"/v1/evals/{eval_id}/execute", {"trace_ids": ids}, status=202)
        done = api.wait_ok(job["job_id"])
    assert done["result"]["executed"] == 75
    chunks = sorted({chunk for chunk, _, _ in calls})
    assert chunks == [0, 1, 2]
    for chunk in chunks:
        mine = {(service, op): n for (c, service, op), n in calls.items() if c == chunk}
        assert mine.get(("s3", "GetObject")) == 2, mine
        assert mine.get(("lambda", "Invoke")) == 1, mine
        assert mine.get(("dynamodb", "BatchWriteItem")) == (2 if chunk < 2 else 1), mine
        assert sum(mine.values()) <= 14, mine
    events = api.ok("GET", f"/v1/jobs/{job['job_id']}/events")["items"]
    chunk_events = [e for e in events if e["message"].startswith("chunk ")]
    assert len(chunk_events) == 3 and all(e["data"]["total"] == 75 for e in chunk_events), chunk_events


def test_a_run_over_every_trace_chunks_by_import_page_so_a_chunk_reads_one_page_object(api, settings):
    """Three import pages whose traces interleave in time (as uploads of the same period do): listed newest
    first, every run of 20 ids spans all three pages; prepare groups a window's ids by the page their
    time-index slot names, so each chunk of 20 reads its chunk file and one page object, once."""
    settings(IOFOLD_EXECUTE_CHUNK_SIZE=20)
    shapes = [normalize_langfuse_trace(raw, integration_id=None) for raw in make_demo_traces(n=20, seed=7)]
    repo = wiring.trace_repo()
    pages = []
    for p in range(3):
        page = [shapes[i].model_copy(update={"id": f"tr_page{p}_{i:02d}",
                                             "timestamp": f"2026-03-01T{i:02d}:{p * 10:02d}:00Z"})
                for i in range(20)]
        assert repo.upsert_many(api.workspace_id, page, imported_at=now_iso()) == ["imported"] * 20
        pages.append({t.id for t in page})
    newest = [t for t, _ in repo.index_entries(api.workspace_id)][:20]
    assert all(any(t in page for t in newest) for page in pages)  # in time order a chunk would span every page
    eval_id = _version(api)
    with _calls_per_chunk() as calls:
        done = api.wait_ok(api.ok("POST", f"/v1/evals/{eval_id}/execute", {}, status=202)["job_id"])
    assert done["result"]["total"] == done["result"]["executed"] == 60, done["result"]
    assert sorted({c for c, _, _ in calls}) == [0, 1, 2]
    for chunk in range(3):
        assert calls[(chunk, "s3", "GetObject")] == 2, calls  # its chunk file, its page's bodies
    ran = {r.trace_id for r in _stored_results(eval_id)}
    assert ran == set().union(*pages)


def test_failed_chunks_within_the_tolerance_end_the_job_partial_with_exact_counts(api, settings):
    settings(IOFOLD_EXECUTE_CHUNK_SIZE=5, IOFOLD_EXECUTE_TOLERATED_FAILURE_PERCENT=25)
    ids = _store_traces(api.workspace_id, 28)  # 6 chunks: 5 × 5 + 3
    eval_id = _version(api)
    with _fail_chunks({1}):
        job = api.ok("POST", f"/v1/evals/{eval_id}/execute", {"trace_ids": ids}, status=202)
        done = api.wait_ok(job["job_id"])
    result = done["result"]
    ran = ids[:5] + ids[10:]
    expected = _expected(ran, api.workspace_id)
    assert result["partial"] and result["failed_chunks"] == 1 and result["not_run"] == 5, result
    assert result["executed"] == 23 == len(_stored_results(eval_id))
    assert {k: result[k] for k in ("pass", "fail", "error")} == {k: expected[k] for k in ("pass", "fail", "error")}
    assert {r.trace_id for r in _stored_results(eval_id)} == set(ran)
    events = api.ok("GET", f"/v1/jobs/{job['job_id']}/events")["items"]
    assert any("1 chunks failed" in e["message"] and "lost its worker" in e["message"] for e in events)


def test_failed_chunks_beyond_the_tolerance_fail_the_job(api, settings):
    settings(IOFOLD_EXECUTE_CHUNK_SIZE=5, IOFOLD_EXECUTE_TOLERATED_FAILURE_PERCENT=10)
    ids = _store_traces(api.workspace_id, 20)  # 4 chunks: one failing is 25 %
    eval_id = _version(api)
    with _fail_chunks({2}):
        job = api.ok("POST", f"/v1/evals/{eval_id}/execute", {"trace_ids": ids}, status=202)
        done = api.wait_job(job["job_id"])
    assert done["status"] == "failed" and "States.ExceedToleratedFailureThreshold" in done["error"], done


def test_many_trace_ids_travel_as_a_job_file_not_in_the_job_or_the_input(api, settings):
    settings(IOFOLD_EXECUTE_CHUNK_SIZE=50)
    ids = _store_traces(api.workspace_id, 150)
    eval_id = _version(api)
    job = api.ok("POST", f"/v1/evals/{eval_id}/execute", {"trace_ids": ids + ids[:10]}, status=202)
    done = api.wait_ok(job["job_id"])
    assert done["result"]["executed"] == done["result"]["total"] == 150
    item = wiring.job_repo().get_item(api.workspace_id, job["job_id"])
    assert item["params"].get("trace_ids") is None and item["params"]["trace_count"] == 160
    started = _history(item["execution_arn"])[0]["executionStartedEventDetails"]["input"]
    assert len(started) < 1000 and "tr_" not in started


@pytest.mark.slow
@pytest.mark.timeout(1500)  # 20,000 traces stored, run in the sandbox and their results written
def test_an_execute_request_with_20000_trace_ids_runs_end_to_end(api, settings):
    settings(IOFOLD_EXECUTE_CHUNK_SIZE=500, IOFOLD_EXECUTE_MAX_CONCURRENCY=8)
    ids = _store_traces(api.workspace_id, 20_000, small=True)
    eval_id = _version(api)
    job = api.ok("POST", f"/v1/evals/{eval_id}/execute", {"trace_ids": ids}, status=202)
    item = wiring.job_repo().get_item(api.workspace_id, job["job_id"])
    assert len(json.dumps(item, default=str)) < 4000
    done = api.wait_ok(job["job_id"], timeout_s=1200)
    result = done["result"]
    expected = _expected(ids[:40], api.workspace_id)  # the 40 shapes repeat: 500 times each
    assert result["executed"] == result["total"] == len(ids) and not result["partial"], result
    kinds = ("pass", "fail", "error")
    assert {k: result[k] for k in kinds} == {k: len(ids) // 40 * expected[k] for k in kinds}


def test_a_run_with_nothing_left_to_do_maps_over_no_chunks_and_succeeds(api, settings):
    settings(IOFOLD_EXECUTE_CHUNK_SIZE=4)
    ids = _store_traces(api.workspace_id, 6)
    eval_id = _version(api)
    first = api.wait_ok(api.ok("POST", f"/v1/evals/{eval_id}/execute", {"trace_ids": ids}, status=202)["job_id"])
    again = api.wait_ok(api.ok("POST", f"/v1/evals/{eval_id}/execute", {"trace_ids": ids, "only_missing": True},
                               status=202)["job_id"])
    assert first["result"]["executed"] == 6
    assert {k: again["result"][k] for k in ("total", "skipped", "executed", "partial")} == {
        "total": 0, "skipped": 6, "executed": 0, "partial": False}


@pytest.mark.parametrize("window_chunks", [tasks.WINDOW_CHUNKS, 1])
def test_a_run_over_every_trace_lists_the_index_unread_and_runs_each_trace_once(api, settings, monkeypatch,
                                                                               window_chunks):
    """Re-imported traces leave stale time-index entries, deleted ones too: prepare lists them all without
    reading the items; each chunk's read drops them, and the result's total is what was there to run (with
    the listing ordered by page in one window, or cut a chunk at a time: a stale entry and the current one
    then land in different chunks)."""
    settings(IOFOLD_EXECUTE_CHUNK_SIZE=7)
    monkeypatch.setattr(tasks, "WINDOW_CHUNKS", window_chunks)
    ids = _store_traces(api.workspace_id, 30)
    repo = wiring.trace_repo()
    stored = repo.get_many(api.workspace_id, ids[:3])
    moved = [UnifiedTrace.model_validate({**stored[t], "timestamp": f"2020-01-0{i + 1}T00:00:00Z"})
             for i, t in enumerate(ids[:3])]
    assert repo.upsert_many(api.workspace_id, moved, imported_at=now_iso()) == ["updated"] * 3
    repo.delete(api.workspace_id, ids[-1])
    assert len(list(repo.index_entries(api.workspace_id))) == 30 + 3  # 3 stale, 1 deleted
    eval_id = _version(api)
    done = api.wait_ok(api.ok("POST", f"/v1/evals/{eval_id}/execute", {}, status=202)["job_id"])
    result = done["result"]
    assert result["total"] == result["executed"] == 29 and not result["partial"], result
    assert sorted(r.trace_id for r in _stored_results(eval_id)) == sorted(ids[:-1])
    assert result["pass"] + result["fail"] + result["error"] == 29
