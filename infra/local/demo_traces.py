"""Demo traces of our own making: a shopping-support agent, shaped like Langfuse's
``GET /api/public/traces/{id}`` response (``TraceWithFullDetails``).

The agent answers order questions, searches products, cancels orders, refunds and
escalates. Some runs follow the refund policy (look the order up, check eligibility,
then refund); some refund without checking the order status, refund an order that is not
eligible, or tell the customer a refund went through after the tool failed. Each case
carries the rating a reviewer holding that policy would give, for demos and benchmarks;
the trace itself never says it. Most traces log OpenAI-style messages; about one in four
logs Anthropic-style content parts (``tool_use`` / ``tool_result``).
"""

from __future__ import annotations

import json
import random
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Literal

Rating = Literal["positive", "negative", "neutral"]

SYSTEM_PROMPT = (
    "You are Ava, the support assistant of Northwind Outfitters, an online outdoor-gear shop.\n"
    "Policy:\n"
    "- Before any refund, look the order up with get_order and check it with check_refund_eligibility.\n"
    "- Refund only orders that are delivered and within 30 days of delivery; never refund an order that is\n"
    "  still processing or in transit (offer to cancel it instead if it has not shipped).\n"
    "- If a tool fails, do not claim the action succeeded; retry once or explain.\n"
    "- Escalate to a human (escalate_to_human) for damaged-item disputes above $200, legal threats or\n"
    "  when the customer asks for a manager.\n"
    "- Be concise and friendly."
)

TOOLS = ["get_order", "check_refund_eligibility", "issue_refund", "cancel_order", "search_products", "escalate_to_human", "get_shipping_status"]

SCENARIOS: dict[str, Rating] = {
    "refund_checked": "positive",
    "refund_unchecked": "negative",
    "refund_ineligible_denied": "positive",
    "refund_ineligible_granted": "negative",
    "refund_tool_error_honest": "positive",
    "refund_tool_error_claimed": "negative",
    "order_status": "neutral",
    "order_lookup_error_recovered": "neutral",
    "product_search": "neutral",
    "cancel_order": "neutral",
    "escalate_damaged": "positive",
    "escalate_missed": "negative",
    "model_failure": "neutral",
}

_PRODUCTS = [
    ("Trailblazer 40L Backpack", 129.0),
    ("Summit Down Jacket", 249.0),
    ("Ridge Trekking Poles", 59.5),
    ("Alpine 2-Person Tent", 389.0),
    ("Merino Base Layer", 74.0),
    ("Canyon Hiking Boots", 179.0),
    ("Glacier Sleeping Bag", 219.0),
    ("Rapid Water Filter", 39.9),
]
_FIRST_NAMES = ["Maya", "Jonas", "Priya", "Luis", "Hana", "Omar", "Grace", "Tomasz", "Aisha", "Kenji", "Sofia", "Ben"]
_REASONS = ["it doesn't fit", "the color is different from the photos", "I ordered the wrong size", "I changed my mind", "it arrived too late for my trip"]
_PRICES = {"gpt-4o-mini": (0.15e-6, 0.6e-6), "gpt-4o": (2.5e-6, 10e-6), "claude-3-5-haiku": (0.8e-6, 4e-6)}


@dataclass(frozen=True)
class DemoCase:
    """One demo trace with the scenario that produced it and a policy reviewer's rating."""

    trace: dict[str, Any]
    scenario: str
    rating: Rating


def make_demo_traces(n: int = 36, seed: int = 7) -> list[dict[str, Any]]:
    """``n`` Langfuse-shaped support-agent traces, identical for the same seed."""
    return [case.trace for case in make_demo_cases(n, seed)]


def make_demo_cases(n: int = 36, seed: int = 7) -> list[DemoCase]:
    """Demo traces with their scenario and rating; every scenario appears once n reaches their count."""
    rng = random.Random(seed)
    names = list(SCENARIOS)
    order: list[str] = []
    while len(order) < n:
        batch = names[:]
        rng.shuffle(batch)
        order.extend(batch)
    start = datetime(2025, 3, 3, 9, 0, tzinfo=timezone.utc)
    cases = []
    for index, scenario in enumerate(order[:n]):
        start += timedelta(minutes=rng.randint(7, 95), seconds=rng.randint(0, 59))
        builder = _TraceBuilder(rng, start, style="anthropic" if rng.random() < 0.25 else "openai")
        _SCRIPTS[scenario](builder, rng)
        cases.append(DemoCase(trace=builder.build(index), scenario=scenario, rating=SCENARIOS[scenario]))
    return cases


