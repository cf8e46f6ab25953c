import pytest

from chalicelib.jobs.polling import JobStillRunning, poll_job


def test_polls_until_a_final_status():
    statuses = iter(["queued", "running", "running", "failed"])
    calls = []

    def get():
        calls.append(1)
        return {"id": "job_1", "status": next(statuses)}

    assert poll_job(get, timeout_s=5, interval_s=0)["status"] == "failed"
    assert len(calls) == 4


def test_gives_up_with_the_last_status():
    with pytest.raises(JobStillRunning, match="job_1 still running"):
        poll_job(lambda: {"id": "job_1", "status": "running"}, timeout_s=0, interval_s=0)
