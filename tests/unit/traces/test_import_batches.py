"""An import reads small source pages on until it holds ``batch_traces`` traces and stores and counts them
as one (chalicelib/traces/tasks.py _fetch_batch): one page object and one job update per batch instead
of per source page; a retried call counts its batch once. Real DynamoDB and S3 (moto), real tasks."""

from __future__ import annotations

from chalicelib import clients, wiring
from chalicelib.config import get_settings
from chalicelib.ids import new_id
from chalicelib.jobs.failures import FailureLog
from chalicelib.jobs.models import Job
from chalicelib.sources.models import SourcePage, SourceFailure, TransientSourceError
from chalicelib.timeutil import now_iso
from chalicelib.traces import tasks as trace_tasks


def _job(workspace_id: str) -> Job:
    jobs = wiring.job_repo()
    job = Job(id=new_id("job"), type="import", status="queued", created_at=now_iso(),
              params={"integration_id": "int_batch"})
    jobs.add(workspace_id, job)
    return job


def _pages(n: int, per_page: int) -> dict:
    cursors = [None] + [f"c{i}" for i in range(1, n)]
    return {c: SourcePage(traces=[{"id": f"p{i}t{j}", "name": f"t{j}"} for j in range(per_page)],
                          failures=[SourceFailure(reason="bad", external_id=f"p{i}x")] if i == 2 else [],
                          next_cursor=cursors[i + 1] if i + 1 < n else None, total=n * per_page)
            for i, c in enumerate(cursors)}


def _call(job, workspace_id, pages, page_input=None, **limits):
    inp = page_input or trace_tasks.ImportPageInput(job_id=job.id, workspace_id=workspace_id, params=job.params)
    return trace_tasks.import_page(inp, jobs=wiring.job_repo(), traces=wiring.trace_repo(),
                                   fetch=lambda cursor: pages[cursor].model_copy(deep=True),
                                   failure_log=FailureLog(wiring.job_files()), **limits)


def _page_objects(workspace_id: str) -> int:
    listed = clients.aws_client("s3").list_objects_v2(Bucket=get_settings().bucket, Prefix=f"traces/{workspace_id}/")
    return len(listed.get("Contents", []))


def test_small_source_pages_are_stored_and_counted_in_batches(api):
    job = _job(api.workspace_id)
    pages = _pages(10, 5)  # 50 traces (+1 failure on the third page) in pages of 5
    first = _call(job, api.workspace_id, pages, batch_traces=20, traces_per_call=1)
    assert (first.page, first.cursor, first.processed, first.done) == (4, "c4", 21, False)  # 4 pages: 20 + 1 failed
    assert _page_objects(api.workspace_id) == 1  # the batch's bodies are one page object
    again = _call(job, api.workspace_id, pages, batch_traces=20, traces_per_call=1)  # a retry of the same call
    assert (again.page, again.processed) == (4, 21)
    rest = _call(job, api.workspace_id, pages, page_input=first, batch_traces=20)
    assert (rest.page, rest.done, rest.processed) == (10, True, 51)
    stored = wiring.job_repo().get(api.workspace_id, job.id)
    assert (stored.counters["imported"], stored.counters["failed"], stored.counters["pages"]) == (50, 1, 10)
    events = [e.message.split(":")[0] for e in wiring.job_repo().list_events(job.id, after=0, limit=50)
              if e.message.startswith("page")]
    assert events == ["pages 1-4", "pages 5-8", "pages 9-10"]
    assert len(wiring.trace_repo().list_ids(api.workspace_id, limit=100, cursor=None)[0]) == 50


def test_a_transient_error_inside_a_batch_ends_it_with_the_pages_read(api):
    job = _job(api.workspace_id)
    pages = _pages(4, 5)

    class Flaky(dict):
        def __getitem__(self, cursor):
            if cursor == "c2":
                raise TransientSourceError("source answered 503")
            return super().__getitem__(cursor)

    out = _call(job, api.workspace_id, Flaky(pages), batch_traces=100)
    assert (out.page, out.cursor, out.processed) == (2, "c2", 10)


def test_without_batching_each_source_page_is_its_own(api):
    job = _job(api.workspace_id)
    out = _call(job, api.workspace_id, _pages(3, 5), traces_per_call=1)
    assert (out.page, out.cursor, out.processed) == (1, "c1", 5)
