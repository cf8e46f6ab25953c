"""run_batch semantics: pass/fail/error/timeout, crash and timeout resume, order, caps; each test runs
with children forked by the zygote (the default) and with a fresh interpreter per child."""

from __future__ import annotations

import pytest

from chalicelib.errors import CodeRejected
from chalicelib.sandbox import TraceResult, run_batch, sandbox_capabilities
from chalicelib.sandbox.child import REASON_CAP, STDOUT_CAP
from chalicelib.sandbox.runner import SPAWN_ENV, SPAWN_MODES, SandboxUnavailable, spawn_mode
from chalicelib.sandbox.tasks import run_sandbox


@pytest.fixture(autouse=True, params=SPAWN_MODES)
def spawn(request, monkeypatch) -> str:
    monkeypatch.setenv(SPAWN_ENV, request.param)
    return request.param

BRANCHY = '''
import re

def eval_branchy(trace):
    kind = trace["kind"]
    print("seen", trace["id"])
    if kind == "loop":
        while True:
            pass
    if kind == "raise":
        raise KeyError("missing")
    if kind == "bad":
        return "not a tuple"
    if kind == "crash":
        return (True, str(1 << (10 ** 10)))
    return (bool(re.search("good", trace["text"])), "checked " + trace["id"])
'''


def _trace(trace_id: str, kind: str = "plain", text: str = "good") -> dict:
    return {"id": trace_id, "kind": kind, "text": text}


def test_pass_and_fail_follow_the_returned_bool():
    results = run_batch(BRANCHY, [_trace("a"), _trace("b", text="bad")])
    assert [(r.trace_id, r.result, r.reason) for r in results] == [
        ("a", "pass", "checked a"), ("b", "fail", "checked b")]
    assert results[0].stdout == "seen a\n"


def test_exception_is_an_error_with_type_message_and_line():
    [result] = run_batch(BRANCHY, [_trace("a", "raise")])
    assert result.result == "error"
    assert result.reason == "KeyError: 'missing'"
    assert "line 11, in eval_branchy" in result.stderr


def test_wrong_return_shape_is_an_invalid_result_error():
    [result] = run_batch(BRANCHY, [_trace("a", "bad")])
    assert result.result == "error"
    assert result.reason == "invalid result: expected tuple[bool, str], got str"


def test_timeout_kills_only_that_trace_and_a_new_child_resumes():
    traces = [_trace("a"), _trace("b", "loop"), _trace("c"), _trace("d", text="x")]
    results = run_batch(BRANCHY, traces, timeout_s=0.5)
    assert [(r.trace_id, r.result) for r in results] == [
        ("a", "pass"), ("b", "timeout"), ("c", "pass"), ("d", "fail")]
    assert results[1].duration_ms >= 500
    assert "time limit" in results[1].reason


def test_a_hang_after_a_stream_of_fast_results_is_that_traces_timeout_and_keeps_the_results_before_it():
    fast = [_trace(f"f{i}", text="good" if i % 3 else "no") for i in range(300)]
    traces = [*fast, _trace("hang", "loop"), *fast[:20]]
    results = run_batch(BRANCHY, traces, timeout_s=0.5)
    assert [r.trace_id for r in results] == [t["id"] for t in traces]
    assert [r.result for r in results[:300]] == ["pass" if i % 3 else "fail" for i in range(300)]
    assert results[300].result == "timeout" and results[300].duration_ms >= 500
    assert [r.result for r in results[301:]] == ["pass" if i % 3 else "fail" for i in range(20)]


def test_memory_exhaustion_is_an_error_and_the_batch_continues():
    results = run_batch(BRANCHY, [_trace("a", "crash"), _trace("b")])
    assert results[0].result == "error" and "MemoryError" in results[0].reason
    assert results[1].result == "pass"


def test_crashing_child_marks_that_trace_and_the_next_trace_runs():
    # Without validation the eval can reach the real os module and kill its own process.
    code = ("def eval_x(trace):\n"
            "    if trace['id'] == 'b':\n"
            "        print.__globals__['sys'].modules['os'].abort()\n"
            "    return (True, trace['id'])\n")
    results = run_batch(code, [_trace("a"), _trace("b"), _trace("c")], validate=False)
    assert [(r.trace_id, r.result) for r in results] == [("a", "pass"), ("b", "error"), ("c", "pass")]
    assert "SIGABRT" in results[1].reason or "killed" in results[1].reason


def test_results_come_back_in_input_order_for_a_large_batch():
    traces = [_trace(str(i), text="good" if i % 3 else "bad") for i in range(300)]
    results = run_batch(BRANCHY, traces)
    assert [r.trace_id for r in results] == [str(i) for i in range(300)]
    assert [r.result for r in results] == ["pass" if i % 3 else "fail" for i in range(300)]


def test_empty_batch_returns_no_results():
    assert run_batch(BRANCHY, []) == []


def test_invalid_code_is_rejected_before_any_child_starts():
    with pytest.raises(CodeRejected):
        run_batch("import os\ndef eval_x(trace):\n    return (True, '')\n", [_trace("a")])


def test_module_level_failure_marks_every_trace_as_error():
    code = "import os\ndef eval_x(trace):\n    return (True, '')\n"
    results = run_batch(code, [_trace("a"), _trace("b")], validate=False)
    assert [r.result for r in results] == ["error", "error"]
    assert "import of 'os' is not allowed" in results[0].reason


def test_huge_reason_and_output_are_capped():
    code = "def eval_x(trace):\n    print('o' * 200000)\n    return (False, 'r' * 100000)\n"
    [result] = run_batch(code, [_trace("a")])
    assert result.result == "fail"
    assert len(result.reason.encode()) <= REASON_CAP and result.reason.endswith("[truncated]")
    assert len(result.stdout.encode()) <= STDOUT_CAP and result.stdout.endswith("[truncated]")


