"""BENCHMARKS.md §3 Import: a Langfuse import of 2,000 traces through the product end to
end (API → import job → Step Functions on moto → task handlers → fake Langfuse over HTTP →
DynamoDB/S3), normalization alone for comparison, and the same import from a source that
answers 429 with ``Retry-After`` to every 5th request: no trace lost, no duplicate.

    .venv/bin/python -m bench.import [--traces 2000] [--repeats 3]

Only a run at the protocol's sizes writes bench/results/import.md; smaller runs just print.

Clean and faulty runs alternate (clean 1, faulty 1, clean 2, ...), each into a fresh
workspace with its own trace set, so their ratio is measured under the same machine load.
"""

from __future__ import annotations

import argparse
import gzip
import json
from dataclasses import dataclass
from typing import Any

from bench.common import (
    TAUBENCH,
    BenchStack,
    Report,
    fmt,
    fmt_range,
    local_stack,
    log,
    median,
    repeat_timed,
    time_call,
)
from chalicelib.sources.langfuse.normalize import normalize_langfuse_trace
from infra.local.demo_traces import make_demo_traces
from infra.local.fake_langfuse import FakeLangfuse

DEFAULT_TRACES = 2000
DEFAULT_REPEATS = 3
PAGE_SIZE = 50  # the Langfuse client's default page size (chalicelib/sources/langfuse/client.py)
RATE_LIMIT_EVERY = 5
RETRY_AFTER_S = 0.05
NORMALIZE_REPEATS = 5
TAUBENCH_NORMALIZE_REPEATS = 5


@dataclass
class ImportRun:
    """One end-to-end import into a fresh workspace, checked through the API."""

    seconds: float
    traces: int
    listed: int
    unique_ids: int
    unique_external_ids: int
    result: dict[str, Any]
    requests: int
    statuses: dict[int, int]

    @property
    def lossless(self) -> bool:
        """Every source trace is listed exactly once and the job counted each as imported."""
        return (self.listed == self.unique_ids == self.unique_external_ids == self.traces
                and self.result.get("imported") == self.traces and self.result.get("failed") == 0)


def run_import(stack: BenchStack, traces: list[dict[str, Any]], *, rate_limit_every: int = 0,
               retry_after_s: float = RETRY_AFTER_S) -> ImportRun:
    """Serve ``traces`` from a fake Langfuse, import them into a fresh workspace via the API; timed from POST to job end."""
    api = stack.new_workspace("bench-import")
    try:
        with FakeLangfuse(traces, rate_limit_every=rate_limit_every, retry_after_s=retry_after_s) as fake:
            integration = api.ok("POST", "/integrations", status=201, json={
                "platform": "langfuse", "name": "bench", "base_url": fake.base_url,
                "credentials": {"public_key": fake.public_key, "secret_key": fake.secret_key}})

            def import_all() -> dict:
                job = api.ok("POST", "/traces/import", status=202,
                             json={"integration_id": integration["id"], "filters": {}})
                return api.wait_job(job["job_id"], timeout_s=900, poll_s=0.1)

            job, seconds = time_call(import_all)
            requests, statuses = fake.requests, dict(fake.statuses)
        if job["status"] != "succeeded":
            raise RuntimeError(f"import job ended {job['status']}: {job.get('error')}")
        listed = api.list_all("/traces")
    finally:
        api.close()
    return ImportRun(seconds=seconds, traces=len(traces), listed=len(listed),
                     unique_ids=len({t["id"] for t in listed}),
                     unique_external_ids=len({t["source"]["external_id"] for t in listed}),
                     result=job["result"], requests=requests, statuses=statuses)


def normalize_seconds_per_trace(traces: list[dict[str, Any]], repeats: int) -> list[float]:
    """Seconds per trace of normalize_langfuse_trace over ``traces``, one figure per repeat."""
    def loop() -> None:
        for raw in traces:
            normalize_langfuse_trace(raw, integration_id="int_bench")

    return [seconds / len(traces) for seconds in repeat_timed(loop, repeats)]


