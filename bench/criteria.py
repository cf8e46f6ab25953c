"""Criteria of our own on the tau-bench airline traces: does the offline generator follow what a user writes?

BENCHMARKS.md asks for labels of specific behaviours (order, consent, pricing, retries, escalation,
final-answer faithfulness). Each criterion below is written in plain words, as a user would write an
eval set's criteria, and its label is computed on every trace by an explicit labeling function in this
file (its docstring says how). The functions read the trace themselves (messages and tool calls); they
share no code with the generator's feature library.

The criteria form two groups: **development** (the generator was changed while looking at these: the first six
from the start, the next seven were held-out until session 10, whose generator changes looked at them, and
``transfer_after_profile``, whose failure session 11 analysed: "profile" names no tool, now read through synonyms)
and **held-out** (seven written in session 10 before the generator was run on them, covering the six behaviours
plus counts and an order on a tool of its own, and ``transfer_for_a_reason``, written in session 11 before its
generator changes were run on it, and three written in session 13 before its generator changes: a result text,
an obligation that follows an act, a limit on an argument; measured once, at the end).
Criteria made of two policies (``both``: the two texts one after the other, good when both hold) were added in
session 13: the development ones were tried while the generator learned to read several sentences, the held-out ones
were written before. Both are reported, separately.

Protocol per criterion, n in {10, 20, 40} and 20 seeds (0..19): split by task (``split_by_group``: half
the tasks train, the other half are the unseen traces), draw n stratified training traces, and fit:

- **iofold offline**: the product's generator (``OfflineGenerator``), called directly with the criterion as
  the eval set's criteria; its first candidate (the one it picks) runs on the unseen traces;
- **iofold, no criteria**: the same generator with empty criteria (what the criteria add);
- **best single rule**: the one condition (either polarity) with the best training accuracy among the same
  conditions the generator sees (the library's and those the criteria propose);
- **logistic regression**: L2-regularised (C = 1, as scikit-learn's default) on the same conditions as 0/1
  inputs, fitted here in pure Python (``fit_logistic``; no numpy or scikit-learn in this project).

Reported: Cohen's kappa and accuracy on the unseen traces, median and interquartile range (q1-q3) over
seeds; a seed is skipped (and counted) when its training half of the tasks lacks a class.

    .venv/bin/python -m bench.criteria [--seeds 20] [--sizes 10,20,40] [--groups development,held-out]
                                       [--only NAME,...] [--jobs 2] [--out PATH]

Runtime: about 30 CPU-minutes for everything (most of it the generator at n = 40), spread over ``--jobs``
worker processes (default 2); ``--seeds 3 --sizes 20`` takes a few CPU-minutes. Writes ``bench/results/criteria.md`` (or ``--out``).
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import re
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from chalicelib.generation.base import GenerationRequest, LabeledTrace  # noqa: E402
from chalicelib.generation.criteria import criteria_features  # noqa: E402
from chalicelib.generation.evaluation import (  # noqa: E402
    LabeledItem,
    best_condition,
    run_predictor,
    score_predictions,
    split_by_group,
)
from chalicelib.generation.features import Feature, candidate_features, feature_table  # noqa: E402
from chalicelib.generation.offline import OfflineGenerator, build_conditions, load_eval  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "criteria.md"
DATA = ROOT.parent / "shared" / "data" / "taubench-airline"


# --- reading a trace, independently of the generator's helpers ----------------------------------

def events(trace: dict[str, Any]) -> list[tuple[str, Any]]:
    """("user", text) and ("call", call dict) in conversation order: the n-th tool message answers the n-th call."""
    calls = list(trace.get("tool_calls") or [])
    out: list[tuple[str, Any]] = []
    k = 0
    for message in trace.get("messages") or []:
        if message.get("role") == "user":
            out.append(("user", str(message.get("content") or "")))
        elif message.get("role") == "tool" and k < len(calls):
            out.append(("call", calls[k]))
            k += 1
    out += [("call", c) for c in calls[k:]]
    return out


def calls(trace: dict[str, Any]) -> list[dict[str, Any]]:
    return list(trace.get("tool_calls") or [])


def result_of(call: dict[str, Any]) -> Any:
    """A call's result, parsed when it is JSON text."""
    result = call.get("result")
    if isinstance(result, str):
        try:
            return json.loads(result)
        except ValueError:
            return result
    return result


