from typing import Sequence

from chalicelib.evalsets.models import EvalSet, ReviewItem
from chalicelib.evalsets.review import NewestMixedPrioritizer, candidate_pool_size, select_review_items
from chalicelib.traces.summary import TraceSummary

EVAL_SET = EvalSet(id="es_1", workspace_id="ws_1", name="s", created_at="t", updated_at="t", created_by="k")


def _summary(trace_id: str, platform: str = "langfuse", integration_id: str | None = None) -> TraceSummary:
    return TraceSummary(id=trace_id, source={"platform": platform, "integration_id": integration_id,
                                             "external_id": trace_id}, imported_at="t")


class DisagreementFirst:
    """What the engine will plug in: traces its eval versions disagree on first, then the rest."""

    def __init__(self, disputed: set[str]):
        self.disputed = disputed
        self.seen: list[str] = []

    def prioritize(self, eval_set: EvalSet, candidates: Sequence[TraceSummary]) -> list[ReviewItem]:
        self.seen.append(eval_set.id)
        first = [c for c in candidates if c.id in self.disputed]
        rest = [c for c in candidates if c.id not in self.disputed]
        return [ReviewItem(**c.model_dump(), reason="versions disagree" if c.id in self.disputed else "newest")
                for c in first + rest]


def test_default_interleaves_sources_newest_first():
    candidates = [_summary(f"lf{i}") for i in range(5)] + [_summary("ls0", "langsmith"), _summary("ls1", "langsmith")]
    ordered = [i.id for i in NewestMixedPrioritizer().prioritize(EVAL_SET, candidates)]
    assert ordered == ["lf0", "ls0", "lf1", "ls1", "lf2", "lf3", "lf4"]


def test_two_integrations_of_one_platform_are_two_sources():
    candidates = [_summary("a0", integration_id="int_a"), _summary("a1", integration_id="int_a"),
                  _summary("b0", integration_id="int_b")]
    assert [i.id for i in NewestMixedPrioritizer().prioritize(EVAL_SET, candidates)] == ["a0", "b0", "a1"]


def test_a_fake_prioritizer_decides_the_order_through_the_seam():
    candidates = [_summary(f"t{i}") for i in range(6)]
    fake = DisagreementFirst({"t4", "t5"})
    chosen = select_review_items(EVAL_SET, candidates, limit=3, prioritizer=fake)
    assert [i.id for i in chosen] == ["t4", "t5", "t0"]
    assert chosen[0].reason == "versions disagree" and fake.seen == ["es_1"]


def test_selection_never_returns_a_trace_outside_the_candidates_nor_twice():
    class Sloppy:
        def prioritize(self, eval_set, candidates):
            rated = ReviewItem(**_summary("rated").model_dump())
            return [rated, *[ReviewItem(**c.model_dump()) for c in candidates], ReviewItem(**candidates[0].model_dump())]

    chosen = select_review_items(EVAL_SET, [_summary("a"), _summary("b")], limit=10, prioritizer=Sloppy())
    assert [i.id for i in chosen] == ["a", "b"]


def test_pool_is_larger_than_the_limit_but_bounded():
    assert candidate_pool_size(5) == 100 and candidate_pool_size(200) == 800 and candidate_pool_size(10_000) == 1000
