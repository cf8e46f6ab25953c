"""Trace text never becomes code in an offline eval: whatever a tool name, message, error, metadata field
or the criteria hold, the generated module has the same AST as with plain placeholder text (string
constants aside), compiles, passes the sandbox validator and gives the same verdicts."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from hypothesis import assume, given, settings

from chalicelib.generation.base import GenerationRequest, LabeledTrace
from chalicelib.generation.criteria import canonical, criteria_features
from chalicelib.generation.features import HELPERS, Feature, candidate_features
from chalicelib.generation.offline import Condition, OfflineGenerator, Rule, Scorecard, emit_code, load_eval
from chalicelib.sandbox.validate import validate_code
from tests.hostile import ATTACK, compile_as_file, hostile_text, skeleton

OTHER = "\U0010fffd" * 3  # the bad traces' tool: a plain name that sorts after any hostile one
GENERATOR = OfflineGenerator(budgets=(1, 2), repeats=1)
PROPERTY = settings(max_examples=40, deadline=None)


def make_trace(i: int, tool: str, *, text: str = "hello there", error: str | None = None) -> dict[str, Any]:
    """A trace calling one tool; ``text`` fills every other free-text field (same in every trace)."""
    call = {"id": "c1", "name": tool, "arguments": {"q": text}, "result": text, "error": error}
    return {
        "id": f"t{i}", "name": text, "tags": [text], "metadata": {"note": text, text: [text]}, "user_id": text,
        "input": text, "output": text, "error": error,
        "messages": [
            {"role": "system", "content": text},
            {"role": "user", "content": text},
            {"role": "assistant", "content": None, "tool_calls": [{"id": "c1", "name": tool}]},
            {"role": "tool", "content": text, "tool_call_id": "c1", "name": tool},
            {"role": "assistant", "content": text},
        ],
        "tool_calls": [call],
        "steps": [{"id": "s1", "type": "span", "name": text, "error": error, "metadata": {"k": text}}],
        "stats": {"steps": 1, "tool_calls": 1},
    }


def rated(good_tool: str, **fields: Any) -> list[LabeledTrace]:
    """Four good traces calling ``good_tool``, four bad ones calling OTHER."""
    return [LabeledTrace(trace=make_trace(i, good_tool if i % 2 == 0 else OTHER, **fields),
                         rating="positive" if i % 2 == 0 else "negative", notes=fields.get("text", ""))
            for i in range(8)]


def generate(examples: list[LabeledTrace], criteria: str = "") -> list[str]:
    request = GenerationRequest(eval_name="probe", criteria=criteria, examples=examples, candidates=3)
    return [c.code for c in GENERATOR.generate(request).candidates]


def verdicts(code: str, examples: list[LabeledTrace]) -> list[bool]:
    check = load_eval(code)
    return [check(e.trace)[0] for e in examples]


def generate_like_twins(examples: list[LabeledTrace], twins: list[LabeledTrace], criteria: str = "",
                        twin_criteria: str = "") -> list[str]:
    """The candidates for ``examples``: as many as for the plain ``twins``, each compiling as a file, valid,
    shaped like its twin's code (string constants aside) and giving its twin's verdicts."""
    codes, benign = generate(examples, criteria), generate(twins, twin_criteria)
    assert len(codes) == len(benign)
    for code, twin in zip(codes, benign):
        compile_as_file(code)
        assert validate_code(code) == "eval_probe"
        assert skeleton(code) == skeleton(twin)
        assert verdicts(code, examples) == verdicts(twin, twins)
    return codes


def placeholder_tool(name: str) -> str:
    """A plain tool name the learner treats like ``name``: same read/write kind, same hand-off hint."""
    kind = HELPERS["tool_kind"](name)
    hands_off = any(word in name.lower() for word in ("transfer", "human", "escalat"))
    return {"read": "get", "write": "book", "other": "zz"}[kind] + ("_transfer" if hands_off else "_probe")


def test_a_newline_in_a_tool_name_cannot_plant_a_return():
    """The reported attack: the tool name ended the rule's comment and made every trace pass."""
    examples = rated(ATTACK)
    codes = generate_like_twins(examples, rated(placeholder_tool(ATTACK)))
    bad = make_trace(99, OTHER)
    for code in codes:
        assert load_eval(code)(bad)[0] is False
        assert "\n    return True, 'pwned'" not in code
        assert verdicts(code, examples) == [e.rating == "positive" for e in examples]


@pytest.mark.slow
@PROPERTY
@given(hostile_text)
def test_any_tool_name_gives_the_code_of_a_plain_name(tool):
    assume(tool and tool < OTHER)
    generate_like_twins(rated(tool), rated(placeholder_tool(tool)))


