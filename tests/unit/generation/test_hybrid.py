"""The hybrid generator through the real SDKs (httpx2.MockTransport, recorded response shapes), the real
sandbox child and the product's grouped cross-validation: the model's predicates are measured in the
sandbox, kept or dropped by cross-validation, and its prompts never hold the fold they are scored on."""

from __future__ import annotations

import re
from typing import Any

import pytest

from chalicelib.evals.generation import generate_candidates, select_candidate
from chalicelib.generation.anthropic import AnthropicGenerator
from chalicelib.generation.base import GenerationRequest, LabeledTrace
from chalicelib.generation.hybrid import HybridGenerator, predicate_module, table_code
from chalicelib.generation.offline import OfflineGenerator
from chalicelib.generation.openai_compat import OpenAICompatibleGenerator
from chalicelib.generation.pricing import cost_usd
from chalicelib.sandbox import run_batch
from chalicelib.sandbox.runner import TraceResult
from chalicelib.sandbox.validate import validate_code

pytestmark = pytest.mark.slow  # real sandbox children for every fold and candidate

GOOD_AMOUNTS = (12, 25, 31, 44, 48, 19, 7, 50)
BAD_AMOUNTS = (55, 72, 90, 130, 61, 88, 251, 77)

MODULE = '''\
import re


def amount_of(trace):
    for call in trace.get("tool_calls") or []:
        if call.get("name") == "issue_refund":
            args = call.get("arguments") or {}
            if isinstance(args, dict):
                return float(args.get("amount") or 0)
    return 0.0


def tool_names(trace):
    return [c.get("name") for c in trace.get("tool_calls") or []]


def pred_small_refund(trace: dict) -> bool:
    """The refund is at most 50."""
    return amount_of(trace) <= 50


def pred_looked_up_order(trace: dict) -> bool:
    """The order was looked up before the refund."""
    return "lookup_order" in tool_names(trace)


def pred_even_amount(trace: dict) -> bool:
    """The refunded amount is even."""
    return int(amount_of(trace)) % 2 == 0


def eval_refund_policy(trace: dict) -> tuple[bool, str]:
    if amount_of(trace) <= 20:
        return True, "small refund"
    return False, "refund too large"
'''

NOISE_ONLY = MODULE.replace("    return amount_of(trace) <= 50\n", "    return int(amount_of(trace)) % 3 == 0\n")


class ChildSandbox:
    """The Sandbox protocol over the real locked-down child (what the sandbox Lambda runs)."""

    def __init__(self) -> None:
        self.codes: list[str] = []

    def run(self, code: str, traces: list[dict]) -> list[TraceResult]:
        self.codes.append(code)
        return run_batch(code, traces)


def _trace(i: int, amount: int) -> dict[str, Any]:
    return {"id": f"tr_{i:02d}", "session_id": f"s{i // 2}", "name": "support chat",
            "messages": [{"role": "user", "content": "I want a refund for my order"},
                         {"role": "assistant", "content": "Done, the refund is on its way."}],
            "tool_calls": [{"name": "lookup_order", "arguments": {"order": "A1"}, "result": {"ok": True}},
                           {"name": "issue_refund", "arguments": {"amount": amount}, "result": {"ok": True}}],
            "stats": {"steps": 3, "tool_calls": 2}}


def _request() -> GenerationRequest:
    amounts = [a for pair in zip(GOOD_AMOUNTS, BAD_AMOUNTS) for a in pair]
    examples = [LabeledTrace(trace=_trace(i, a), rating="positive" if a in GOOD_AMOUNTS else "negative",
                             notes=f"marker-{i:02d}x " + ("small enough" if a in GOOD_AMOUNTS else "too much"))
                for i, a in enumerate(amounts)]
    return GenerationRequest(eval_name="refund_policy", criteria="Refunds above 50 need a manager.",
                             examples=examples, candidates=3)


def _answer(module: str) -> str:
    return f"Large refunds are the bad ones.\n\n```python\n{module}```\n"


def _prompt_text(body: dict[str, Any]) -> str:
    parts = [body.get("system") or ""]
    for message in body["messages"]:
        content = message["content"]
        parts.append(content if isinstance(content, str) else "".join(b["text"] for b in content))
    return "\n".join(parts)


