"""AnthropicGenerator through the real SDK code path, against a scripted Messages API (httpx2.MockTransport)."""

from __future__ import annotations

from typing import Any

import httpx2
import pytest

from chalicelib.errors import CodeRejected, GenerationError
from chalicelib.generation.anthropic import (
    DEFAULT_MODEL,
    AnthropicGenerator,
    TransientGenerationError,
    extract_code,
)
from chalicelib.generation.base import EvalGenerator, GenerationRequest, LabeledTrace
from chalicelib.generation.pricing import cost_usd
from chalicelib.sandbox.validate import validate_code

VALID = '''\
import re


def eval_refund_policy(trace: dict) -> tuple[bool, str]:
    names = [c.get("name") for c in trace.get("tool_calls") or [] if isinstance(c, dict)]
    if "issue_refund" in names and "lookup_order" not in names:
        return False, "refund issued without looking up the order"
    if re.search(r"refund", str(trace.get("output") or ""), re.I):
        return True, "refund handled after checking the order"
    return True, "no refund issued"
'''

SYNTAX_ERROR = '''\
def eval_refund_policy(trace: dict) -> tuple[bool, str]:
    if trace.get("output")
        return True, "ok"
    return False, "no output"
'''

IMPORTS_OS = '''\
import os


def eval_refund_policy(trace: dict) -> tuple[bool, str]:
    return bool(os.environ), "uses the environment"
'''

WRONG_NAME = '''\
def eval_something_else(trace: dict) -> tuple[bool, str]:
    return True, "ok"
'''


def answer(code: str, rationale: str = "Bad traces refund before looking up the order.") -> str:
    return f"{rationale}\n\n```python\n{code}```\n"


def make_request(**overrides: Any) -> GenerationRequest:
    trace = {"id": "tr_1", "name": "chat", "output": "refund issued", "messages": [], "tool_calls": [],
             "stats": {"steps": 1}}
    fields: dict[str, Any] = {
        "eval_name": "refund_policy",
        "criteria": "Refunds only after the order status was checked.",
        "examples": [
            LabeledTrace(trace=trace, rating="positive", notes="checked the order first"),
            LabeledTrace(trace={**trace, "id": "tr_2"}, rating="negative", notes="refunded blindly"),
        ],
        "candidates": 1,
    }
    fields.update(overrides)
    return GenerationRequest(**fields)


def last_user_text(body: dict[str, Any]) -> str:
    content = body["messages"][-1]["content"]
    return content if isinstance(content, str) else "".join(block["text"] for block in content)


def make_generator(api: Any, **kwargs: Any) -> tuple[AnthropicGenerator, list[float]]:
    slept: list[float] = []
    kwargs.setdefault("max_parallel", 1)
    generator = AnthropicGenerator(api.client(), sleep=slept.append, **kwargs)
    return generator, slept


def test_anthropic_generator_satisfies_the_protocol(fake_api: Any) -> None:
    generator: EvalGenerator = AnthropicGenerator(fake_api().client())
    assert generator.name == "anthropic"


def test_valid_code_on_first_try_is_returned_with_usage_and_cost(fake_api: Any, reply: Any) -> None:
    api = fake_api([reply.message(answer(VALID), input_tokens=1200, output_tokens=300)])
    generator, _ = make_generator(api)

    result = generator.generate(make_request())

    assert [c.code for c in result.candidates] == [VALID]
    assert result.candidates[0].rationale == "Bad traces refund before looking up the order."
    assert result.generator == "anthropic" and result.model == DEFAULT_MODEL
    assert (result.input_tokens, result.output_tokens, result.attempts) == (1200, 300, 1)
    assert result.cost_usd == pytest.approx(cost_usd(DEFAULT_MODEL, 1200, 300)) and result.cost_usd > 0
    assert api.calls == 1
    body = api.bodies[0]
    assert body["model"] == DEFAULT_MODEL
    assert "def eval_refund_policy(trace: dict) -> tuple[bool, str]:" in body["system"]
    assert "Refunds only after the order status was checked." in last_user_text(body)
    assert "refunded blindly" in last_user_text(body)
    assert result.prompt is not None and "refunded blindly" in result.prompt


