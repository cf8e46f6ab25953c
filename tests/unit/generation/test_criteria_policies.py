"""Plain-words policies and task success the criteria propose beyond one order: namespaced tool names
("service.verb"), prerequisites joined by "and", limits per object, and whether the agent's actions went
through (a claim of success the tool calls do not back). A library's agent: no bench uses these tools."""

from __future__ import annotations

import json
import random

from chalicelib.generation.base import GenerationRequest, LabeledTrace
from chalicelib.generation.criteria import criteria_features
from chalicelib.generation.features import HELPERS
from chalicelib.generation.offline import OfflineGenerator, load_eval
from tests.unit.generation.test_criteria import toolbox, trace_of

LIBRARY_TOOLS = ("patrons.lookup", "fines.check_balance", "loans.renew", "holds.place", "catalog.search",
                 "staff.escalate")


def expressions(criteria: str, traces=None) -> set[str]:
    return {f.expression() for f in criteria_features(criteria, [], traces or toolbox(*LIBRARY_TOOLS))}


def _learned(name: str, criteria: str, data: list[tuple[dict, bool]], *, trained: int) -> tuple[str, bool]:
    """The code the offline generator writes from the first ``trained`` (trace, good) ratings, and whether it
    agrees with every other one (traces it never saw)."""
    request = GenerationRequest(eval_name=name, criteria=criteria, examples=[
        LabeledTrace(trace=t, rating="positive" if good else "negative") for t, good in data[:trained]])
    code = OfflineGenerator().generate(request).candidates[0].code
    check = load_eval(code)
    return code, all(check(t)[0] == good for t, good in data[trained:])


def test_tool_kind_finds_the_verb_after_a_namespace():
    kind = HELPERS["tool_kind"]
    assert [kind(n) for n in ("loans.renew", "holds.place", "catalog.search", "patrons.lookup")] == \
        ["other", "write", "read", "read"]
    assert kind("accounts.disable") == "write" and kind("get_user_details") == "read"
    assert kind("transfer_to_human_agents") == "other" and kind("calculate") == "other"


def test_every_call_preceded_by_all_needs_each_prerequisite_to_have_succeeded_first():
    check = HELPERS["every_call_preceded_by_all"]
    tools, priors = ("loans.renew",), (("patrons.lookup",), ("fines.check_balance",))
    lookup, fines = ("call", "patrons.lookup", "{}", None), ("call", "fines.check_balance", "{}", None)
    renew = ("call", "loans.renew", "ok", None)
    assert check(trace_of([lookup, fines, renew]), tools, priors)
    assert check(trace_of([fines, lookup, renew]), tools, priors)
    assert not check(trace_of([lookup, renew, fines]), tools, priors)
    assert not check(trace_of([("call", "patrons.lookup", None, "timeout"), fines, renew]), tools, priors)
    assert check(trace_of([lookup]), tools, priors)


def test_prerequisites_joined_by_and_propose_the_rule_that_needs_them_all():
    found = expressions("A loan may be renewed only after the patron was looked up and the fines checked.")
    assert ('every_call_preceded_by_all(trace, ("loans.renew",), (("patrons.lookup",), ("fines.check_balance",)))'
            in found)
    assert not any(e.startswith("every_call_preceded_by_all") for e in expressions(
        "A loan may be renewed only after the patron was looked up."))


def test_at_most_calls_per_counts_successful_calls_per_argument_value():
    check = HELPERS["at_most_calls_per"]

    def hold(book: str, error: str | None = None):
        return ("call", "holds.place", "ok", error, {"book_id": book})

    assert check(trace_of([hold("b1"), hold("b2")]), ("holds.place",), "book_id", 1)
    assert not check(trace_of([hold("b1"), hold("b1")]), ("holds.place",), "book_id", 1)
    assert check(trace_of([hold("b1", "timeout"), hold("b1")]), ("holds.place",), "book_id", 1)


def test_never_more_than_n_per_object_proposes_the_per_argument_limit():
    traces = [trace_of([("call", "holds.place", "ok", None, {"book_id": "b1", "patron_id": "p1"})]),
              *toolbox(*LIBRARY_TOOLS)]
    found = expressions("Never more than one hold per book.", traces)
    assert 'at_most_calls_per(trace, ("holds.place",), "book_id", 1)' in found
    assert not any("patron_id" in e for e in found if e.startswith("at_most_calls_per"))


def test_actions_succeeded_and_an_unbacked_claim_of_success():
    went, claims = HELPERS["actions_succeeded"], HELPERS["answer_claims_unbacked"]
    tools, done = ("holds.place",), ("all set",)
    ok = trace_of([("call", "holds.place", "ok", None), ("assistant", "You're all set.")])
    retried = trace_of([("call", "holds.place", None, "503"), ("call", "holds.place", "ok", None),
                        ("assistant", "You're all set.")])
    failed = trace_of([("call", "holds.place", "ok", None), ("call", "holds.place", None, "503"),
                       ("assistant", "You're all set.")])
    nothing = trace_of([("assistant", "You're all set.")])
    assert [went(t, tools) for t in (ok, retried, failed, nothing)] == [True, True, False, False]
    assert [claims(t, tools, done) for t in (ok, retried, failed, nothing)] == [False, False, True, True]
    refused = trace_of([("call", "holds.place", "{\"status\": \"rejected\"}", None)])
    assert not went(refused, tools)


def test_a_task_success_criterion_proposes_whether_the_actions_went_through():
    found = expressions("Good when the agent completed the patron's request.")
    assert 'actions_succeeded(trace, ("holds.place",))' in found
    assert any(e.startswith('answer_claims_unbacked(trace, ("holds.place",), (') for e in found)


