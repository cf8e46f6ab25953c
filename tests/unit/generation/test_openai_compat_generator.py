"""The OpenAI-compatible generator through the real ``openai`` SDK and httpx2.MockTransport, with
chat.completions responses of the recorded shape (OpenAI, vLLM, Ollama)."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.errors import GenerationError
from chalicelib.generation.anthropic import TransientGenerationError
from chalicelib.generation.base import EvalGenerator
from chalicelib.generation.openai_compat import OpenAICompatibleGenerator
from chalicelib.generation.pricing import cost_usd
from tests.unit.generation.test_anthropic_generator import SYNTAX_ERROR, VALID, answer, make_request

HOST = "llm.internal.example"
BASE_URL = f"http://{HOST}:8000/v1"
CHAT = "/v1/chat/completions"


def make_generator(api: Any, **kwargs: Any) -> tuple[OpenAICompatibleGenerator, list[float]]:
    slept: list[float] = []
    kwargs.setdefault("max_parallel", 1)
    kwargs.setdefault("model", "qwen2.5-coder:32b")
    return OpenAICompatibleGenerator(api.openai_client(BASE_URL), sleep=slept.append, **kwargs), slept


def test_openai_compatible_generator_satisfies_the_protocol(fake_api: Any) -> None:
    generator: EvalGenerator = make_generator(fake_api(host=HOST, path=CHAT))[0]
    assert generator.name == "openai"


def test_a_valid_answer_becomes_a_candidate_with_its_own_tokens(fake_api: Any, reply: Any) -> None:
    api = fake_api([reply.completion(answer(VALID), prompt_tokens=1500, completion_tokens=400)], host=HOST, path=CHAT)
    generator, _ = make_generator(api)
    out = generator.generate(make_request())
    assert out.generator == "openai" and out.model == "qwen2.5-coder:32b"
    assert [c.code for c in out.candidates] == [VALID]
    assert (out.input_tokens, out.output_tokens) == (1500, 400)
    candidate = out.candidates[0]
    assert (candidate.input_tokens, candidate.output_tokens) == (1500, 400)
    body = api.bodies[0]
    assert body["model"] == "qwen2.5-coder:32b" and body["max_tokens"] > 0
    roles = [m["role"] for m in body["messages"]]
    assert roles == ["system", "user"]
    assert "def eval_refund_policy(trace: dict) -> tuple[bool, str]:" in body["messages"][0]["content"]
    assert isinstance(body["messages"][1]["content"], str)  # plain strings: many compatible servers need them
    assert "Refunds only after the order status was checked." in body["messages"][1]["content"]


def test_a_priced_model_records_the_cost_per_candidate(fake_api: Any, reply: Any) -> None:
    api = fake_api([reply.completion(answer(VALID), prompt_tokens=1000, completion_tokens=100)] * 2,
                   host=HOST, path=CHAT)
    generator, _ = make_generator(api, model="claude-haiku-4-5")  # a gateway serving a priced model
    out = generator.generate(make_request(candidates=2))
    each = cost_usd("claude-haiku-4-5", 1000, 100)
    assert each > 0 and [c.cost_usd for c in out.candidates] == [each, each]
    assert out.cost_usd == pytest.approx(2 * each)


def test_a_rejected_answer_is_fed_back_and_a_cut_off_one_asks_for_a_shorter_module(fake_api: Any,
                                                                                 reply: Any) -> None:
    api = fake_api([reply.completion(answer(SYNTAX_ERROR), finish_reason="length"),
                    reply.completion(answer(VALID))], host=HOST, path=CHAT)
    out = make_generator(api)[0].generate(make_request())
    assert out.candidates[0].code == VALID and out.attempts == 2
    follow_up = api.bodies[1]["messages"]
    assert [m["role"] for m in follow_up] == ["system", "user", "assistant", "user"]
    assert "rejected" in follow_up[-1]["content"] and "output token limit" in follow_up[-1]["content"]
    assert out.candidates[0].input_tokens == 2000  # both attempts count against this candidate


def test_server_errors_are_retried_then_raise_transient(fake_api: Any, reply: Any) -> None:
    api = fake_api(default=reply.chat_error(503, "server_error"), host=HOST, path=CHAT)
    generator, slept = make_generator(api, api_retries=2)
    with pytest.raises(TransientGenerationError, match="OpenAI-compatible endpoint API unavailable after 3 tries"):
        generator.generate(make_request())
    assert api.calls == 3 and len(slept) == 2


def test_a_bad_key_and_an_unknown_model_fail_without_retrying(fake_api: Any, reply: Any) -> None:
    api = fake_api(default=reply.chat_error(401, "invalid_api_key"), host=HOST, path=CHAT)
    with pytest.raises(GenerationError, match=r"rejected the API key.*PUT /v1/workspace/llm"):
        make_generator(api)[0].generate(make_request())
    assert api.calls == 1
    api = fake_api(default=reply.chat_error(404, "model_not_found"), host=HOST, path=CHAT)
    with pytest.raises(GenerationError, match="does not know the model 'qwen2.5-coder:32b'"):
        make_generator(api)[0].generate(make_request())
