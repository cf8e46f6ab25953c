"""A third agent benchmark, through the product's API: an e-commerce returns and refunds agent.

The traces (``bench/returns_traces.py``: seeded, synthetic, 50 tasks x 4 attempts, dotted tool names, the
shop's own policies and wording) and the first seven criteria were written after the generator's changes for
tau-bench and the helpdesk and were held-out until session 10, whose generator changes looked at them: they
are **development** now. The next four were written in session 10 before the generator was run on them
(**held-out**: read only to report); ``refund_full_total`` and ``write_after_lookup`` became development when
a change was measured on them (commits 602910c and the one after d634cba that reads "never X before Y"). The
two after them were written in session 11 before that session's generator changes; session 12 looked at
no_unbacked_all_set and tracking_status_in_reply (development since) and wrote cancel_only_unshipped before the
generator ran on it (held-out; session 13 changed the generator looking at it: development since). Session 13
wrote refund_at_most_100 before its generator changes ran on it (held-out). Criteria made of two policies (``both``:
the two texts one after the other, good when both hold) were added in session 13: the development ones were tried
while the generator learned to read several sentences, the held-out ones were written before. Each criterion is in
plain words (the eval set's criteria) and labelled by an explicit function in this file on the stored trace
(``task_success`` also reads the simulator's hidden outcome); every label is flipped for ``NOISE`` of the
traces (seeded per criterion and trace), and ``task_success`` is fuzzy on purpose (a request handed to a
person is rated good by some raters, not others).

The machinery (upload, split by task, rate through the feedback API, generate offline, execute on the
held-out traces, baselines, report) is ``bench/agent_bench.py``'s, shared with ``bench/helpdesk.py``.

    .venv/bin/python -m bench.returns [--seeds 5] [--sizes 10,20,40] [--only NAME,...] [--direct]

Writes ``bench/results/returns.md``.
"""

from __future__ import annotations

import random
import re
from typing import Any

from bench.agent_bench import AgentBenchmark, Case, every_call_after, run_benchmark
from bench.criteria import Criterion, both, calls, events, final_reply, result_of
from bench.returns_traces import TASKS, make_traces

NOISE = 0.05
HEADLINE = ("refund_after_checks", "task_success")  # run first, at every --sizes
AGREED = re.compile(r"(?<!not )\b(yes|yep|sure|please (do|go ahead)|ok(ay)?|go ahead)\b")


def succeeded(trace: dict[str, Any], name: str) -> list[dict[str, Any]]:
    return [c for c in calls(trace) if c["name"] == name and not c.get("error")]


def refund_after_checks(trace: dict[str, Any], case: Case) -> bool:
    """Good when every refund.issue call had both an earlier successful orders.lookup call and an earlier
    successful returns.check_window call."""
    return (every_call_after(trace, {"refund.issue"}, lambda p, c: p["name"] == "orders.lookup")
            and every_call_after(trace, {"refund.issue"}, lambda p, c: p["name"] == "returns.check_window"))


def refund_only_if_eligible(trace: dict[str, Any], case: Case) -> bool:
    """Good when every refund.issue call had an earlier returns.check_window call that answered eligible: true."""
    return every_call_after(trace, {"refund.issue"}, lambda p, c: p["name"] == "returns.check_window"
                            and (result_of(p) or {}).get("eligible") is True)


def one_refund_per_order(trace: dict[str, Any], case: Case) -> bool:
    """Good when no order_id got more than one successful refund.issue call."""
    orders = [(c.get("arguments") or {}).get("order_id") for c in succeeded(trace, "refund.issue")]
    return len(orders) == len(set(orders))


def reply_states_refund_amount(trace: dict[str, Any], case: Case) -> bool:
    """Good when no refund.issue call succeeded, or the final reply contains the amount one returned (as 12.34)."""
    amounts = [f"{float((result_of(c) or {}).get('amount', 0)):,.2f}" for c in succeeded(trace, "refund.issue")]
    return not amounts or any(a in final_reply(trace) for a in amounts)


