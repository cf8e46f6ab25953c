"""Criteria-driven features: what the criteria's plain words propose on tools no test hard-codes elsewhere,
what the new sequence helpers measure, and that the generator uses a named rule only while CV agrees."""

from __future__ import annotations

import random
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given, settings

from chalicelib.generation.base import GenerationRequest, LabeledTrace
from chalicelib.generation.criteria import NO_RULE_NAMED, canonical, criteria_features, tokens
from chalicelib.generation.features import HELPERS, Feature, argument_source
from chalicelib.generation import offline
from chalicelib.generation.offline import OfflineGenerator, Scorecard, load_eval, rank_models
from tests.hostile import hostile_text

RETAIL_TOOLS = ("find_user_id_by_email", "get_order_details", "get_product_details", "cancel_pending_order",
                "modify_pending_order_items", "exchange_delivered_order_items", "return_delivered_order_items",
                "transfer_to_human_agents", "calculate", "list_all_product_types")


def trace_of(events: list[tuple[Any, ...]], trace_id: str = "t") -> dict[str, Any]:
    """Messages and paired tool calls from ("user"|"assistant", text) and ("call", name, result, error[, args])."""
    messages: list[dict[str, Any]] = []
    calls: list[dict[str, Any]] = []
    for event in events:
        if event[0] in ("user", "assistant"):
            messages.append({"role": event[0], "content": event[1]})
            continue
        name, result, error = event[1:4]
        arguments = event[4] if len(event) > 4 else {}
        messages.append({"role": "assistant", "content": None, "tool_calls": [{"name": name}]})
        messages.append({"role": "tool", "content": str(error or result), "name": name})
        calls.append({"id": str(len(calls)), "name": name, "arguments": arguments, "result": result, "error": error})
    return {"id": trace_id, "messages": messages, "tool_calls": calls, "stats": {}, "output": None}


def toolbox(*names: str) -> list[dict[str, Any]]:
    """Traces that together call every named tool (what the feature proposer sees of the tools)."""
    return [trace_of([("user", "hi"), ("call", name, "ok", None)], f"t{i}") for i, name in enumerate(names)]


def expressions(criteria: str, tools: tuple[str, ...] = RETAIL_TOOLS, notes: tuple[str, ...] = ()) -> set[str]:
    return {f.expression() for f in criteria_features(criteria, list(notes), toolbox(*tools))}


# --- reading the criteria ------------------------------------------------------------------------

def test_only_after_names_the_later_and_the_earlier_tools_by_their_words():
    found = expressions("The agent may cancel or modify an order only after looking up the order details.")
    assert ('every_call_preceded_by(trace, ("cancel_pending_order", "modify_pending_order_items"), '
            '("get_order_details",))') in found
    assert not any(e.startswith('every_call_preceded_by(trace, ("get_order_details",)') for e in found)


def test_before_reverses_the_order_and_a_leading_clause_ends_at_its_comma():
    found = expressions("Before it exchanges, returns or cancels anything, the agent checks the order.")
    assert any(e.startswith('every_call_preceded_by(trace, ("cancel_pending_order", "exchange_delivered_order_items", '
                            '"return_delivered_order_items"), ("get_order_details",))') for e in found), found


def test_a_verb_that_names_no_tool_names_the_whole_write_family():
    found = expressions("Any change to an order needs the user's explicit yes first.")
    writes = '("cancel_pending_order", "exchange_delivered_order_items", "modify_pending_order_items", ' \
             '"return_delivered_order_items")'
    assert any(e.startswith(f"every_call_after_user_said(trace, {writes}, (\"yes\"") for e in found), found


def test_consent_right_after_proposes_the_latest_turn_and_the_turn_right_before():
    found = expressions("The agent cancels an order only right after the customer confirms.")
    cancel = [e for e in found if e.startswith('every_call_after_user_said(trace, ("cancel_pending_order",)')]
    assert any(e.endswith('"turn")') for e in cancel) and any(e.endswith('"call")') for e in cancel)