def load_taubench() -> list[dict[str, Any]] | None:
    """The tau-bench airline traces (Langfuse bodies), or None when ../shared is absent."""
    path = TAUBENCH / "traces.langfuse.jsonl.gz"
    if not path.exists():
        return None
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def _mean_kb(traces: list[dict[str, Any]]) -> float:
    return sum(len(json.dumps(t)) for t in traces) / len(traces) / 1024


def main(argv: list[str] | None = None) -> None:
    """Run the import benchmark and write bench/results/import.md."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--traces", type=int, default=DEFAULT_TRACES, help="traces per import")
    parser.add_argument("--repeats", type=int, default=DEFAULT_REPEATS, help="end-to-end imports per condition")
    args = parser.parse_args(argv)
    n, repeats = args.traces, args.repeats

    trace_sets = [make_demo_traces(n=n, seed=1000 + i) for i in range(repeats)]
    demo = trace_sets[0]
    log(f"{repeats} demo trace sets of {n} (mean {_mean_kb(demo):.1f} KB, "
        f"{sum(len(t['observations']) for t in demo) / n:.1f} observations per trace)")

    norm = normalize_seconds_per_trace(demo, NORMALIZE_REPEATS)
    log(f"normalization alone: {fmt(median(norm) * 1e3)} ms/trace")

    clean: list[ImportRun] = []
    faulty: list[ImportRun] = []
    with local_stack() as stack:
        for i, traces in enumerate(trace_sets):
            run = run_import(stack, traces)
            clean.append(run)
            log(f"clean import {i + 1}/{repeats}: {run.seconds:.1f}s, {n / run.seconds:.1f} traces/s, "
                f"listed {run.listed} (unique {run.unique_ids}), result {run.result}")
            run = run_import(stack, traces, rate_limit_every=RATE_LIMIT_EVERY)
            faulty.append(run)
            log(f"faulty import {i + 1}/{repeats}: {run.seconds:.1f}s, {run.statuses.get(429, 0)} × 429, "
                f"listed {run.listed} (unique {run.unique_ids}), result {run.result}")

    taubench = load_taubench()
    tau_norm: list[float] = []
    if taubench:
        tau_norm = normalize_seconds_per_trace(taubench, TAUBENCH_NORMALIZE_REPEATS)
        log(f"tau-bench normalization: {fmt(median(tau_norm) * 1e3)} ms/trace")

    report = build_report(n, repeats, demo, norm, clean, faulty, taubench, tau_norm)
    if (n, repeats) == (DEFAULT_TRACES, DEFAULT_REPEATS):
        log(f"wrote {report.write()}")
    else:
        print(report.render(), flush=True)
        log("not written to bench/results/ (sizes differ from the protocol's)")
    if not all(run.lossless for run in clean + faulty):
        raise SystemExit("an import lost or duplicated traces (see the table)")


def build_report(n: int, repeats: int, demo: list[dict[str, Any]], norm: list[float], clean: list[ImportRun],
                 faulty: list[ImportRun], taubench: list[dict[str, Any]] | None, tau_norm: list[float]) -> Report:
    """The import results as tables and notes."""
    report = Report("import", "Import benchmark (BENCHMARKS.md §3)")
    clean_s = [r.seconds for r in clean]
    faulty_s = [r.seconds for r in faulty]
    clean_rate = [n / s for s in clean_s]
    e2e_ms = [s / n * 1e3 for s in clean_s]
    norm_ms = [s * 1e3 for s in norm]
    sleeps = [r.statuses.get(429, 0) * RETRY_AFTER_S for r in faulty]
    awake = [f - z for f, z in zip(faulty_s, sleeps)]
    rows = [
        ["end-to-end import, clean source: traces per second", fmt(median(clean_rate)), fmt_range(clean_rate),
         f"n={repeats}"],
        ["end-to-end import, clean source: total seconds", fmt(median(clean_s)), fmt_range(clean_s), f"n={repeats}"],
        ["end-to-end import: ms per trace", fmt(median(e2e_ms)), fmt_range(e2e_ms), f"n={repeats}"],
        ["normalization alone (demo traces): ms per trace", fmt(median(norm_ms)), fmt_range(norm_ms),
         f"{NORMALIZE_REPEATS} loops over {n}"],
    ]
    if tau_norm and taubench:
        tau_ms = [s * 1e3 for s in tau_norm]
        rows.append([f"normalization alone (tau-bench, mean {_mean_kb(taubench):.0f} KB): ms per trace",
                     fmt(median(tau_ms)), fmt_range(tau_ms), f"{TAUBENCH_NORMALIZE_REPEATS} loops over {len(taubench)}"])
    rows += [
        [f"import with 429 on every {RATE_LIMIT_EVERY}th request: total seconds", fmt(median(faulty_s)),
         fmt_range(faulty_s), f"n={repeats}"],
        [f"  of which sleeping on Retry-After (429 answers × {RETRY_AFTER_S} s)", fmt(median(sleeps)), fmt_range(sleeps), ""],
        ["  the rest (faulty total − sleeping)", fmt(median(awake)), fmt_range(awake), ""],
    ]
    report.table(["figure", "median", "range", "over"], rows,
                 caption=f"{n} Langfuse-shaped demo traces (mean {_mean_kb(demo):.1f} KB, "
                         f"{sum(len(t['observations']) for t in demo) / n:.1f} observations each), "
                         f"fetched in pages of {PAGE_SIZE} plus one detail request per trace (v1 mode).")

    per_run_ratio_e2e = [e / median(norm_ms) for e in e2e_ms]
    per_run_ratio_fault = [f / c for f, c in zip(faulty_s, clean_s)]
    per_run_ratio_awake = [a / c for a, c in zip(awake, clean_s)]
    ratios = [
        ["end-to-end per trace / normalization alone per trace", fmt(median(per_run_ratio_e2e)),
         fmt_range(per_run_ratio_e2e)],
        ["faulty-source import time / clean import time (paired runs)", fmt(median(per_run_ratio_fault)),
         fmt_range(per_run_ratio_fault)],
        ["(faulty total − sleeping) / clean import time (paired runs)", fmt(median(per_run_ratio_awake)),
         fmt_range(per_run_ratio_awake)],
    ]
    if tau_norm:
        tau_vs_demo = [t / median(norm) for t in tau_norm]
        ratios.append(["tau-bench / demo normalization per trace", fmt(median(tau_vs_demo)), fmt_range(tau_vs_demo)])
    report.table(["ratio (same run)", "median", "range"], ratios)

    checks = []
    for i, (c, f) in enumerate(zip(clean, faulty), start=1):
        for label, run in (("clean", c), ("faulty", f)):
            checks.append([f"{label} {i}", run.traces, run.result.get("imported"), run.result.get("failed"),
                           run.listed, run.unique_ids, run.unique_external_ids, run.requests,
                           run.statuses.get(429, 0), "yes" if run.lossless else "**NO**"])
    report.table(["import", "source traces", "job: imported", "job: failed", "listed via API", "unique ids",
                  "unique external ids", "requests to source", "429 answers", "none lost, none duplicated"],
                 checks, caption="Counts (listed via `GET /v1/traces`, all pages):")

    report.note("Each end-to-end import goes into a fresh workspace with its own trace set "
                "(`make_demo_traces(n, seed=1000+i)`) and is timed from `POST /v1/traces/import` until "
                "`GET /v1/jobs/{id}` reports it ended (polled every 0.1 s); the count check is not timed.")
    report.note("Everything runs in one Python process (moto server, Step Functions interpreter, task handlers, "
                "Chalice HTTP server, fake Langfuse), so the end-to-end figure is single-core bound; "
                "it measures the product's path on moto, not AWS latency.")
    report.note(f"The faulty source answers 429 with `Retry-After: {RETRY_AFTER_S}` to every {RATE_LIMIT_EVERY}th "
                "request (the fake's request counter, so list and detail requests both get hit). Real Langfuse sends "
                "whole seconds; at `Retry-After: 1` the sleeping alone would add one second per 429 answer (one request in five), "
                "so a fractional value keeps the run short. The client honours the header as given.")
    report.note(f"Repeats: {repeats} end-to-end imports per condition, {NORMALIZE_REPEATS} normalization loops; "
                "kept small so the whole script stays within about 10 minutes on a shared 2-core machine.")
    if not taubench:
        report.note(f"tau-bench normalization skipped: {TAUBENCH} is absent (../shared is not beside this clone).")
    return report


if __name__ == "__main__":
    main()
