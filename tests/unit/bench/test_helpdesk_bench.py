"""bench/helpdesk.py and bench/helpdesk_traces.py: the second agent's traces are seeded unified traces the upload
accepts, every criterion labels both ways with its stated noise, and the labelling functions read the traces."""

from __future__ import annotations

from bench import helpdesk
from bench.agent_bench import labelled
from bench.helpdesk_traces import make_traces
from tests.unit.generation.test_criteria import trace_of


def test_every_criterion_has_both_classes_and_about_its_noise_in_flips():
    cases = make_traces(0)
    traces = {c.trace["id"]: c.trace for c in cases}
    for criterion in helpdesk.CRITERIA:
        clean = [criterion.judge(c.trace, c) for c in cases]
        noisy = [i.good for i in labelled(helpdesk.BENCH, criterion, traces, cases)]
        assert 0 < sum(noisy) < len(noisy), criterion.name
        flips = sum(a != b for a, b in zip(clean, noisy)) / len(cases)
        assert 0.02 <= flips <= 0.13, (criterion.name, flips)
        assert criterion.judge.__doc__ and criterion.group in ("development", "held-out")


def test_the_labelling_functions_read_order_objects_results_and_counts():
    case = make_traces(0)[0]

    def judge(name: str, events: list) -> bool:
        criterion = next(c for c in helpdesk.CRITERIA if c.name == name)
        return criterion.judge(trace_of(events), case)

    verified = [("call", "verifyIdentity", {"verified": True}, None), ("call", "resetPassword", "{}", None)]
    wrong_code = [("call", "verifyIdentity", {"verified": False}, None), ("call", "resetPassword", "{}", None)]
    assert judge("verified_before_reset", verified) and not judge("verified_before_reset", wrong_code)
    same = [("call", "getDeviceStatus", "{}", None, {"device_id": "LT-1"}),
            ("call", "wipeDevice", "ok", None, {"device_id": "LT-1"})]
    other = [("call", "getDeviceStatus", "{}", None, {"device_id": "LT-2"}),
             ("call", "wipeDevice", "ok", None, {"device_id": "LT-1"})]
    assert judge("device_checked_before_wipe", same) and not judge("device_checked_before_wipe", other)
    asked = [("user", "Yes, go ahead."), ("call", "wipeDevice", "ok", None)]
    assert judge("consent_before_wipe", asked) and not judge("consent_before_wipe", [("user", "hmm"), *asked[1:]])
    assert not judge("at_most_two_codes", [("call", "verifyIdentity", {}, None)] * 3)
    assert judge("retried_failures", [("call", "wipeDevice", None, "timeout"), ("call", "wipeDevice", "ok", None)])
    assert not judge("retried_failures", [("call", "wipeDevice", None, "timeout")])
    ticket = [("call", "createTicket", {"ticket_id": "INC1"}, None)]
    assert judge("ticket_number_in_reply", [*ticket, ("assistant", "Ticket INC1 is open.")])
    assert not judge("ticket_number_in_reply", [*ticket, ("assistant", "Ticket is open.")])
    made_up = [("call", "lookupEmployee", {"employee_id": "E1"}, None), ("call", "resetPassword", "{}", None,
                                                                          {"employee_id": "E2"})]
    assert not judge("looked_up_employee_id", made_up)
