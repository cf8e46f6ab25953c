"""The sandbox's time chain, on the declared values: every caller outlives the client's read timeout,
which outlives the sandbox function, which can run every trace it is sent; the client never retries."""

from __future__ import annotations

from chalicelib import clients
from chalicelib.evals.sandbox_client import LambdaSandbox
from chalicelib.sandbox import limits
from chalicelib.sandbox.runner import DEFAULT_TIMEOUT_S, START_TIMEOUT_S
from infra import resources


def test_every_caller_outlives_the_sandbox_it_waits_for():
    sandbox = resources.function("sandbox")
    callers = [fn for fn in resources.FUNCTIONS if fn.invokes_sandbox]
    assert {fn.name for fn in callers} == {"execute_chunk", "generate_candidates", "generate_test", "generate_save"}
    read_timeout = clients.sandbox_lambda_client().meta.config.read_timeout
    for fn in callers:
        # the caller still has time to store results after a sandbox call that ran to the read timeout
        assert fn.timeout_s * 1000 > read_timeout * 1000 + limits.CALLER_MARGIN_MS, fn.name
    assert read_timeout > sandbox.timeout_s
    assert sandbox.timeout_s > DEFAULT_TIMEOUT_S * limits.MAX_TRACES_PER_INVOKE + limits.START_ALLOWANCE_S
    assert limits.START_ALLOWANCE_S > START_TIMEOUT_S  # at least one child start that takes its whole allowance
    assert max(fn.timeout_s for fn in resources.FUNCTIONS) <= 900  # Lambda's limit


def test_the_sandbox_stops_while_its_answer_still_fits_and_in_time():
    assert limits.RESPONSE_BUDGET_BYTES < limits.LAMBDA_RESPONSE_LIMIT_BYTES - 100_000  # room for the not-run ids
    assert limits.STOP_MARGIN_MS < (resources.function("sandbox").timeout_s - DEFAULT_TIMEOUT_S) * 1000


def test_the_sandbox_client_times_out_and_never_retries_itself():
    config = clients.sandbox_lambda_client().meta.config
    assert config.connect_timeout <= 10
    assert config.retries["total_max_attempts"] == 1
    assert LambdaSandbox(clients.sandbox_lambda_client(), "f")._max_traces == limits.MAX_TRACES_PER_INVOKE


def test_the_default_execute_chunk_fills_every_sandbox_call():
    """Every sandbox call starts a locked-down child: a chunk of whole calls wastes none (200 made calls of
    150 and 50)."""
    from chalicelib.config import Settings

    chunk = Settings().execute_chunk_size
    assert chunk % limits.MAX_TRACES_PER_INVOKE == 0 and chunk >= limits.MAX_TRACES_PER_INVOKE
