"""The engine's review prioritizer, against a fake repository holding versions and results."""

from chalicelib.evals.models import EvalVersion, Execution
from chalicelib.evals.review import EngineReviewPrioritizer
from chalicelib.evalsets.models import EvalSet
from chalicelib.traces.summary import TraceSummary


class FakeEvals:
    """The two EvalRepository methods the prioritizer uses."""

    def __init__(self, versions: list[EvalVersion], results: dict[tuple[str, str], str]):
        self.versions, self.results = versions, results

    def all_for_set(self, eval_set_id: str) -> list[EvalVersion]:
        return sorted(self.versions, key=lambda v: -v.version)

    def results_for(self, eval_ids: list[str], trace_ids: list[str]) -> dict[tuple[str, str], Execution]:
        return {(e, t): Execution(eval_id=e, trace_id=t, result=r, reason=f"{r} reason", executed_at="2025")
                for (e, t), r in self.results.items() if e in eval_ids and t in trace_ids}


def _version(n: int, status: str = "draft") -> EvalVersion:
    return EvalVersion(id=f"ev_{n}", eval_set_id="es_1", version=n, status=status, name="eval_x", code="",
                       generator="human", created_by="k", created_at="2025")


def _summary(i: int) -> TraceSummary:
    return TraceSummary(id=f"tr_{i}", name=f"t{i}", timestamp=f"2025-03-01T10:{59 - i:02d}:00Z",
                        source={"platform": "langfuse", "external_id": str(i)}, imported_at="2025")


EVAL_SET = EvalSet(id="es_1", workspace_id="ws", name="s", created_at="2025", updated_at="2025", created_by="k")


def test_disagreements_then_latest_errors_then_default_order():
    versions = [_version(1, "active"), _version(2), _version(3), _version(4, "archived")]
    results = {
        ("ev_1", "tr_0"): "pass", ("ev_2", "tr_0"): "pass", ("ev_3", "tr_0"): "pass",       # agree
        ("ev_1", "tr_1"): "pass", ("ev_2", "tr_1"): "pass", ("ev_3", "tr_1"): "error",      # latest errs
        ("ev_1", "tr_2"): "pass", ("ev_3", "tr_2"): "fail",                                 # disagree
        ("ev_1", "tr_3"): "fail", ("ev_4", "tr_3"): "pass",                                 # archived ignored
        ("ev_3", "tr_4"): "timeout",                                                       # latest times out
    }
    ordered = EngineReviewPrioritizer(FakeEvals(versions, results)).prioritize(EVAL_SET, [_summary(i) for i in range(6)])
    assert [i.id for i in ordered] == ["tr_2", "tr_1", "tr_4", "tr_0", "tr_3", "tr_5"]
    assert ordered[0].reason == "eval versions disagree: v3 fail, v1 pass"
    assert ordered[1].reason == "latest version v3 errs: error reason"
    assert ordered[2].reason.startswith("latest version v3 times out")
    assert ordered[3].reason.startswith("newest unrated")


def test_without_versions_it_keeps_the_default_order():
    ordered = EngineReviewPrioritizer(FakeEvals([], {})).prioritize(EVAL_SET, [_summary(i) for i in range(3)])
    assert [i.id for i in ordered] == ["tr_0", "tr_1", "tr_2"]