@pytest.mark.slow
@PROPERTY
@given(hostile_text, hostile_text, hostile_text)
def test_any_message_error_metadata_or_criteria_gives_the_code_of_plain_text(text, error, criteria):
    """The criteria and notes propose features from their words (``canonical``): any other character in them
    changes nothing; the twin's notes are the hostile notes' words."""
    twins = [LabeledTrace(trace=t.trace, rating=t.rating, notes=canonical(t.notes))
             for t in rated("zz_probe", text="hello there", error="failed" if error else "")]
    twins = [LabeledTrace(trace=tw.trace, rating=tw.rating, notes=canonical(text)) for tw in twins]
    generate_like_twins(rated("zz_probe", text=text, error=error), twins, criteria, canonical(criteria))


CRITERIA_OF_EVERY_KIND = (
    "The agent may cancel only right after it gets the details. It cancels only after the user says yes. "
    "When a call fails the agent retries it. It cancels at most twice. The final answer states what the details "
    "returned. Arguments use only values the user provided. It transfers to a human only when asked. "
    "Good when the task is completed."
)


@pytest.mark.slow
@PROPERTY
@given(hostile_text, hostile_text, hostile_text)
def test_every_criteria_feature_kind_with_hostile_tool_names_emits_the_code_of_plain_text(first, second, notes):
    """Features the criteria propose carry tool names (tuples of them) and phrases: each kind, as a rule of
    either sign with its evidence comment, gives the code of plain names."""
    assume(first != second)
    tools = ("cancel_" + first, "get_" + second + "_details", "transfer_to_human_" + second)
    traces = [make_trace(i, tool) for i, tool in enumerate(tools)]
    proposed = criteria_features(CRITERIA_OF_EVERY_KIND, [notes], traces)
    features = list({f.helper: f for f in reversed(proposed)}.values())  # one per helper
    assert {f.helper for f in features} >= {"every_call_preceded_by", "every_call_right_after",
                                          "every_call_after_user_said", "error_then_retry", "count_calls",
                                          "answer_states_result_of", "args_seen_before", "transferred_to_human"}

    def plain(value: Any) -> Any:
        if isinstance(value, tuple):
            return tuple(plain(v) for v in value)
        return "tool" if isinstance(value, str) else value

    def card(feats: list[Feature]) -> Scorecard:
        rules = [Rule(Condition(replace(f, threshold=1.0 if f.threshold is not None else None), (True, False)),
                      1 if i % 2 else -1, 1, 1, 2, 1, 2) for i, f in enumerate(feats)]
        return Scorecard(rules, 1, cv_counts=(3, 4))

    twins = [replace(f, args=plain(f.args), description="plain", evidence="criteria words plain") for f in features]
    for start in range(0, len(features), 5):  # a scorecard of at most 5 rules stays under the sandbox's size cap
        code = emit_code("probe", card(features[start:start + 5]), [True, False], CRITERIA_OF_EVERY_KIND)
        compile_as_file(code)
        assert validate_code(code) == "eval_probe"
        assert skeleton(code) == skeleton(emit_code("probe", card(twins[start:start + 5]), [True, False], "plain"))
        assert load_eval(code)(traces[0])[1]  # runs, with a reason


@pytest.mark.slow
@PROPERTY
@given(hostile_text, hostile_text, hostile_text)
def test_every_feature_kind_with_hostile_text_emits_the_code_of_plain_text(first, second, criteria):
    """All features the inducer builds around tool names, each as a rule (both signs), emitted directly."""
    assume(first and second and first != second)
    traces = [make_trace(0, first), make_trace(1, second), make_trace(2, first), make_trace(3, second)]
    features = list({f.helper: f for f in reversed(candidate_features(traces)) if f.args}.values())  # one per helper
    assert {f.helper for f in features} >= {"called", "called_before", "called_without_prior", "call_failed",
                                          "called_after_user_said", "answer_repeats_tool_value"}

    def card(feats: list[Feature]) -> Scorecard:
        rules = [Rule(Condition(Feature(f.helper, f.args, 1.0 if f.threshold is not None else None, f.complexity,
                                        f.description), (True, False)), 1 if i % 2 else -1, 1, 1, 2, 1, 2)
                 for i, f in enumerate(feats)]
        return Scorecard(rules, 1, cv_counts=(3, 4))

    plain = [Feature(f.helper, tuple("tool" for _ in f.args), f.threshold, f.complexity, "plain") for f in features]
    code = emit_code("probe", card(features), [True, False], criteria)
    compile_as_file(code)
    assert validate_code(code) == "eval_probe"
    assert skeleton(code) == skeleton(emit_code("probe", card(plain), [True, False], "plain words"))
    assert load_eval(code)(make_trace(5, first))[1]  # runs, with a reason