def test_the_generator_learns_a_two_prerequisite_policy_from_its_words():
    rng = random.Random(3)

    def attempt(k: int) -> tuple[dict, bool]:
        steps, looked, checked = [("user", "Please renew my loan.")], False, False
        for name in rng.sample(["patrons.lookup", "fines.check_balance", "catalog.search"], k=rng.randint(0, 3)):
            steps.append(("call", name, "{}", None))
            looked, checked = looked or name == "patrons.lookup", checked or name == "fines.check_balance"
        steps += [("call", "loans.renew", "ok", None), ("assistant", "Renewed.")]
        return trace_of(steps, f"t{k}"), looked and checked

    code, held = _learned("renew_policy", "A loan may be renewed only after the patron was looked up and the fines "
                                          "checked.", [attempt(k) for k in range(60)], trained=24)
    assert "every_call_preceded_by_all" in code
    assert held


def test_success_signs_adds_the_signs_of_a_met_goal_and_subtracts_the_others():
    signs = HELPERS["success_signs"]
    tools, done, refusal = ("holds.place",), ("all set",), ("sorry",)
    went = trace_of([("call", "holds.place", "ok", None), ("assistant", "You're all set.")])
    claimed = trace_of([("call", "holds.place", None, "503"), ("assistant", "You're all set.")])
    handed = trace_of([("call", "staff.escalate", "ok", None), ("assistant", "Sorry, a human agent will help.")])
    assert [signs(t, tools, done, refusal) for t in (went, claimed, handed)] == [1, -2, -2]
    owed = ("call", "fines.check_balance", json.dumps({"clear": False, "balance": 12.5}), None)
    declined = trace_of([owed, ("assistant", "Sorry, you owe a fine, so I can't place the hold.")])
    apologized = trace_of([("call", "fines.check_balance", json.dumps({"clear": True}), None),
                           ("assistant", "Sorry, I can't place the hold.")])
    assert signs(declined, tools, done, refusal) == 0 and signs(apologized, tools, done, refusal) == -1
    assert HELPERS["result_said_no"](declined) and not HELPERS["result_said_no"](apologized)
    found = {f.expression(): f for f in criteria_features("Good when the patron's request was resolved.", [],
                                                          toolbox(*LIBRARY_TOOLS))}
    assert any(e.startswith('success_signs(trace, ("holds.place",), (') and f.threshold is not None
               for e, f in found.items())
    # the criteria name the sum and whether the actions went through; each sign alone is left to the ratings
    named = {f.helper for f in found.values() if f.evidence}
    assert named == {"success_signs", "actions_succeeded"}
    assert {"answer_says_any", "answer_claims_unbacked", "count_calls"} <= {f.helper for f in found.values()}
    both = criteria_features("Good when the request was resolved. The agent hands the patron to staff only when "
                             "they ask for a person.", [], toolbox(*LIBRARY_TOOLS))
    assert any(f.helper == "transferred_to_human" and f.evidence for f in both)  # named by the second sentence


def _fines(clear: bool | None, error: str | None = None):
    return ("call", "fines.check_balance", None if error else json.dumps({"balance": 0 if clear else 12.5,
                                                                         "clear": clear}), error)


def test_every_call_preceded_by_flag_needs_an_earlier_result_that_said_it_is_true():
    check = HELPERS["every_call_preceded_by_flag"]
    tools, priors = ("loans.renew",), ("fines.check_balance",)
    renew = ("call", "loans.renew", "ok", None)
    assert check(trace_of([_fines(True), renew]), tools, priors, "clear")
    assert not check(trace_of([_fines(False), renew]), tools, priors, "clear")
    assert not check(trace_of([renew, _fines(True)]), tools, priors, "clear")
    assert not check(trace_of([_fines(True, error="timeout"), renew]), tools, priors, "clear")
    assert not check(trace_of([("call", "fines.check_balance", '{"clear": "yes"}', None), renew]), tools, priors,
                     "clear")  # only a true value, not text that reads like one
    assert check(trace_of([_fines(False)]), tools, priors, "clear")


def test_only_when_a_check_said_a_yes_no_field_proposes_the_flag_rule_from_the_fields_seen():
    traces = [trace_of([_fines(True), ("call", "loans.renew", "ok", None)]), *toolbox(*LIBRARY_TOOLS)]
    rule = 'every_call_preceded_by_flag(trace, ("loans.renew",), ("fines.check_balance",), "clear")'
    for criteria in ("A loan may be renewed only when the fines check said the account is clear.",
                     "Renew a loan only if the fines check says the patron is clear.",
                     "Loans are renewed only after the fines check found the account clear."):
        assert rule in expressions(criteria, traces), criteria
    assert rule not in expressions("A loan may be renewed only after the fines were checked.", traces)
    assert not any("preceded_by_flag" in e for e in expressions(
        "A loan may be renewed only when the fines check said the account is clear."))  # no result had the field


def test_a_flag_policy_in_plain_words_is_learned_and_holds_on_traces_it_never_saw():
    rng = random.Random(7)

    def attempt(k: int):
        steps, said = [("user", "Please renew my loan.")], False
        if rng.random() < 0.8:
            clear = rng.random() < 0.6
            steps.append(_fines(clear))
            said = clear
        if rng.random() < 0.3:
            steps.append(("call", "patrons.lookup", "{}", None))
        steps += [("call", "loans.renew", "ok", None), ("assistant", "Renewed.")]
        return trace_of(steps, f"t{k}"), said

    code, held = _learned("renew_if_clear", "A loan may be renewed only when the fines check said the account is "
                                            "clear.", [attempt(k) for k in range(60)], trained=20)
    assert "every_call_preceded_by_flag" in code
    assert held