def _generators(kind: str, api_factory: Any, reply: Any, module: str, model: str) -> tuple[Any, Any]:
    if kind == "anthropic":
        api = api_factory(default=reply.message(_answer(module), input_tokens=1000, output_tokens=200, model=model))
        return AnthropicGenerator(api.client(), model=model, max_parallel=1), api
    api = api_factory(default=reply.completion(_answer(module), prompt_tokens=1000, completion_tokens=200,
                                               model=model), host="llm.internal.example", path="/v1/chat/completions")
    return OpenAICompatibleGenerator(api.openai_client("http://llm.internal.example/v1"), model=model,
                                     max_parallel=1), api


@pytest.mark.parametrize("kind,model", [("anthropic", "claude-haiku-4-5"), ("openai", "qwen2.5-coder:32b")])
def test_cross_validation_keeps_the_predicate_that_holds_up_and_drops_the_rest(fake_api, reply, kind, model):
    llm, api = _generators(kind, fake_api, reply, MODULE, model)
    sandbox = ChildSandbox()
    request = _request()
    generated = generate_candidates(request, HybridGenerator(llm, OfflineGenerator(), sandbox), seed=0, repeats=1)
    outcome = select_candidate(request, generated, sandbox)

    # one model answer on all examples and one per fold; each fold's prompt never shows its held-out traces
    assert api.calls == 1 + len(generated.folds)
    prompts = [_prompt_text(body) for body in api.bodies]
    assert "pred_<what_it_checks>" in prompts[0]
    for i in range(len(request.examples)):
        assert sum(f"marker-{i:02d}x" in p for p in prompts) == len(prompts) - 1  # absent from its own fold only

    # the predicates ran in the sandbox (the table module), never in this process
    assert any("def eval_predicate_table" in code for code in sandbox.codes)

    hybrid, written, offline = outcome.candidates
    assert outcome.chosen.code == hybrid.code and outcome.chosen.heldout_raw == 1.0
    assert written.heldout_raw < 1.0 and offline.heldout_raw < 1.0
    assert "pred_small_refund(trace)" in hybrid.code
    assert "pred_even_amount(trace)" not in hybrid.code.split("def eval_refund_policy")[1]
    assert "def llm_tool_names" in hybrid.code and "def tool_names" not in hybrid.code  # renamed, not shadowed
    assert '"The refund is at most 50"' in hybrid.code  # the docstring, as a literal through inert()
    validate_code(hybrid.code)
    assert "used by cross-validation: pred_small_refund" in hybrid.rationale
    assert "not used: pred_looked_up_order, pred_even_amount" in hybrid.rationale
    assert "hybrid" in outcome.selection and "pred_small_refund" in outcome.selection

    # tokens and cost: every call counted once in the total, each model-written candidate carries its answer's
    assert outcome.input_tokens == 1000 * api.calls and outcome.output_tokens == 200 * api.calls
    assert outcome.cost_usd == pytest.approx(cost_usd(model, 1000, 200) * api.calls)
    assert (hybrid.input_tokens, written.input_tokens, offline.input_tokens) == (1000, 1000, 0)
    assert hybrid.cost_usd == written.cost_usd == cost_usd(model, 1000, 200)


def test_predicates_that_do_not_hold_up_are_not_used(fake_api, reply):
    llm, api = _generators("anthropic", fake_api, reply, NOISE_ONLY, "claude-haiku-4-5")
    sandbox = ChildSandbox()
    request = _request()
    generated = generate_candidates(request, HybridGenerator(llm, OfflineGenerator(), sandbox), seed=0, repeats=1)
    outcome = select_candidate(request, generated, sandbox)
    hybrid = outcome.candidates[0]
    assert "used by cross-validation: none" in hybrid.rationale
    assert "pred_" not in hybrid.code.split("def eval_refund_policy")[1]
    assert outcome.chosen.heldout_raw < 1.0


def test_predicate_module_renames_library_names_and_refuses_bad_names():
    module = predicate_module(MODULE)
    assert module is not None
    assert [name for name, _ in module.predicates] == ["pred_small_refund", "pred_looked_up_order", "pred_even_amount"]
    assert "def llm_tool_names(trace)" in module.source and "llm_tool_names(trace)" in module.source
    assert "eval_refund_policy" not in module.source
    validate_code(table_code(module))
    weird = MODULE.replace("pred_even_amount", "pred_Even_Amount")
    assert [n for n, _ in predicate_module(weird).predicates] == ["pred_small_refund", "pred_looked_up_order"]
    assert predicate_module("def eval_x(trace):\n    return True, 'ok'\n") is None
    assert re.search(r"for check in \(pred_small_refund, pred_looked_up_order, pred_even_amount,\)",
                     table_code(module))