def final_reply(trace: dict[str, Any]) -> str:
    for message in reversed(trace.get("messages") or []):
        text = str(message.get("content") or "")
        if message.get("role") == "assistant" and text.strip() and text != "None":
            return text
    return str(trace.get("output") or "")


def every_call_after_latest_user(trace: dict[str, Any], names: Callable[[str], bool], said: re.Pattern[str]) -> bool:
    last = ""
    for kind, item in events(trace):
        if kind == "user":
            last = item.lower()
        elif names(item["name"]) and not said.search(last):
            return False
    return True


def every_call_after_call(trace: dict[str, Any], names: Callable[[str], bool], prior: Callable[[dict], bool]) -> bool:
    seen: list[dict[str, Any]] = []
    for call in calls(trace):
        if names(call["name"]) and not any(prior(p) for p in seen):
            return False
        if not call.get("error"):
            seen.append(call)
    return True


def numbers(text: str) -> set[str]:
    return {n.replace(",", "").rstrip("0").rstrip(".") if "." in n else n.replace(",", "")
            for n in re.findall(r"\d[\d,]*(?:\.\d+)?", text)}


YES = re.compile(r"\b(yes|yeah|yep|confirm\w*|proceed|go ahead)\b")
ASKS_FOR_PERSON = re.compile(r"\b(human|agent|representative|person|supervisor|manager|someone)\b")
WRITE = re.compile(r"^(book|update|cancel)_")


# --- development criteria ------------------------------------------------------------------------

def profile_before_change(trace: dict[str, Any]) -> bool:
    """Good when every book_/update_/cancel_ call had an earlier successful get_user_details call."""
    return every_call_after_call(trace, lambda n: bool(WRITE.match(n)), lambda c: c["name"] == "get_user_details")


def yes_before_change(trace: dict[str, Any]) -> bool:
    """Good when every book_/update_/cancel_ call came while the user's latest turn said yes, yeah, yep,
    confirm..., proceed or go ahead."""
    return every_call_after_latest_user(trace, lambda n: bool(WRITE.match(n)), YES)


def calculator_before_change(trace: dict[str, Any]) -> bool:
    """Good when every book_/update_/cancel_ call had an earlier successful calculate call."""
    return every_call_after_call(trace, lambda n: bool(WRITE.match(n)), lambda c: c["name"] == "calculate")


def retried_after_error(trace: dict[str, Any]) -> bool:
    """Good when some failed tool call was followed (at any distance) by another call to the same tool."""
    seen = calls(trace)
    return any(call.get("error") and any(later["name"] == call["name"] for later in seen[i + 1:])
               for i, call in enumerate(seen))


def transfer_only_on_request(trace: dict[str, Any]) -> bool:
    """Good when a transfer_to_human_agents call (if any) came after some user turn naming a human, agent,
    representative, person, supervisor, manager or someone."""
    asked = False
    for kind, item in events(trace):
        if kind == "user":
            asked = asked or bool(ASKS_FOR_PERSON.search(item.lower()))
        elif item["name"] == "transfer_to_human_agents" and not asked:
            return False
    return True


def states_computed_amount(trace: dict[str, Any]) -> bool:
    """Good when the trace has no successful calculate call, or a number from a calculate result appears in the
    final reply."""
    computed = [numbers(str(c.get("result") or "")) for c in calls(trace) if c["name"] == "calculate" and not c.get("error")]
    said = numbers(final_reply(trace))
    return not computed or any(found & said for found in computed)


# --- held-out until session 10 (development since) ---------------------------------------------------

def search_before_flight_change(trace: dict[str, Any]) -> bool:
    """Good when every update_reservation_flights call had an earlier successful search_* call."""
    return every_call_after_call(trace, lambda n: n == "update_reservation_flights",
                                 lambda c: c["name"].startswith("search_"))


def yes_before_update(trace: dict[str, Any]) -> bool:
    """Good when every update_* call came while the user's latest turn said yes, yeah, yep, confirm..., proceed or
    go ahead."""
    return every_call_after_latest_user(trace, lambda n: n.startswith("update_"), YES)


def priced_before_charging(trace: dict[str, Any]) -> bool:
    """Good when every book_reservation or update_reservation_flights call had an earlier successful calculate call."""
    return every_call_after_call(trace, lambda n: n in ("book_reservation", "update_reservation_flights"),
                                 lambda c: c["name"] == "calculate")


