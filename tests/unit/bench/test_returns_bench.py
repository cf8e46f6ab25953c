"""bench/returns.py and bench/returns_traces.py: the third agent's traces are seeded unified traces the upload
accepts, every criterion labels both ways with about its stated noise, and the labelling functions read order,
results, counts per order, the final reply, consent and hand-offs."""

from __future__ import annotations

from bench import returns
from bench.agent_bench import labelled
from bench.returns_traces import make_traces
from tests.unit.generation.test_criteria import trace_of


def test_the_tools_are_dotted_names():
    names = {c["name"] for case in make_traces(0) for c in case.trace["tool_calls"]}
    assert {"orders.lookup", "returns.check_window", "refund.issue", "orders.cancel", "support.handoff"} <= names


def test_every_criterion_has_both_classes_and_about_its_noise_in_flips():
    cases = make_traces(0)
    traces = {c.trace["id"]: c.trace for c in cases}
    for criterion in returns.CRITERIA:
        clean = [criterion.judge(c.trace, c) for c in cases]
        noisy = [i.good for i in labelled(returns.BENCH, criterion, traces, cases)]
        assert 15 <= sum(clean) <= len(clean) - 15, criterion.name
        flips = sum(a != b for a, b in zip(clean, noisy)) / len(cases)
        assert 0.01 <= flips <= 0.10, (criterion.name, flips)
        assert criterion.judge.__doc__ and criterion.group in ("development", "held-out")


def test_the_labelling_functions_read_order_results_counts_replies_consent_and_handoffs():
    case = make_traces(0)[0]

    def judge(name: str, events: list) -> bool:
        criterion = next(c for c in returns.CRITERIA if c.name == name)
        return criterion.judge(trace_of(events), case)

    lookup = ("call", "orders.lookup", {"order_id": "ORD-1"}, None, {"order_id": "ORD-1"})
    window = ("call", "returns.check_window", {"eligible": True}, None, {"order_id": "ORD-1"})
    closed = ("call", "returns.check_window", {"eligible": False}, None, {"order_id": "ORD-1"})
    refund = ("call", "refund.issue", {"refund_id": "RF-1", "amount": 42.5}, None, {"order_id": "ORD-1", "amount": 42.5})
    assert judge("refund_after_checks", [lookup, window, refund])
    assert not judge("refund_after_checks", [lookup, refund]) and not judge("refund_after_checks", [window, refund])
    assert judge("refund_only_if_eligible", [window, refund]) and not judge("refund_only_if_eligible", [closed, refund])
    assert judge("one_refund_per_order", [refund]) and not judge("one_refund_per_order", [refund, refund])
    assert judge("reply_states_refund_amount", [refund, ("assistant", "Refunded $42.50 to your card.")])
    assert not judge("reply_states_refund_amount", [refund, ("assistant", "Your refund is processed.")])
    cancel = ("call", "orders.cancel", {"status": "cancelled"}, None)
    assert judge("consent_before_cancel", [("user", "Sure, cancel it."), cancel])
    assert not judge("consent_before_cancel", [("user", "not sure yet"), cancel])
    failed = ("call", "refund.issue", None, "502 Bad Gateway")
    handoff = ("call", "support.handoff", {"queue": "human-agents"}, None)
    assert judge("handoff_after_two_failures", [failed, failed, handoff])
    assert not judge("handoff_after_two_failures", [failed, failed])
    assert not judge("handoff_after_two_failures", [handoff, failed, failed])