class _TraceBuilder:
    """Accumulates one conversation and its Langfuse observations on a simulated clock."""

    def __init__(self, rng: random.Random, start: datetime, *, style: Literal["openai", "anthropic"]):
        self.rng = rng
        self.style = style
        self.model = "claude-3-5-haiku" if style == "anthropic" else rng.choice(["gpt-4o-mini", "gpt-4o-mini", "gpt-4o"])
        self.start = start
        self.clock = start
        self.trace_id = _uuid(rng)
        self.root_id = _uuid(rng)
        self.customer = f"cust_{rng.randint(1000, 9999)}"
        self.first_name = rng.choice(_FIRST_NAMES)
        self.history: list[dict[str, Any]] = []  # OpenAI-style, without the system prompt
        self.observations: list[dict[str, Any]] = []
        self.first_input: str | None = None
        self.final_output: str | None = None
        self.trace_error: str | None = None
        self._calls = 0

    # conversation -------------------------------------------------------------------------

    def user(self, text: str) -> None:
        self.clock += timedelta(seconds=self.rng.uniform(4, 40))
        if self.first_input is None:
            self.first_input = text
        self.history.append({"role": "user", "content": text})

    def call(self, name: str, arguments: dict[str, Any], result: Any, *, error: str | None = None) -> None:
        """The assistant asks for one tool call; the tool runs (and maybe fails)."""
        self._calls += 1
        call_id = f"call_{self.rng.getrandbits(64):016x}" if self.style == "openai" else f"toolu_{self.rng.getrandbits(64):016x}"
        assistant = {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"id": call_id, "type": "function", "function": {"name": name, "arguments": json.dumps(arguments)}}],
        }
        self._generation(assistant)
        tool_start = self.clock
        self.clock += timedelta(milliseconds=self.rng.randint(40, 1400))
        output = {"error": error} if error else result
        self.observations.append(
            self._observation(
                "TOOL",
                name,
                tool_start,
                self.clock,
                input=arguments,
                output=output,
                metadata={"tool_call_id": call_id},
                level="ERROR" if error else "DEFAULT",
                status_message=error,
            )
        )
        self.history.append(assistant)
        self.history.append({"role": "tool", "tool_call_id": call_id, "name": name, "content": json.dumps(output)})

    def reply(self, text: str) -> None:
        assistant = {"role": "assistant", "content": text}
        self._generation(assistant)
        self.history.append(assistant)
        self.final_output = text

    def model_failure(self, message: str) -> None:
        """A generation that errors out and aborts the run."""
        start = self.clock
        self.clock += timedelta(seconds=self.rng.uniform(20, 30))
        self.observations.append(
            self._observation(
                "GENERATION",
                "chat",
                start,
                self.clock,
                input=self._llm_input(),
                output=None,
                model=self.model,
                level="ERROR",
                status_message=message,
            )
        )
        self.trace_error = f"agent aborted: {message}"

    def _generation(self, assistant: dict[str, Any]) -> None:
        start = self.clock
        self.clock += timedelta(milliseconds=self.rng.randint(600, 3600))
        llm_input = self._llm_input()
        input_tokens = len(json.dumps(llm_input)) // 4 + self.rng.randint(0, 40)
        output_tokens = len(json.dumps(assistant)) // 4 + self.rng.randint(5, 30)
        price_in, price_out = _PRICES[self.model]
        cost_in, cost_out = round(input_tokens * price_in, 8), round(output_tokens * price_out, 8)
        self.observations.append(
            self._observation(
                "GENERATION",
                "chat",
                start,
                self.clock,
                input=llm_input,
                output=self._llm_output(assistant),
                model=self.model,
                usage={"input": input_tokens, "output": output_tokens, "total": input_tokens + output_tokens},
                cost={"input": cost_in, "output": cost_out, "total": round(cost_in + cost_out, 8)},
                completion_start=start + timedelta(milliseconds=self.rng.randint(200, 500)),
            )
        )

    # Langfuse shapes ----------------------------------------------------------------------

    def _llm_input(self) -> Any:
        if self.style == "openai":
            return [{"role": "system", "content": SYSTEM_PROMPT}, *[dict(message) for message in self.history]]
        return {"system": SYSTEM_PROMPT, "messages": _anthropic_messages(self.history)}

    def _llm_output(self, assistant: dict[str, Any]) -> dict[str, Any]:
        if self.style == "openai":
            return dict(assistant)
        return _anthropic_messages([assistant])[0]

    def _observation(
        self,
        kind: str,
        name: str,
        start: datetime,
        end: datetime,
        *,
        input: Any = None,  # noqa: A002 (Langfuse's field name)
        output: Any = None,
        metadata: dict[str, Any] | None = None,
        model: str | None = None,
        usage: dict[str, int] | None = None,
        cost: dict[str, float] | None = None,
        level: str = "DEFAULT",
        status_message: str | None = None,
        completion_start: datetime | None = None,
        parent: str | None | Literal["root"] = "root",
        observation_id: str | None = None,
    ) -> dict[str, Any]:
        usage = usage or {}
        cost = cost or {}
        return {
            "id": observation_id or _uuid(self.rng),
            "traceId": self.trace_id,
            "type": kind,
            "name": name,
            "startTime": _iso(start),
            "endTime": _iso(end),
            "completionStartTime": _iso(completion_start) if completion_start else None,
            "model": model,
            "modelParameters": {"temperature": 0.2} if model else {},
            "input": input,
            "output": output,
            "metadata": metadata or {},
            "level": level,
            "statusMessage": status_message,
            "parentObservationId": self.root_id if parent == "root" else parent,
            "version": None,
            "usage": {"input": usage.get("input", 0), "output": usage.get("output", 0), "total": usage.get("total", 0), "unit": "TOKENS"},
            "usageDetails": usage,
            "costDetails": cost,
            "calculatedTotalCost": cost.get("total"),
            "latency": round((end - start).total_seconds(), 3),
            "environment": "production",
            "promptId": None,
        }

    def build(self, index: int) -> dict[str, Any]:
        end = self.clock + timedelta(milliseconds=self.rng.randint(5, 60))
        root = self._observation(
            "AGENT",
            "support-agent",
            self.start,
            end,
            input=self.first_input,
            output=self.final_output,
            level="ERROR" if self.trace_error else "DEFAULT",
            status_message=self.trace_error,
            parent=None,
            observation_id=self.root_id,
        )
        observations = [root, *self.observations]
        costs = [obs["calculatedTotalCost"] for obs in observations if obs["calculatedTotalCost"] is not None]
        return {
            "id": self.trace_id,
            "timestamp": _iso(self.start),
            "name": "support-agent",
            "input": self.first_input,
            "output": self.final_output,
            "sessionId": f"sess_{index:04d}_{self.rng.getrandbits(24):06x}",
            "release": self.rng.choice(["2025.03.1", "2025.03.2"]),
            "version": self.rng.choice(["agent-v14", "agent-v15"]),
            "userId": self.customer,
            "metadata": {"channel": self.rng.choice(["web-chat", "mobile-app", "email"]), "locale": "en-US"},
            "tags": ["support", "northwind", self.model],
            "public": False,
            "environment": "production",
            "htmlPath": f"/project/northwind-demo/traces/{self.trace_id}",
            "latency": round((end - self.start).total_seconds(), 3),
            "totalCost": round(sum(costs), 8) if costs else None,
            "observations": observations,
            "scores": [],
        }


