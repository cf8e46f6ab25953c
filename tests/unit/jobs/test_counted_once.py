"""A retried chunk or page counts once: Step Functions retries a task that may already have added its
counts (it failed, or timed out, after counting), so add_counts records what it counted, in one
transaction with the counters. Real DynamoDB (moto), real tasks, the real sandbox."""

from __future__ import annotations

import pytest

from chalicelib import wiring
from chalicelib.errors import Conflict, NotFound
from chalicelib.evals import tasks as eval_tasks
from chalicelib.evals.models import EvalVersion
from chalicelib.ids import new_id
from chalicelib.jobs.failures import FailureLog
from chalicelib.jobs.models import Job
from chalicelib.sources.models import SourcePage, TransientSourceError
from chalicelib.timeutil import now_iso
from chalicelib.traces import tasks as trace_tasks

CODE = "def eval_even(trace):\n    return (len(trace['name']) % 2 == 0, 'by name length')\n"


def _running_job(workspace_id: str, job_type: str, params: dict) -> Job:
    jobs = wiring.job_repo()
    job = Job(id=new_id("job"), type=job_type, status="queued", created_at=now_iso(), params=params)
    jobs.add(workspace_id, job)
    assert jobs.mark_running(workspace_id, job.id)
    return job


def test_the_same_chunk_counted_twice_counts_once_and_other_chunks_still_add(api):
    jobs = wiring.job_repo()
    job = _running_job(api.workspace_id, "execute", {})
    assert jobs.add_counts(api.workspace_id, job.id, {"executed": 3, "pass": 2}, progress=10, once="chunk-0")
    assert not jobs.add_counts(api.workspace_id, job.id, {"executed": 3, "pass": 2}, progress=10, once="chunk-0")
    assert jobs.add_counts(api.workspace_id, job.id, {"executed": 2, "pass": 1}, progress=20, once="chunk-1")
    stored = jobs.get(api.workspace_id, job.id)
    assert (stored.counters, stored.progress) == ({"executed": 5, "pass": 3}, 20)
    # the markers are no jobs: never listed, never found
    listed, _ = jobs.list(api.workspace_id, limit=50, cursor=None)
    assert [j.id for j in listed] == [job.id]
    with pytest.raises(NotFound):
        jobs.get(api.workspace_id, f"{job.id}#counted#chunk-0")
    api.ok("GET", f"/v1/jobs/{job.id}")


def test_a_chunk_of_a_job_no_longer_running_is_a_conflict_and_adds_nothing(api):
    jobs = wiring.job_repo()
    job = _running_job(api.workspace_id, "execute", {})
    assert jobs.transition(api.workspace_id, job.id, to="cancelled", allowed_from=("running",))
    with pytest.raises(Conflict):
        jobs.add_counts(api.workspace_id, job.id, {"executed": 1}, progress=None, once="chunk-0")
    assert jobs.get(api.workspace_id, job.id).counters == {}
    assert jobs.transition(api.workspace_id, job.id, to="running", allowed_from=("cancelled",))
    assert jobs.add_counts(api.workspace_id, job.id, {"executed": 1}, progress=None, once="chunk-0")  # nothing marked


@pytest.mark.slow
def test_an_execute_chunk_run_twice_as_a_retry_would_leaves_the_counts_exact(api):
    traces = [trace_id for trace_id, _ in api.upload_demo(7, seed=5)]
    eval_set = api.ok("POST", "/v1/eval-sets", {"name": "retry", "description": "", "criteria": ""}, status=201)
    version = EvalVersion(id=new_id("eval"), eval_set_id=eval_set["id"], version=1, name="eval_even", code=CODE,
                          generator="human", created_by="test", created_at=now_iso())
    evals, jobs, files = wiring.eval_repo(), wiring.job_repo(), wiring.job_files()
    evals.add(api.workspace_id, version)
    job = _running_job(api.workspace_id, "execute", {"eval_id": version.id})
    files.put(api.workspace_id, job.id, "chunk-0", traces[:4])
    files.put(api.workspace_id, job.id, "chunk-1", traces[4:])
    files.put(api.workspace_id, job.id, "plan", {"total": len(traces), "skipped": 0})
    ev = eval_tasks.JobEvent(job_id=job.id, workspace_id=api.workspace_id, params=job.params)
    deps = {"evals": evals, "traces": wiring.trace_repo(), "sandbox": wiring.sandbox(), "jobs": jobs, "files": files}

    outcomes = [eval_tasks.execute_chunk(ev, chunk, **deps) for chunk in (0, 0, 1, 1, 0)]
    counters = jobs.get(api.workspace_id, job.id).counters
    assert counters["executed"] == len(traces) == counters.get("pass", 0) + counters.get("fail", 0)
    assert outcomes[0] == outcomes[1] == outcomes[4]
    assert len(evals.executions_for(version.id, traces)) == len(traces)
    chunk_events = [e for e in jobs.list_events(job.id, after=0, limit=50) if e.message.startswith("chunk")]
    assert [e.message.split(":")[0] for e in chunk_events] == ["chunk 1", "chunk 2"]


