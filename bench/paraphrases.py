"""Does a policy survive being said another way? The same labels, the criterion in other words.

A user writes a policy in their own words, not in ours. Each row below takes a criterion of
``bench/helpdesk.py``, ``bench/returns.py`` or ``bench/criteria.py`` (tau-bench; its labelling function
and labels unchanged) and gives the generator other wording of the same policy (``Paraphrase.text``).
Per wording, n = 20 ratings and 20 seeds (split by task, as the benchmarks do), the offline generator is
called in-process (the development loop: the agent benchmarks' API runs show in-process and API kappas
agree) and its eval is scored on the unseen traces. Reported: Cohen's kappa, median and range over
seeds, and the difference from the criterion's own wording on the same seeds and splits. The tau rows
need the shared traces (``../shared/data``) and are skipped, with a note, without them.

Groups: **development** wordings were written in session 11 and the generator was changed while
looking at them (commits 5f9e0ed..: "unless", "until", "without", "only for", a leading clause closed
by a command, "its", limits said after the number, "not ... twice", "any given", "tell ... at the
end", an item listed with actions, a list of nouns after "before any"); **held-out** wordings were
written in the same session before the generator was run on them, for the same and other criteria, and
measured once, at the end; sessions 12 and 13 added held-out wordings the same way (a wording analysed after its
measurement moves to development, with a comment).

    .venv/bin/python -m bench.paraphrases [--seeds 20] [--groups development,held-out] [--only NAME,...]

Writes ``bench/results/paraphrases.md`` (hand-written "## " sections are kept).
"""

from __future__ import annotations

import argparse
import functools
import importlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.agent_bench import hand_sections, labelled
from bench.common import Report, log, median
from chalicelib.generation.base import GenerationRequest, LabeledTrace
from chalicelib.generation.evaluation import LabeledItem, run_predictor, score_predictions, split_by_group
from chalicelib.generation.offline import OfflineGenerator, load_eval

N = 20
SOURCES = {"helpdesk": "helpdesk", "returns": "returns", "criteria": "tau-bench"}  # the module -> the report's name


@dataclass(frozen=True)
class Paraphrase:
    bench: str  # the module under bench/ whose criterion (labels) this rewords
    criterion: str
    group: str
    text: str


def _rows(bench: str, criterion: str, group: str, *texts: str) -> list[Paraphrase]:
    return [Paraphrase(bench, criterion, group, t) for t in texts]