def test_a_criterion_that_names_no_rule_is_read_as_task_success_with_that_evidence():
    for criteria in ("Good when the patron's request was actually taken care of.", "Was the librarian bot helpful?",
                     ""):
        found = {f.expression(): f for f in criteria_features(criteria, [], toolbox(*LIBRARY_TOOLS))}
        assert 'actions_succeeded(trace, ("holds.place",))' in found, criteria
    default = {f.evidence for f in criteria_features("Was the librarian bot helpful?", [], toolbox(*LIBRARY_TOOLS))}
    assert len(default - {""}) == 1 and (default - {""}).pop().startswith("default reading (the criteria and notes")
    assert not any(e.startswith("actions_succeeded") for e in expressions(
        "A loan may be renewed only after the patron was looked up."))  # a named rule: no default reading


def test_a_phrase_right_after_a_negation_is_not_said():
    said = HELPERS["has_phrase"]
    assert said("Sure, renew it.", "sure") and not said("not sure yet", "sure")
    assert not said("please don't go ahead", "go ahead") and said("no, go ahead", "go ahead")
    assert said("I'm not able to renew it", "not able") and not said("it is not completed", "completed")
    assert said("not sure... ok, sure", "sure")  # a later plain occurrence still counts


def test_consent_words_choose_which_reading_of_yes_is_tried_first():
    def first(criteria: str) -> tuple[str, ...]:
        found = [f for f in criteria_features(criteria, [], toolbox(*LIBRARY_TOOLS))
                 if f.helper == "every_call_after_user_said" and f.args[2] == "turn"]
        return min(found, key=lambda f: f.complexity).args[1]

    assert "sure" in first("A hold may be placed only after the patron agreed to it.")
    assert "sure" not in first("A hold may be placed only after the patron explicitly says yes.")


def _renewal(k: int, rng: random.Random) -> tuple[dict, bool]:
    """A renewal for the patron id the lookup returned (good), or for an id it never returned (bad)."""
    found = f"P-{rng.randint(1000, 9999)}"
    steps = [("user", "Renew my loan please, my card is 55-1."),
             ("call", "patrons.lookup", json.dumps({"patron_id": found, "name": "Ada"}), None, {"card": "55-1"})]
    good = rng.random() < 0.7
    renew_for = found if good else f"P-{rng.randint(1000, 9999)}"
    if rng.random() < 0.5:
        steps.append(("call", "fines.check_balance", json.dumps({"clear": True}), None, {"patron_id": renew_for}))
    steps += [("call", "loans.renew", "ok", None, {"patron_id": renew_for}), ("assistant", "Renewed.")]
    return trace_of(steps, f"t{k}"), good


def test_argument_from_result_needs_every_value_returned_by_an_earlier_successful_source_call():
    check, rng = HELPERS["argument_from_result"], random.Random(1)
    good, bad = _renewal(0, random.Random(2))[0], None
    while bad is None:
        trace, ok = _renewal(1, rng)
        bad = None if ok else trace
    assert check(good, "patron_id", ("patrons.lookup",)) and not check(bad, "patron_id", ("patrons.lookup",))
    late = trace_of([("call", "loans.renew", "ok", None, {"patron_id": "P-1"}),
                     ("call", "patrons.lookup", '{"patron_id": "P-1"}', None)])
    failed = trace_of([("call", "patrons.lookup", '{"patron_id": "P-1"}', "timeout"),
                       ("call", "loans.renew", "ok", None, {"patron_id": "P-1"})])
    assert not check(late, "patron_id", ("patrons.lookup",)) and not check(failed, "patron_id", ("patrons.lookup",))
    assert check(trace_of([("user", "hi")]), "patron_id", ("patrons.lookup",))


def test_an_argument_the_lookup_must_have_returned_is_proposed_and_learned_from_its_words():
    rng = random.Random(5)
    data = [_renewal(k, rng) for k in range(60)]
    criteria = "The agent only acts on the patron id the lookup returned, never a made-up one."
    assert 'argument_from_result(trace, "patron_id", ("patrons.lookup",))' in expressions(
        criteria, [t for t, _ in data[:20]])
    code, held = _learned("patron_from_lookup", criteria, data, trained=20)
    assert "argument_from_result" in code and held


def _loan(k: int, rng: random.Random, *, looked_up: bool) -> dict:
    steps = [("user", rng.choice(["Renew my loan please.", "Can I keep the book longer?", "Extend my loan."]))]
    if looked_up:
        steps.append(("call", "patrons.lookup", json.dumps({"patron_id": f"P-{k}"}), None, {"card": f"C-{k}"}))
    if rng.random() < 0.5:
        steps.append(("call", "fines.check_balance", json.dumps({"clear": True}), None, {"patron_id": f"P-{k}"}))
    steps += [("call", "loans.renew", "ok", None, {"patron_id": f"P-{k}"}),
              ("assistant", rng.choice(["Renewed.", "Done, enjoy the book!", "Your loan is extended by two weeks."]))]
    return trace_of(steps, f"t{k}")


def test_a_stated_rule_no_rated_trace_breaks_is_still_written_when_nothing_separates_the_ratings():
    """Rare violations: the 20 ratings hold none (their three bad ratings are rater noise), so the stated rule
    holds on every rated trace. It is written, and catches the violations among traces never rated."""
    rng = random.Random(3)
    rated = [(_loan(k, rng, looked_up=True), k % 7 != 3) for k in range(20)]
    unseen = [(_loan(k, rng, looked_up=k % 2 == 0), k % 2 == 0) for k in range(20, 60)]
    code, held = _learned("renew_after_lookup", "A loan may be renewed only after the patron was looked up.",
                          rated + unseen, trained=20)
    assert 'every_call_preceded_by(trace, ("loans.renew",), ("patrons.lookup",))' in code
    assert "the ratings cannot tell it from passing every trace; the criteria state it" in code
    assert held


