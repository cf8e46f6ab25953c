"""select_candidate keeps the generator's own pick unless another candidate wins significantly under the
grouped CV (a paired test on per-example agreement), against a fake sandbox whose candidates are wrong on
chosen traces."""

from __future__ import annotations

from chalicelib.evals.generation import FoldCandidates, GeneratedSet, select_candidate
from chalicelib.generation.base import Candidate, Candidates, GenerationRequest, LabeledTrace
from chalicelib.sandbox.runner import TraceResult

N = 20


class WrongOn:
    """Code "A:1,2" passes a positive example and fails a negative one, except on traces 1 and 2."""

    def run(self, code: str, traces: list[dict]) -> list[TraceResult]:
        wrong = {int(i) for i in code.split(":")[1].split(",") if i}
        out = []
        for t in traces:
            good = int(t["id"]) % 2 == 0
            right = int(t["id"]) not in wrong
            out.append(TraceResult(trace_id=str(t["id"]), result="pass" if good == right else "fail", reason="",
                                   duration_ms=1))
        return out


def _select(*codes: str):
    examples = [LabeledTrace(trace={"id": str(i), "session_id": f"s{i}"}, rating="positive" if i % 2 == 0 else "negative")
                for i in range(N)]
    request = GenerationRequest(eval_name="x", examples=examples, candidates=len(codes))
    candidates = [Candidate(code=c) for c in codes]
    folds = [FoldCandidates(held_out=list(range(k, N, 4)), candidates=candidates) for k in range(4)]
    generated = GeneratedSet(full=Candidates(candidates=candidates, generator="offline"), folds=folds, duration_s=0)
    return select_candidate(request, generated, WrongOn())


def test_a_candidate_scoring_a_little_higher_does_not_replace_the_generator_s_pick():
    outcome = _select("A:1,2,3", "B:4,5")  # B agrees on one more of 20: noise
    assert outcome.chosen.code == "A:1,2,3"
    assert outcome.candidates[1].heldout_raw > outcome.candidates[0].heldout_raw


def test_a_candidate_winning_significantly_is_chosen():
    outcome = _select("A:1,2,3,5,7,9,11,13", "B:4", "C:4,6")
    assert outcome.chosen.code == "B:4"
