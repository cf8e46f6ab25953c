"""Token prices: one table, dated ids priced as their alias, unknown models cost nothing rather than a guess."""

from __future__ import annotations

import pytest

from chalicelib.generation.anthropic import DEFAULT_MODEL
from chalicelib.generation.pricing import PRICES_PER_MTOK, cost_usd, price_of


def test_default_model_has_a_price() -> None:
    assert price_of(DEFAULT_MODEL) is not None


def test_cost_is_input_and_output_tokens_at_their_rates() -> None:
    assert cost_usd("claude-sonnet-4-5", 1_000_000, 1_000_000) == pytest.approx(3.0 + 15.0)
    assert cost_usd("claude-haiku-4-5", 2_000, 400) == pytest.approx(0.002 + 0.002)


def test_dated_model_id_is_priced_as_its_alias() -> None:
    assert price_of("claude-haiku-4-5-20251001") == PRICES_PER_MTOK["claude-haiku-4-5"]
    assert price_of("claude-haiku-4-5-latest") is None


def test_unknown_model_costs_zero() -> None:
    assert cost_usd("claude-unknown-9", 10_000, 10_000) == 0.0