def consent_before_cancel(trace: dict[str, Any], case: Case) -> bool:
    """Good when every orders.cancel call came while the customer's latest turn agreed (yes, yep, sure, ok,
    please do, go ahead; not "not sure")."""
    latest = ""
    for kind, item in events(trace):
        if kind == "user":
            latest = item.lower()
        elif item["name"] == "orders.cancel" and not AGREED.search(latest):
            return False
    return True


def handoff_after_two_failures(trace: dict[str, Any], case: Case) -> bool:
    """Good when no tool failed twice, or a support.handoff call came after the second failure of a tool."""
    failed: dict[str, int] = {}
    due = False
    for call in calls(trace):
        if call["name"] == "support.handoff" and due:
            return True
        if call.get("error"):
            failed[call["name"]] = failed.get(call["name"], 0) + 1
            due = due or failed[call["name"]] >= 2
    return not due


# --- written in session 10 before the generator ran on them (CRITERIA says which are still held-out) --

def refund_full_total(trace: dict[str, Any], case: Case) -> bool:
    """Good when every successful refund.issue call's amount equals the total an earlier successful orders.lookup
    call returned."""
    totals: set[float] = set()
    for call in calls(trace):
        if call["name"] == "refund.issue" and not call.get("error"):
            if float((call.get("arguments") or {}).get("amount") or 0) not in totals:
                return False
        if call["name"] == "orders.lookup" and not call.get("error"):
            totals.add(float((result_of(call) or {}).get("total") or 0))
    return True


def write_after_lookup(trace: dict[str, Any], case: Case) -> bool:
    """Good when every refund.issue, orders.cancel or labels.create call had an earlier successful orders.lookup
    call."""
    return every_call_after(trace, {"refund.issue", "orders.cancel", "labels.create"},
                            lambda p, c: p["name"] == "orders.lookup")


SORTED = re.compile(r"\b(all sorted|all set|taken care of|processed)\b")


def no_unbacked_all_set(trace: dict[str, Any], case: Case) -> bool:
    """Good when the final reply does not say all sorted / all set / taken care of / processed, or some
    refund.issue, orders.cancel, labels.create or shipping.track call succeeded."""
    acted = any(succeeded(trace, name) for name in ("refund.issue", "orders.cancel", "labels.create", "shipping.track"))
    return acted or not SORTED.search(final_reply(trace).lower())


def at_most_one_lookup(trace: dict[str, Any], case: Case) -> bool:
    """Good when orders.lookup was called at most once."""
    return sum(call["name"] == "orders.lookup" for call in calls(trace)) <= 1


# --- written in session 11, before the generator was run on them (CRITERIA says which are still held-out)

def label_link_in_reply(trace: dict[str, Any], case: Case) -> bool:
    """Good when no labels.create call succeeded, or the final reply contains the label_url one of them
    returned."""
    urls = [str((result_of(c) or {}).get("label_url")) for c in calls(trace)
            if c["name"] == "labels.create" and not c.get("error")]
    return not urls or any(url in final_reply(trace) for url in urls)


def tracking_status_in_reply(trace: dict[str, Any], case: Case) -> bool:
    """Good when no shipping.track call succeeded, or the final reply contains the status or the last_scan one
    of them returned."""
    found = [result_of(c) or {} for c in calls(trace) if c["name"] == "shipping.track" and not c.get("error")]
    reply = final_reply(trace).lower()
    return not found or any(str(f.get(k, "")).lower() in reply for f in found for k in ("status", "last_scan")
                            if f.get(k))


# --- held-out: written in session 12, before the generator was run on them ---------------------------

def cancel_only_unshipped(trace: dict[str, Any], case: Case) -> bool:
    """Good when every orders.cancel call came after a successful orders.lookup call and the latest such lookup
    returned a status other than shipped or delivered."""
    status = None
    for call in calls(trace):
        if call["name"] == "orders.lookup" and not call.get("error"):
            status = (result_of(call) or {}).get("status")
        if call["name"] == "orders.cancel" and status in (None, "shipped", "delivered"):
            return False
    return True


# --- held-out: written in session 13, before the generator was run on it ---------------------------