def test_a_claim_the_criteria_forbid_is_the_rule_even_when_no_rated_reply_makes_it():
    """"Never say X unless ...": the claim reading fails a trace when it holds. No rated reply makes the claim
    (the bad ratings are rater noise), so the rule is written from the words, with that sign."""
    rng = random.Random(4)

    def hold(k: int, went: bool, reply: str) -> dict:
        steps = [("user", "Place a hold on Dune for me."),
                 ("call", "holds.place", "ok" if went else None, None if went else "503", {"book_id": f"b{k}"})]
        return trace_of([*steps, ("assistant", reply)], f"t{k}")

    replies = ["The hold is placed.", "Your hold is in, we'll email you.", "Sorry, holds are down right now."]
    rated = [(hold(k, k % 4 != 0, rng.choice(replies)), k % 9 != 4) for k in range(20)]
    code, _ = _learned("no_false_all_set", "Never tell the patron it's all set unless the hold went through.",
                       rated, trained=20)
    assert '("all set",)' in code and "score -= 1" in code
    assert "the ratings cannot tell it from passing every trace; the criteria state it" in code
    check = load_eval(code)
    unbacked = [hold(k, False, "You're all set!") for k in range(20, 30)]
    plain = [hold(k, k % 2 == 0, rng.choice(replies)) for k in range(30, 50)]
    assert not any(check(t)[0] for t in unbacked) and all(check(t)[0] for t in plain)


def _payment(k: int, rng: random.Random) -> tuple[dict, bool]:
    """A patron pays a fine: the check returns the balance; good when the payment is for that balance."""
    balance = round(rng.uniform(1, 40), 2)
    paid = balance if k % 3 else round(balance / 2, 2)
    steps = [("user", f"I want to pay my fine, patron P-{k}."),
             ("call", "fines.check_balance", json.dumps({"patron_id": f"P-{k}", "balance": balance}), None,
              {"patron_id": f"P-{k}"}),
             ("call", "fines.pay", json.dumps({"receipt": f"R-{k}"}), None, {"patron_id": f"P-{k}", "amount": paid}),
             ("assistant", "Paid, thank you.")]
    return trace_of(steps, f"t{k}"), paid == balance


def test_argument_matches_field_compares_an_argument_with_a_field_an_earlier_call_returned():
    check = HELPERS["argument_matches_field"]
    args = (("fines.pay",), "amount", ("fines.check_balance",), "balance")
    check_12 = ("call", "fines.check_balance", '{"balance": 12.5}', None)
    assert check(trace_of([check_12, ("call", "fines.pay", "{}", None, {"amount": "12.50"})]), *args)
    assert not check(trace_of([check_12, ("call", "fines.pay", "{}", None, {"amount": 6.25})]), *args)
    assert not check(trace_of([("call", "fines.pay", "{}", None, {"amount": 12.5}), check_12]), *args)  # too late
    assert check(trace_of([check_12, ("call", "fines.pay", None, "503", {"amount": 1})]), *args)  # did not go through


def test_a_result_field_the_criteria_name_is_matched_to_the_arguments_of_the_tools_they_name():
    rng = random.Random(8)
    data = [_payment(k, rng) for k in range(60)]
    criteria = "Every fine payment must be for the full balance the check returned."
    assert ('argument_matches_field(trace, ("fines.pay",), "amount", ("fines.check_balance",), "balance")'
            in expressions(criteria, [t for t, _ in data[:20]]))
    code, held = _learned("full_balance", criteria, data, trained=20)
    assert "argument_matches_field" in code and held


def _call(name: str, error: str | None = None, **arguments) -> tuple:
    return ("call", name, None if error else "{}", error, arguments)


def test_called_after_failures_wants_the_tools_once_a_tool_failed_that_many_times():
    check, escalate = HELPERS["called_after_failures"], ("staff.escalate",)
    twice = [_call("loans.renew", "503"), _call("loans.renew", "503")]
    assert not check(trace_of(twice), escalate, 2)
    assert check(trace_of([*twice, _call("staff.escalate")]), escalate, 2)
    assert not check(trace_of([_call("staff.escalate"), *twice]), escalate, 2)  # too early
    mixed = [_call("loans.renew", "503"), _call("holds.place", "503")]
    assert check(trace_of(mixed), escalate, 2) and not check(trace_of(mixed), escalate, 2, False)
    found = expressions("After two failed attempts at the same action, the librarian bot escalates to staff.")
    assert 'called_after_failures(trace, ("staff.escalate",), 2, True)' in found
    assert 'called_after_failures(trace, ("staff.escalate",), 2, False)' not in found  # "the same action"
    assert 'called_after_failures(trace, ("staff.escalate",), 3, False)' in expressions(
        "Escalate to staff after the third error.")


def test_after_y_the_agent_must_x_proposes_that_every_y_is_followed_by_x():
    check = HELPERS["every_call_followed_by"]
    renew, hold = ("loans.renew",), ("holds.place",)
    assert check(trace_of([_call("loans.renew"), _call("catalog.search"), _call("holds.place")]), renew, hold)
    assert not check(trace_of([_call("holds.place"), _call("loans.renew")]), renew, hold)
    assert check(trace_of([_call("loans.renew", "503")]), renew, hold)  # a renewal that failed obliges nothing
    rule = 'every_call_followed_by(trace, ("loans.renew",), ("holds.place",))'
    assert rule in expressions("After renewing a loan, the agent must always place a hold.")
    assert rule not in expressions("The agent may place a hold only after renewing a loan.")


