"""Eval generation with Claude through the Anthropic SDK.

Each candidate is one short conversation: the meta-prompt, the model's answer, and, when
the code is refused (syntax, sandbox policy, wrong function name), a follow-up carrying the
validator's reason, up to ``max_attempts`` answers. Candidates run in parallel threads
and differ by a diversity hint in the prompt, not by temperature: this SDK's
``messages.create`` takes no ``temperature`` and current models (Sonnet 5+, Opus 4.7+)
reject sampling parameters.

Errors raised by ``generate``:

    GenerationError                  no valid candidate, bad key, bad request, unknown model
    └── TransientGenerationError     rate limit, 5xx/overload or connection failure that
                                     outlasted the bounded retries; Step Functions retries on
                                     this class name
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import anthropic

from chalicelib.errors import CodeRejected, GenerationError
from chalicelib.generation.base import Candidate, Candidates, GenerationRequest
from chalicelib.generation.pricing import cost_usd
from chalicelib.generation.prompt import (
    DEFAULT_PROMPT_TOKEN_BUDGET,
    DIVERSITY_HINTS,
    Prompt,
    build_prompt,
    clip_text,
)
from chalicelib.sandbox.validate import validate_code

log = logging.getLogger(__name__)

DEFAULT_MODEL = "claude-sonnet-5-5"
DEFAULT_MAX_OUTPUT_TOKENS = 8192
TRANSIENT_STATUSES = frozenset({408, 409, 429})
_RATIONALE_CHARS = 1500
_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[^\n]*\n(.*?)(?:```|\Z)", re.S)


class TransientGenerationError(GenerationError):
    """The LLM API stayed unavailable (rate limit, server error, network) after bounded retries."""


@dataclass
class _Outcome:
    candidate: Candidate | None = None
    attempts: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    reasons: list[str] = field(default_factory=list)
    transient: TransientGenerationError | None = None


def extract_code(text: str) -> tuple[str, str]:
    """Return (code, rationale) from a model answer; code is '' when there is no code block."""
    blocks = [(m.group(1).lower(), m.group(2), m.start()) for m in _FENCE.finditer(text)]
    python = [b for b in blocks if b[0] in ("python", "py", "python3", "")]
    if not python:
        stripped = text.strip()
        if stripped.startswith(("def ", "import ", "from ")):
            return stripped + "\n", ""
        return "", text.strip()
    with_eval = [b for b in python if "def eval_" in b[1]]
    _, code, start = (with_eval or python)[-1]
    return code.strip("\n") + "\n", clip_text(text[:start].strip(), _RATIONALE_CHARS)


def check_code(code: str, function_name: str) -> None:
    """Raise CodeRejected unless code parses, passes the sandbox validator and defines function_name."""
    if not code.strip():
        raise CodeRejected("no ```python code block found in the answer")
    name = validate_code(code)
    if name != function_name:
        raise CodeRejected(f"the eval function must be named {function_name}, not {name}")


@dataclass
class Reply:
    """One model answer, whatever the API: its text, token use, and whether it was cut off."""

    text: str
    input_tokens: int
    output_tokens: int
    truncated: bool


class AnthropicGenerator:
    """Writes eval functions with Claude; implements the EvalGenerator protocol. Subclasses speak
    another API by overriding ``_chat``/``_send`` (both SDKs share the error tree used in ``_create``)."""

    name = "anthropic"
    vendor = "Anthropic"
    key_hint = "ANTHROPIC_API_KEY"
    sdk: Any = anthropic

    def __init__(
        self,
        client: anthropic.Anthropic,
        *,
        model: str = DEFAULT_MODEL,
        prompt_token_budget: int = DEFAULT_PROMPT_TOKEN_BUDGET,
        max_attempts: int = 3,
        api_retries: int = 3,
        max_output_tokens: int = DEFAULT_MAX_OUTPUT_TOKENS,
        max_parallel: int = 3,
        backoff_seconds: float = 2.0,
        max_backoff_seconds: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self._client = client
        self._model = model
        self._budget = prompt_token_budget
        self._max_attempts = max_attempts
        self._api_retries = api_retries
        self._max_output_tokens = max_output_tokens
        self._max_parallel = max(1, max_parallel)
        self._backoff = backoff_seconds
        self._max_backoff = max_backoff_seconds
        self._sleep = sleep

    def generate(self, request: GenerationRequest) -> Candidates:
        """Return the candidates that passed validation; raise GenerationError when none did."""
        model = request.model or self._model
        prompt = build_prompt(request, token_budget=self._budget)
        indexes = range(request.candidates)
        workers = min(request.candidates, self._max_parallel)
        if workers == 1:
            outcomes = [self._run_candidate(prompt, model, i, request.seed) for i in indexes]
        else:
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="anthropic-gen") as pool:
                futures = [pool.submit(self._run_candidate, prompt, model, i, request.seed) for i in indexes]
                outcomes = [f.result() for f in futures]

        input_tokens = sum(o.input_tokens for o in outcomes)
        output_tokens = sum(o.output_tokens for o in outcomes)
        valid = [o.candidate for o in outcomes if o.candidate is not None]
        if not valid:
            transient = next((o.transient for o in outcomes if o.transient is not None), None)
            if transient is not None:
                raise transient
            details = [{"candidate": i, "reasons": o.reasons} for i, o in enumerate(outcomes)]
            last = "; ".join(o.reasons[-1] for o in outcomes if o.reasons)
            raise GenerationError(
                f"no valid eval code after {self._max_attempts} attempts per candidate: {last}", details
            )
        return Candidates(
            candidates=valid,
            generator=self.name,
            model=model,
            prompt=prompt.text(),
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cost_usd=cost_usd(model, input_tokens, output_tokens),
            attempts=sum(o.attempts for o in outcomes),
        )

    def _run_candidate(self, prompt: Prompt, model: str, index: int, seed: int) -> _Outcome:
        outcome = _Outcome()
        hint = DIVERSITY_HINTS[(index - 1 + seed) % len(DIVERSITY_HINTS)] if index else ""
        first: list[dict[str, Any]] = [{"type": "text", "text": prompt.user}]
        if hint:
            first.append({"type": "text", "text": hint})
        messages: list[dict[str, Any]] = [{"role": "user", "content": first}]
        for _ in range(self._max_attempts):
            try:
                reply = self._chat(model, prompt.system, messages)
            except TransientGenerationError as exc:
                outcome.transient = exc
                outcome.reasons.append(exc.message)
                return outcome
            outcome.attempts += 1
            outcome.input_tokens += reply.input_tokens
            outcome.output_tokens += reply.output_tokens
            text = reply.text
            code, rationale = extract_code(text)
            try:
                check_code(code, prompt.function_name)
            except CodeRejected as exc:
                reason = exc.message
                if reply.truncated:
                    reason += " (the answer hit the output token limit and was cut off: write a shorter module)"
                outcome.reasons.append(reason)
                log.info("candidate %d attempt %d rejected: %s", index, outcome.attempts, reason)
                messages += [
                    {"role": "assistant", "content": text or "(empty answer)"},
                    {
                        "role": "user",
                        "content": f"Your code was rejected: {reason}\n"
                        f"Send the complete corrected module defining `{prompt.function_name}` "
                        "in one ```python block.",
                    },
                ]
                continue
            cost = cost_usd(model, outcome.input_tokens, outcome.output_tokens)
            outcome.candidate = Candidate(code=code, rationale=rationale, input_tokens=outcome.input_tokens,
                                          output_tokens=outcome.output_tokens, cost_usd=cost)
            return outcome
        return outcome

    def _chat(self, model: str, system: str, messages: list[dict[str, Any]]) -> Reply:
        """One answer from the Messages API."""
        response = self._create(model, system, messages)
        return Reply(text="".join(block.text for block in response.content if block.type == "text"),
                     input_tokens=response.usage.input_tokens, output_tokens=response.usage.output_tokens,
                     truncated=response.stop_reason == "max_tokens")

    def _send(self, model: str, system: str, messages: list[dict[str, Any]]) -> Any:
        return self._client.messages.create(model=model, max_tokens=self._max_output_tokens, system=system,
                                            messages=messages)

    def _create(self, model: str, system: str, messages: list[dict[str, Any]]) -> Any:
        """Call the API (``_send``), retrying transient failures a bounded number of times."""
        last: Exception | None = None
        retry = 0
        vendor = self.vendor
        while True:
            try:
                return self._send(model, system, messages)
            except self.sdk.APIConnectionError as exc:
                last = exc
                delay = self._delay(retry, None)
            except self.sdk.APIStatusError as exc:
                status = exc.status_code
                if status == 401:
                    raise GenerationError(
                        f"{vendor} rejected the API key (401 authentication_error): check {self.key_hint}"
                    ) from exc
                if status == 403:
                    raise GenerationError(
                        f"the {vendor} API key is not allowed to use {model} (403 permission_error)"
                    ) from exc
                if status == 404:
                    raise GenerationError(f"{vendor} does not know the model {model!r} (404)") from exc
                if status not in TRANSIENT_STATUSES and status < 500:
                    raise GenerationError(f"{vendor} refused the request ({status}): {exc.message}") from exc
                last = exc
                delay = self._delay(retry, exc.response.headers.get("retry-after"))
            if retry >= self._api_retries:
                raise TransientGenerationError(
                    f"{vendor} API unavailable after {retry + 1} tries: {_describe(last)}"
                ) from last
            log.warning("%s call failed (%s); retry %d in %.1fs", vendor, _describe(last), retry + 1, delay)
            self._sleep(delay)
            retry += 1

    def _delay(self, retry: int, retry_after: str | None) -> float:
        if retry_after:
            try:
                return min(max(float(retry_after), 0.0), self._max_backoff)
            except ValueError:
                pass
        return min(self._backoff * 2**retry, self._max_backoff)


def _describe(exc: Exception | None) -> str:
    if exc is not None and hasattr(exc, "status_code"):
        return f"{exc.status_code} {type(exc).__name__}"
    return type(exc).__name__ if exc else "unknown error"
