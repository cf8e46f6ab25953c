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
own held-back sets are not these either).

Protocol as ``bench/quality.py``: per criterion, n in {10, 20, 40} and seeds 0..4, split by task
(``split_by_group``), rate the n training traces through the feedback API, generate offline (job), execute
the eval on the held-out traces, score against the labels; baselines majority class and best single rule
on the same split.

    .venv/bin/python -m bench.helpdesk [--seeds 5] [--sizes 10,20,40] [--only NAME,...] [--direct]

``--direct`` calls the generator in-process instead of through the API (the development loop; the
report is always from the API run). Writes ``bench/results/helpdesk.md``.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from bench.common import Report, log
from bench.criteria import Criterion, calls, events, final_reply
from bench.helpdesk_traces import Case, make_traces
from chalicelib.generation.evaluation import (
    LabeledItem,
    best_single_rule,
    majority_baseline,
    run_predictor,
    score_predictions,
    split_by_group,
)

NOISE = 0.07
HEADLINE = ("verified_before_reset", "task_success", "device_checked_before_wipe")  # run first, at every --sizes
TRACE_SEED = 0
YES = re.compile(r"\b(yes|go ahead|confirm\w*|do it)\b")

def every_call_after(trace: dict[str, Any], tools: set[str],
                     prior: Callable[[dict[str, Any], dict[str, Any]], bool]) -> bool:
    """Each call to one of ``tools`` had an earlier error-free call p for which ``prior(p, call)`` holds."""
    seen: list[dict[str, Any]] = []
    for call in calls(trace):
        if call["name"] in tools and not any(prior(p, call) for p in seen):
            return False
        if not call.get("error"):
            seen.append(call)
    return True


def result_of(call: dict[str, Any]) -> Any:
    result = call.get("result")
    if isinstance(result, str):
        try:
            return json.loads(result)
        except ValueError:
            return result
    return result


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
    """Good when every failed tool call was followed (at any distance) by another call to the same tool."""
    seen = calls(trace)
    return all(any(later["name"] == call["name"] for later in seen[i + 1:])
               for i, call in enumerate(seen) if call.get("error"))


# --- held-out criteria -------------------------------------------------------------------------

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


CRITERIA = (
    Criterion("verified_before_reset", "development", "order (only after)",
              "The agent may reset a password or unlock an account only after it has verified the employee's identity.",
              verified_before_reset),
    Criterion("consent_before_wipe", "development", "consent",
              "Before wiping a device the agent must get the employee's explicit yes.", consent_before_wipe),
    Criterion("retried_failures", "development", "retries",
              "When a tool call fails, the agent tries it again.", retried_failures),
    Criterion("device_checked_before_wipe", "held-out", "order, same object",
              "A device may be wiped only after the agent checked the status of that same device.",
              device_checked_before_wipe),
    Criterion("ticket_number_in_reply", "held-out", "final-answer faithfulness",
              "When a ticket was created, the final reply gives the employee its ticket number.", ticket_number_in_reply),
    Criterion("at_most_two_codes", "held-out", "counts",
              "The agent asks to verify the identity code at most two times.", at_most_two_codes),
    Criterion("looked_up_employee_id", "held-out", "arguments",
              "The agent only acts on the employee id that the lookup returned, never a made-up one.",
              looked_up_employee_id),
    Criterion("task_success", "held-out", "task success (fuzzy)",
              "Good when the agent actually solved the employee's problem.", task_success),
)


def labelled(criterion: Criterion, traces: dict[str, dict[str, Any]], cases: Sequence[Case]) -> list[LabeledItem]:
    """The criterion's labels on the stored traces (by external id), each flipped with probability NOISE."""
    items = []
    for case in cases:
        trace = traces[case.trace["id"]]
        good = criterion.judge(trace, case)
        if random.Random(f"noise-{criterion.name}-{case.trace['id']}").random() < NOISE:
            good = not good
        items.append(LabeledItem(trace, case.group, good))
    return items


# --- the two ways to run the generator ----------------------------------------------------------

@dataclass
class Outcome:
    criterion: str
    n: int
    seed: int
    product: Any
    majority: Any
    single_rule: Any
    seconds: float
    estimate: float | None = None


def run_direct(criterion: Criterion, items: Sequence[LabeledItem], n: int, seed: int) -> Outcome:
    """The generator called in-process (development loop only)."""
    from chalicelib.generation.base import GenerationRequest, LabeledTrace
    from chalicelib.generation.offline import OfflineGenerator, load_eval

    split = split_by_group(items, n_train=n, seed=seed)
    started = time.perf_counter()
    request = GenerationRequest(eval_name=criterion.name, criteria=criterion.text, candidates=1, examples=[
        LabeledTrace(trace=i.trace, rating="positive" if i.good else "negative") for i in split.train])
    check = load_eval(OfflineGenerator().generate(request).candidates[0].code)
    seconds = time.perf_counter() - started
    single, _ = best_single_rule(split.train)
    return Outcome(criterion.name, n, seed,
                   score_predictions(split.heldout, run_predictor(lambda t: check(t)[0], split.heldout)),
                   score_predictions(split.heldout, run_predictor(majority_baseline(split.train), split.heldout)),
                   score_predictions(split.heldout, run_predictor(single, split.heldout)), seconds)


