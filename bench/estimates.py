"""Can a user bet on the held-out estimate? The product's own choice (generate_candidates +
select_candidate: repeated grouped CV, offline generator) on tau-bench airline traces, split by
task; the chosen code's estimate is compared with its accuracy on the unseen half.

Reported per label and n, over seeds: mean |estimate - unseen accuracy|, how often the 95%
interval covers the unseen accuracy, and, for pairs of candidates of the same run whose unseen
accuracies differ by >= 0.10, how often the estimates order them correctly.

Run: .venv/bin/python -m bench.estimates [--seeds 20] [--sizes 10,20,40] [--out PATH]
Code runs in-process (load_eval), not in the sandbox: the numbers are the same, only slower there.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.quality_direct import BEHAVIOURS, load_taubench  # noqa: E402
from chalicelib.evals.generation import CV_REPEATS, generate_candidates, select_candidate  # noqa: E402
from chalicelib.generation.base import GenerationRequest, LabeledTrace  # noqa: E402
from chalicelib.generation.evaluation import LabeledItem, run_predictor, score_predictions, split_by_group  # noqa: E402
from chalicelib.generation.offline import OfflineGenerator, load_eval  # noqa: E402
from chalicelib.sandbox.runner import TraceResult  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "estimates.md"
PAIR_GAP = 0.10


class InProcessSandbox:
    """The Sandbox protocol over load_eval, for benchmarks only (never for untrusted code)."""

    def run(self, code: str, traces: list[dict]) -> list[TraceResult]:
        check = load_eval(code)
        out = []
        for trace in traces:
            try:
                ok, reason = check(trace)
                result = "pass" if ok else "fail"
            except (KeyError, TypeError, ValueError, AttributeError, IndexError, ZeroDivisionError) as exc:
                result, reason = "error", type(exc).__name__
            out.append(TraceResult(trace_id=str(trace.get("id")), result=result, reason=str(reason), duration_ms=0))
        return out


def unseen_accuracy(code: str, heldout: list[LabeledItem]) -> float:
    """The code's accuracy on traces of tasks no rating came from."""
    check = load_eval(code)
    return score_predictions(heldout, run_predictor(lambda t: check(t)[0], heldout)).accuracy or 0.0


def labeled(items: list[LabeledItem]) -> list[LabeledTrace]:
    """Rated examples for the product; a task's traces are one group for its grouped CV, as a session's would be."""
    return [LabeledTrace(trace={**i.trace, "session_id": i.group}, rating="positive" if i.good else "negative")
            for i in items]


def fmt(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.2f}"


def measure(items: list[LabeledItem], label: str, n: int, seeds: range, repeats: int) -> dict[str, Any]:
    gaps, covered, pairs_right, pairs = [], 0, 0, 0
    widths = []
    sandbox = InProcessSandbox()
    for seed in seeds:
        split = split_by_group(items, n_train=n, seed=seed)
        request = GenerationRequest(eval_name=label, examples=labeled(split.train), candidates=3, seed=seed)
        generated = generate_candidates(request, OfflineGenerator(), seed=seed, repeats=repeats)
        outcome = select_candidate(request, generated, sandbox)
        chosen = outcome.chosen
        if chosen.heldout_accuracy is None:
            continue
        # each candidate's unseen accuracy once; the chosen one is among them
        truths = {c.code: unseen_accuracy(c.code, split.heldout) for c in outcome.candidates}
        truth = truths[chosen.code]
        gaps.append(abs(chosen.heldout_accuracy - truth))
        lo, hi = chosen.heldout_interval
        widths.append(hi - lo)
        covered += lo <= truth <= hi
        scored = [(c.heldout_accuracy, truths[c.code]) for c in outcome.candidates if c.heldout_accuracy is not None]
        for a in range(len(scored)):
            for b in range(a + 1, len(scored)):
                (ea, ta), (eb, tb) = scored[a], scored[b]
                if abs(ta - tb) >= PAIR_GAP:
                    pairs += 1
                    pairs_right += (ea - eb) * (ta - tb) > 0
    return {"label": label, "n": n, "runs": len(gaps), "gap": statistics.mean(gaps) if gaps else None,
            "gap_max": max(gaps) if gaps else None, "coverage": covered / len(gaps) if gaps else None,
            "width": statistics.median(widths) if widths else None, "pairs": pairs,
            "ordered": pairs_right / pairs if pairs else None}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--sizes", default="10,20,40")
    parser.add_argument("--labels", default="task_success," + ",".join(BEHAVIOURS))
    parser.add_argument("--repeats", type=int, default=CV_REPEATS["offline"], help="CV repeats (the product's by default)")
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args()
    data = load_taubench()
    rows = []
    for label in args.labels.split(","):
        judge = BEHAVIOURS.get(label)
        items = [LabeledItem(trace=d["trace"], group=d["group"], good=judge(d["trace"]) if judge else d["good"])
                 for d in data]
        for n in (int(s) for s in args.sizes.split(",")):
            rows.append(measure(items, label, n, range(args.seeds), args.repeats))
            print(rows[-1], flush=True)
    text = ("# Held-out estimates against unseen accuracy (tau-bench airline, offline, split by task)\n\n"
            f"{args.seeds} seeds per row (0..{args.seeds - 1}); CV repeats: {args.repeats}; pairs = candidates of one run whose "
            f"unseen accuracies differ by >= {PAIR_GAP}.\n\n"
            "| label | n | runs | mean abs gap | max gap | 95% interval covers | median width | pairs | ordered right |\n"
            "|---|---|---|---|---|---|---|---|---|\n"
            + "".join(f"| {r['label']} | {r['n']} | {r['runs']} | {fmt(r['gap'])} | {fmt(r['gap_max'])} | "
                      f"{fmt(r['coverage'])} | {fmt(r['width'])} | {r['pairs']} | {fmt(r['ordered'])} |\n" for r in rows))
    Path(args.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