def test_syntax_error_is_fed_back_and_the_fix_is_accepted(fake_api: Any, reply: Any) -> None:
    api = fake_api([
        reply.message(answer(SYNTAX_ERROR), input_tokens=1000, output_tokens=100),
        reply.message(answer(VALID), input_tokens=1500, output_tokens=120),
    ])
    generator, _ = make_generator(api)

    result = generator.generate(make_request())

    assert [c.code for c in result.candidates] == [VALID]
    assert api.calls == 2
    retry = api.bodies[1]
    assert [m["role"] for m in retry["messages"]] == ["user", "assistant", "user"]
    assert SYNTAX_ERROR.splitlines()[1] in retry["messages"][1]["content"]
    feedback = last_user_text(retry)
    assert "syntax error" in feedback and "line 2" in feedback
    assert (result.input_tokens, result.output_tokens, result.attempts) == (2500, 220, 2)


def test_policy_rejection_reason_is_fed_back(fake_api: Any, reply: Any) -> None:
    with pytest.raises(CodeRejected) as rejected:
        validate_code(IMPORTS_OS)
    api = fake_api([reply.message(answer(IMPORTS_OS)), reply.message(answer(VALID))])
    generator, _ = make_generator(api)

    result = generator.generate(make_request())

    assert result.candidates[0].code == VALID
    assert rejected.value.message in last_user_text(api.bodies[1])


def test_wrong_function_name_is_rejected_with_the_expected_name(fake_api: Any, reply: Any) -> None:
    api = fake_api([reply.message(answer(WRONG_NAME)), reply.message(answer(VALID))])
    generator, _ = make_generator(api)

    generator.generate(make_request())

    feedback = last_user_text(api.bodies[1])
    assert "eval_refund_policy" in feedback and "eval_something_else" in feedback


def test_answer_without_code_block_is_rejected_and_retried(fake_api: Any, reply: Any) -> None:
    api = fake_api([reply.message("I cannot decide."), reply.message(answer(VALID))])
    generator, _ = make_generator(api)

    result = generator.generate(make_request())

    assert result.attempts == 2
    assert "no ```python code block" in last_user_text(api.bodies[1])


def test_truncated_answer_feedback_asks_for_a_shorter_module(fake_api: Any, reply: Any) -> None:
    cut = "Pattern.\n```python\ndef eval_refund_policy(trace: dict) -> tuple[bool, str]:\n    if ("
    api = fake_api([reply.message(cut, stop_reason="max_tokens"), reply.message(answer(VALID))])
    generator, _ = make_generator(api)

    generator.generate(make_request())

    assert "cut off" in last_user_text(api.bodies[1])


def test_all_attempts_invalid_raises_generation_error_with_the_reasons(fake_api: Any, reply: Any) -> None:
    api = fake_api(default=reply.message(answer(SYNTAX_ERROR), input_tokens=10, output_tokens=10))
    generator, _ = make_generator(api, max_attempts=3)

    with pytest.raises(GenerationError) as raised:
        generator.generate(make_request())

    assert not isinstance(raised.value, TransientGenerationError)
    assert api.calls == 3
    assert "syntax error" in raised.value.message
    assert len(raised.value.details[0]["reasons"]) == 3
    assert [m["role"] for m in api.bodies[-1]["messages"]] == ["user", "assistant", "user", "assistant", "user"]


def test_rate_limit_is_retried_after_the_advertised_delay(fake_api: Any, reply: Any) -> None:
    api = fake_api([
        reply.error(429, "rate_limit_error", headers={"retry-after": "7"}),
        reply.message(answer(VALID)),
    ])
    generator, slept = make_generator(api)

    result = generator.generate(make_request())

    assert result.candidates[0].code == VALID
    assert api.calls == 2 and slept == [7.0]
    assert result.attempts == 1


def test_server_errors_are_retried_with_backoff_then_succeed(fake_api: Any, reply: Any) -> None:
    api = fake_api([
        reply.error(500, "api_error"),
        reply.error(529, "overloaded_error"),
        reply.message(answer(VALID)),
    ])
    generator, slept = make_generator(api, backoff_seconds=1.0)

    result = generator.generate(make_request())

    assert len(result.candidates) == 1
    assert slept == [1.0, 2.0]


def test_persistent_server_errors_raise_transient_error_after_bounded_retries(fake_api: Any, reply: Any) -> None:
    api = fake_api(default=reply.error(503, "api_error"))
    generator, slept = make_generator(api, api_retries=2)

    with pytest.raises(TransientGenerationError) as raised:
        generator.generate(make_request())

    assert isinstance(raised.value, GenerationError)
    assert type(raised.value).__name__ == "TransientGenerationError"
    assert api.calls == 3 and len(slept) == 2
    assert "503" in raised.value.message