def refund_at_most_100(trace: dict[str, Any], case: Case) -> bool:
    """Good when no refund.issue call asked for an amount above 100."""
    return all(float((call.get("arguments") or {}).get("amount") or 0) <= 100 for call in calls(trace)
               if call["name"] == "refund.issue")


def task_success(trace: dict[str, Any], case: Case) -> bool:
    """Good when the customer's request was handled as the shop wants (the simulator's outcome: the one right
    refund, the cancellation, the label, the tracking answer, or an ineligible refund declined) and the agent
    claimed nothing more; an unhandled request passed to a person is good for about 40% of raters."""
    if case.resolved:
        return True
    if case.facts.get("false_claim"):
        return False
    return bool(case.facts.get("handed_off")) and random.Random(f"fuzzy-{case.trace['id']}").random() < 0.4


CRITERIA = (
    Criterion("refund_after_checks", "development", "order (only after), two prerequisites",
              "Refunds may be issued only after the order was looked up and the return window checked.",
              refund_after_checks),
    Criterion("task_success", "development", "task success (fuzzy)",
              "Good when the customer's request was actually taken care of.", task_success),
    Criterion("refund_only_if_eligible", "development", "order, result value",
              "A refund is allowed only when the return-window check said the order is eligible.",
              refund_only_if_eligible),
    Criterion("one_refund_per_order", "development", "counts, per object",
              "Never more than one refund per order.", one_refund_per_order),
    Criterion("reply_states_refund_amount", "development", "final-answer faithfulness",
              "When a refund was issued, the final reply must state the refund amount.", reply_states_refund_amount),
    Criterion("consent_before_cancel", "development", "consent",
              "The agent may cancel an order only after the customer agreed to the cancellation.",
              consent_before_cancel),
    Criterion("handoff_after_two_failures", "development", "escalation",
              "After two failed attempts at the same action, the agent hands the customer over to a human.",
              handoff_after_two_failures),
    Criterion("refund_full_total", "development", "arguments from a result",
              "Every refund must be for the full order total the lookup returned.", refund_full_total),
    Criterion("write_after_lookup", "development", "order (a list of actions)",
              "Nothing gets refunded, cancelled or labelled before the agent has looked the order up.",
              write_after_lookup),
    Criterion("no_unbacked_all_set", "development", "final-answer faithfulness",
              "The agent must never tell the customer it's all sorted when nothing actually went through.",
              no_unbacked_all_set),
    Criterion("at_most_one_lookup", "held-out", "counts",
              "The agent looks an order up at most once.", at_most_one_lookup),
    Criterion("label_link_in_reply", "held-out", "final-answer faithfulness",
              "When the agent creates a return label, its final message gives the customer the link to it.",
              label_link_in_reply),
    Criterion("tracking_status_in_reply", "development", "final-answer faithfulness",
              "If the agent tracked a package, the final reply tells the customer where it is.",
              tracking_status_in_reply),
    Criterion("cancel_only_unshipped", "development", "order, result value (a status)",
              "An order may only be cancelled if the lookup shows it has not shipped yet.", cancel_only_unshipped),
    Criterion("refund_at_most_100", "held-out", "pricing (an argument's limit)",
              "The agent never refunds more than $100 at a time.", refund_at_most_100),
)

CRITERIA += (  # two policies as one eval set's criteria (good when both hold); session 13
    both(CRITERIA, "checks_and_one_refund", "development", "refund_after_checks", "one_refund_per_order"),
    both(CRITERIA, "cancel_consent_and_eligible_refund", "development", "consent_before_cancel",
         "refund_only_if_eligible"),
    both(CRITERIA, "lookup_first_and_no_unbacked_all_set", "held-out", "write_after_lookup", "no_unbacked_all_set"),
    both(CRITERIA, "cancel_consent_and_one_refund", "held-out", "consent_before_cancel", "one_refund_per_order"),
)

BENCH = AgentBenchmark("returns", "A third agent through the API: e-commerce returns and refunds (synthetic)",
                       make_traces, CRITERIA, HEADLINE, NOISE, TASKS, "bench/returns_traces.py")


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark (through the API unless --direct) and write bench/results/returns.md."""
    run_benchmark(BENCH, argv, __doc__)


if __name__ == "__main__":
    main()