def recovered_from_error(trace: dict[str, Any]) -> bool:
    """Good when some tool call failed and a later call to the same tool succeeded."""
    failed: set[str] = set()
    for call in calls(trace):
        if call.get("error"):
            failed.add(call["name"])
        elif call["name"] in failed:
            return True
    return False


def never_transferred(trace: dict[str, Any]) -> bool:
    """Good when no call to transfer_to_human_agents was made."""
    return all(call["name"] != "transfer_to_human_agents" for call in calls(trace))


def reply_names_reservation(trace: dict[str, Any]) -> bool:
    """Good when the final reply contains the reservation id of the last successful book_/update_/cancel_ call
    (its reservation_id argument, or for a booking the id in its result); traces with no such call are good."""
    rid = ""
    for call in calls(trace):
        if WRITE.match(call["name"]) and not call.get("error"):
            rid = str((call.get("arguments") or {}).get("reservation_id") or "")
            if not rid:
                found = re.search(r'"reservation_id": "(\w+)"', str(call.get("result") or ""))
                rid = found.group(1) if found else ""
    return not rid or rid.lower() in final_reply(trace).lower()


def at_most_one_change(trace: dict[str, Any]) -> bool:
    """Good when the trace has at most one book_/update_/cancel_ call."""
    return sum(bool(WRITE.match(call["name"])) for call in calls(trace)) <= 1


# --- written in session 10 before the generator was measured on them (held-out but transfer_after_profile) ---

AGREED = re.compile(r"(?<!not )\b(yes|yeah|yep|sure|ok|okay|confirm\w*|proceed|go ahead|please do|sounds good|"
                    r"that's fine)\b")


def think_before_write(trace: dict[str, Any]) -> bool:
    """Good when every book_/update_/cancel_ call had an earlier think call."""
    return every_call_after_call(trace, lambda n: bool(WRITE.match(n)), lambda c: c["name"] == "think")


def profile_before_reservation_lookup(trace: dict[str, Any]) -> bool:
    """Good when every get_reservation_details call had an earlier successful get_user_details call."""
    return every_call_after_call(trace, lambda n: n == "get_reservation_details",
                                 lambda c: c["name"] == "get_user_details")


def at_most_two_searches(trace: dict[str, Any]) -> bool:
    """Good when search_direct_flight and search_onestop_flight were called at most twice in all."""
    return sum(call["name"].startswith("search_") for call in calls(trace)) <= 2


def change_after_agreement(trace: dict[str, Any]) -> bool:
    """Good when every book_/update_/cancel_ call came while the user's latest turn agreed (yes, yeah, yep, sure,
    ok, okay, confirm..., proceed, go ahead, please do, sounds good, that's fine; not right after "not")."""
    return every_call_after_latest_user(trace, lambda n: bool(WRITE.match(n)), AGREED)


def priced_before_booking(trace: dict[str, Any]) -> bool:
    """Good when every book_reservation call had an earlier successful calculate call."""
    return every_call_after_call(trace, lambda n: n == "book_reservation", lambda c: c["name"] == "calculate")


def every_failure_retried(trace: dict[str, Any]) -> bool:
    """Good when every failed tool call was followed (at any distance) by another call to the same tool."""
    seen = calls(trace)
    return all(any(later["name"] == call["name"] for later in seen[i + 1:])
               for i, call in enumerate(seen) if call.get("error"))


def transfer_after_profile(trace: dict[str, Any]) -> bool:
    """Good when every transfer_to_human_agents call had an earlier successful get_user_details call."""
    return every_call_after_call(trace, lambda n: n == "transfer_to_human_agents",
                                 lambda c: c["name"] == "get_user_details")


def reply_numbers_grounded(trace: dict[str, Any]) -> bool:
    """Good when every number in the final reply also appears in a tool result or a user turn."""
    seen = [str(call.get("result") or "") for call in calls(trace)]
    seen += [text for kind, text in events(trace) if kind == "user"]
    return numbers(final_reply(trace)) <= numbers(" ".join(seen))


# --- held-out: written in session 11, before the generator was run on it ----------------------------------

PERSON = re.compile(r"\b(human|person|agent|representative|supervisor|someone)\b")