def test_on_a_tie_the_reading_the_text_names_is_tried_first():
    def simplest(criteria: str, traces=None) -> str:
        found = criteria_features(criteria, [], traces or toolbox(*LIBRARY_TOOLS))
        return min(found, key=lambda f: f.complexity).helper

    assert simplest("A loan may be renewed only after the patron was looked up and the fines checked.") == \
        "every_call_preceded_by_all"
    traces = [trace_of([_call("patrons.lookup", patron_id="P-1"), _call("loans.renew", patron_id="P-1"),
                        _call("holds.place", patron_id="P-1")])]
    assert simplest("A loan may be renewed only after the lookup of that same patron.", traces) == \
        "every_call_preceded_by_same"
    assert simplest("Never more than one hold per patron.", traces) == "at_most_calls_per"
    assert simplest("Never more than one hold.", traces) == "at_most_calls"


def test_a_stated_rule_that_ties_passing_everything_is_written():
    def renewal(k: int, looked: bool) -> dict:
        steps = [("user", "Renew my loan.")] + ([_call("patrons.lookup")] if looked else [])
        return trace_of([*steps, _call("loans.renew"), ("assistant", "Renewed.")], f"t{k}")

    criteria = "A loan may be renewed only after the patron was looked up."
    # 16 good (two of them without a lookup: raters' slips), 4 bad (two without a lookup): the rule gets 16 of 20
    # right, as many as passing everything
    data = [(renewal(k, k >= 2), True) for k in range(16)] + [(renewal(16 + k, k >= 2), False) for k in range(4)]
    code, _ = _learned("renew_policy", criteria, data, trained=20)
    assert "if every_call_preceded_by(trace, (\"loans.renew\",), (\"patrons.lookup\",)):" in code
    assert "the ratings cannot tell it from passing every trace; the criteria state it" in code
    # when it holds on every rated trace: test_a_stated_rule_no_rated_trace_breaks_is_still_written_...


def test_once_before_a_clause_is_an_order_and_after_only_a_count():
    order = 'every_call_preceded_by(trace, ("loans.renew",), ("fines.check_balance",))'
    found = expressions("A loan may be renewed only once the fines were checked.")
    assert order in found
    assert not any(e.startswith(("at_most_calls(", "count_calls(")) for e in found)
    counted = expressions("A loan may be renewed only once.")
    assert 'at_most_calls(trace, ("loans.renew",), 1)' in counted and order not in counted
    assert 'at_most_calls(trace, ("loans.renew",), 1)' in expressions("Renew a loan only once per visit.")


def test_on_a_tie_the_prerequisite_more_words_name_is_the_rule():
    """"only once the patron's card was validated": "card" and "validated" both name cards.validate, "patron's"
    names only patrons.lookup; in the ratings the two always come together, so only the words can decide."""
    rng = random.Random(11)

    def attempt(k: int, split: bool) -> tuple[dict, bool]:
        steps, valid = [("user", "Please renew my loan.")], rng.random() < 0.6
        if split:  # unrated traces: the patron is looked up without a card check, or the other way round
            first = rng.choice([["patrons.lookup"], ["cards.validate"]]) if valid else [[], ["patrons.lookup"]][k % 2]
        else:
            first = ["patrons.lookup", "cards.validate"] if valid else []
        steps += [("call", name, "{}", None) for name in first]
        steps += [("call", "loans.renew", "ok", None), ("assistant", "Renewed.")]
        return trace_of(steps, f"t{k}"), "cards.validate" in first

    data = [attempt(k, False) for k in range(20)] + [attempt(k, True) for k in range(20, 60)]
    code, held = _learned("renew_after_card", "A loan may be renewed only once the patron's card was validated.",
                          data, trained=20)
    assert 'every_call_preceded_by(trace, ("loans.renew",), ("cards.validate",))' in code
    assert held


def test_a_claim_the_criteria_quote_is_checked_against_the_actions():
    claims = HELPERS["answer_claims_none_done"]
    tools = ("holds.place", "loans.renew")
    failed_one = trace_of([("call", "holds.place", "ok", None), ("call", "loans.renew", None, "503"),
                           ("assistant", "It's all renewed.")])
    nothing = trace_of([("call", "loans.renew", None, "503"), ("assistant", "It's all renewed.")])
    honest = trace_of([("call", "loans.renew", None, "503"), ("assistant", "The renewal did not go through.")])
    assert [claims(t, tools, ("all renewed",)) for t in (failed_one, nothing, honest)] == [False, True, False]
    for criteria, phrase in (("Never tell the patron it's all renewed unless a renewal went through.", "all renewed"),
                             ("The bot must not say that everything is taken care of when nothing worked.",
                              "taken care of")):
        found = expressions(criteria)
        assert f'answer_says_any(trace, ("{phrase}",))' in found, criteria
        assert any(e.startswith("answer_claims_none_done(") and f'("{phrase}",)' in e for e in found), criteria


def test_a_business_word_names_the_tools_its_synonyms_name_when_it_names_none_itself():
    tools = ("get_account_details", "search_catalog", "renew_loan", "transfer_to_librarian")
    found = {f.expression() for f in criteria_features(
        "The agent may transfer the patron to a librarian only after it has looked up their profile.", [],
        toolbox(*tools))}
    assert 'every_call_preceded_by(trace, ("transfer_to_librarian",), ("get_account_details",))' in found
    direct = {f.expression() for f in criteria_features("Renew only after looking up the profile.", [],
                                                        toolbox("get_profile", "get_account_details", "renew_loan"))}
    assert 'every_call_preceded_by(trace, ("renew_loan",), ("get_profile",))' in direct
    assert not any('("get_account_details",)' in e for e in direct if e.startswith("every_call_preceded_by("))


