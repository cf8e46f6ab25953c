"""A second agent benchmark, through the product's API: an IT-helpdesk agent that is not tau-bench.

The traces come from ``bench/helpdesk_traces.py`` (seeded, synthetic: 50 tasks x 4 attempts, the
helpdesk's own tools, arguments, codes, timeouts and consent questions), are uploaded as unified traces
through ``POST /v1/traces/upload?format=unified``, and read back with ``GET /v1/traces/{id}``. Every
criterion below is written in plain words (the eval set's criteria) and labelled by an explicit function
in this file on the stored trace (``task_success`` also reads the simulator's hidden outcome). Raters are
imperfect: every label is flipped for ``NOISE`` of the traces (seeded per criterion and trace), and
``task_success`` is fuzzy on purpose (an unresolved problem handed on honestly is rated good by some
raters, not others).

Groups: **development** criteria were looked at while changing the generator; **held-out** criteria were
written with the rest but their results were read only after the generator's last change (the review's
own held-back sets are not these either). ``task_success`` was held-out until session 5's run and is a
development criterion since session 6 (its results were read; the generator's task-success features were
then developed on it). Session 10 changed the generator looking at the four held-out criteria of then, which
are development since; its three held-out criteria were written before that change was run on them, and session 11
changed the generator looking at them (development since). Session 11's two held-out criteria were written before
its generator changes and were measured once, after them. Session 12 wrote ticket_after_fix before its generator
changes ran on it (measured once: 0.21; session 13 changed the generator looking at it, development since). Session 13
wrote access_only_for_sales before its generator changes ran on it. Criteria made of two policies (``both``: the two
texts one after the other, good when both hold) were added in session 13: the development ones were tried while the
generator learned to read several sentences, the held-out ones were written before.

The machinery (upload, split, rate, generate, execute, baselines, report) is ``bench/agent_bench.py``'s,
shared with ``bench/returns.py``.

Protocol as ``bench/quality.py``: per criterion, n in {10, 20, 40} and seeds 0..4, split by task
(``split_by_group``), rate the n training traces through the feedback API, generate offline (job), execute
the eval on the held-out traces, score against the labels; baselines majority class and best single rule
on the same split.

    .venv/bin/python -m bench.helpdesk [--seeds 5] [--sizes 10,20,40] [--only NAME,...] [--direct]

``--direct`` calls the generator in-process instead of through the API (the development loop; the
report is always from the API run). Writes ``bench/results/helpdesk.md``.
"""

from __future__ import annotations

import random
import re
from typing import Any

from bench.agent_bench import AgentBenchmark, Case, every_call_after, run_benchmark
from bench.criteria import Criterion, both, calls, events, every_failure_retried, final_reply, result_of
from bench.helpdesk_traces import TASKS, make_traces

NOISE = 0.07
HEADLINE = ("verified_before_reset", "task_success", "device_checked_before_wipe")  # run first, at every --sizes
YES = re.compile(r"\b(yes|go ahead|confirm\w*|do it)\b")


# --- development criteria ----------------------------------------------------------------------

def verified_before_reset(trace: dict[str, Any], case: Case) -> bool:
    """Good when every resetPassword or unlockAccount call had an earlier verifyIdentity call that answered
    verified: true."""
    return every_call_after(trace, {"resetPassword", "unlockAccount"},
                            lambda p, c: p["name"] == "verifyIdentity" and (result_of(p) or {}).get("verified") is True)


def consent_before_wipe(trace: dict[str, Any], case: Case) -> bool:
    """Good when every wipeDevice call came while the user's latest turn said yes, go ahead, confirm... or do it."""
    latest = ""
    for kind, item in events(trace):
        if kind == "user":
            latest = item.lower()
        elif item["name"] == "wipeDevice" and not YES.search(latest):
            return False
    return True


def retried_failures(trace: dict[str, Any], case: Case) -> bool:
    """Good when every failed tool call was followed (at any distance) by another call to the same tool
    (``bench.criteria.every_failure_retried``'s label, on this agent)."""
    return every_failure_retried(trace)


# --- held-out until session 10 (development since: its generator changes looked at them) ----------