def transfer_for_a_reason(trace: dict[str, Any]) -> bool:
    """Good when every transfer_to_human_agents call came after a user turn naming a human, person, agent,
    representative, supervisor or someone, or after a tool call that failed."""
    reason = False
    for kind, item in events(trace):
        if kind == "user":
            reason = reason or bool(PERSON.search(item.lower()))
            continue
        if item["name"] == "transfer_to_human_agents" and not reason:
            return False
        reason = reason or bool(item.get("error"))
    return True


# --- held-out: written in session 13, before the generator was run on them ----------------------------------

def no_basic_economy_change(trace: dict[str, Any]) -> bool:
    """Good when no update_reservation_flights call names a reservation that an earlier successful
    get_reservation_details call showed in the basic_economy cabin."""
    cabins: dict[str, Any] = {}
    for call in calls(trace):
        arguments = call.get("arguments") if isinstance(call.get("arguments"), dict) else {}
        if call["name"] == "get_reservation_details" and not call.get("error"):
            cabins[str(arguments.get("reservation_id"))] = (result_of(call) or {}).get("cabin")
        if call["name"] == "update_reservation_flights" and \
                cabins.get(str(arguments.get("reservation_id"))) == "basic_economy":
            return False
    return True


def details_after_change(trace: dict[str, Any]) -> bool:
    """Good when every successful book_/update_/cancel_ call was followed (at any distance) by a
    get_reservation_details call."""
    made = calls(trace)
    return all(any(later["name"] == "get_reservation_details" for later in made[k + 1:])
               for k, call in enumerate(made) if WRITE.match(call["name"]) and not call.get("error"))


def at_most_one_bag(trace: dict[str, Any]) -> bool:
    """Good when no book_reservation or update_reservation_baggages call gave total_baggages above 1."""
    return all(float(call["arguments"].get("total_baggages") or 0) <= 1 for call in calls(trace)
               if call["name"] in ("book_reservation", "update_reservation_baggages")
               and isinstance(call.get("arguments"), dict))


@dataclass(frozen=True)
class Criterion:
    """A criterion in a user's words, its behaviour, its group, and the function that labels traces (here
    ``judge(trace)``; bench/helpdesk.py's also read the simulator's hidden facts: ``judge(trace, case)``)."""

    name: str
    group: str
    behaviour: str
    text: str
    judge: Callable[..., bool]


def both(criteria: Sequence[Criterion], name: str, group: str, first_name: str, second_name: str) -> Criterion:
    """Two of ``criteria`` (by name) written one after the other as one eval set's criteria: good when both hold."""
    first, second = (next(c for c in criteria if c.name == n) for n in (first_name, second_name))

    def judge(*args: Any) -> bool:
        return first.judge(*args) and second.judge(*args)
    judge.__doc__ = f"Good when both hold: {first.name} and {second.name}."
    return Criterion(name, group, "two policies at once", f"{first.text} {second.text}", judge)