def test_unless_until_and_a_negated_without_read_as_only_after():
    rule = 'every_call_preceded_by(trace, ("loans.renew",), ("fines.check_balance",))'
    for criteria in ("No loan is renewed unless the fines were checked.",
                     "Don't renew a loan until the fines have been checked.",
                     "Never renew a loan without checking the fines first.",
                     "Never renew a loan without a fines check."):
        found = expressions(criteria)
        assert rule in found, criteria
        assert not any(e.startswith(("count_calls(", "at_most_calls(")) for e in found), criteria
    assert rule not in expressions("The agent renews loans without delay.")  # no negation: no condition


def test_only_splits_what_waits_from_what_it_waits_for_when_no_order_word_does():
    traces = [trace_of([_fines(True), ("call", "loans.renew", "ok", None)]), *toolbox(*LIBRARY_TOOLS)]
    assert 'every_call_preceded_by(trace, ("loans.renew",), ("fines.check_balance",))' in expressions(
        "Loans are only renewed for patrons whose fines were checked.", traces)
    assert 'every_call_preceded_by_flag(trace, ("loans.renew",), ("fines.check_balance",), "clear")' in expressions(
        "Only renew loans the fines check found clear.", traces)
    assert not any(e.startswith("every_call_preceded_by(") for e in expressions("Only the librarian renews loans."))
    for ending in ("Only.", "The agent acts only"):  # an "only" with nothing after it reads as no rule
        assert not any(e.startswith("every_call_preceded_by(") for e in expressions(ending))
    # a participle after an opening "only" names whom it applies to: the verb after it waits, not the participle
    found = expressions("Only verified patrons get their loans renewed.", toolbox("patrons.verify", "loans.renew"))
    assert 'every_call_preceded_by(trace, ("loans.renew",), ("patrons.verify",))' in found
    assert not any(e.startswith('every_call_preceded_by(trace, ("patrons.verify",)') for e in found)


def test_a_leading_clause_ends_at_a_comma_before_a_command():
    found = expressions("Before renewing a loan, look up the patron and check the fines.")
    assert 'every_call_preceded_by_all(trace, ("loans.renew",), (("patrons.lookup",), ("fines.check_balance",)))' \
        in found
    listed = expressions("Before renewing, placing or cancelling anything, look up the patron.")
    assert any(e.startswith('every_call_preceded_by(trace, ("holds.place", "loans.renew"') for e in listed)
    nouns = expressions("Look up the patron before any renewal, hold or search.")  # a list of nouns, not a clause
    assert 'every_call_preceded_by(trace, ("catalog.search", "holds.place", "loans.renew"), ("patrons.lookup",))' \
        in nouns


def test_an_object_named_then_referred_to_prefers_the_same_object_reading():
    hold = ("call", "holds.place", "ok", None, {"book_id": "b1"})
    search = ("call", "catalog.search", "ok", None, {"book_id": "b1"})
    traces = [trace_of([search, hold]), *toolbox(*LIBRARY_TOOLS)]
    same = 'every_call_preceded_by_same(trace, ("holds.place",), ("catalog.search",), "book_id")'
    plain = 'every_call_preceded_by(trace, ("holds.place",), ("catalog.search",))'
    ranks = {f.expression(): f.complexity for f in criteria_features(
        "Search the catalog for a book before placing a hold on it.", [], traces)}
    assert ranks[same] < ranks[plain]
    ranks = {f.expression(): f.complexity for f in criteria_features(
        "Search the catalog for the book before placing a hold.", [], traces)}
    assert ranks[same] > ranks[plain]  # no reference back to the book: the plain order first


def test_a_namespace_is_a_noun_unless_the_text_makes_a_verb_of_it():
    tools = (*LIBRARY_TOOLS, "loans.lookup", "emails.send")
    ranks = {f.expression(): f.complexity for f in criteria_features(
        "Never renew a loan without the patron's agreement.", [], toolbox(*tools))}
    alone = [r for e, r in ranks.items() if e.startswith('every_call_after_user_said(trace, ("loans.renew",), (')]
    both = [r for e, r in ranks.items()
            if e.startswith('every_call_after_user_said(trace, ("loans.lookup", "loans.renew"), (')]
    assert alone and min(alone) < min(both or [99])  # "a loan" is what is renewed, not a second action
    assert 'every_call_preceded_by(trace, ("emails.send", "loans.renew"), ("patrons.lookup",))' in {
        f.expression() for f in criteria_features("Nothing gets emailed or renewed before the patron was looked up.",
                                                  [], toolbox(*tools))}


def test_a_possessive_names_what_the_noun_belongs_to_not_what_must_come_first():
    ranks = {f.expression(): f.complexity for f in criteria_features(
        "A loan may be renewed only after the patron's card.", [], toolbox(*LIBRARY_TOOLS, "cards.validate"))}
    card = ranks['every_call_preceded_by(trace, ("loans.renew",), ("cards.validate",))']
    assert card < ranks['every_call_preceded_by(trace, ("loans.renew",), ("patrons.lookup",))']


def test_limits_said_after_the_number_by_only_or_per_any_given_object():
    def limits(text: str) -> set[str]:
        return {e for e in expressions(text) if e.startswith("at_most_calls")}

    assert 'at_most_calls(trace, ("catalog.search",), 2)' in limits("Two catalog searches at most.")
    assert 'at_most_calls(trace, ("catalog.search",), 1)' in limits("The catalog must not be searched twice.")
    traces = [trace_of([("call", "holds.place", "ok", None, {"book_id": "b1"})]), *toolbox(*LIBRARY_TOOLS)]
    found = {f.expression(): f.complexity for f in criteria_features("Only one hold for any given book.", [], traces)}
    assert found['at_most_calls_per(trace, ("holds.place",), "book_id", 1)'] < found[
        'at_most_calls(trace, ("holds.place",), 1)']
    assert not limits("A loan may be renewed only once the fines were checked.")  # "only once" + clause: an order
    ranks = {f.expression(): f.complexity for f in criteria_features("Two patron reads at most.", [],
                                                                     toolbox(*LIBRARY_TOOLS))}
    assert ranks['at_most_calls(trace, ("patrons.lookup",), 2)'] < ranks[
        'at_most_calls(trace, ("catalog.search", "fines.check_balance", "patrons.lookup"), 2)']  # not the family