def test_connection_errors_are_retried_then_raise_transient_error(fake_api: Any) -> None:
    api = fake_api(default=httpx2.ConnectError("connection refused"))
    generator, slept = make_generator(api, api_retries=1)

    with pytest.raises(TransientGenerationError, match="APIConnectionError"):
        generator.generate(make_request())

    assert api.calls == 2 and len(slept) == 1


def test_bad_api_key_raises_generation_error_without_retrying(fake_api: Any, reply: Any) -> None:
    api = fake_api(default=reply.error(401, "authentication_error", "invalid x-api-key"))
    generator, slept = make_generator(api)

    with pytest.raises(GenerationError, match="API key") as raised:
        generator.generate(make_request())

    assert not isinstance(raised.value, TransientGenerationError)
    assert api.calls == 1 and slept == []


def test_unknown_model_raises_generation_error_naming_it(fake_api: Any, reply: Any) -> None:
    api = fake_api(default=reply.error(404, "not_found_error", "model: claude-nope"))
    generator, _ = make_generator(api)

    with pytest.raises(GenerationError, match="claude-nope"):
        generator.generate(make_request(model="claude-nope"))

    assert api.bodies[0]["model"] == "claude-nope"


def test_other_client_errors_are_not_retried(fake_api: Any, reply: Any) -> None:
    api = fake_api(default=reply.error(400, "invalid_request_error", "prompt is too long"))
    generator, slept = make_generator(api)

    with pytest.raises(GenerationError, match="prompt is too long"):
        generator.generate(make_request())

    assert api.calls == 1 and slept == []


def test_several_candidates_run_in_parallel_with_different_hints_and_summed_usage(fake_api: Any, reply: Any) -> None:
    api = fake_api(default=reply.message(answer(VALID), input_tokens=1000, output_tokens=400))
    generator = AnthropicGenerator(api.client(), max_parallel=3, sleep=lambda s: None)

    result = generator.generate(make_request(candidates=3))

    assert len(result.candidates) == 3
    assert api.calls == 3
    assert (result.input_tokens, result.output_tokens) == (3000, 1200)
    assert result.cost_usd == pytest.approx(cost_usd(DEFAULT_MODEL, 3000, 1200))
    first_messages = sorted(last_user_text(b) for b in api.bodies)
    assert len(set(first_messages)) == 3  # each candidate got a different diversity hint


def test_candidates_that_never_validate_are_dropped_when_another_succeeds(fake_api: Any, reply: Any) -> None:
    def by_hint(body: dict[str, Any]) -> httpx2.Response:
        first = body["messages"][0]["content"]
        return reply.message(answer(VALID if len(first) == 1 else SYNTAX_ERROR), input_tokens=10, output_tokens=10)

    api = fake_api(default=by_hint)
    generator, _ = make_generator(api, max_attempts=3)

    result = generator.generate(make_request(candidates=2))

    assert [c.code for c in result.candidates] == [VALID]
    assert api.calls == 4 and result.attempts == 4
    assert result.input_tokens == 40


def test_request_model_overrides_the_default_and_no_sampling_parameters_are_sent(fake_api: Any, reply: Any) -> None:
    api = fake_api(default=reply.message(answer(VALID), input_tokens=1000, output_tokens=1000))
    generator, _ = make_generator(api, max_output_tokens=2048)

    result = generator.generate(make_request(model="claude-haiku-4-5"))

    body = api.bodies[0]
    assert body["model"] == result.model == "claude-haiku-4-5"
    assert body["max_tokens"] == 2048
    assert not {"temperature", "top_p", "top_k"} & set(body)
    assert result.cost_usd == pytest.approx(0.006)


def test_the_sdk_sends_every_request_to_the_mock_transport(fake_api: Any, reply: Any) -> None:
    api = fake_api([reply.error(429, "rate_limit_error"), reply.message(answer(SYNTAX_ERROR)),
                    reply.message(answer(VALID))])
    generator, _ = make_generator(api)

    generator.generate(make_request())

    assert api.calls == 3 and api.replies == []


def test_extract_code_prefers_the_python_block_defining_the_eval() -> None:
    text = "Here is why.\n```json\n{\"a\": 1}\n```\n```python\nx = 1\n```\n```python\ndef eval_a(trace):\n    return True, 'ok'\n```"

    code, rationale = extract_code(text)

    assert code == "def eval_a(trace):\n    return True, 'ok'\n"
    assert rationale.startswith("Here is why.")


def test_extract_code_accepts_bare_code_and_reports_missing_code() -> None:
    assert extract_code("def eval_a(trace):\n    return True, 'x'")[0].startswith("def eval_a")
    assert extract_code("no code here") == ("", "no code here")