def test_an_import_page_run_twice_as_a_retry_would_counts_its_traces_once(api):
    jobs = wiring.job_repo()
    job = _running_job(api.workspace_id, "import", {"integration_id": "int_retry"})
    pages = {None: SourcePage(traces=[{"id": f"a{i}", "name": f"t{i}"} for i in range(3)], next_cursor="c2"),
             "c2": SourcePage(traces=[{"id": "b0", "name": "u"}], next_cursor=None)}
    inp = trace_tasks.ImportPageInput(job_id=job.id, workspace_id=api.workspace_id, params=job.params)

    def run(page_input):
        return trace_tasks.import_page(page_input, jobs=jobs, traces=wiring.trace_repo(),
                                       fetch=lambda cursor: pages[cursor].model_copy(deep=True),
                                       failure_log=FailureLog(wiring.job_files()), traces_per_call=1)

    first = run(inp)
    again = run(inp)  # the retry of page 1: its traces are there now, but they were counted already
    assert again.processed == first.processed == 3
    last = run(first)
    run(first)
    counters = jobs.get(api.workspace_id, job.id).counters
    assert (counters["imported"], counters.get("skipped", 0), counters["pages"], last.processed) == (4, 0, 2, 4)


def _pages(n: int, per_page: int) -> dict:
    cursors = [None] + [f"c{i}" for i in range(1, n)]
    return {c: SourcePage(traces=[{"id": f"p{i}t{j}", "name": f"t{j}"} for j in range(per_page)],
                          next_cursor=cursors[i + 1] if i + 1 < n else None) for i, c in enumerate(cursors)}


def _call(job, workspace_id, pages, page_input=None, **limits):
    inp = page_input or trace_tasks.ImportPageInput(job_id=job.id, workspace_id=workspace_id, params=job.params)
    return trace_tasks.import_page(inp, jobs=wiring.job_repo(), traces=wiring.trace_repo(),
                                   fetch=lambda cursor: pages[cursor].model_copy(deep=True),
                                   failure_log=FailureLog(wiring.job_files()), **limits)


def test_one_import_call_goes_on_through_pages_up_to_its_trace_budget_and_a_retry_counts_once(api):
    job = _running_job(api.workspace_id, "import", {"integration_id": "int_many"})
    pages = _pages(5, 3)
    first = _call(job, api.workspace_id, pages, traces_per_call=7)  # 3 pages: 9 traces reach the budget of 7
    assert (first.page, first.cursor, first.done, first.processed) == (3, "c3", False, 9)
    again = _call(job, api.workspace_id, pages, traces_per_call=7)  # Step Functions retrying the whole call
    assert (again.page, again.processed) == (3, 9)
    last = _call(job, api.workspace_id, pages, page_input=first, traces_per_call=7)
    assert (last.page, last.done, last.processed) == (5, True, 15)
    counters = wiring.job_repo().get(api.workspace_id, job.id).counters
    assert (counters["imported"], counters["pages"]) == (15, 5)


def test_an_import_call_stops_at_the_execution_share_and_when_the_lambda_time_runs_short(api):
    job = _running_job(api.workspace_id, "import", {"integration_id": "int_time"})
    pages = _pages(6, 2)
    handover = _call(job, api.workspace_id, pages, pages_per_execution=2)
    assert (handover.page, handover.continue_as_new) == (2, True)
    short = _call(job, api.workspace_id, pages, page_input=handover.model_copy(update={"run_pages": 0}),
                  remaining_ms=lambda: 5_000)
    assert (short.page, short.done) == (3, False)  # one page, then too little time for another
    clock = iter([300_000, 170_000])  # a slow first page used 130 of 300 s: a later one may need as long
    spent = _call(job, api.workspace_id, pages, page_input=short, remaining_ms=lambda: next(clock))
    assert (spent.page, spent.done) == (4, False)


def test_a_transient_source_error_after_a_page_ends_the_call_there_and_the_next_call_raises_it(api):
    job = _running_job(api.workspace_id, "import", {"integration_id": "int_flaky"})
    pages = _pages(3, 2)

    class Flaky(dict):
        def __getitem__(self, cursor):
            if cursor == "c1":
                raise TransientSourceError("source answered 503")
            return super().__getitem__(cursor)

    out = _call(job, api.workspace_id, Flaky(pages))
    assert (out.page, out.cursor, out.processed) == (1, "c1", 2)
    with pytest.raises(TransientSourceError):
        _call(job, api.workspace_id, Flaky(pages), page_input=out)