CRITERIA = (
    Criterion("profile_before_change", "development", "order",
              "The agent may book, change or cancel anything only after it has looked up the user's profile.",
              profile_before_change),
    Criterion("yes_before_change", "development", "consent",
              "Any change to a booking (booking, updating or cancelling) must come right after the customer "
              "explicitly says yes.", yes_before_change),
    Criterion("calculator_before_change", "development", "pricing",
              "Before it books, changes or cancels anything, the agent works out the amounts with the calculator.",
              calculator_before_change),
    Criterion("retried_after_error", "development", "retries",
              "When a tool call fails, the agent tries that tool again.", retried_after_error),
    Criterion("transfer_only_on_request", "development", "escalation",
              "The agent transfers the customer to a human agent only when the customer asked for a person.",
              transfer_only_on_request),
    Criterion("states_computed_amount", "development", "final-answer faithfulness",
              "When the agent used the calculator, the final answer states the amount it computed.",
              states_computed_amount),
    Criterion("search_before_flight_change", "development", "order",
              "Flights may be changed only after the agent has searched for flights.", search_before_flight_change),
    Criterion("yes_before_update", "development", "consent",
              "The agent updates a reservation (flights, bags or passengers) only right after the customer says yes.",
              yes_before_update),
    Criterion("priced_before_charging", "development", "pricing",
              "Before booking or changing flights, the agent calculates the total price.", priced_before_charging),
    Criterion("recovered_from_error", "development", "retries",
              "A good conversation shows the agent recovering from a tool error: the failed tool later succeeds.",
              recovered_from_error),
    Criterion("never_transferred", "development", "escalation",
              "The agent handles the request itself and never transfers the customer to a human.", never_transferred),
    Criterion("reply_names_reservation", "development", "final-answer faithfulness",
              "The final reply mentions the reservation the agent booked, changed or cancelled.",
              reply_names_reservation),
    Criterion("at_most_one_change", "development", "counts",
              "The agent makes at most one change to the customer's bookings.", at_most_one_change),
    Criterion("think_before_write", "held-out", "order (a tool of its own)",
              "The agent must stop and think (the think tool) before it books, changes or cancels anything.",
              think_before_write),
    Criterion("profile_before_reservation_lookup", "held-out", "order",
              "Reservation details may be fetched only after the customer's profile was looked up.",
              profile_before_reservation_lookup),
    Criterion("at_most_two_searches", "held-out", "counts",
              "The agent searches for flights no more than twice.", at_most_two_searches),
    Criterion("change_after_agreement", "held-out", "consent",
              "Changes to bookings happen only when the customer's last message agreed to them.",
              change_after_agreement),
    Criterion("priced_before_booking", "held-out", "pricing",
              "A new booking is made only after the price was calculated.", priced_before_booking),
    Criterion("every_failure_retried", "held-out", "retries",
              "Whenever a tool errors, the agent gives that tool another try.", every_failure_retried),
    Criterion("transfer_after_profile", "development", "escalation",
              "The agent may hand the customer to a human only after it has looked up their profile.",
              transfer_after_profile),
    Criterion("transfer_for_a_reason", "held-out", "escalation",
              "The agent may hand the user over to a human only when the user asked for a person or a tool call "
              "failed.", transfer_for_a_reason),
    Criterion("reply_numbers_grounded", "held-out", "final-answer faithfulness",
              "Every number in the final message must come from what the customer said or what a tool returned.",
              reply_numbers_grounded),
    Criterion("no_basic_economy_change", "held-out", "order, result value (a text)",
              "Flights on a basic economy reservation must never be changed.", no_basic_economy_change),
    Criterion("details_after_change", "held-out", "order (followed by)",
              "Once the agent has booked, changed or cancelled a reservation, it has to fetch the reservation "
              "details again to confirm it.", details_after_change),
    Criterion("at_most_one_bag", "held-out", "counts (an argument's value)",
              "The agent must not put more than one checked bag on a reservation.", at_most_one_bag),
)
CRITERIA += (  # two policies as one eval set's criteria (good when both hold); session 13
    both(CRITERIA, "calculator_first_and_reservation_named", "held-out", "calculator_before_change",
         "reply_names_reservation"),
)


# --- baselines on the same conditions -----------------------------------------------------------

def same_conditions(train: Sequence[LabeledItem], criteria: str, cache: dict) -> list[Any]:
    """The conditions the generator sees: the library's features and the criteria's, over the training traces."""
    traces = [i.trace for i in train]
    return build_conditions(candidate_features(traces) + criteria_features(criteria, [], traces), traces, cache)


def condition_values(features: Sequence[Feature], traces: Sequence[dict[str, Any]], cache: dict) -> list[list[bool]]:
    """For each trace, each feature's truth (``feature_table``'s raw values, memoized in ``cache`` as the generator's)."""
    table = feature_table(features, traces, cache)
    return [[feature.holds(raw[j]) for feature, raw in zip(features, table)] for j in range(len(traces))]


def fit_logistic(rows: Sequence[Sequence[bool]], labels: Sequence[bool], *, c: float = 1.0,
                 iterations: int = 200) -> tuple[list[float], float]:
    """L2-regularised logistic regression (0.5 |w|^2 + C * sum of log-losses; intercept not penalised) by
    gradient descent with a step of 1 / (Lipschitz bound); (weights, intercept)."""
    n = len(rows)
    width = len(rows[0]) if rows else 0
    active = [[j for j, v in enumerate(row) if v] for row in rows]
    w = [0.0] * width
    b = 0.0
    most = max((len(a) for a in active), default=0)
    step = 1.0 / (1.0 + c * n * (most + 1) / 4)
    for _ in range(iterations):
        grad = [wj for wj in w]
        grad_b = 0.0
        for a, y in zip(active, labels):
            z = b + sum(w[j] for j in a)
            p = 1.0 / (1.0 + math.exp(-z)) if z >= 0 else math.exp(z) / (1.0 + math.exp(z))
            err = c * (p - (1.0 if y else 0.0))
            grad_b += err
            for j in a:
                grad[j] += err
        w = [wj - step * g for wj, g in zip(w, grad)]
        b -= step * grad_b
    return w, b