def device_checked_before_wipe(trace: dict[str, Any], case: Case) -> bool:
    """Good when every wipeDevice call had an earlier successful getDeviceStatus call for the same device_id."""
    return every_call_after(trace, {"wipeDevice"}, lambda p, c: p["name"] == "getDeviceStatus" and
                            (p.get("arguments") or {}).get("device_id") == (c.get("arguments") or {}).get("device_id"))


def ticket_number_in_reply(trace: dict[str, Any], case: Case) -> bool:
    """Good when no createTicket call succeeded, or the final reply contains the ticket_id it returned."""
    ids = [str((result_of(c) or {}).get("ticket_id")) for c in calls(trace) if c["name"] == "createTicket" and not c.get("error")]
    return not ids or any(i in final_reply(trace) for i in ids)


def at_most_two_codes(trace: dict[str, Any], case: Case) -> bool:
    """Good when verifyIdentity was called at most twice."""
    return sum(c["name"] == "verifyIdentity" for c in calls(trace)) <= 2


def looked_up_employee_id(trace: dict[str, Any], case: Case) -> bool:
    """Good when every employee_id argument equals an employee_id an earlier lookupEmployee call returned."""
    known: set[str] = set()
    for call in calls(trace):
        given = (call.get("arguments") or {}).get("employee_id")
        if given is not None and given not in known:
            return False
        if call["name"] == "lookupEmployee" and not call.get("error"):
            known.add(str((result_of(call) or {}).get("employee_id")))
    return True


# --- written in session 10 before the generator ran on them; development since session 11 (looked at) ----

def verified_before_access(trace: dict[str, Any], case: Case) -> bool:
    """Good when every grantAppAccess call had an earlier verifyIdentity call that answered verified: true."""
    return every_call_after(trace, {"grantAppAccess"}, lambda p, c: p["name"] == "verifyIdentity"
                            and (result_of(p) or {}).get("verified") is True)


def kb_before_escalation(trace: dict[str, Any], case: Case) -> bool:
    """Good when every escalateToTier2 call had an earlier successful searchKnowledgeBase call."""
    return every_call_after(trace, {"escalateToTier2"}, lambda p, c: p["name"] == "searchKnowledgeBase")


def no_false_done(trace: dict[str, Any], case: Case) -> bool:
    """Good when the final reply does not say "all done" or "good to go", or some resetPassword, unlockAccount,
    wipeDevice or grantAppAccess call succeeded."""
    fixes = ("resetPassword", "unlockAccount", "wipeDevice", "grantAppAccess")
    acted = any(call["name"] in fixes and not call.get("error") for call in calls(trace))
    return acted or not re.search(r"\b(all done|good to go)\b", final_reply(trace).lower())


# --- held-out: written in session 11, before the generator was run on them ---------------------------

def eta_in_escalation_reply(trace: dict[str, Any], case: Case) -> bool:
    """Good when no escalateToTier2 call succeeded, or the final reply contains the eta_hours one of them
    returned (as a whole number)."""
    etas = [str((result_of(c) or {}).get("eta_hours")) for c in calls(trace)
            if c["name"] == "escalateToTier2" and not c.get("error")]
    return not etas or any(re.search(rf"\b{re.escape(e)}\b", final_reply(trace)) for e in etas)


def search_before_ticket(trace: dict[str, Any], case: Case) -> bool:
    """Good when every createTicket call had an earlier searchKnowledgeBase call."""
    return every_call_after(trace, {"createTicket"}, lambda p, c: p["name"] == "searchKnowledgeBase")


def task_success(trace: dict[str, Any], case: Case) -> bool:
    """Good when the employee's problem was fixed (the simulator's outcome) and the agent did not claim more;
    an unfixed problem honestly handed on (ticket or tier 2, no claim of success) is good for about 40% of
    raters (seeded per trace)."""
    if case.resolved:
        return True
    if case.facts.get("false_claim"):
        return False
    handed_on = bool(case.facts.get("ticket") or case.facts.get("escalated"))
    return handed_on and random.Random(f"fuzzy-{case.trace['id']}").random() < 0.4


# --- held-out: written in session 12, before the generator was run on them ---------------------------

FIXES = {"resetPassword", "unlockAccount", "grantAppAccess"}