PARAPHRASES: tuple[Paraphrase, ...] = (
    # --- development (looked at while changing the generator) ---------------------------------------
    *_rows("helpdesk", "verified_before_reset", "development",
           "Passwords are only reset for employees whose identity has been verified.",
           "No password reset or account unlock without a successful identity check first.",
           "Identity verification must come before any password reset or account unlock.",
           "The agent must verify the employee before resetting a password or unlocking an account.",
           "Reset passwords and unlock accounts only for verified employees.",
           "Don't reset a password or unlock an account until the employee's identity is confirmed.",
           "Only verified employees get their password reset or their account unlocked.",  # held-out until session 12
           "Only employees who passed the identity check can have a password reset or an account unlocked."),
           # held-out until session 13
    *_rows("helpdesk", "device_checked_before_wipe", "development",
           "Never wipe a device without first checking its status.",
           "Check the device's status before wiping it.",
           "A wipe is only allowed after the status of that device was looked at."),
    *_rows("helpdesk", "consent_before_wipe", "development",
           "The employee has to say yes before their device is wiped.",
           "Do not wipe anything without the employee's explicit confirmation.",
           "Wiping a device requires the employee to confirm first."),
    *_rows("returns", "refund_after_checks", "development",
           "Before issuing a refund, look up the order and check the return window.",
           "No refund unless the order was looked up and its return window checked.",
           "Refunds require an order lookup and a return-window check first."),
    *_rows("returns", "consent_before_cancel", "development",
           "Orders are cancelled only if the customer said yes to cancelling.",
           "Never cancel an order without the customer's agreement.",
           "Get the customer's OK before cancelling."),
    *_rows("returns", "refund_only_if_eligible", "development",
           "Only refund orders the return-window check found eligible.",
           "No refund unless the window check says the order is eligible.",
           "Refunds are for eligible orders only, as the return window check reports."),
    *_rows("helpdesk", "retried_failures", "development",
           "If a call errors, the agent retries it.",
           "Errors from tools must not be left without a second attempt.",
           "Every failed call is attempted again."),
    *_rows("helpdesk", "at_most_two_codes", "development",
           "The identity code may be checked no more than two times.",
           "Don't verify the code more than twice.",
           "Two identity checks at most."),
    *_rows("helpdesk", "ticket_number_in_reply", "development",
           "The final message includes the ticket id whenever a ticket was created.",
           "When opening a ticket, tell the employee its number at the end.",
           "Any ticket the agent opens must be quoted by number in its last reply."),
    *_rows("helpdesk", "looked_up_employee_id", "development",
           "Employee ids used in tool calls must come from the lookup result.",
           "Never invent an employee id: use the one the lookup returned."),
    *_rows("returns", "one_refund_per_order", "development",
           "Each order gets at most one refund.",
           "An order must not be refunded twice.",
           "Only one refund for any given order."),
    *_rows("returns", "reply_states_refund_amount", "development",
           "If the agent refunds money, it tells the customer how much in the final reply.",
           "The last message must say the amount refunded whenever a refund went out."),
    *_rows("returns", "handoff_after_two_failures", "development",
           "When an action fails two times in a row, the customer should be transferred to a person.",
           "Two failures of the same tool mean the agent must escalate to a human."),
    *_rows("returns", "write_after_lookup", "development",
           "The order must be looked up before anything is refunded, cancelled or labelled.",
           "No refund, cancellation or label until the order has been looked up."),
    *_rows("criteria", "profile_before_change", "development",
           "Look up the user's details before booking, changing or cancelling anything.",
           "No booking, change or cancellation until the user's profile has been retrieved.",
           "Bookings, changes and cancellations are only made for users whose details were looked up."),
    *_rows("criteria", "yes_before_change", "development",
           "Never change a booking without the customer's explicit yes right before it.",
           "Each booking, update or cancellation needs an explicit confirmation from the customer immediately "
           "before."),
    *_rows("criteria", "calculator_before_change", "development",
           "No booking, change or cancellation unless the amounts were computed with the calculator first.",
           "Use the calculator before any booking, change or cancellation."),
    *_rows("criteria", "transfer_only_on_request", "development",
           "Don't hand the customer to a human unless they ask for one.",
           "Transfers to human agents happen only at the customer's request."),
    *_rows("criteria", "search_before_flight_change", "development",
           "Search for flights before changing any.", "No flight change without a flight search first."),
    *_rows("criteria", "at_most_one_change", "development",
           "One booking change at most.", "The customer's bookings must not be changed twice."),
    *_rows("criteria", "reply_names_reservation", "development",
           "At the end, tell the customer which reservation was booked, changed or cancelled."),
    # written in session 13 after its generator changes, to try them (development from the start)
    *_rows("helpdesk", "ticket_after_fix", "development",
           "After resetting a password, unlocking an account or granting app access, the agent must open a ticket.",
           "A ticket has to be created after every password reset, account unlock or app access grant."),
    *_rows("returns", "cancel_only_unshipped", "development",
           "Shipped orders must never be cancelled.",
           "Cancel only orders that are still processing."),
    # --- held-out (written before the generator was run on them) --------------------------------------
    *_rows("helpdesk", "verified_before_reset", "held-out",
           "An account unlock or a password reset needs a verified identity check before it."),
    *_rows("helpdesk", "device_checked_before_wipe", "held-out",
           "Before a device is wiped, its status must have been checked.",
           "No wipe without a status check of the same device."),
    *_rows("helpdesk", "consent_before_wipe", "held-out",
           "Wipe a device only once the employee has said yes."),
    *_rows("helpdesk", "retried_failures", "held-out",
           "Failed tool calls should be tried again."),
    *_rows("helpdesk", "at_most_two_codes", "held-out",
           "Never ask for the identity code more than twice."),
    *_rows("helpdesk", "ticket_number_in_reply", "held-out",
           "If a ticket is opened, the last message must include its number."),
    *_rows("returns", "refund_after_checks", "held-out",
           "A refund needs the order looked up and the return window checked first."),
    *_rows("returns", "refund_only_if_eligible", "held-out",
           "Refund only orders that the window check says are eligible."),
    *_rows("returns", "consent_before_cancel", "held-out",
           "Cancel orders only when the customer has agreed."),
    *_rows("returns", "one_refund_per_order", "held-out",
           "An order may be refunded at most once."),
    *_rows("returns", "write_after_lookup", "held-out",
           "Look the order up before any refund, cancellation or label."),
    *_rows("returns", "handoff_after_two_failures", "held-out",
           "If the same action fails twice, pass the customer to a human."),
    *_rows("criteria", "profile_before_change", "held-out",
           "The user's details have to be fetched before the agent books, changes or cancels anything."),
    *_rows("criteria", "yes_before_change", "held-out",
           "Book, update or cancel only right after the customer has said yes."),
    *_rows("criteria", "calculator_before_change", "held-out",
           "Amounts are worked out with the calculator before any booking, change or cancellation is made."),
    *_rows("criteria", "transfer_only_on_request", "held-out",
           "Never transfer to a human agent unless the customer requested a person."),
    *_rows("criteria", "search_before_flight_change", "held-out",
           "A flight change needs a flight search before it."),
    *_rows("criteria", "at_most_one_change", "held-out",
           "No more than a single change to the customer's bookings."),
    *_rows("criteria", "reply_names_reservation", "held-out",
           "The last message names the reservation that was booked, changed or cancelled."),
    *_rows("criteria", "never_transferred", "held-out",
           "The customer is never handed over to a human agent."),
    # written in session 13, before the generator ran on them
    *_rows("helpdesk", "verified_before_reset", "held-out",
           "Only employees that have been verified may have their account unlocked or their password reset."),
    *_rows("helpdesk", "ticket_after_fix", "held-out",
           "Each password reset, account unlock or app access grant has to be followed by a ticket that records it."),
    *_rows("returns", "cancel_only_unshipped", "held-out",
           "Never cancel an order that the lookup shows as already shipped."),
)