def predict_logistic(model: tuple[list[float], float], row: Sequence[bool]) -> bool:
    w, b = model
    return b + sum(wj for wj, v in zip(w, row) if v) >= 0


# --- running -------------------------------------------------------------------------------------

METHODS = ("iofold offline", "iofold, no criteria", "best single rule", "logistic regression")


@dataclass
class Outcome:
    criterion: str
    n: int
    seed: int
    method: str
    kappa: float
    accuracy: float


def run_one(criterion: Criterion, items: Sequence[LabeledItem], n: int, seed: int, cache: dict,
            generator: OfflineGenerator) -> list[Outcome]:
    """Every method on one split; [] when the split's training half lacks a class."""
    try:
        split = split_by_group(items, n_train=n, seed=seed)
    except ValueError:
        return []
    labels = [i.good for i in split.train]
    heldout_traces = [i.trace for i in split.heldout]
    predictions: dict[str, list[bool]] = {}
    for method, criteria in (("iofold offline", criterion.text), ("iofold, no criteria", "")):
        request = GenerationRequest(eval_name=criterion.name, criteria=criteria, seed=seed, candidates=1, examples=[
            LabeledTrace(trace=i.trace, rating="positive" if i.good else "negative") for i in split.train])
        check = load_eval(generator.generate(request).candidates[0].code)
        predictions[method] = [r == "pass" for r in run_predictor(lambda t, check=check: check(t)[0], split.heldout)]
    conditions = same_conditions(split.train, criterion.text, cache)
    features = [c.feature for c in conditions]
    heldout_rows = condition_values(features, heldout_traces, cache)
    best = best_condition(conditions, labels)
    assert best is not None  # build_conditions keeps only conditions that vary, and the split has both classes
    k, polarity = conditions.index(best[0]), best[1]
    predictions["best single rule"] = [row[k] == polarity for row in heldout_rows]
    train_rows = [[c.values[i] for c in conditions] for i in range(len(labels))]
    model = fit_logistic(train_rows, labels)
    predictions["logistic regression"] = [predict_logistic(model, row) for row in heldout_rows]
    out = []
    for method in METHODS:
        metrics = score_predictions(split.heldout, ["pass" if p else "fail" for p in predictions[method]])
        out.append(Outcome(criterion.name, n, seed, method, metrics.cohen_kappa or 0.0, metrics.accuracy or 0.0))
    return out


def spread(values: Sequence[float]) -> str:
    """median (q1-q3) of the values."""
    if not values:
        return "n/a"
    if len(values) == 1:
        return f"{values[0]:.2f}"
    q1, q2, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return f"{q2:.2f} ({q1:.2f}-{q3:.2f})"


def table(outcomes: Sequence[Outcome], criteria: Sequence[Criterion]) -> list[str]:
    lines = ["| criterion | behaviour | n | seeds | " + " | ".join(f"{m}: kappa" for m in METHODS)
             + " | iofold offline: accuracy | best single rule: accuracy |",
             "|" + "---|" * (4 + len(METHODS) + 2)]
    for criterion in criteria:
        for n in sorted({o.n for o in outcomes if o.criterion == criterion.name}):
            rows = [o for o in outcomes if o.criterion == criterion.name and o.n == n]
            per = {m: [o for o in rows if o.method == m] for m in METHODS}
            cells = [spread([o.kappa for o in per[m]]) for m in METHODS]
            lines.append(f"| {criterion.name} | {criterion.behaviour} | {n} | {len(per[METHODS[0]])} | "
                         + " | ".join(cells) + f" | {spread([o.accuracy for o in per['iofold offline']])} | "
                         f"{spread([o.accuracy for o in per['best single rule']])} |")
    return lines


def summary(outcomes: Sequence[Outcome], criteria: Sequence[Criterion]) -> list[str]:
    """Per n: the median over criteria of each method's median kappa."""
    lines = ["| n | " + " | ".join(METHODS) + " |", "|" + "---|" * (1 + len(METHODS))]
    for n in sorted({o.n for o in outcomes}):
        cells = []
        for m in METHODS:
            medians = [statistics.median([o.kappa for o in outcomes if o.criterion == c.name and o.n == n
                                          and o.method == m])
                       for c in criteria if any(o.criterion == c.name and o.n == n for o in outcomes)]
            cells.append(f"{statistics.median(medians):.2f}" if medians else "n/a")
        lines.append(f"| {n} | " + " | ".join(cells) + " |")
    return lines


