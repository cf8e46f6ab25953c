"""Which estimator orders versions right? Estimator variants compared on the same versions.

Generation is the expensive part, so each (label, seed) is generated once by bench/calibration.py's
``versions_of`` (nested ratings 10 → 20 → 40, and the n = 10 version refined with its contradictions among the
largest sample), which records every ingredient an estimator could use per version:

- the chosen code's correctness on every rated trace of the final sample, and which of them it trained on;
- per CV repeat and fold, the fold code's correctness on its held-out part and on its own training part;
- the product's estimate and interval, and the accuracy on unseen traces (the other half of the tasks).

``VARIANTS`` then computes each estimator from these numbers; ``--from-runs`` re-renders saved runs, so the
comparison on confirmation seeds runs the variants chosen on development seeds without generating again.

Run: .venv/bin/python -m bench.estimators --labels task_success --first-seed 0 --seeds 5 --runs-out /tmp/x.json
Results (copied by hand): bench/results/estimators.md.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.calibration import SIZES, versions_of  # noqa: E402
from bench.estimates import PAIR_GAP  # noqa: E402
from bench.quality_direct import BEHAVIOURS, load_taubench  # noqa: E402
from chalicelib.evals.estimate import DESIGN_EFFECT, PRIOR_EXAMPLES  # noqa: E402
from chalicelib.evals.generation import CV_REPEATS  # noqa: E402
from chalicelib.generation.evaluation import LabeledItem  # noqa: E402
from chalicelib.metrics import wilson_bounds  # noqa: E402


# --- estimators -------------------------------------------------------------------------------------------

FRESH = set()
"""The variants that score the rated traces a version never saw (their interval counts those too)."""


def _shrink(acc: float, n: float, share: float) -> float:
    majority = max(share, 1 - share)
    return (n * acc + PRIOR_EXAMPLES * majority) / (n + PRIOR_EXAMPLES)


def _optimism(v: dict) -> float | None:
    """Mean over folds of (fold code's accuracy on its training part - on its held-out part), per repeat then mean."""
    per_repeat: dict[int, list[tuple[float, float, int]]] = {}
    for f in v["folds"]:
        if not f["held_correct"] or not f["train_correct"]:
            continue
        per_repeat.setdefault(f["repeat"], []).append(
            (statistics.mean(f["train_correct"]), statistics.mean(f["held_correct"]), len(f["held_correct"])))
    if not per_repeat:
        return None
    # weight folds by their held-out size (the CV accuracy is pooled over examples, so is its optimism)
    return statistics.mean(sum((tr - he) * k for tr, he, k in fs) / sum(k for *_, k in fs) for fs in per_repeat.values())


def _apparent(v: dict) -> float:
    return statistics.mean(v["train_correct"])


def _cv(v: dict) -> float | None:
    return v["raw"]


def est_product(v: dict) -> float | None:
    return v["estimate"]


def est_efron(v: dict) -> float | None:
    opt = _optimism(v)
    return None if opt is None else _shrink(min(1.0, max(0.0, _apparent(v) - opt)), v["n"], v["positive_share"])


def est_632(v: dict) -> float | None:
    cv = _cv(v)
    return None if cv is None else _shrink(0.368 * _apparent(v) + 0.632 * cv, v["n"], v["positive_share"])


def est_632plus(v: dict) -> float | None:
    cv = _cv(v)
    if cv is None:
        return None
    app = _apparent(v)
    p = statistics.mean(v["train_good"])
    # share the code predicts good on its training examples (a correct prediction of a good one is "good")
    q = statistics.mean(c if g else 1 - c for c, g in zip(v["train_correct"], v["train_good"]))
    gamma = p * (1 - q) + (1 - p) * q  # no-information error rate
    err_app, err_cv = 1 - app, min(1 - cv, max(gamma, 1 - app))
    r = (err_cv - err_app) / (gamma - err_app) if gamma > err_app and err_cv > err_app else 0.0
    w = 0.632 / (1 - 0.368 * min(max(r, 0.0), 1.0))
    return _shrink(1 - ((1 - w) * err_app + w * err_cv), v["n"], v["positive_share"])


def _fresh(v: dict) -> list[int]:
    return [c for c, t in zip(v["rated_correct"], v["rated_trained"]) if not t]


def combined(base: Callable[[dict], float | None]) -> Callable[[dict], float | None]:
    """The base estimate for the part the version trained on, plain accuracy on current ratings it never saw."""
    def est(v: dict) -> float | None:
        b = base(v)
        fresh = _fresh(v)
        if b is None:
            return statistics.mean(fresh) if fresh else None
        n_trained = sum(v["rated_trained"])
        return (n_trained * b + sum(fresh)) / (n_trained + len(fresh))
    FRESH.add(est)
    return est


def current_corrected(v: dict) -> float | None:
    """All current ratings scored with the version's own code; the optimism subtracted only for the trained part."""
    opt = _optimism(v)
    if opt is None:
        fresh = _fresh(v)
        return statistics.mean(fresh) if fresh else None
    total = sum(c - (opt if t else 0.0) for c, t in zip(v["rated_correct"], v["rated_trained"]))
    return total / len(v["rated_correct"])


FRESH.add(current_corrected)


VARIANTS: dict[str, Callable[[dict], float | None]] = {
    "product (CV)": est_product,
    "efron": est_efron,
    ".632": est_632,
    ".632+": est_632plus,
    "apparent": lambda v: _apparent(v),
    "product+fresh": combined(est_product),
    "efron+fresh": combined(est_efron),
    ".632+fresh": combined(est_632),
    "current-corrected": current_corrected,
}


def interval_of(est: Callable[[dict], float | None]) -> Callable[[dict], tuple[float, float] | None]:
    """Wilson 95% around the variant's estimate at the product's effective size (examples / DESIGN_EFFECT)."""
    def interval(v: dict) -> tuple[float, float] | None:
        e = est(v)
        if e is None:
            return None
        size = len(v["rated_correct"]) if est in FRESH else v["n"]
        lo, hi = wilson_bounds(e, max(size / DESIGN_EFFECT, 1.0))
        return min(lo, e), max(hi, e)
    return interval


def pairs(run: list[dict], est: Callable[[dict], float | None], common: bool = False) -> tuple[int, int]:
    """(ordered right, pairs) among the run's versions whose unseen accuracies differ by >= PAIR_GAP; ``common``:
    only versions every estimator scores (the same pairs for all)."""
    right = total = 0
    kept = [v for v in run if not common or all(e(v) is not None for e in VARIANTS.values())]
    scored = [(est(v), v["truth"]) for v in kept]
    scored = [(e, t) for e, t in scored if e is not None]
    for a in range(len(scored)):
        for b in range(a + 1, len(scored)):
            (ea, ta), (eb, tb) = scored[a], scored[b]
            if abs(ta - tb) >= PAIR_GAP - 1e-9:
                total += 1
                right += (ea - eb) * (ta - tb) > 0
    return right, total


def table(runs: list[list[dict]]) -> str:
    lines = ["| estimator | versions | mean abs gap | bias | covers | pairs | ordered right | on common pairs | per-label ordered |", "|---|---|---|---|---|---|---|---|---|"]
    for name, est in VARIANTS.items():
        flat = [(est(v), v["truth"]) for run in runs for v in run]
        flat = [(e, t) for e, t in flat if e is not None]
        counts = [pairs(run, est) for run in runs]
        r, p = sum(c[0] for c in counts), sum(c[1] for c in counts)
        common = [pairs(run, est, common=True) for run in runs]
        common_right, common_pairs = sum(c[0] for c in common), sum(c[1] for c in common)
        by_label: dict[str, list[int]] = {}
        for run, (cr, cp) in zip(runs, counts):
            acc = by_label.setdefault(run[0]["label"], [0, 0])
            acc[0] += cr
            acc[1] += cp
        ivs = [(interval_of(est)(v), v["truth"]) for run in runs for v in run]
        cov = statistics.mean(iv[0] <= t <= iv[1] for iv, t in ivs if iv is not None)
        per = ", ".join(f"{k[:8]} {a}/{b}" for k, (a, b) in by_label.items())
        lines.append(f"| {name} | {len(flat)} | {statistics.mean(abs(e - t) for e, t in flat):.3f} | "
                     f"{statistics.mean(e - t for e, t in flat):+.3f} | {cov:.2f} | {p} | {r / p if p else float('nan'):.2f} | {common_right}/{common_pairs} | {per} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--labels", default="task_success," + ",".join(BEHAVIOURS))
    parser.add_argument("--repeats", type=int, default=CV_REPEATS["offline"])
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)))
    parser.add_argument("--runs-out")
    parser.add_argument("--from-runs")
    args = parser.parse_args()
    runs: list[list[dict]] = []
    if args.from_runs:
        for path in args.from_runs.split(","):
            runs += json.loads(Path(path).read_text())["runs"]
    else:
        data = load_taubench()
        sizes = tuple(int(s) for s in args.sizes.split(","))
        started = time.perf_counter()
        for label in args.labels.split(","):
            judge = BEHAVIOURS.get(label)
            items = [LabeledItem(trace=d["trace"], group=d["group"], good=judge(d["trace"]) if judge else d["good"])
                     for d in data]
            for seed in range(args.first_seed, args.first_seed + args.seeds):
                run = versions_of(items, label, seed, args.repeats, sizes)
                runs.append(run)
                print(label, seed, round(time.perf_counter() - started), [(v["version"], v["estimate"], round(v["truth"], 3))
                                                                          for v in run], flush=True)
                if args.runs_out:
                    Path(args.runs_out).write_text(json.dumps({"runs": runs}))
    print(table(runs))


if __name__ == "__main__":
    main()
