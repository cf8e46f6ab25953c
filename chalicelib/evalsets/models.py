"""Eval sets and feedback: request and response models, and the stored records."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_serializer, field_validator, model_validator

from chalicelib.timeutil import format_iso
from chalicelib.traces.summary import TraceSummary

Rating = Literal["positive", "negative", "neutral"]
RATINGS: tuple[Rating, ...] = ("positive", "negative", "neutral")

MAX_NOTES_CHARS = 4000
MAX_HISTORY = 50
"""History entries kept per feedback item (the oldest are dropped; ``changes`` still counts them)."""


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _clean_name(value: str | None) -> str | None:
    """Collapse whitespace; a name of only spaces is refused."""
    if value is None:
        return value
    cleaned = " ".join(value.split())
    if not cleaned:
        raise ValueError("name must not be blank")
    return cleaned


class Thresholds(_Request):
    """When an eval set has enough ratings to generate an eval."""

    min_rated: int = Field(default=5, ge=1, le=10_000, description="positive + negative ratings needed")
    min_positive: int = Field(default=1, ge=0, le=10_000, description="positive ratings needed")
    min_negative: int = Field(default=1, ge=0, le=10_000, description="negative ratings needed")


class Scope(_Request):
    """Which traces an eval set is about: its review queue offers only these, and generation trains only
    on ratings of these. Every condition given must hold; an empty scope is every trace."""

    name: str | None = Field(default=None, min_length=1, max_length=500, description="only traces with this name")
    source: str | None = Field(default=None, min_length=1, max_length=100,
                               description="only traces from this platform (langfuse, langsmith, otlp …) or kind "
                                           "('upload', 'integration')")
    integration_id: str | None = Field(default=None, min_length=1, max_length=100,
                                       description="only traces imported through this integration")
    tags: list[str] = Field(default_factory=list, max_length=20, description="only traces carrying all of these tags")
    from_timestamp: datetime | None = Field(default=None, description="only traces at or after this time")
    to_timestamp: datetime | None = Field(default=None, description="only traces at or before this time")

    @field_validator("tags")
    @classmethod
    def _tags(cls, tags: list[str]) -> list[str]:
        if any(not t.strip() or len(t) > 200 for t in tags):
            raise ValueError("tags must be 1-200 characters each")
        return list(dict.fromkeys(t.strip() for t in tags))

    @field_validator("from_timestamp", "to_timestamp")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return value
        if value.tzinfo is None:
            raise ValueError("give the time with its offset, e.g. 2026-11-01T00:00:00Z")
        try:
            return value.astimezone(timezone.utc)
        except OverflowError as exc:
            raise ValueError("the time is out of range") from exc

    @model_validator(mode="after")
    def _ordered(self) -> "Scope":
        if self.from_timestamp and self.to_timestamp and self.from_timestamp > self.to_timestamp:
            raise ValueError("from_timestamp must not be after to_timestamp")
        return self

    @field_serializer("from_timestamp", "to_timestamp")
    def _iso(self, value: datetime | None) -> str | None:
        return format_iso(value) if value else None

    @property
    def since(self) -> str | None:
        """The lower bound as stored trace timestamps are written (UTC ISO), for range queries."""
        return format_iso(self.from_timestamp) if self.from_timestamp else None

    @property
    def until(self) -> str | None:
        return format_iso(self.to_timestamp) if self.to_timestamp else None

    def keep(self, s: TraceSummary) -> bool:
        """True when the trace is in scope."""
        if self.source and self.source not in (s.source.platform, s.source.kind):
            return False
        if self.integration_id and s.source.integration_id != self.integration_id:
            return False
        if self.name and s.name != self.name:
            return False
        if any(tag not in s.tags for tag in self.tags):
            return False
        stamp = s.timestamp or ""
        return not ((self.since and stamp < self.since) or (self.until and stamp > self.until))

    @property
    def empty(self) -> bool:
        return self == Scope()


class CreateEvalSetRequest(_Request):
    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=5000)
    criteria: str = Field(default="", max_length=20_000, description="what makes a trace good or bad")
    thresholds: Thresholds = Field(default_factory=Thresholds)
    scope: Scope = Field(default_factory=Scope, description="which traces the set is about (review queue, generation)")

    _name = field_validator("name")(_clean_name)


class UpdateEvalSetRequest(_Request):
    """PATCH: only the fields sent change; ``thresholds`` is replaced as a whole."""

    name: str = Field(default=None, min_length=1, max_length=200)  # type: ignore[assignment]
    description: str = Field(default=None, max_length=5000)  # type: ignore[assignment]
    criteria: str = Field(default=None, max_length=20_000)  # type: ignore[assignment]
    thresholds: Thresholds = Field(default=None)  # type: ignore[assignment]
    scope: Scope = Field(default=None, description="replaced as a whole; {} clears it")  # type: ignore[assignment]

    _name = field_validator("name")(_clean_name)


class EvalSet(BaseModel):
    """An eval set as stored and listed."""

    id: str
    workspace_id: str
    name: str
    description: str = ""
    criteria: str = ""
    thresholds: Thresholds = Field(default_factory=Thresholds)
    scope: Scope = Field(default_factory=Scope, description="which traces the set is about")
    created_at: str
    updated_at: str
    created_by: str = Field(description="the API key id that created it")
    ratings_changed_at: str | None = Field(default=None, description="when a rating was last added, changed or removed")
    active_eval_id: str | None = Field(default=None, description="the set's active eval version, if any (its trend "
                                   "is GET /v1/evals/{id}/trend)")


class RatingCounts(BaseModel):
    positive: int = 0
    negative: int = 0
    neutral: int = 0


class RatingWarning(BaseModel):
    """Something about the ratings worth fixing before trusting a generated eval."""

    code: Literal["class_imbalance", "rating_flips", "few_examples"]
    message: str
    trace_ids: list[str] = Field(default_factory=list, description="the traces concerned, when it is about some")


class ClassNeeds(BaseModel):
    positive: int = Field(description="more positive ratings")
    negative: int = Field(description="more negative ratings")


class EvalSetDetail(EvalSet):
    """GET /v1/eval-sets/{id}: the set with its rating counts, readiness and warnings."""

    counts: RatingCounts
    ready: bool = Field(description="enough positive and negative ratings to generate (see thresholds)")
    missing: list[str] = Field(default_factory=list, description="what is still needed to be ready")
    warnings: list[RatingWarning] = Field(default_factory=list)
    more_for_heldout: ClassNeeds = Field(description="more ratings of each class that would make a held-out "
                                                     "accuracy worth trusting (5 of each, no 4:1 imbalance)")


class RateRequest(_Request):
    rating: Rating
    notes: str = Field(default="", max_length=MAX_NOTES_CHARS)


class HistoryEntry(BaseModel):
    """One change of a rating or its notes."""

    by: str = Field(description="the API key id that made the change")
    at: str
    from_: Rating | None = Field(default=None, alias="from", description="the rating before; null when first rated")
    to: Rating
    notes: str = ""

    model_config = ConfigDict(populate_by_name=True)


class Feedback(BaseModel):
    """A human rating of one trace in one eval set, with its history (oldest first)."""

    trace_id: str
    rating: Rating
    notes: str = ""
    author: str = Field(description="the API key id of the latest change")
    created_at: str
    updated_at: str
    history: list[HistoryEntry] = Field(default_factory=list)
    changes: int = Field(default=0, description="how many times the rating itself changed")
    version: int = Field(default=1, description="increases on every write (optimistic concurrency)")


class RatingRow(BaseModel):
    """The little a tally needs of one feedback item."""

    trace_id: str
    rating: Rating
    changes: int = 0


class RatedTrace(BaseModel):
    """What a matrix row needs of one rating."""

    trace_id: str
    rating: Rating
    notes: str = ""


class ReviewItem(TraceSummary):
    """A trace worth rating next, and why it is there."""

    reason: str = Field(default="", description="why the queue put it here")