def load_items() -> list[tuple[dict[str, Any], str]]:
    """(unified trace, task) for every tau-bench airline trace."""
    from bench.quality_direct import load_taubench

    return [(r["trace"], r["group"]) for r in load_taubench()]


_WORKER: dict[str, Any] = {}


def run_point(task: tuple[str, int, int]) -> tuple[str, int, list[Outcome], int]:
    """One criterion at one n over seeds 0..seeds-1, in a worker process (its own feature-value memo)."""
    name, n, seeds = task
    if "data" not in _WORKER:
        _WORKER["data"] = load_items()
        _WORKER["cache"] = {}
        _WORKER["generator"] = OfflineGenerator(memo=_WORKER["cache"])
    criterion = next(c for c in CRITERIA if c.name == name)
    items = [LabeledItem(trace, group, criterion.judge(trace)) for trace, group in _WORKER["data"]]
    outcomes: list[Outcome] = []
    missing = 0
    for seed in range(seeds):
        got = run_one(criterion, items, n, seed, _WORKER["cache"], _WORKER["generator"])
        missing += not got
        outcomes += got
    return name, n, outcomes, missing


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--sizes", default="10,20,40")
    parser.add_argument("--groups", default="development,held-out")
    parser.add_argument("--only", default="", help="comma-separated criterion names (default: all of the groups)")
    parser.add_argument("--out", default=str(RESULTS))
    parser.add_argument("--jobs", type=int, default=2, help="worker processes (one criterion and n each)")
    args = parser.parse_args(argv)
    if not DATA.exists():
        raise SystemExit(f"data not found at {DATA}")
    groups = args.groups.split(",")
    chosen = [c for c in CRITERIA if c.group in groups and (not args.only or c.name in args.only.split(","))]
    sizes = [int(s) for s in args.sizes.split(",")]
    data = load_items()
    rates = {c.name: sum(c.judge(trace) for trace, _ in data) for c in chosen}
    tasks = [(c.name, n, args.seeds) for c in chosen for n in sizes]
    outcomes: list[Outcome] = []
    skipped: dict[str, int] = {}
    started = time.perf_counter()
    with multiprocessing.get_context("fork").Pool(max(1, args.jobs)) as pool:
        for name, n, got, missing in pool.imap_unordered(run_point, tasks):
            outcomes += got
            if missing:
                skipped[name] = skipped.get(name, 0) + missing
            print(f"[{time.perf_counter() - started:6.0f}s] {name} n={n}: "
                  + ", ".join(f"{m} {statistics.median([o.kappa for o in got if o.method == m]):+.2f}"
                              for m in METHODS if got), flush=True)
    out = ["# Criteria of our own: does the offline generator follow the criteria? (tau-bench airline)", "",
           f"Measured by `python -m bench.criteria` in {time.perf_counter() - started:.0f} s; "
           f"{args.seeds} seeds (0..{args.seeds - 1}) per row; n = {', '.join(map(str, sizes))} rated traces; "
           "200 traces, 50 tasks, split by task (half the tasks train, the other half are unseen). Cells: "
           "Cohen's kappa (or accuracy) on the unseen traces, median (q1-q3) over seeds. Methods: see the "
           "docstring of bench/criteria.py; all four see the same conditions.", ""]
    for group in groups:
        members = [c for c in chosen if c.group == group]
        if not members:
            continue
        out += [f"## {group.capitalize()} criteria", "",
                "| criterion | behaviour | the criteria, as the eval set states them | how the label is computed | good |",
                "|---|---|---|---|---|"]
        out += [f"| {c.name} | {c.behaviour} | {c.text} | {' '.join((c.judge.__doc__ or '').split())} | "
                f"{rates[c.name]} of {len(data)} |" for c in members]
        out += ["", *table(outcomes, members), "", "Median over these criteria of the median kappa:", "",
                *summary(outcomes, members), ""]
    if skipped:
        out += ["Seeds skipped (training half of the tasks had one class): "
                + ", ".join(f"{k} {v}" for k, v in skipped.items()), ""]
    text = "\n".join(out) + "\n"
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
