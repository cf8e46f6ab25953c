"""List prices of the Claude models iofold may call, in USD per million tokens (input, output).

From platform.claude.com model pages (standard rates, no batch or cache discounts).
A dated id (``claude-haiku-4-5-20251001``) is priced as its alias. A model missing here
costs 0.0 and logs a warning: add it rather than guess.
"""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)

PRICES_PER_MTOK: dict[str, tuple[float, float]] = {
    "claude-fable-5-1": (10.0, 50.0),
    "claude-opus-5-5": (4.0, 20.0),
    "claude-opus-5": (5.0, 25.0),
    "claude-opus-4-8": (5.0, 25.0),
    "claude-opus-4-7": (5.0, 25.0),
    "claude-opus-4-6": (5.0, 25.0),
    "claude-opus-4-5": (5.0, 25.0),
    "claude-sonnet-5-5": (2.0, 10.0),
    "claude-sonnet-5": (2.0, 10.0),
    "claude-sonnet-4-6": (3.0, 15.0),
    "claude-sonnet-4-5": (3.0, 15.0),
    "claude-haiku-4-5": (1.0, 5.0),
}


def price_of(model: str) -> tuple[float, float] | None:
    """Return (input, output) USD per million tokens for a model id, or None when unknown."""
    if model in PRICES_PER_MTOK:
        return PRICES_PER_MTOK[model]
    base, _, suffix = model.rpartition("-")
    if suffix.isdigit() and len(suffix) == 8 and base in PRICES_PER_MTOK:
        return PRICES_PER_MTOK[base]
    return None


def cost_usd(model: str, input_tokens: int, output_tokens: int) -> float:
    """Return the list-price cost in USD of one model's token usage (0.0 for an unknown model)."""
    price = price_of(model)
    if price is None:
        log.warning("no price for model %s; recording cost 0.0", model)
        return 0.0
    return round((input_tokens * price[0] + output_tokens * price[1]) / 1_000_000, 6)
