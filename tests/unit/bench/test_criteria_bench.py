"""bench/criteria.py: its labeling functions on hand-built traces, its logistic regression, and a tiny run on
the shared tau-bench traces (skipped, visibly, when ../shared/data is absent)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from bench import criteria as bench
from tests.unit.generation.test_criteria import trace_of


def test_order_labels_need_the_earlier_successful_call():
    looked_up = trace_of([("call", "get_user_details", "{}", None), ("call", "cancel_reservation", "ok", None)])
    failed = trace_of([("call", "get_user_details", None, "Error"), ("call", "cancel_reservation", "ok", None)])
    nothing = trace_of([("user", "hi"), ("call", "get_user_details", "{}", None)])
    assert bench.profile_before_change(looked_up) and bench.profile_before_change(nothing)
    assert not bench.profile_before_change(failed)
    searched = trace_of([("call", "search_direct_flight", "[]", None), ("call", "update_reservation_flights", "ok", None)])
    assert bench.search_before_flight_change(searched)
    assert not bench.search_before_flight_change(trace_of([("call", "update_reservation_flights", "ok", None)]))


def test_consent_labels_read_the_users_latest_turn():
    yes = trace_of([("user", "Yes, please proceed"), ("call", "update_reservation_baggages", "ok", None)])
    earlier_yes = trace_of([("user", "yes"), ("user", "how much is it?"), ("call", "book_reservation", "ok", None)])
    assert bench.yes_before_change(yes) and bench.yes_before_update(yes)
    assert not bench.yes_before_change(earlier_yes)
    assert bench.yes_before_update(earlier_yes)  # no update_* call


def test_pricing_retry_escalation_and_answer_labels():
    priced = trace_of([("call", "calculate", "300", None), ("call", "book_reservation", "{}", None)])
    unpriced = trace_of([("call", "book_reservation", "{}", None), ("call", "calculate", "300", None)])
    assert bench.calculator_before_change(priced) and bench.priced_before_charging(priced)
    assert not bench.calculator_before_change(unpriced) and not bench.priced_before_charging(unpriced)
    retried = trace_of([("call", "calculate", None, "Error"), ("call", "calculate", None, "Error")])
    recovered = trace_of([("call", "calculate", None, "Error"), ("call", "calculate", "3", None)])
    assert bench.retried_after_error(retried) and not bench.recovered_from_error(retried)
    assert bench.recovered_from_error(recovered)
    unasked = trace_of([("user", "my flight is late"), ("call", "transfer_to_human_agents", "ok", None)])
    asked = trace_of([("user", "let me talk to a person"), ("call", "transfer_to_human_agents", "ok", None)])
    assert not bench.transfer_only_on_request(unasked) and bench.transfer_only_on_request(asked)
    assert not bench.never_transferred(asked)
    stated = trace_of([("call", "calculate", "1250.0", None), ("assistant", "That comes to $1,250.")])
    unstated = trace_of([("call", "calculate", "1250.0", None), ("assistant", "That is done.")])
    assert bench.states_computed_amount(stated) and not bench.states_computed_amount(unstated)
    named = trace_of([("call", "cancel_reservation", "ok", None, {"reservation_id": "ZX81QP"}),
                      ("assistant", "Reservation ZX81QP is cancelled.")])
    unnamed = trace_of([("call", "cancel_reservation", "ok", None, {"reservation_id": "ZX81QP"}),
                        ("assistant", "It is cancelled.")])
    assert bench.reply_names_reservation(named) and not bench.reply_names_reservation(unnamed)
    assert not bench.at_most_one_change(trace_of([("call", "cancel_reservation", "ok", None),
                                                  ("call", "book_reservation", "ok", None)]))


def test_every_criterion_has_a_documented_label_and_both_groups_cover_the_six_behaviours():
    behaviours = {"order", "consent", "pricing", "retries", "escalation", "final-answer faithfulness"}
    for group in ("development", "held-out"):
        assert {c.behaviour for c in bench.CRITERIA if c.group == group} >= behaviours
    assert all(c.judge.__doc__ and c.text for c in bench.CRITERIA)


def test_logistic_regression_learns_a_separable_rule_and_ignores_noise():
    rng = random.Random(0)
    rows = [[rng.random() < 0.5 for _ in range(6)] for _ in range(60)]
    labels = [row[2] for row in rows]  # the label is input 2
    model = bench.fit_logistic(rows, labels)
    assert max(range(6), key=lambda j: model[0][j]) == 2
    unseen = [[rng.random() < 0.5 for _ in range(6)] for _ in range(40)]
    assert all(bench.predict_logistic(model, row) == row[2] for row in unseen)


def test_spread_reports_median_and_quartiles():
    assert bench.spread([0.0, 0.25, 0.5, 0.75, 1.0]) == "0.50 (0.25-0.75)"
    assert bench.spread([]) == "n/a"


@pytest.mark.skipif(not bench.DATA.exists(), reason=f"shared tau-bench data not found at {bench.DATA}")
def test_a_tiny_run_on_the_shared_traces_writes_every_method(tmp_path: Path) -> None:
    out = tmp_path / "criteria.md"
    bench.main(["--seeds", "1", "--sizes", "10", "--only", "yes_before_change,at_most_two_searches", "--out", str(out)])
    text = out.read_text()
    for piece in ("## Development criteria", "## Held-out criteria", "yes_before_change", "at_most_two_searches",
                  *bench.METHODS):
        assert piece in text