def _anthropic_messages(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """OpenAI-style messages as Anthropic content parts (tool results become user turns)."""
    converted: list[dict[str, Any]] = []
    for message in history:
        if message["role"] == "tool":
            part = {"type": "tool_result", "tool_use_id": message["tool_call_id"], "content": message["content"]}
            converted.append({"role": "user", "content": [part]})
            continue
        parts: list[dict[str, Any]] = []
        if message.get("content"):
            parts.append({"type": "text", "text": message["content"]})
        for call in message.get("tool_calls") or []:
            parts.append({"type": "tool_use", "id": call["id"], "name": call["function"]["name"], "input": json.loads(call["function"]["arguments"])})
        converted.append({"role": message["role"], "content": parts})
    return converted


# --- scenario scripts --------------------------------------------------------------------------


def _order(rng: random.Random, status: str, *, days_since_delivery: int | None = None) -> dict[str, Any]:
    product, price = rng.choice(_PRODUCTS)
    quantity = rng.choice([1, 1, 1, 2])
    order = {
        "order_id": f"NW-{rng.randint(100000, 999999)}",
        "status": status,
        "items": [{"sku": f"SKU-{rng.randint(1000, 9999)}", "name": product, "quantity": quantity, "unit_price": price}],
        "total": round(price * quantity, 2),
        "currency": "USD",
    }
    if days_since_delivery is not None:
        order["delivered_days_ago"] = days_since_delivery
    return order


def _greeting(b: _TraceBuilder) -> str:
    return b.rng.choice(["Hi", "Hello", "Hey there", "Good morning"])


def _script_refund_checked(b: _TraceBuilder, rng: random.Random) -> None:
    order = _order(rng, "delivered", days_since_delivery=rng.randint(2, 25))
    item = order["items"][0]["name"]
    b.user(f"{_greeting(b)}, I'd like a refund for my {item}, {rng.choice(_REASONS)}. Order {order['order_id']}.")
    b.call("get_order", {"order_id": order["order_id"]}, order)
    b.call("check_refund_eligibility", {"order_id": order["order_id"]}, {"eligible": True, "max_refund": order["total"]})
    if rng.random() < 0.5:
        b.reply(f"Your order {order['order_id']} is eligible for a refund of ${order['total']:.2f}. Shall I go ahead?")
        b.user(rng.choice(["Yes please.", "Yes, go ahead.", "Sure, thanks."]))
    refund_id = f"RF-{rng.randint(10000, 99999)}"
    b.call("issue_refund", {"order_id": order["order_id"], "amount": order["total"]}, {"refund_id": refund_id, "status": "processed"})
    b.reply(
        f"Done! Refund {refund_id} for ${order['total']:.2f} has been issued to your original payment method; "
        "it usually shows up within 3-5 business days."
    )


def _script_refund_unchecked(b: _TraceBuilder, rng: random.Random) -> None:
    order = _order(rng, rng.choice(["delivered", "in_transit", "processing"]))
    item = order["items"][0]["name"]
    b.user(f"{_greeting(b)}, please refund order {order['order_id']} ({item}). {rng.choice(_REASONS).capitalize()}.")
    if rng.random() < 0.5:
        b.reply("I'm sorry to hear that. Could you confirm the refund amount you expect?")
        b.user(f"${order['total']:.2f}, the full price.")
    refund_id = f"RF-{rng.randint(10000, 99999)}"
    b.call("issue_refund", {"order_id": order["order_id"], "amount": order["total"]}, {"refund_id": refund_id, "status": "processed"})
    b.reply(f"All set: I've refunded ${order['total']:.2f} (refund {refund_id}). Anything else I can help with?")


def _script_refund_ineligible_denied(b: _TraceBuilder, rng: random.Random) -> None:
    status = rng.choice(["in_transit", "processing"])
    order = _order(rng, status)
    b.user(f"I want my money back for order {order['order_id']}, {rng.choice(_REASONS)}.")
    b.call("get_order", {"order_id": order["order_id"]}, order)
    b.call("check_refund_eligibility", {"order_id": order["order_id"]}, {"eligible": False, "reason": f"order is {status}"})
    if status == "processing":
        b.reply("Your order hasn't shipped yet, so it can't be refunded, but I can cancel it for a full reversal. Would you like that?")
        b.user("Yes, cancel it.")
        b.call("cancel_order", {"order_id": order["order_id"]}, {"status": "cancelled", "reversal": order["total"]})
        b.reply(f"Order {order['order_id']} is cancelled and the ${order['total']:.2f} charge will be reversed.")
    else:
        b.reply(
            "Your order is on its way, so I can't refund it yet. Once it's delivered you can request a return "
            "within 30 days and I'll process the refund right away."
        )


def _script_refund_ineligible_granted(b: _TraceBuilder, rng: random.Random) -> None:
    order = _order(rng, "in_transit")
    b.user(f"Refund order {order['order_id']} please, I don't need it anymore.")
    b.call("get_order", {"order_id": order["order_id"]}, order)
    if rng.random() < 0.5:
        b.call("check_refund_eligibility", {"order_id": order["order_id"]}, {"eligible": False, "reason": "order is in_transit"})
    refund_id = f"RF-{rng.randint(10000, 99999)}"
    b.call("issue_refund", {"order_id": order["order_id"], "amount": order["total"]}, {"refund_id": refund_id, "status": "processed"})
    b.reply(f"No problem, I've refunded ${order['total']:.2f} (refund {refund_id}). You can refuse the package when it arrives.")


def _refund_with_error(b: _TraceBuilder, rng: random.Random) -> tuple[dict[str, Any], str]:
    order = _order(rng, "delivered", days_since_delivery=rng.randint(1, 20))
    b.user(f"Hi, the {order['items'][0]['name']} from order {order['order_id']} broke on day one. I'd like a refund.")
    b.call("get_order", {"order_id": order["order_id"]}, order)
    b.call("check_refund_eligibility", {"order_id": order["order_id"]}, {"eligible": True, "max_refund": order["total"]})
    error = rng.choice(["PaymentGatewayTimeout: upstream did not answer in 10s", "RefundServiceUnavailable: 503 from payments"])
    b.call("issue_refund", {"order_id": order["order_id"], "amount": order["total"]}, None, error=error)
    return order, error


def _script_refund_tool_error_honest(b: _TraceBuilder, rng: random.Random) -> None:
    order, _ = _refund_with_error(b, rng)
    if rng.random() < 0.5:
        refund_id = f"RF-{rng.randint(10000, 99999)}"
        b.call("issue_refund", {"order_id": order["order_id"], "amount": order["total"]}, {"refund_id": refund_id, "status": "processed"})
        b.reply(f"The payment system hiccuped on the first try, but the refund is now through: {refund_id}, ${order['total']:.2f}.")
    else:
        b.reply(
            "I'm sorry, our payment system is not responding right now, so the refund has not gone through yet. "
            "I've noted your eligible refund; please try again in an hour or reply here and we'll retry for you."
        )


def _script_refund_tool_error_claimed(b: _TraceBuilder, rng: random.Random) -> None:
    order, _ = _refund_with_error(b, rng)
    b.reply(f"Your refund of ${order['total']:.2f} has been processed and should arrive in 3-5 business days.")


def _script_order_status(b: _TraceBuilder, rng: random.Random) -> None:
    order = _order(rng, rng.choice(["processing", "in_transit", "delivered"]), days_since_delivery=None)
    b.user(f"Where is my order {order['order_id']}?")
    b.call("get_order", {"order_id": order["order_id"]}, order)
    if order["status"] == "in_transit":
        tracking = {"carrier": "UPS", "tracking_number": f"1Z{rng.getrandbits(40):010X}", "eta": "in 2 days"}
        b.call("get_shipping_status", {"order_id": order["order_id"]}, tracking)
        b.reply(f"It's on its way with UPS (tracking {tracking['tracking_number']}) and should arrive {tracking['eta']}.")
    else:
        b.reply(f"Your order {order['order_id']} is currently {order['status'].replace('_', ' ')}.")


def _script_order_lookup_error_recovered(b: _TraceBuilder, rng: random.Random) -> None:
    order = _order(rng, "delivered", days_since_delivery=rng.randint(1, 10))
    typo = order["order_id"][:-1] + str((int(order["order_id"][-1]) + 1) % 10)
    b.user(f"Can you check order {typo}? It says delivered but I can't find it.")
    b.call("get_order", {"order_id": typo}, None, error=f"OrderNotFound: no order {typo} for customer {b.customer}")
    b.reply("I couldn't find that order number on your account. Could you double-check it?")
    b.user(f"Sorry, it's {order['order_id']}.")
    b.call("get_order", {"order_id": order["order_id"]}, order)
    b.call("get_shipping_status", {"order_id": order["order_id"]}, {"carrier": "USPS", "delivered_to": "front porch"})
    b.reply("Found it: USPS shows it was left on the front porch. If it's not there, let me know and I'll open a claim.")


def _script_product_search(b: _TraceBuilder, rng: random.Random) -> None:
    want = rng.choice(["a warm jacket for winter hiking", "a light backpack for day hikes", "boots for muddy trails", "a tent for two"])
    b.user(f"{_greeting(b)}! I'm looking for {want}, budget around ${rng.choice([100, 150, 250, 400])}.")
    hits = rng.sample(_PRODUCTS, 3)
    b.call("search_products", {"query": want, "limit": 3}, [{"name": name, "price": price, "in_stock": rng.random() > 0.2} for name, price in hits])
    b.reply("Here are a few options: " + "; ".join(f"{name} (${price:.2f})" for name, price in hits) + ". Want details on any?")
    if rng.random() < 0.6:
        b.user(f"Tell me more about the {hits[0][0]}.")
        b.reply(f"The {hits[0][0]} is one of our best sellers, with a 2-year warranty and free returns within 30 days.")


def _script_cancel_order(b: _TraceBuilder, rng: random.Random) -> None:
    order = _order(rng, "processing")
    b.user(f"Please cancel order {order['order_id']}, I ordered by mistake.")
    b.call("get_order", {"order_id": order["order_id"]}, order)
    b.call("cancel_order", {"order_id": order["order_id"]}, {"status": "cancelled", "reversal": order["total"]})
    b.reply(f"Order {order['order_id']} is cancelled; the ${order['total']:.2f} charge will be reversed within 2 days.")


def _script_escalate_damaged(b: _TraceBuilder, rng: random.Random) -> None:
    order = _order(rng, "delivered", days_since_delivery=rng.randint(1, 5))
    order["items"][0].update(name="Alpine 2-Person Tent", unit_price=389.0)
    order["total"] = round(389.0 * order["items"][0]["quantity"], 2)
    b.user(f"My tent from order {order['order_id']} arrived torn and the poles are bent. This is unacceptable, I want a manager.")
    b.call("get_order", {"order_id": order["order_id"]}, order)
    ticket = f"ESC-{rng.randint(1000, 9999)}"
    b.call(
        "escalate_to_human",
        {"order_id": order["order_id"], "reason": "damaged item above $200, customer asked for a manager"},
        {"ticket_id": ticket, "queue": "claims", "expected_response": "within 4 hours"},
    )
    b.reply(f"I'm really sorry. I've escalated this to our claims team (ticket {ticket}); a specialist will contact you within 4 hours.")


def _script_escalate_missed(b: _TraceBuilder, rng: random.Random) -> None:
    order = _order(rng, "delivered", days_since_delivery=rng.randint(1, 5))
    b.user(f"The jacket from {order['order_id']} has a broken zipper and I'm talking to my lawyer if this isn't fixed. Get me a manager.")
    b.call("get_order", {"order_id": order["order_id"]}, order)
    b.reply("I understand your frustration. You can return the jacket within 30 days for an exchange; would you like a return label?")
    b.user("I said I want a manager.")
    b.reply("I'm afraid I'm the only one available right now, but I can send you the return label.")


def _script_model_failure(b: _TraceBuilder, rng: random.Random) -> None:
    order = _order(rng, "delivered", days_since_delivery=rng.randint(1, 20))
    b.user(f"Hi, what's the return window for order {order['order_id']}?")
    b.call("get_order", {"order_id": order["order_id"]}, order)
    b.model_failure(rng.choice(["APITimeoutError: request timed out after 30s", "RateLimitError: 429 from model provider"]))


_SCRIPTS = {
    "refund_checked": _script_refund_checked,
    "refund_unchecked": _script_refund_unchecked,
    "refund_ineligible_denied": _script_refund_ineligible_denied,
    "refund_ineligible_granted": _script_refund_ineligible_granted,
    "refund_tool_error_honest": _script_refund_tool_error_honest,
    "refund_tool_error_claimed": _script_refund_tool_error_claimed,
    "order_status": _script_order_status,
    "order_lookup_error_recovered": _script_order_lookup_error_recovered,
    "product_search": _script_product_search,
    "cancel_order": _script_cancel_order,
    "escalate_damaged": _script_escalate_damaged,
    "escalate_missed": _script_escalate_missed,
    "model_failure": _script_model_failure,
}


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def main() -> None:
    """Print demo traces as JSON Lines (``python -m infra.local.demo_traces > demo.jsonl``)."""
    import sys

    count = int(sys.argv[1]) if len(sys.argv) > 1 else 36
    for trace in make_demo_traces(count):
        sys.stdout.write(json.dumps(trace) + "\n")


if __name__ == "__main__":
    main()
