"""A generator that plays back a script: the EvalGenerator fake for tests of code that generates evals."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from chalicelib.errors import CodeRejected, GenerationError
from chalicelib.generation.base import Candidate, Candidates, GenerationRequest

# One scripted reply: code strings, ready Candidates, an exception to raise, or a function of the request.
Reply = str | list[str] | Candidates | Exception | Callable[[GenerationRequest], "Candidates | str | list[str]"]


class ScriptedGenerator:
    """Returns pre-set candidates (or raises pre-set errors), one reply per generate() call."""

    name = "scripted"

    def __init__(
        self,
        replies: Iterable[Reply],
        *,
        repeat_last: bool = False,
        validate: Callable[[str], str] | None = None,
        input_tokens: int = 0,
        output_tokens: int = 0,
        cost_usd: float = 0.0,
    ):
        """``validate`` (e.g. chalicelib.sandbox.validate.validate_code) checks scripted code like the real generators."""
        self._replies = list(replies)
        self._repeat_last = repeat_last
        self._validate = validate
        self._usage = (input_tokens, output_tokens, cost_usd)
        self.requests: list[GenerationRequest] = []

    def generate(self, request: GenerationRequest) -> Candidates:
        """Record the request and return the next scripted reply, limited to request.candidates."""
        self.requests.append(request)
        if not self._replies:
            raise GenerationError(f"scripted generator has no reply left for call {len(self.requests)}")
        reply = self._replies[0] if self._repeat_last and len(self._replies) == 1 else self._replies.pop(0)
        if isinstance(reply, Exception):
            raise reply
        if callable(reply):
            reply = reply(request)
        if isinstance(reply, Candidates):
            return reply
        codes = [reply] if isinstance(reply, str) else list(reply)
        if self._validate is not None:
            for code in codes:
                try:
                    self._validate(code)
                except CodeRejected as exc:
                    raise GenerationError(f"scripted code is invalid: {exc.message}", exc.details) from exc
        input_tokens, output_tokens, cost = self._usage
        return Candidates(
            candidates=[Candidate(code=code, rationale="scripted") for code in codes[: request.candidates]],
            generator=self.name,
            model=request.model,
            prompt=None,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cost_usd=cost,
            attempts=1,
        )
