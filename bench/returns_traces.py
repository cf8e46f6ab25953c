"""A third agent for the quality benchmarks: a seeded, synthetic e-commerce returns and refunds agent.

Written after the generator's changes for tau-bench and the helpdesk, and never used to change it: dotted
tool names (``orders.lookup``, ``returns.check_window``, ``refund.issue``, ``orders.cancel``,
``shipping.track``, ``labels.create``, ``support.handoff``), arguments keyed by order id and amount,
results that say whether an order is still in its return window, payment-gateway failures that are (or are
not) retried and handed to a person, and the customer's agreement in the shop's own words. Each trace is a
unified trace (API.md) that ``bench/returns.py`` uploads through ``POST /v1/traces/upload?format=unified``.

``make_traces(seed)`` -> list of ``Case`` (the trace, its task group and the hidden facts the labelling
functions of ``bench/returns.py`` may read). The same seed gives the same traces. 50 tasks (a customer with
an order and a request) x 4 attempts each.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from typing import Any

from bench.agent_bench import Case, Conversation, attempts_of

TASKS = 50
ATTEMPTS = 4
INTENTS = ("refund_damaged", "cancel", "refund_unwanted", "track", "return_label", "refund_damaged", "cancel")
PRODUCTS = (("wireless headphones", 89.99), ("running shoes", 124.50), ("coffee grinder", 59.00),
            ("desk lamp", 42.75), ("backpack", 78.20), ("phone case", 19.99), ("blender", 149.00))
NAMES = ("Amira", "Bruno", "Carla", "Dmitri", "Esme", "Farid", "Greta", "Hugo", "Ines", "Joon", "Kofi", "Lena")

OPENERS = {
    "refund_damaged": ("My {product} arrived broken. Order {order}. I want my money back.",
                       "Order {order}: the {product} is damaged, please refund me.",
                       "hi, {product} from order {order} came cracked - refund please"),
    "refund_unwanted": ("I'd like to return the {product} (order {order}) and get a refund, I don't need it.",
                        "Can I get a refund for order {order}? The {product} isn't what I expected.",
                        "changed my mind about the {product}, order {order}. refund?"),
    "cancel": ("Please cancel my order {order}, I ordered the {product} by mistake.",
               "I want to cancel order {order} before it ships.",
               "can you stop order {order}? don't want the {product} anymore"),
    "track": ("Where is my order {order}? The {product} was supposed to arrive yesterday.",
              "Order {order} still hasn't arrived, can you check?",
              "tracking for {order} hasn't updated in days"),
    "return_label": ("I need a return label for the {product}, order {order}.",
                     "How do I send back order {order}? I need a shipping label.",
                     "return label for {order} please"),
}
AGREE = ("Sure, cancel it.", "Please do.", "ok, yes", "Yep, that's right.", "Please go ahead with that.")
UNSURE = ("Hmm, let me think.", "what happens to my payment?", "wait, is it already shipped?", "not sure yet",
          "Maybe later.")
BYE = ("Thanks.", "ok", "Thank you!", "Alright, bye.", "Great.")


@dataclass(frozen=True)
class Task:
    """A customer with an order and a request (one group: its attempts share the order and the request)."""

    key: str
    intent: str
    name: str
    email: str
    order_id: str
    product: str
    amount: float
    in_window: bool  # the order can still be returned
    shipped: bool  # the order has left the warehouse (cannot be cancelled)
    tracking: str


def make_tasks(rng: random.Random) -> list[Task]:
    tasks = []
    for k in range(TASKS):
        name = rng.choice(NAMES)
        product, price = rng.choice(PRODUCTS)
        quantity = rng.choice((1, 1, 1, 2))
        tasks.append(Task(key=f"order-{k:02d}", intent=INTENTS[k % len(INTENTS)], name=name,
                          email=f"{name.lower()}{k}@shop.example", order_id=f"ORD-{rng.randint(10000, 99999)}",
                          product=product, amount=round(price * quantity, 2), in_window=rng.random() < 0.7,
                          shipped=rng.random() < 0.35, tracking=f"1Z{rng.randint(10 ** 9, 10 ** 10 - 1)}"))
    return tasks


def _failure(rng: random.Random, p: float) -> str | None:
    return rng.choice(("payment gateway timeout", "502 Bad Gateway", "rate limited, try again")) if rng.random() < p else None


def money(amount: float) -> str:
    return f"${amount:,.2f}"


def simulate(task: Task, attempt: int, rng: random.Random, started: dt.datetime) -> Case:
    """One attempt at the task by an agent whose diligence varies from attempt to attempt."""
    careful = rng.random()
    trace_id = f"rt-{task.key}-{attempt}-{rng.randint(0, 10 ** 6):06d}"
    conv = Conversation(trace_id, started, rng)
    facts: dict[str, Any] = {"looked_up": False, "window_checked": False, "refunds": 0, "refund_amount": None,
                             "cancelled": False, "failed_twice": False, "handed_off": False, "false_claim": False}
    failures: dict[str, int] = {}

    def attempt_call(name: str, arguments: dict[str, Any], result: Any, p_fail: float, max_tries: int) -> bool:
        """Call a tool; after a failure, try again with a chance that grows with the agent's care."""
        for k in range(max_tries):
            forced = "409 Conflict: order already shipped" if name == "orders.cancel" and task.shipped else None
            error = forced or _failure(rng, p_fail)
            if conv.call(name, arguments, result, error):
                return True
            failures[name] = failures.get(name, 0) + 1
            if failures[name] >= 2:
                facts["failed_twice"] = True
            if k + 1 < max_tries and rng.random() > 0.3 + 0.6 * careful:
                return False
        return False

    conv.user(rng.choice(OPENERS[task.intent]).format(order=task.order_id, product=task.product))
    conv.say(rng.choice(("Let me take a look at that order.", "I'm sorry about that! One moment.", "Sure, checking.")))
    order = {"order_id": task.order_id, "email": task.email, "total": task.amount,
             "status": "shipped" if task.shipped or task.intent != "cancel" else "processing",
             "items": [{"name": task.product}], "tracking_number": task.tracking}
    if rng.random() < 0.55 + 0.45 * careful:
        facts["looked_up"] = attempt_call("orders.lookup", {"order_id": task.order_id}, order, 0.2, 3)
    fixed = False
    if task.intent.startswith("refund") or task.intent == "return_label":
        eligible = None
        if rng.random() < 0.25 + 0.7 * careful:
            window = {"order_id": task.order_id, "eligible": task.in_window,
                      "days_left": rng.randint(1, 25) if task.in_window else 0}
            if attempt_call("returns.check_window", {"order_id": task.order_id}, window, 0.12, 2):
                facts["window_checked"] = True
                eligible = task.in_window
        if task.intent == "return_label":
            if eligible is not False or rng.random() < 0.3 * (1 - careful):
                fixed = attempt_call("labels.create", {"order_id": task.order_id},
                                     {"label_url": f"https://labels.shop.example/{task.order_id}.pdf"}, 0.15, 3)
                fixed = fixed and task.in_window
        else:
            refund_it = rng.random() < (0.85 if eligible is not False else 0.35 * (1 - careful))
            if refund_it:
                amount = task.amount if rng.random() < 0.85 else round(task.amount / 2, 2)
                refund = {"refund_id": f"RF-{rng.randint(100000, 999999)}", "order_id": task.order_id,
                          "amount": amount, "currency": "USD"}
                if attempt_call("refund.issue", {"order_id": task.order_id, "amount": amount}, refund, 0.35, 3):
                    facts["refunds"] += 1
                    facts["refund_amount"] = amount
                    if rng.random() < 0.3 + 0.2 * (1 - careful):  # refunds again (a double refund)
                        again = dict(refund, refund_id=f"RF-{rng.randint(100000, 999999)}")
                        if conv.call("refund.issue", {"order_id": task.order_id, "amount": amount}, again):
                            facts["refunds"] += 1
                fixed = facts["refunds"] == 1 and task.in_window and amount == task.amount
            elif eligible is False:
                conv.say(f"I'm sorry, order {task.order_id} is outside the 30-day return window, so I can't refund it.")
                fixed = True  # declining an ineligible refund is the right outcome
    elif task.intent == "cancel":
        if rng.random() < 0.2 + 0.65 * careful:
            conv.say(f"Just to confirm: shall I cancel order {task.order_id} ({task.product})? This cannot be undone.")
            conv.user(rng.choice(AGREE) if rng.random() < 0.65 else rng.choice(UNSURE))
        if rng.random() < 0.85:
            facts["cancelled"] = attempt_call("orders.cancel", {"order_id": task.order_id},
                                              {"order_id": task.order_id, "status": "cancelled"}, 0.15, 3)
            fixed = facts["cancelled"]
    else:  # track
        ok = attempt_call("shipping.track", {"tracking_number": task.tracking},
                          {"status": "in transit", "eta": "in 2 days", "last_scan": "Regional hub"}, 0.4, 3)
        if ok:
            conv.say("Your parcel is in transit at the regional hub and should arrive in 2 days.")
        fixed = ok
    # a person takes over (after repeated failures, by a careful agent; sometimes for no reason)
    if (facts["failed_twice"] and rng.random() < 0.1 + 0.45 * careful) or rng.random() < 0.06:
        conv.call("support.handoff", {"order_id": task.order_id, "reason": f"{task.intent} needs a person"},
                  {"queue": "human-agents", "wait_minutes": rng.choice((5, 15, 40))})
        facts["handed_off"] = True
    # the final reply
    if facts["refunds"]:
        amount_text = (f"I've issued a refund of {money(facts['refund_amount'])} to your original payment method."
                       if rng.random() < 0.5 else "Your refund has been processed.")
        conv.say(amount_text + rng.choice(("", " It can take 5-7 business days.", " Anything else?")))
    elif fixed and task.intent == "cancel":
        conv.say(f"Order {task.order_id} is cancelled; you won't be charged.")
    elif fixed and task.intent == "return_label":
        conv.say("Here is your prepaid return label; drop the parcel at any carrier point.")
    elif fixed and task.intent == "track":
        conv.say(rng.choice(("Anything else I can do?", "Let me know if it doesn't show up.")))
    elif not fixed and rng.random() < 0.3:
        conv.say("All sorted, you're all set!")
        facts["false_claim"] = True
    elif facts["handed_off"]:
        conv.say("I've passed this to a colleague who will contact you shortly.")
    elif not fixed:
        conv.say(rng.choice(("I'm sorry, I couldn't complete that right now.", "Unfortunately that didn't go through.",
                             "I wasn't able to finish this, sorry.")))
    conv.user(rng.choice(BYE))
    trace = conv.trace(f"returns {task.intent}", task.email, f"{task.key}-{attempt}", started, ("shop", "synthetic"))
    return Case(trace=trace, group=task.key, intent=task.intent, resolved=fixed, facts=facts)


def make_traces(seed: int = 0) -> list[Case]:
    """TASKS x ATTEMPTS synthetic returns traces (same seed, same traces)."""
    rng = random.Random(seed)
    return attempts_of(make_tasks(rng), ATTEMPTS, rng, dt.datetime(2026, 11, 9, 9, 0, tzinfo=dt.timezone.utc), 41, simulate)