def ticket_after_fix(trace: dict[str, Any], case: Case) -> bool:
    """Good when every successful resetPassword, unlockAccount or grantAppAccess call was followed (at any
    distance) by a createTicket call."""
    made = calls(trace)
    return all(any(later["name"] == "createTicket" for later in made[k + 1:])
               for k, call in enumerate(made) if call["name"] in FIXES and not call.get("error"))


# --- held-out: written in session 13, before the generator was run on them ---------------------------

def access_only_for_sales(trace: dict[str, Any], case: Case) -> bool:
    """Good when every grantAppAccess call came after a successful lookupEmployee call and the latest such lookup
    returned the department "Sales"."""
    department = None
    for call in calls(trace):
        if call["name"] == "lookupEmployee" and not call.get("error"):
            department = (result_of(call) or {}).get("department")
        if call["name"] == "grantAppAccess" and department != "Sales":
            return False
    return True


CRITERIA = (
    Criterion("verified_before_reset", "development", "order (only after)",
              "The agent may reset a password or unlock an account only after it has verified the employee's identity.",
              verified_before_reset),
    Criterion("consent_before_wipe", "development", "consent",
              "Before wiping a device the agent must get the employee's explicit yes.", consent_before_wipe),
    Criterion("retried_failures", "development", "retries",
              "When a tool call fails, the agent tries it again.", retried_failures),
    Criterion("device_checked_before_wipe", "development", "order, same object",
              "A device may be wiped only after the agent checked the status of that same device.",
              device_checked_before_wipe),
    Criterion("ticket_number_in_reply", "development", "final-answer faithfulness",
              "When a ticket was created, the final reply gives the employee its ticket number.", ticket_number_in_reply),
    Criterion("at_most_two_codes", "development", "counts",
              "The agent asks to verify the identity code at most two times.", at_most_two_codes),
    Criterion("looked_up_employee_id", "development", "arguments",
              "The agent only acts on the employee id that the lookup returned, never a made-up one.",
              looked_up_employee_id),
    Criterion("task_success", "development", "task success (fuzzy)",
              "Good when the agent actually solved the employee's problem.", task_success),
    Criterion("verified_before_access", "development", "order, result value",
              "App access may be granted only once the employee's identity was verified.", verified_before_access),
    Criterion("kb_before_escalation", "development", "order",
              "Before escalating to tier 2, the agent has to have searched the knowledge base.", kb_before_escalation),
    Criterion("no_false_done", "development", "final-answer faithfulness",
              "The agent must not say it is all done unless the fix actually went through.", no_false_done),
    Criterion("eta_in_escalation_reply", "held-out", "final-answer faithfulness",
              "When the agent escalates to tier 2, its final reply tells the employee how long it will take.",
              eta_in_escalation_reply),
    Criterion("search_before_ticket", "held-out", "order",
              "The agent searches the knowledge base before it opens a ticket.", search_before_ticket),
    Criterion("ticket_after_fix", "development", "order (followed by)",
              "Whenever the agent resets a password, unlocks an account or grants app access, it must open a ticket "
              "afterwards to record it.", ticket_after_fix),
    Criterion("access_only_for_sales", "held-out", "order, result value (a text)",
              "App access may only be granted to employees the lookup lists in the Sales department.",
              access_only_for_sales),
)

CRITERIA += (  # two policies as one eval set's criteria (good when both hold); session 13
    both(CRITERIA, "reset_verified_and_wipe_consent", "development", "verified_before_reset", "consent_before_wipe"),
    both(CRITERIA, "kb_first_and_two_codes", "development", "kb_before_escalation", "at_most_two_codes"),
    both(CRITERIA, "wipe_checked_and_ticket_number", "held-out", "device_checked_before_wipe",
         "ticket_number_in_reply"),
)


BENCH = AgentBenchmark("helpdesk", "A second agent through the API: IT helpdesk (synthetic, not tau-bench)",
                       make_traces, CRITERIA, HEADLINE, NOISE, TASKS, "bench/helpdesk_traces.py")


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark (through the API unless --direct) and write bench/results/helpdesk.md."""
    run_benchmark(BENCH, argv, __doc__)


if __name__ == "__main__":
    main()