@functools.cache
def _traces(bench: str) -> tuple[Any, ...]:
    """A bench's traces, loaded once per run: tau's (trace, task) pairs, or an agent benchmark's cases."""
    module = importlib.import_module(f"bench.{bench}")
    return tuple(module.load_items() if bench == "criteria" else module.BENCH.make_traces(0))


def labelled_items(bench: str, name: str) -> tuple[Any, list[LabeledItem]] | None:
    """The criterion and its labelled traces (noisy for the agent benchmarks); None without tau's shared data."""
    module = importlib.import_module(f"bench.{bench}")
    criterion = next(c for c in module.CRITERIA if c.name == name)
    if bench == "criteria":
        if not module.DATA.exists():
            return None
        return criterion, [LabeledItem(trace, group, criterion.judge(trace)) for trace, group in _traces(bench)]
    cases = _traces(bench)
    return criterion, labelled(module.BENCH, criterion, {c.trace["id"]: c.trace for c in cases}, cases)


def kappas(generator: OfflineGenerator, name: str, items: Sequence[LabeledItem], text: str, seeds: int) -> list[float]:
    """The criterion's labels, the generator given ``text``: kappa on the unseen traces per seed."""
    out = []
    for seed in range(seeds):
        try:
            split = split_by_group(items, n_train=N, seed=seed)
        except ValueError:  # the training half of the tasks lacks a class: the seed is skipped for every wording
            continue
        request = GenerationRequest(eval_name=name, criteria=text, seed=seed, candidates=1, examples=[
            LabeledTrace(trace=i.trace, rating="positive" if i.good else "negative") for i in split.train])
        check = load_eval(generator.generate(request).candidates[0].code)
        metrics = score_predictions(split.heldout, run_predictor(lambda t, check=check: check(t)[0], split.heldout))
        out.append(metrics.cohen_kappa or 0.0)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--groups", default="development,held-out")
    parser.add_argument("--only", default="", help="comma-separated criterion names (default: all)")
    parser.add_argument("--out", default="", help="report path (default: bench/results/paraphrases.md)")
    args = parser.parse_args(argv)
    chosen = [p for p in PARAPHRASES if p.group in args.groups.split(",")
              and (not args.only or p.criterion in args.only.split(","))]
    report = Report("paraphrases", "Policies in other words (in-process, n = 20)")
    generator = OfflineGenerator(memo={})  # feature values by trace id: every bench's ids are its own
    loaded: dict[tuple[str, str], tuple[Any, list[LabeledItem], list[float]] | None] = {}
    skipped = set()
    for group in ("development", "held-out"):
        rows = []
        for p in (p for p in chosen if p.group == group):
            key = (p.bench, p.criterion)
            if key not in loaded:
                found = labelled_items(p.bench, p.criterion)
                loaded[key] = found and (*found, kappas(generator, p.criterion, found[1], found[0].text, args.seeds))
            if loaded[key] is None:
                skipped.add(p.criterion)
                continue
            criterion, items, own = loaded[key]
            got = kappas(generator, p.criterion, items, p.text, args.seeds)
            log(f"{p.criterion}: {median(got):+.2f} (own wording {median(own):+.2f})  {p.text}")
            rows.append([f"{SOURCES[p.bench]} {p.criterion}", p.text,
                         f"{median(got):.2f} [{min(got):.2f}, {max(got):.2f}]", f"{median(own):.2f}",
                         f"{median(got) - median(own):+.2f}"])
        if rows:
            drops = sum(1 for r in rows if float(r[4]) <= -0.10)
            report.table(["criterion", "wording", "kappa median [range]", "own wording", "difference"], rows,
                         caption=f"**{group}** ({len(rows)} wordings, {args.seeds} seeds each; {drops} fall by "
                                 "0.10 or more from the criterion's own wording)")
    if skipped:
        report.note(f"Skipped (tau-bench data not found at {importlib.import_module('bench.criteria').DATA}): "
                    + ", ".join(sorted(skipped)))
    report.note("The own wording of each criterion is in bench/helpdesk.py, bench/returns.py and bench/criteria.py; "
                "its kappa here is on the same seeds and splits as the paraphrase's.")
    if args.out:
        report.results_dir, report.name = Path(args.out).parent, Path(args.out).stem
    kept = hand_sections(report.results_dir / f"{report.name}.md")
    path = report.write()
    if kept:
        path.write_text(path.read_text() + "\n" + kept)


if __name__ == "__main__":
    main()
