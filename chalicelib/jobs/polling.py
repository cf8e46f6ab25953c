"""Waiting for a job to end, for any client of the API (the local stack, tests, benchmarks)."""

from __future__ import annotations

import time
from typing import Any, Callable

from chalicelib.jobs.models import FINAL_STATUSES


class JobStillRunning(AssertionError):
    """The job did not end in time (an AssertionError, so tests report it as a failure)."""


def poll_job(get_job: Callable[[], dict[str, Any]], *, timeout_s: float, interval_s: float = 0.2) -> dict[str, Any]:
    """Call ``get_job`` until the job it returns is succeeded, failed or cancelled; that job."""
    deadline = time.monotonic() + timeout_s
    while True:
        job = get_job()
        if job["status"] in FINAL_STATUSES:
            return job
        if time.monotonic() > deadline:
            raise JobStillRunning(f"job {job.get('id')} still {job['status']} after {timeout_s}s")
        time.sleep(interval_s)
