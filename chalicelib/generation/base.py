"""The seam between iofold and whatever writes eval code (an LLM, the offline inducer, a test script)."""

from __future__ import annotations

from typing import Any, Literal, Protocol

from pydantic import BaseModel, Field

from chalicelib.errors import GenerationError

Rating = Literal["positive", "negative", "neutral"]


class LabeledTrace(BaseModel):
    """A rated trace: the unified trace dict plus the human's rating and notes."""

    trace: dict[str, Any] = Field(description="the unified trace, as an eval function receives it")
    rating: Rating
    notes: str = ""


class GenerationRequest(BaseModel):
    """Everything a generator may use to write an eval function."""

    eval_name: str = Field(description="snake_case; the function is named eval_<eval_name>")
    criteria: str = Field(default="", description="the eval set's plain-words definition of good")
    examples: list[LabeledTrace]
    candidates: int = Field(default=3, ge=1, le=8, description="how many candidates to return")
    instructions: str = Field(default="", description="extra guidance from the user")
    model: str | None = Field(default=None, description="LLM model id, when the generator uses one")
    previous_code: str | None = Field(default=None, description="code being refined, if any")
    previous_failures: list[LabeledTrace] = Field(
        default_factory=list, description="traces the previous code got wrong (refinement)"
    )
    predicates: int = Field(default=0, ge=0, le=20, description="also ask an LLM for up to this many named boolean "
                            "predicates (pred_<name>(trace) -> bool) for the hybrid generator to fit and select")
    seed: int = 0


class Candidate(BaseModel):
    """One generated eval module."""

    code: str
    rationale: str = ""
    input_tokens: int = Field(default=0, description="tokens sent for this candidate (all its attempts)")
    output_tokens: int = Field(default=0, description="tokens received for this candidate")
    cost_usd: float = Field(default=0.0, description="list-price cost of this candidate (0.0 for an unpriced model)")


class Candidates(BaseModel):
    """What one generate() call produced, with its cost."""

    candidates: list[Candidate]
    generator: str = Field(description="anthropic, openai, offline, scripted")
    model: str | None = None
    prompt: str | None = Field(default=None, description="the prompt sent, for the version record")
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    attempts: int = 1


class EvalGenerator(Protocol):
    """Writes eval functions from labeled traces."""

    name: str

    def generate(self, request: GenerationRequest) -> Candidates:
        """Return validated candidates; raise GenerationError when none could be made."""
        ...


class LlmKeyMissing(GenerationError):
    """The anthropic generator was asked for, but no LLM key is configured (the job fails with why)."""