def test_telling_the_user_at_the_end_is_about_the_final_reply():
    found = expressions("When placing a hold, tell the patron its number at the end.")
    assert any(e.startswith('answer_repeats_value_of(trace, ("holds.place",))') for e in found)


def test_an_item_listed_with_actions_is_an_action_too():
    tools = (*LIBRARY_TOOLS, "receipts.print")
    found = {f.expression() for f in criteria_features(
        "No renewal, hold or receipt until the patron has been looked up.", [], toolbox(*tools))}
    assert 'every_call_preceded_by(trace, ("holds.place", "loans.renew", "receipts.print"), ("patrons.lookup",))' \
        in found
    noun = {f.expression() for f in criteria_features("No renewal or catalog update until the patron was looked up.",
                                                      [], toolbox(*LIBRARY_TOOLS, "catalog.update"))}
    assert 'every_call_preceded_by(trace, ("catalog.update", "loans.renew"), ("patrons.lookup",))' in noun
    assert not any('"catalog.search", "catalog.update", "loans.renew"' in e for e in noun)  # "catalog" modifies


def _simplest(criteria: str, helper: str, traces=None) -> str:
    """The expression of the helper's reading the text names most exactly (its lowest complexity)."""
    found = [f for f in criteria_features(criteria, [], traces or toolbox(*LIBRARY_TOOLS)) if f.helper == helper]
    return min(found, key=lambda f: f.complexity).expression() if found else ""


def test_a_follow_up_makes_what_comes_after_due_and_is_its_first_reading():
    rule = 'every_call_followed_by(trace, ("loans.renew",), ("holds.place",))'
    for criteria in ("Whenever the agent renews a loan, it must place a hold afterwards.",
                     "Every loan renewal has to be followed by a hold.",
                     "Once a loan is renewed, the agent has to place a hold."):
        assert rule in expressions(criteria), criteria
    found = criteria_features("Whenever the agent renews a loan, it must place a hold afterwards.", [],
                              toolbox(*LIBRARY_TOOLS))
    assert min((f for f in found if f.helper.startswith("every_call_")), key=lambda f: f.complexity).expression() \
        == rule  # the follow-up's own reading before "every hold came after a renewal"
    # a list of acts: all of them make the hold due, before any one alone
    assert _simplest("Whenever the agent renews a loan or escalates to staff, it must place a hold afterwards.",
                     "every_call_followed_by") == \
        'every_call_followed_by(trace, ("loans.renew", "staff.escalate"), ("holds.place",))'
    assert not any(e.startswith("every_call_followed_by") for e in expressions(
        "Loans are renewed; holds are placed afterwards."))  # no clause of the sentence holds both
    # "after every X": each X makes the other due, and a list of nouns after it is one list
    assert _simplest("A hold has to be placed after every loan renewal, staff escalation or catalog search.",
                     "every_call_followed_by") == \
        'every_call_followed_by(trace, ("catalog.search", "loans.renew", "staff.escalate"), ("holds.place",))'


def _status(patron: str, status: str | None, error: str | None = None) -> tuple:
    return ("call", "patrons.lookup", None if error else json.dumps({"patron_id": patron, "status": status}),
            error, {"patron_id": patron})


def test_every_call_when_field_reads_the_latest_result_and_what_was_never_looked_up():
    check = HELPERS["every_call_when_field"]
    renew = _call("loans.renew", patron_id="P-1")
    tools, sources = ("loans.renew",), ("patrons.lookup",)
    only_active = (tools, sources, "status", ("active",), True, None, False)
    assert check(trace_of([_status("P-1", "active"), renew]), *only_active)
    assert not check(trace_of([_status("P-1", "Suspended"), renew]), *only_active)
    assert not check(trace_of([renew, _status("P-1", "active")]), *only_active)  # looked up too late
    assert not check(trace_of([_status("P-1", "active", error="timeout"), renew]), *only_active)
    assert check(trace_of([_status("P-1", "suspended")]), *only_active)  # nothing renewed
    never_suspended = (tools, sources, "status", ("suspended",), False, None, True)
    assert check(trace_of([renew]), *never_suspended)  # never looked up: not known to be suspended
    assert not check(trace_of([_status("P-1", "suspended"), renew]), *never_suspended)
    assert check(trace_of([_status("P-1", "suspended"), _status("P-1", "active"), renew]), *never_suspended)
    # per patron: P-1 is active even though the latest lookup (of P-2) said suspended
    two = trace_of([_status("P-1", "active"), _status("P-2", "suspended"), renew])
    assert check(two, tools, sources, "status", ("suspended",), False, "patron_id", True)
    assert not check(two, tools, sources, "status", ("suspended",), False, None, True)


def test_a_result_text_the_criteria_name_makes_the_act_wait_for_it():
    traces = [trace_of([_status("P-1", status), _call("loans.renew", patron_id="P-1")], status)
              for status in ("active", "suspended", "expired")]
    assert _simplest("Never renew a loan for a patron the lookup shows as suspended.", "every_call_when_field",
                     traces) == 'every_call_when_field(trace, ("loans.renew",), ("patrons.lookup",), "status", ' \
                                '("suspended",), False, "patron_id", True)'
    assert _simplest("Loans may only be renewed when the patron's status is active.", "every_call_when_field",
                     traces) == 'every_call_when_field(trace, ("loans.renew",), ("patrons.lookup",), "status", ' \
                                '("active",), True, "patron_id", False)'
    # a field that never varied in the training traces is not a category the text can name
    assert not _simplest("Never renew a loan for a suspended patron.", "every_call_when_field", traces[1:2])