def test_module_state_does_not_leak_between_batches():
    code = ("COUNT = []\n"
            "def eval_x(trace, seen=[]):\n"
            "    seen.append(trace['id'])\n"
            "    return (True, ','.join(seen))\n")
    assert run_batch(code, [_trace("a"), _trace("b")])[1].reason == "a,b"
    assert run_batch(code, [_trace("c")])[0].reason == "c"


def test_every_layer_this_machine_supports_is_applied():
    layers = sandbox_capabilities()
    for name in ("rlimits", "uid", "no_new_privs"):
        assert layers[name].startswith("on"), layers
    import os
    if os.geteuid() == 0:
        assert layers["netns"] == "on" and layers["uid"] == "on (nobody 65534)"
    if os.uname().machine == "x86_64":
        assert layers["seccomp"].startswith("on"), layers
    if _landlock_abi() > 0:
        assert layers["landlock"].startswith("on"), layers


def _landlock_abi() -> int:
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    return libc.syscall(444, None, ctypes.c_size_t(0), ctypes.c_uint32(1))


def test_lambda_task_validates_and_returns_dumped_results():
    out = run_sandbox({"code": BRANCHY, "traces": [_trace("a")], "timeout_s": 2})
    assert out == {"results": [TraceResult(trace_id="a", result="pass", reason="checked a",
                                           duration_ms=out["results"][0]["duration_ms"],
                                           stdout="seen a\n").model_dump(mode="json")]}


# --- pre-encoded traces and plain-dict results (the sandbox Lambda's fast path) ---------------

def test_encoded_traces_give_the_same_results_as_dicts():
    import json

    from chalicelib.sandbox import EncodedTrace, run_batch_dicts

    traces = [_trace("a"), _trace("b", text="bad"), _trace("c", "raise")]
    encoded = [EncodedTrace(t["id"], json.dumps(t).encode()) for t in traces]
    from_dicts = [r.model_dump() for r in run_batch(BRANCHY, traces)]
    from_lines = run_batch_dicts(BRANCHY, encoded)
    for row in from_dicts + from_lines:
        row["duration_ms"] = 0
    assert from_lines == from_dicts
    assert [r["result"] for r in from_lines] == ["pass", "fail", "error"]


def test_encoded_trace_may_be_str_pretty_printed_or_mixed_with_dicts():
    import json

    from chalicelib.sandbox import EncodedTrace

    pretty = EncodedTrace("p", json.dumps(_trace("p"), indent=2))
    assert "\n" in pretty.line
    results = run_batch(BRANCHY, [pretty, _trace("d", text="no"), EncodedTrace("u", '{"id": "u", "kind": "plain", '
                                                                                    '"text": "good \\u00e9"}')])
    assert [(r.trace_id, r.result, r.reason) for r in results] == [
        ("p", "pass", "checked p"), ("d", "fail", "checked d"), ("u", "pass", "checked u")]


def test_a_line_that_is_not_json_is_that_traces_error_and_the_rest_run():
    from chalicelib.sandbox import EncodedTrace

    traces = [EncodedTrace("a", b'{"id": "a", "kind": "plain", "text": "good"}'), EncodedTrace("b", b"{not json"),
              EncodedTrace("c", b"\xff\xfe"), EncodedTrace("d", b'{"id": "d", "kind": "plain", "text": "good"} x'),
              EncodedTrace("e", b'{"id": "e", "kind": "plain", "text": "good"}')]
    results = run_batch(BRANCHY, traces)
    assert [(r.trace_id, r.result) for r in results] == [
        ("a", "pass"), ("b", "error"), ("c", "error"), ("d", "error"), ("e", "pass")]
    assert all(r.reason.startswith("trace is not valid JSON") for r in results[1:4])


def test_timeout_in_an_encoded_batch_marks_only_that_trace():
    import json

    from chalicelib.sandbox import EncodedTrace, run_batch_dicts

    traces = [_trace(str(i), "loop" if i == 5 else "plain") for i in range(12)]
    results = run_batch_dicts(BRANCHY, [EncodedTrace(t["id"], json.dumps(t)) for t in traces], timeout_s=0.5)
    assert [r["result"] for r in results] == ["pass"] * 5 + ["timeout"] + ["pass"] * 6
    assert [r["trace_id"] for r in results] == [str(i) for i in range(12)]


def test_lambda_task_takes_pre_encoded_lines_and_rejects_mismatched_ids():
    import json

    from chalicelib.errors import ValidationError

    lines = [json.dumps(_trace("a")), json.dumps(_trace("b", text="x"))]
    out = run_sandbox({"code": BRANCHY, "trace_ids": ["a", "b"], "trace_lines": lines}, env={})
    assert [(r["trace_id"], r["result"]) for r in out["results"]] == [("a", "pass"), ("b", "fail")]
    assert all(type(r) is dict for r in out["results"])
    with pytest.raises(ValidationError, match="same length"):
        run_sandbox({"code": BRANCHY, "trace_ids": ["a"], "trace_lines": lines}, env={})


def test_spawn_mode_comes_from_the_environment_and_refuses_unknown_modes(spawn, monkeypatch):
    assert spawn_mode() == spawn
    assert spawn_mode("fresh") == "fresh"
    monkeypatch.setenv(SPAWN_ENV, "threads")
    with pytest.raises(SandboxUnavailable, match="unknown sandbox spawn mode 'threads'"):
        run_batch(BRANCHY, [_trace("a")])
