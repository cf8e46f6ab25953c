"""Feature helpers: what they measure on small hand-built traces, and the source copied into generated code."""

from __future__ import annotations

import random
from typing import Any

from chalicelib.generation.evaluation import LabeledItem, split_by_group
from chalicelib.generation.features import HELPERS, candidate_features, helper_source_for, mine_phrases


def trace_of(events: list[tuple[Any, ...]]) -> dict[str, Any]:
    """Messages and paired tool calls from ("user"|"assistant", text) and ("call", name, result, error)."""
    messages: list[dict[str, Any]] = []
    calls: list[dict[str, Any]] = []
    for event in events:
        if event[0] in ("user", "assistant"):
            messages.append({"role": event[0], "content": event[1]})
        else:
            _, name, result, error = event
            messages.append({"role": "assistant", "content": None, "tool_calls": [{"name": name}]})
            messages.append({"role": "tool", "content": str(error or result), "name": name})
            calls.append({"id": str(len(calls)), "name": name, "arguments": {}, "result": result, "error": error})
    return {"id": "t", "messages": messages, "tool_calls": calls, "stats": {}, "output": None}


BOOKING = trace_of(
    [
        ("user", "Please change my flight"),
        ("call", "get_reservation", '{"reservation_id": "ZX81QP", "price": 1250}', None),
        ("assistant", "Shall I change it?"),
        ("user", "Yes, go ahead"),
        ("call", "update_reservation", None, "Error: seat taken"),
        ("call", "update_reservation", {"ok": True}, None),
        ("assistant", "Done: reservation ZX81QP now costs 1250 dollars."),
    ]
)


def test_call_after_confirmation_is_seen_only_for_the_confirmed_tool() -> None:
    assert HELPERS["called_after_user_said"](BOOKING, "update_reservation", "yes")
    assert not HELPERS["called_after_user_said"](BOOKING, "get_reservation", "yes")
    assert HELPERS["called_without_user_saying"](BOOKING, "get_reservation", "yes")
    assert not HELPERS["called_without_user_saying"](BOOKING, "update_reservation", "yes")


def test_order_of_tools_is_measured() -> None:
    assert HELPERS["called_before"](BOOKING, "get_reservation", "update_reservation")
    assert not HELPERS["called_before"](BOOKING, "update_reservation", "get_reservation")
    assert HELPERS["called_without_prior"](BOOKING, "get_reservation", "update_reservation")
    assert not HELPERS["called_without_prior"](BOOKING, "update_reservation", "get_reservation")
    assert not HELPERS["write_without_read"](BOOKING)


def test_retry_after_error_is_told_apart_from_an_unretried_error() -> None:
    assert HELPERS["retried_after_error"](BOOKING)
    assert not HELPERS["error_not_retried"](BOOKING)
    unretried = trace_of([("user", "cancel it"), ("call", "cancel_booking", None, "Error: nope"), ("assistant", "Sorry.")])
    assert HELPERS["error_not_retried"](unretried)
    assert not HELPERS["retried_after_error"](unretried)
    assert HELPERS["write_without_read"](unretried)


def test_answer_repeating_a_tool_value_is_detected() -> None:
    assert HELPERS["answer_repeats_tool_value"](BOOKING)
    assert HELPERS["answer_repeats_tool_value"](BOOKING, "get_reservation")
    assert not HELPERS["answer_repeats_tool_value"](BOOKING, "update_reservation")


def test_transfer_to_human_is_seen_from_tool_name_or_reply() -> None:
    by_tool = trace_of([("user", "help"), ("call", "transfer_to_human_agents", "ok", None)])
    by_reply = trace_of([("user", "help"), ("assistant", "I will transfer you to a human agent.")])
    assert HELPERS["transferred_to_human"](by_tool) and HELPERS["transferred_to_human"](by_reply)
    assert not HELPERS["transferred_to_human"](BOOKING)


def test_helpers_survive_missing_fields() -> None:
    empty: dict[str, Any] = {}
    assert HELPERS["tool_call_count"](empty) == 0
    assert HELPERS["final_answer"](empty) == ""
    assert HELPERS["timeline"](empty) == []
    assert not HELPERS["user_said"](empty, "yes")


def test_helper_source_includes_what_a_helper_depends_on() -> None:
    source = helper_source_for(["called_after_user_said"])
    for name in ("def called_after_user_said", "def timeline", "def has_phrase", "def text_of"):
        assert name in source
    assert "def transferred_to_human" not in source


def test_phrases_from_a_single_trace_are_never_mined() -> None:
    texts = ["my code is zebra42 please", "refund my order", "refund the order now"]
    phrases = mine_phrases(texts, min_docs=2, limit=50)
    assert "refund" in phrases
    assert not any("zebra42" in p for p in phrases)


def test_candidate_features_include_relations_between_seen_tools() -> None:
    expressions = {f.expression() for f in candidate_features([BOOKING, BOOKING])}
    assert 'called_before(trace, "get_reservation", "update_reservation")' in expressions
    assert 'called_after_user_said(trace, "update_reservation", "yes")' in expressions


def test_group_split_keeps_each_group_on_one_side_and_stratifies() -> None:
    rng = random.Random(0)
    items = [LabeledItem({"id": f"{g}-{k}"}, f"g{g}", rng.random() < 0.4) for g in range(20) for k in range(4)]
    split = split_by_group(items, n_train=10, seed=3)
    train_groups = {i.group for i in split.train}
    assert train_groups.isdisjoint({i.group for i in split.heldout})
    assert len(split.train) == 10
    assert {i.good for i in split.train} == {True, False}


def test_write_without_confirmation_looks_at_the_latest_user_turn() -> None:
    assert not HELPERS["write_without_confirmation"](BOOKING)
    unconfirmed = trace_of([("user", "Yes, hello"), ("assistant", "Cancel it?"), ("user", "what is the fee"),
                            ("call", "cancel_booking", {"ok": True}, None)])
    assert HELPERS["write_without_confirmation"](unconfirmed)


def test_repeated_write_counts_the_same_write_tool_twice() -> None:
    assert HELPERS["repeated_write"](BOOKING)
    once = trace_of([("user", "yes"), ("call", "update_reservation", {"ok": True}, None)])
    assert not HELPERS["repeated_write"](once)


def test_unseen_argument_value_is_told_apart_from_one_the_user_gave() -> None:
    grounded = trace_of([("user", "my booking is ZX81QP"), ("call", "get_reservation", {"id": 1}, None)])
    grounded["tool_calls"][0]["arguments"] = {"reservation_id": "ZX81QP"}
    invented = trace_of([("user", "my booking, please"), ("call", "get_reservation", {"id": 1}, None)])
    invented["tool_calls"][0]["arguments"] = {"reservation_id": "QQ12AB"}
    assert not HELPERS["used_unseen_value"](grounded)
    assert HELPERS["used_unseen_value"](invented)