def test_errors_counts_answers_arguments_escalation_and_success_each_propose_their_kind():
    cases = {
        "When a call fails the agent retries it.": ("error_then_retry", "every_failure_retried"),
        "The agent calls calculate at most twice.": ("count_calls(trace, (\"calculate\",)) >= 0",),
        "The final answer states the total the calculator returned.": ("answer_states_result_of(trace, (\"calculate\",))",
                                                                         "answer_numbers_grounded"),
        "Order details use only values the user provided.": ("args_seen_before",),
        "The agent transfers to a human only when asked.": ("transferred_to_human", "every_call_after_user_said(trace, "
                                                            "(\"transfer_to_human_agents\",), (\"human\""),
        "Good when the task was completed.": ("transferred_to_human", "error_not_retried", "answer_says_any"),
    }
    for criteria, wanted in cases.items():
        found = " ".join(expressions(criteria))
        for piece in wanted:
            assert piece in found, (criteria, piece)


def test_the_subject_agent_names_no_tool_and_plain_text_names_no_rule_of_its_own():
    assert not any("transfer_to_human_agents" in e for e in expressions("The agent may cancel only after a lookup."))
    default = expressions("")  # no rule named: the default reading (task success), the same for any such text
    assert expressions("Be polite and friendly.") == default and "error_not_retried(trace)" in default
    assert not any(e.startswith(("every_call", "args_seen")) for e in default)


def test_notes_propose_features_like_the_criteria_with_their_own_evidence():
    features = criteria_features("", ["cancelled before checking the order"], toolbox(*RETAIL_TOOLS))
    assert features and all(f.evidence.startswith("notes") for f in features)
    assert any(f.helper == "every_call_preceded_by" for f in features)


def test_the_generator_reads_only_words_and_punctuation():
    assert tokens("Yes\u2028only\x00AFTER  'look-up', then…") == ["yes", "only", "after", "look", "up", ",", "then",
                                                                    ".", ".", "."]
    assert tokens("Café\u202econfirmé") == ["cafe", "confirme"]


@settings(max_examples=60, deadline=None)
@given(hostile_text)
def test_any_text_proposes_what_its_words_propose(text):
    traces = toolbox(*RETAIL_TOOLS)
    assert criteria_features(text, [text], traces) == criteria_features(canonical(text), [canonical(text)], traces)


# --- the new helpers ------------------------------------------------------------------------------

CANCEL = ("cancel_pending_order",)
LOOKUP = ("get_order_details",)


def test_every_call_preceded_by_needs_a_successful_earlier_call_and_holds_when_nothing_is_called():
    ok = trace_of([("call", "get_order_details", "{}", None), ("call", "cancel_pending_order", "ok", None)])
    failed_lookup = trace_of([("call", "get_order_details", None, "Error"), ("call", "cancel_pending_order", "ok", None)])
    late = trace_of([("call", "cancel_pending_order", "ok", None), ("call", "get_order_details", "{}", None)])
    assert HELPERS["every_call_preceded_by"](ok, CANCEL, LOOKUP)
    assert not HELPERS["every_call_preceded_by"](failed_lookup, CANCEL, LOOKUP)
    assert not HELPERS["every_call_preceded_by"](late, CANCEL, LOOKUP)
    assert HELPERS["every_call_preceded_by"](trace_of([("user", "hi")]), CANCEL, LOOKUP)
    between = trace_of([("call", "get_order_details", "{}", None), ("call", "think", "", None),
                        ("call", "cancel_pending_order", "ok", None)])
    assert HELPERS["every_call_preceded_by"](between, CANCEL, LOOKUP)
    assert not HELPERS["every_call_right_after"](between, CANCEL, LOOKUP)
    assert HELPERS["every_call_right_after"](ok, CANCEL, LOOKUP)


def test_every_call_after_user_said_looks_at_the_latest_turn_the_turn_right_before_or_any_turn():
    yes_then_call = trace_of([("user", "Yes, go ahead"), ("call", "cancel_pending_order", "ok", None)])
    yes_then_lookup = trace_of([("user", "yes please"), ("call", "get_order_details", "{}", None),
                                ("call", "cancel_pending_order", "ok", None)])
    yes_long_ago = trace_of([("user", "yes"), ("user", "what is the fee?"), ("call", "cancel_pending_order", "ok", None)])
    said = HELPERS["every_call_after_user_said"]
    assert said(yes_then_call, CANCEL, ("yes",), "turn") and said(yes_then_call, CANCEL, ("yes",), "call")
    assert said(yes_then_lookup, CANCEL, ("yes",), "turn") and not said(yes_then_lookup, CANCEL, ("yes",), "call")
    assert not said(yes_long_ago, CANCEL, ("yes",), "turn") and said(yes_long_ago, CANCEL, ("yes",), "trace")
    assert not said(trace_of([("user", "yesterday"), ("call", "cancel_pending_order", "ok", None)]), CANCEL, ("yes",))


