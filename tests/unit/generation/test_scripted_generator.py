"""ScriptedGenerator, and the EvalGenerator contract run against it and the Anthropic generator alike."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.errors import GenerationError
from chalicelib.generation.anthropic import AnthropicGenerator
from chalicelib.generation.base import Candidates, EvalGenerator, GenerationRequest, LabeledTrace
from chalicelib.generation.scripted import ScriptedGenerator
from chalicelib.sandbox.validate import validate_code

GOOD = 'def eval_tone(trace: dict) -> tuple[bool, str]:\n    return True, "polite"\n'
OTHER = 'def eval_tone(trace: dict) -> tuple[bool, str]:\n    return False, "rude"\n'
BAD = "import os\n\n\ndef eval_tone(trace: dict) -> tuple[bool, str]:\n    return True, os.name\n"


def make_request(candidates: int = 1, **overrides: Any) -> GenerationRequest:
    examples = [
        LabeledTrace(trace={"id": "t1", "output": "thanks"}, rating="positive", notes="polite"),
        LabeledTrace(trace={"id": "t2", "output": "go away"}, rating="negative", notes="rude"),
    ]
    return GenerationRequest(eval_name="tone", examples=examples, candidates=candidates, **overrides)


def test_scripted_replies_are_played_in_order_and_requests_recorded() -> None:
    generator = ScriptedGenerator([GOOD, [GOOD, OTHER]], input_tokens=5, output_tokens=7, cost_usd=0.01)

    first = generator.generate(make_request())
    second = generator.generate(make_request(candidates=2, model="m"))

    assert [c.code for c in first.candidates] == [GOOD]
    assert [c.code for c in second.candidates] == [GOOD, OTHER]
    assert (second.generator, second.model, second.input_tokens, second.output_tokens, second.cost_usd) == (
        "scripted", "m", 5, 7, 0.01)
    assert [r.candidates for r in generator.requests] == [1, 2]


def test_scripted_reply_is_limited_to_the_requested_candidates() -> None:
    generator = ScriptedGenerator([[GOOD, OTHER, GOOD]])

    assert len(generator.generate(make_request(candidates=2)).candidates) == 2


def test_scripted_exception_is_raised() -> None:
    generator = ScriptedGenerator([GenerationError("model said no")])

    with pytest.raises(GenerationError, match="model said no"):
        generator.generate(make_request())


def test_exhausted_script_raises_generation_error_unless_repeating() -> None:
    once = ScriptedGenerator([GOOD])
    once.generate(make_request())
    with pytest.raises(GenerationError, match="no reply left"):
        once.generate(make_request())

    repeating = ScriptedGenerator([GOOD], repeat_last=True)
    assert [repeating.generate(make_request()).candidates[0].code for _ in range(3)] == [GOOD] * 3


def test_reply_can_be_computed_from_the_request_or_be_ready_candidates() -> None:
    ready = Candidates(candidates=[], generator="scripted", attempts=4)
    generator = ScriptedGenerator([lambda request: GOOD.replace("tone", request.eval_name), ready])

    assert "def eval_tone(" in generator.generate(make_request()).candidates[0].code
    assert generator.generate(make_request()) is ready


def test_validating_script_refuses_code_the_sandbox_would_refuse() -> None:
    generator = ScriptedGenerator([BAD], validate=validate_code)

    with pytest.raises(GenerationError, match="scripted code is invalid"):
        generator.generate(make_request())


# The contract both generators must keep, run against each.


@pytest.fixture(params=["scripted", "anthropic"])
def make_generator(request: pytest.FixtureRequest, fake_api: Any, reply: Any) -> Any:
    def build(codes: list[str]) -> EvalGenerator:
        if request.param == "scripted":
            return ScriptedGenerator([codes], validate=validate_code)
        api = fake_api([reply.message(f"Why.\n```python\n{code}```") for code in codes])
        return AnthropicGenerator(api.client(), max_parallel=1, max_attempts=1, sleep=lambda s: None)

    return build


def test_contract_returns_candidates_defining_the_named_function(make_generator: Any) -> None:
    generator = make_generator([GOOD, OTHER])

    result = generator.generate(make_request(candidates=2))

    assert result.generator == generator.name
    assert [c.code for c in result.candidates] == [GOOD, OTHER]
    assert all(validate_code(c.code) == "eval_tone" for c in result.candidates)


def test_contract_invalid_code_raises_generation_error(make_generator: Any) -> None:
    generator = make_generator([BAD])

    with pytest.raises(GenerationError):
        generator.generate(make_request())