def test_a_policy_on_a_result_text_is_learned_and_holds_on_traces_it_never_saw():
    rng = random.Random(11)

    def attempt(k: int):
        status = rng.choice(("active", "active", "suspended", "expired"))
        steps = [("user", "Please renew my loan.")]
        if rng.random() < 0.85:
            steps.append(_status(f"P-{k}", status))
        if rng.random() < 0.3:
            steps.append(_call("catalog.search"))
        renewed = rng.random() < 0.8
        steps += [_call("loans.renew", patron_id=f"P-{k}")] if renewed else []
        good = not (renewed and status == "suspended" and len(steps) > 1 and steps[1][1] == "patrons.lookup")
        return trace_of([*steps, ("assistant", "Done.")], f"t{k}"), good

    data = [attempt(k) for k in range(80)]
    code, held = _learned("no_suspended", "Never renew a loan for a patron the lookup shows as suspended.", data,
                          trained=20)
    assert "every_call_when_field" in code
    assert held


def test_an_opening_only_with_a_relative_clause_names_the_condition_and_what_waits_after_its_verb():
    found = expressions("Only patrons whose fines were checked can have their loans renewed.")
    assert 'every_call_preceded_by(trace, ("loans.renew",), ("fines.check_balance",))' in found
    assert not any(e.startswith('every_call_preceded_by(trace, ("patrons.lookup",)') for e in found)
    found = expressions("Only patrons that were looked up may get a hold placed.")
    assert 'every_call_preceded_by(trace, ("holds.place",), ("patrons.lookup",))' in found


def test_every_argument_within_bounds_a_number_argument_and_judges_only_calls_that_give_one():
    check = HELPERS["every_argument_within"]
    fee = ("fines.check_balance",)
    assert check(trace_of([_call("fines.check_balance", amount=20), _call("loans.renew", amount=500)]), fee,
                 "amount", 20.0, True)
    assert not check(trace_of([_call("fines.check_balance", amount="$20.50")]), fee, "amount", 20.0, True)
    assert not check(trace_of([_call("fines.check_balance", "503", amount=25)]), fee, "amount", 20.0, True)  # tried
    assert check(trace_of([_call("fines.check_balance", amount="all"), _call("fines.check_balance")]), fee, "amount",
                 20.0, True)
    assert not check(trace_of([_call("fines.check_balance", amount=2)]), fee, "amount", 3.0, False)


def test_a_bound_on_a_number_is_read_for_the_number_arguments_of_the_tools_the_sentence_names():
    traces = [trace_of([_call("holds.place", copies=2, branch="main"), _call("loans.renew", days=14)])]
    rule = 'every_argument_within(trace, ("holds.place",), "copies", 3, True)'
    for criteria in ("Never place a hold for more than 3 copies.", "A hold may be placed for at most three copies.",
                     "The agent must not place holds on over 3 copies."):
        assert rule in expressions(criteria, traces), criteria
    assert 'every_argument_within(trace, ("loans.renew",), "days", 7, False)' in expressions(
        "Loans are renewed for at least 7 days.", traces)
    # "over 3" without a negation says what such a hold needs, not that there is none
    assert not any("every_argument_within" in e for e in expressions(
        "Holds over 3 copies need a staff escalation first.", traces))


def test_a_limit_on_an_argument_is_learned_and_holds_on_traces_it_never_saw():
    rng = random.Random(5)

    def attempt(k: int):
        copies = rng.choice((1, 1, 2, 3, 4, 6))
        steps = [("user", f"Hold {copies} copies please."), _call("catalog.search")]
        if rng.random() < 0.4:
            steps.append(_call("patrons.lookup"))
        steps += [_call("holds.place", copies=copies, branch="main"), ("assistant", "Placed.")]
        return trace_of(steps, f"t{k}"), copies <= 3

    code, held = _learned("hold_limit", "Never place a hold for more than 3 copies.", [attempt(k) for k in range(80)],
                          trained=20)
    assert 'every_argument_within(trace, ("holds.place",), "copies", 3, True)' in code
    assert held


def test_criteria_of_two_sentences_are_read_as_two_rules_that_must_both_hold():
    rng = random.Random(3)

    def attempt(k: int):
        looked, holds = rng.random() < 0.7, rng.choice((0, 1, 1, 2))
        steps = [("user", "Renew my loan and hold a book.")] + ([_call("patrons.lookup")] if looked else [])
        steps += [_call("loans.renew"), *[_call("holds.place") for _ in range(holds)], ("assistant", "Done.")]
        return trace_of(steps, f"t{k}"), looked and holds <= 1

    data = [attempt(k) for k in range(120)]
    criteria = "A loan may be renewed only after the patron was looked up. Never place more than one hold."
    code, _ = _learned("two_policies", criteria, data, trained=20)
    assert "Every rule below must hold: one for each sentence of the criteria" in code
    assert 'every_call_preceded_by(trace, ("loans.renew",), ("patrons.lookup",))' in code
    assert any(line.strip().startswith("if ") and '("holds.place",)' in line for line in code.splitlines())
    check = load_eval(code)
    assert all(check(t)[0] == good for t, good in data[20:])
    assert 'at_most_calls(trace, ("holds.place",), 1)' in expressions("Never place more than one hold.")
    # one sentence: one rule decides, as before
    code, _ = _learned("one_policy", "A loan may be renewed only after the patron was looked up.", data, trained=20)
    assert "Every rule below must hold" not in code
