"""The sandbox function stops early, with the results it has and the ids it did not run, when its Lambda
context says time is short or its answer would pass the response budget; the client sends the rest
again, so every trace gets exactly one result. Real children, under both sandbox profiles."""

from __future__ import annotations

import io
import json
import time

import pytest

from chalicelib.evals.sandbox_client import LambdaSandbox, SandboxUnavailable
from chalicelib.sandbox import limits
from chalicelib.sandbox.runner import Budget, run_batch_dicts
from chalicelib.sandbox.tasks import run_sandbox
from tests.unit.sandbox.test_lambda_client import FakeLambda

SLOW = "def eval_slow(trace):\n    total = sum(range(1_500_000))\n    return (True, str(total))\n"  # ~0.1 s a trace
# 32 Ki 'é' printed: 64 KiB of UTF-8, ~200 KB once Lambda's runtime JSON-escapes it
LOUD = "def eval_loud(trace):\n    print('\\u00e9' * 40000)\n    return (True, trace['id'])\n"
PROFILES = [{}, {"IOFOLD_SANDBOX_PROFILE": "lambda"}]


class FakeContext:
    """A Lambda context whose remaining time runs out ``ms`` from now (wall clock, as on Lambda)."""

    def __init__(self, ms: int):
        self.end = time.monotonic() + ms / 1000

    def get_remaining_time_in_millis(self) -> int:
        return int((self.end - time.monotonic()) * 1000)


@pytest.mark.parametrize("env", PROFILES, ids=["host", "lambda"])
def test_the_sandbox_stops_before_its_lambda_time_runs_out_and_names_the_traces_not_run(env):
    traces = [{"id": f"t{i}"} for i in range(400)]  # more than a fast machine runs in the slack
    slack_ms = 3_000  # time for traces after the margin and one trace's limit are kept back
    context = FakeContext(limits.STOP_MARGIN_MS + int(limits.TRACE_TIMEOUT_S * 1000) + slack_ms)
    started = time.monotonic()
    out = run_sandbox({"code": SLOW, "traces": traces}, env=env, context=context)
    elapsed = time.monotonic() - started
    assert out["stopped"] == "time"
    ran = [r["trace_id"] for r in out["results"]]
    assert 0 < len(ran) < len(traces)
    assert ran + out["not_run"] == [t["id"] for t in traces]
    assert all(r["result"] == "pass" for r in out["results"])
    assert context.get_remaining_time_in_millis() > limits.STOP_MARGIN_MS  # it left its margin untouched
    assert elapsed < slack_ms / 1000 + limits.TRACE_TIMEOUT_S


def test_the_callers_budget_stops_the_sandbox_too():
    out = run_sandbox({"code": SLOW, "trace_ids": ["a", "b"], "trace_lines": ['{"id":"a"}', '{"id":"b"}'],
                       "budget_ms": limits.STOP_MARGIN_MS + 1_000}, env={}, context=FakeContext(300_000))
    assert (out["results"], out["not_run"], out["stopped"]) == ([], ["a", "b"], "time")


@pytest.mark.parametrize("env", PROFILES, ids=["host", "lambda"])
def test_the_sandbox_answer_stays_under_the_response_budget(env):
    traces = [{"id": f"t{i}"} for i in range(50)]
    out = run_sandbox({"code": LOUD, "traces": traces}, env=env, context=FakeContext(300_000))
    encoded = len(json.dumps(out))  # as Lambda's Python runtime encodes it (ASCII, escaped)
    assert out["stopped"] == "size"
    assert limits.RESPONSE_BUDGET_BYTES - 300_000 < encoded <= limits.RESPONSE_BUDGET_BYTES + 10_000
    assert encoded < limits.LAMBDA_RESPONSE_LIMIT_BYTES
    assert [r["trace_id"] for r in out["results"]] + out["not_run"] == [t["id"] for t in traces]
    assert all(r["stdout"].startswith("\u00e9" * 100) for r in out["results"])


def test_the_first_result_is_kept_even_past_the_byte_budget_so_every_call_makes_progress():
    budget = Budget(max_bytes=1_000)
    results = run_batch_dicts(LOUD, [{"id": "a"}, {"id": "b"}], budget=budget)
    assert [r["trace_id"] for r in results] == ["a"] and budget.stopped == "size"


def test_the_client_sends_what_the_sandbox_did_not_run_again_and_gets_one_result_per_trace():
    traces = [{"id": f"t{i}", "text": "x"} for i in range(50)]
    fake = FakeLambda()
    results = LambdaSandbox(fake, "sandbox").run(LOUD, traces)
    assert [(r.trace_id, r.result, r.reason) for r in results] == [(t["id"], "pass", t["id"]) for t in traces]
    assert len(fake.sizes) >= 2  # the first answer stopped at the size budget; the rest went again


class ClockedLambda(FakeLambda):
    """The sandbox answered in this process; each call costs the caller ``cost_ms`` of its own time."""

    def __init__(self, clock: list[int], cost_ms: int):
        super().__init__()
        self.clock, self.cost_ms, self.budgets = clock, cost_ms, []

    def invoke(self, FunctionName: str, Payload: str) -> dict:  # noqa: N803 (boto3's names)
        self.budgets.append(json.loads(Payload).get("budget_ms"))
        self.clock[0] -= self.cost_ms
        return super().invoke(FunctionName, Payload)


def test_traces_the_caller_has_no_time_left_for_are_recorded_as_not_run_exactly_once():
    left_ms = [limits.CALLER_MARGIN_MS + int(limits.TRACE_TIMEOUT_S * 1000) + limits.STOP_MARGIN_MS + 60_000]
    fake = ClockedLambda(left_ms, cost_ms=70_000)
    traces = [{"id": f"t{i}", "text": "ab"} for i in range(5)]
    code = "def eval_x(trace):\n    return (True, 'ran')\n"
    results = LambdaSandbox(fake, "sandbox", max_traces=2, remaining_ms=lambda: left_ms[0]).run(code, traces)
    assert [r.trace_id for r in results] == [t["id"] for t in traces]
    # one call fitted; then the caller had 20 s left: less than its margin, one trace's limit and the sandbox's margin
    assert [r.result for r in results] == ["pass", "pass", "timeout", "timeout", "timeout"]
    assert all("ran out of time" in r.reason for r in results[2:])
    assert len(fake.budgets) == 1 and fake.budgets[0] == left_ms[0] + 70_000 - limits.CALLER_MARGIN_MS


class StalledLambda(FakeLambda):
    """A sandbox that answers every call with nothing run."""

    def invoke(self, FunctionName: str, Payload: str) -> dict:  # noqa: N803 (boto3's names)
        ids = json.loads(Payload)["trace_ids"]
        return {"Payload": io.BytesIO(json.dumps({"results": [], "not_run": ids, "stopped": "time"}).encode())}


def test_a_sandbox_that_runs_nothing_with_time_to_spare_is_unavailable_not_a_loop():
    with pytest.raises(SandboxUnavailable, match="ran none of the 2 traces"):
        LambdaSandbox(StalledLambda(), "sandbox").run("def eval_x(trace):\n    return (True, '')\n",
                                                      [{"id": "a"}, {"id": "b"}])