def test_error_then_retry_and_every_failure_retried_tell_recovery_from_giving_up():
    recovered = trace_of([("call", "calculate", None, "Error"), ("call", "calculate", "3", None)])
    retried_in_vain = trace_of([("call", "calculate", None, "Error"), ("call", "calculate", None, "Error")])
    tools = ("calculate",)
    assert HELPERS["error_then_retry"](recovered, tools, True) and HELPERS["every_failure_retried"](recovered, tools)
    assert not HELPERS["error_then_retry"](retried_in_vain, tools, True)
    assert HELPERS["error_then_retry"](retried_in_vain, tools, False)
    assert not HELPERS["every_failure_retried"](retried_in_vain, tools)


def test_answer_helpers_compare_numbers_and_values_with_what_tools_returned():
    said = trace_of([("call", "calculate", "1250.0", None), ("assistant", "The total is $1,250.")])
    other = trace_of([("call", "calculate", "1250.0", None), ("assistant", "The total is $1,300.")])
    assert HELPERS["answer_states_result_of"](said, ("calculate",))
    assert not HELPERS["answer_states_result_of"](other, ("calculate",))
    assert HELPERS["answer_states_result_of"](other, ("get_order_details",))  # nothing to state
    assert HELPERS["answer_numbers_grounded"](said) and not HELPERS["answer_numbers_grounded"](other)
    assert HELPERS["answer_says_any"](said, ("total", "refund")) and not HELPERS["answer_says_any"](said, ("refund",))


def test_args_seen_before_tells_a_value_the_user_gave_from_an_invented_one():
    given = trace_of([("user", "my order is #W2611340"), ("call", "get_order_details", "{}", None,
                                                            {"order_id": "#W2611340"})])
    invented = trace_of([("user", "my order please"), ("call", "get_order_details", "{}", None,
                                                         {"order_id": "#W9999999"})])
    assert HELPERS["args_seen_before"](given, LOOKUP, "user")
    assert not HELPERS["args_seen_before"](invented, LOOKUP, "user")


# --- choosing with the criteria -------------------------------------------------------------------

def order_trace(i: int, good: bool, rng: random.Random) -> dict[str, Any]:
    """Good: the order was looked up before any cancel/modify. Bad: a write came first. Noise tools either way."""
    events: list[tuple[Any, ...]] = [("user", rng.choice(["hi", "hello there", "I need help with an order"]))]
    write = rng.choice(["cancel_pending_order", "modify_pending_order_items"])
    if rng.random() < 0.5:
        events.append(("call", "find_user_id_by_email", "user_1", None))
    if good:
        events += [("call", "get_order_details", '{"status": "pending"}', None), ("call", write, "ok", None)]
    else:
        events += [("call", write, "ok", None)]
        if rng.random() < 0.5:
            events.append(("call", "get_order_details", '{"status": "pending"}', None))
    events.append(("assistant", rng.choice(["Done.", "All set.", "Your order is updated."])))
    return trace_of(events, f"order-{i:03d}")


def rated(n: int, seed: int) -> list[LabeledTrace]:
    rng = random.Random(seed)
    return [LabeledTrace(trace=order_trace(i, i % 3 != 0, rng), rating="positive" if i % 3 != 0 else "negative")
            for i in range(n)]


def test_a_rule_the_criteria_name_is_chosen_with_its_evidence_and_generalizes():
    criteria = "The agent may cancel or modify an order only after it looked up the order details."
    request = GenerationRequest(eval_name="order_policy", criteria=criteria, examples=rated(12, 1), candidates=2)
    code = OfflineGenerator().generate(request).candidates[0].code
    assert "every_call_preceded_by(trace, (" in code
    assert '# Named by the criteria words "cancel", "modify"' in code
    check = load_eval(code)
    unseen = rated(60, 2)
    assert all(check(e.trace)[0] == (e.rating == "positive") for e in unseen)


def card(kind: str, correct: list[float]) -> Scorecard:
    return Scorecard([], 0, kind=kind, budget=1 if kind != "scorecard" else 4, cv_correct=tuple(correct),
                     cv_agreement=sum(correct) / len(correct))


def ruled(scorecard: Scorecard, evidence: str = "") -> Scorecard:
    """A stand-in rule on the card, named by ``evidence`` (empty: a condition no words name)."""
    named = SimpleNamespace(condition=SimpleNamespace(feature=SimpleNamespace(evidence=evidence)))
    scorecard.rules = [named]  # type: ignore[list-item]
    return scorecard