def upload(api: Any, cases: Sequence[Case]) -> dict[str, dict[str, Any]]:
    """Upload the traces as unified JSON Lines; {external id: the stored trace, as the API returns it}."""
    body = "\n".join(json.dumps(case.trace) for case in cases)
    job = api.ok("POST", "/traces/upload?format=unified", status=202, content=body.encode(),
                 headers={"Content-Type": "application/x-ndjson"})
    done = api.wait_job(job["job_id"], timeout_s=600)
    if done["status"] != "succeeded":
        raise RuntimeError(f"upload ended {done['status']}: {done.get('error')}")
    listed = api.list_all("/traces")
    return {t["source"]["external_id"]: api.ok("GET", f"/traces/{t['id']}") for t in listed}


def kappa(metrics: Any) -> float:
    return metrics.cohen_kappa if metrics.cohen_kappa is not None else 0.0


def summary(values: Sequence[float]) -> str:
    return f"{statistics.median(values):.2f} [{min(values):.2f}, {max(values):.2f}]"


def rows_for(outcomes: Sequence[Outcome], criteria: Sequence[Criterion]) -> list[list[str]]:
    rows = []
    for c in criteria:
        for n in dict.fromkeys(o.n for o in outcomes if o.criterion == c.name):
            group = [o for o in outcomes if o.criterion == c.name and o.n == n]
            rows.append([c.name, str(n), str(len(group)), summary([kappa(o.product) for o in group]),
                         summary([kappa(o.single_rule) for o in group]), summary([kappa(o.majority) for o in group]),
                         summary([o.product.accuracy or 0.0 for o in group]),
                         summary([o.single_rule.accuracy or 0.0 for o in group]),
                         f"{statistics.median([o.seconds for o in group]):.1f} s"])
    return rows


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark (through the API unless --direct) and write bench/results/helpdesk.md."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--sizes", default="10,20,40")
    parser.add_argument("--other-sizes", default="", help="n for the criteria not in HEADLINE (default: --sizes)")
    parser.add_argument("--only", default="", help="comma-separated criterion names (default: all)")
    parser.add_argument("--direct", action="store_true", help="call the generator in-process; print, write nothing")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    other_sizes = [int(s) for s in (args.other_sizes or args.sizes).split(",")]
    chosen = [c for c in CRITERIA if not args.only or c.name in args.only.split(",")]
    chosen.sort(key=lambda c: c.name not in HEADLINE)
    cases = make_traces(TRACE_SEED)
    outcomes: list[Outcome] = []
    if args.direct:
        traces = {case.trace["id"]: case.trace for case in cases}
        for c in chosen:
            items = labelled(c, traces, cases)
            for n in sizes if c.name in HEADLINE else other_sizes:
                got = [run_direct(c, items, n, seed) for seed in range(args.seeds)]
                outcomes += got
                log(f"{c.name} n={n}: kappa {summary([kappa(o.product) for o in got])} "
                    f"(single rule {summary([kappa(o.single_rule) for o in got])})")
        return

    from bench.common import local_stack
    from bench.quality import score_run

    with local_stack() as stack:
        api = stack.new_workspace("bench-helpdesk")
        started = time.perf_counter()
        traces = upload(api, cases)
        log(f"uploaded {len(traces)} traces in {time.perf_counter() - started:.1f}s")
        rates = {}
        for c in chosen:
            items = labelled(c, traces, cases)
            rates[c.name] = sum(i.good for i in items)
            for n in sizes if c.name in HEADLINE else other_sizes:
                for seed in range(args.seeds):
                    run = score_run(api, items, c.name, n, seed, criteria=c.text)
                    outcomes.append(Outcome(c.name, n, seed, run.product, run.majority, run.single_rule,
                                            run.generation_s, run.estimate))
                    log(f"{c.name} n={n} seed={seed}: kappa {kappa(run.product):+.2f} "
                        f"(single rule {kappa(run.single_rule):+.2f}), {run.generation_s:.1f}s")
            write_report([m for m in chosen if m.name in rates], rates, outcomes, len(cases))  # after each criterion
        api.close()


def write_report(chosen: Sequence[Criterion], rates: dict[str, int], outcomes: Sequence[Outcome], traces: int) -> None:
    """bench/results/helpdesk.md from the criteria run so far."""
    report = Report("helpdesk", "A second agent through the API: IT helpdesk (synthetic, not tau-bench)")
    for group in ("development", "held-out"):
        members = [c for c in chosen if c.group == group]
        if not members:
            continue
        report.table(["criterion", "behaviour", "the criteria, as the eval set states them", "how the label is computed",
                      "good"],
                     [[c.name, c.behaviour, c.text, " ".join((c.judge.__doc__ or "").split()),
                       f"{rates[c.name]} of {traces}"] for c in members],
                     caption=f"**{group.capitalize()} criteria.**")
        report.table(["criterion", "n", "seeds", "iofold offline (API): kappa", "best single rule: kappa",
                      "majority: kappa", "iofold: accuracy", "best single rule: accuracy", "generation"],
                     rows_for(outcomes, members),
                     caption=f"{group.capitalize()}: {traces} traces, 50 tasks, split by task (half the tasks "
                             f"train, half held out); median [min, max] over seeds; labels {NOISE:.0%} noisy.")
    report.note("Traces: `bench/helpdesk_traces.py` (seed 0), uploaded through `POST /v1/traces/upload?format=unified`; "
                "labels computed by the functions in `bench/helpdesk.py` on the stored traces.")
    report.write()


if __name__ == "__main__":
    main()
