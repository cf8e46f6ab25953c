"""The sandbox's time and size budget, in one place.

infra/resources.py declares the sandbox function's timeout and its callers' timeouts from these
numbers; the sandbox client sets its botocore timeouts from them; the sandbox function stops
early from them. tests/unit/sandbox/test_limits.py checks the chain on the declared values:

    caller's timeout  >  client read timeout  >  sandbox timeout  >  per-trace limit × traces per invoke + start

so the caller always outlives the sandbox it waits for, and a sandbox invocation can run every
trace it was sent (it still stops early, with the rest returned as not run, when its Lambda
``context`` says time is short or its response would pass :data:`RESPONSE_BUDGET_BYTES`).
"""

from __future__ import annotations

TRACE_TIMEOUT_S = 5.0  # per-trace wall-clock limit (SECURITY.md layer 3)
START_ALLOWANCE_S = 50  # child starts (zygote, lockdown), restarts after timeouts, JSON in and out
# 150 × 5 s + 50 s = 800 s: the sandbox can always finish what it was sent. As many as the chain allows:
# every call starts a locked-down child (~0.1-0.2 s), so fewer, larger calls run more traces a second.
MAX_TRACES_PER_INVOKE = 150
SANDBOX_TIMEOUT_S = 810  # the sandbox function's Lambda timeout
CALLER_TIMEOUT_S = 900  # functions that wait for the sandbox (execute_chunk, generate_test, generate_save): Lambda's most

CONNECT_TIMEOUT_S = 5  # connecting to Lambda's endpoint is quick, or it is down: fail fast, let Step Functions retry
READ_TIMEOUT_S = SANDBOX_TIMEOUT_S + 30  # above the sandbox's timeout: its own timeout error arrives first
CLIENT_MAX_ATTEMPTS = 1  # no botocore retries: a retry would re-run eval code; Step Functions retries the task

LAMBDA_RESPONSE_LIMIT_BYTES = 6 * 1024 * 1024  # Lambda's synchronous response limit
RESPONSE_BUDGET_BYTES = 5_000_000  # results stop here (the rest are returned as not run)
STOP_MARGIN_MS = 10_000  # stop when less than one trace's limit plus this remains
CALLER_MARGIN_MS = 15_000  # the caller keeps this for storing results after its last sandbox call