def test_the_criteria_rule_leads_only_until_another_model_is_significantly_better():
    named = ruled(card("criteria rule", [1.0] * 14 + [0.0] * 6), "criteria words \"cancel\"")
    single = ruled(card("single rule", [1.0] * 15 + [0.0] * 5))
    assert rank_models([single, named])[0] is named  # one more agreement is noise
    much_better = ruled(card("single rule", [1.0] * 20))
    assert rank_models([much_better, named])[0] is much_better  # six more, all on its side: significant


def test_a_rule_the_users_words_name_needs_stronger_evidence_than_the_default_reading():
    five_more = ruled(card("single rule", [1.0] * 19 + [0.0]))  # 5 wins, 0 losses: 1.645 < 5 / sqrt(5) < 2.326
    written = ruled(card("criteria rule", [1.0] * 14 + [0.0] * 6), "criteria words \"cancel\"")
    guessed = ruled(card("criteria rule", [1.0] * 14 + [0.0] * 6), NO_RULE_NAMED)
    assert rank_models([five_more, written])[0] is written
    assert rank_models([five_more, guessed])[0] is five_more


def test_a_criteria_rule_that_found_nothing_does_not_lead():
    empty = card("criteria rule", [1.0] * 20)
    single = ruled(card("single rule", [0.5] * 20))
    assert rank_models([empty, single])[0] is single


def test_a_candidate_the_sandbox_would_refuse_for_its_size_gives_way_to_the_next(monkeypatch):
    request = GenerationRequest(eval_name="order_policy", criteria="", examples=rated(12, 1), candidates=3)
    assert len(OfflineGenerator().generate(request).candidates) == 3
    monkeypatch.setattr(offline, "MAX_SOURCE_BYTES", 0)  # every module is "too large": only the last model is left
    got = OfflineGenerator().generate(request).candidates
    assert len(got) == 1


def test_feature_arguments_are_text_tuples_or_plain_constants():
    assert argument_source(("a\nb",)) == '("a\\nb",)'
    assert argument_source((True, None, 2.0)) == "(True, None, 2)"
    assert Feature("every_call_after_user_said", (("x",), ("yes",), "turn")).expression() == \
        'every_call_after_user_said(trace, ("x",), ("yes",), "turn")'
    with pytest.raises(TypeError):
        argument_source({"not": "allowed"})


# --- an agent whose verbs are not in the verb lists (IT helpdesk), objects, limits ---------------------------

HELPDESK_TOOLS = ("lookupEmployee", "verifyIdentity", "resetPassword", "unlockAccount", "getDeviceStatus",
                  "wipeDevice", "createTicket")
AIRLINE_TOOLS = ("get_user_details", "search_direct_flight", "book_reservation", "update_reservation_flights",
                 "update_reservation_baggages", "cancel_reservation", "calculate")


def by_expression(criteria: str, traces: list[dict[str, Any]]) -> dict[str, Feature]:
    return {f.expression(): f for f in criteria_features(criteria, [], traces)}


def test_the_verbs_a_sentence_lists_are_one_group_even_when_no_verb_list_knows_them():
    found = expressions("The agent may reset a password or unlock an account only after it has verified the "
                        "employee's identity.", HELPDESK_TOOLS)
    assert 'every_call_preceded_by(trace, ("resetPassword", "unlockAccount"), ("verifyIdentity",))' in found


def test_inflections_name_the_tool_wiping_and_verified():
    found = " ".join(expressions("Before wiping a device the agent must get the employee's explicit yes.",
                                 HELPDESK_TOOLS))
    assert 'every_call_after_user_said(trace, ("wipeDevice",), ("yes"' in found
    assert 'every_call_preceded_by(trace, ("resetPassword",), ("verifyIdentity",))' in expressions(
        "Passwords are reset only after the identity was verified.", HELPDESK_TOOLS)


def test_a_family_verb_narrowed_by_its_noun_is_listed_with_the_other_verbs_not_the_whole_family():
    features = by_expression("Before booking or changing flights, the agent calculates the total price.",
                             toolbox(*AIRLINE_TOOLS))
    exact = 'every_call_preceded_by(trace, ("book_reservation", "update_reservation_flights"), ("calculate",))'
    assert exact in features
    whole = [f for e, f in features.items() if e.startswith('every_call_preceded_by(trace, ("book_reservation", '
                                                            '"cancel_reservation"')]
    assert all(features[exact].complexity < f.complexity for f in whole)


def test_a_criterion_about_the_same_object_proposes_the_per_argument_order():
    traces = [trace_of([("call", "getDeviceStatus", "{}", None, {"device_id": "LT-1"}),
                        ("call", "wipeDevice", "ok", None, {"device_id": "LT-1"})])]
    found = expressions("A device may be wiped only after the agent checked the status of that same device.",
                        HELPDESK_TOOLS) | {f.expression() for f in criteria_features(
                            "A device may be wiped only after the agent checked the status of that same device.", [],
                            traces)}
    assert 'every_call_preceded_by_same(trace, ("wipeDevice",), ("getDeviceStatus",), "device_id")' in found


def test_at_most_and_at_least_a_number_propose_a_fixed_limit():
    for text, limit in (("The agent verifies the identity code at most two times.", 2),
                        ("The agent calls verifyIdentity no more than 3 times.", 3),
                        ("The agent tries to verify the identity at least twice.", 1)):
        assert f'at_most_calls(trace, ("verifyIdentity",), {limit})' in expressions(text, HELPDESK_TOOLS), text


def test_a_prior_call_whose_result_reports_failure_does_not_count():
    def verify(result: Any) -> dict[str, Any]:
        return trace_of([("call", "verifyIdentity", result, None), ("call", "resetPassword", "ok", None)])

    reset, verify_tools = ("resetPassword",), ("verifyIdentity",)
    assert not HELPERS["every_call_preceded_by"](verify({"verified": False}), reset, verify_tools)
    assert not HELPERS["every_call_preceded_by"](verify('{"status": "denied"}'), reset, verify_tools)
    assert HELPERS["every_call_preceded_by"](verify({"verified": True}), reset, verify_tools)
    assert HELPERS["every_call_preceded_by"](verify("not json {"), reset, verify_tools)


def test_every_call_preceded_by_same_matches_the_argument_value():
    def wipe_after(checked: str, wiped: str) -> dict[str, Any]:
        return trace_of([("call", "getDeviceStatus", "{}", None, {"device_id": checked}),
                         ("call", "wipeDevice", "ok", None, {"device_id": wiped})])

    same = HELPERS["every_call_preceded_by_same"]
    assert same(wipe_after("LT-1", "LT-1"), ("wipeDevice",), ("getDeviceStatus",), "device_id")
    assert not same(wipe_after("LT-2", "LT-1"), ("wipeDevice",), ("getDeviceStatus",), "device_id")
    assert same(trace_of([("user", "hi")]), ("wipeDevice",), ("getDeviceStatus",), "device_id")
    assert HELPERS["at_most_calls"](wipe_after("a", "b"), ("wipeDevice",), 1)
    assert not HELPERS["at_most_calls"](wipe_after("a", "b"), ("wipeDevice", "getDeviceStatus"), 1)


def test_getting_a_yes_is_asking_for_consent_not_a_get_tool():
    tools = ("get_user_details", "cancel_pending_order")
    found = expressions("Before cancelling an order the agent must get the customer's explicit yes.", tools)
    consent = [e for e in found if e.startswith("every_call_after_user_said")]
    assert consent and all("get_user_details" not in e for e in consent), consent
    assert 'every_call_preceded_by(trace, ("cancel_pending_order",), ("get_user_details",))' in expressions(
        "The agent may cancel only after it gets the user.", tools)


def test_never_x_before_y_means_x_only_after_y():
    cancel_after_lookup = 'every_call_preceded_by(trace, ("cancel_pending_order",), ("get_order_details",))'
    for text in ("The agent never cancels an order before looking up the order details.",
                 "Do not cancel an order before getting the order details.",
                 "Nothing gets cancelled before the agent has looked up the order details."):
        found = expressions(text)
        assert cancel_after_lookup in found, text
        assert not any(e.startswith('every_call_preceded_by(trace, ("get_order_details",)') for e in found), text


def test_a_list_of_namespaced_verbs_is_one_group_and_a_passive_get_names_no_tool():
    tools = ("patrons.lookup", "holds.place", "fines.charge", "loans.renew", "catalog.search")  # "renew": no verb list
    found = expressions("Nothing gets placed, charged or renewed before the agent has looked the patron up.", tools)
    assert ('every_call_preceded_by(trace, ("fines.charge", "holds.place", "loans.renew"), ("patrons.lookup",))'
            in found)
    assert not any("catalog.search" in e for e in found if e.startswith("every_call_preceded_by(trace, ("))
