"""Can a user bet on the held-out estimate? Calibration of the product's estimate over versions.

For each label and seed, the tau-bench airline traces are split by task (group) into a rated side and an
unseen side. On the rated side a user rates 10, then 10 more, then 20 more traces (nested samples: more
ratings), and the product writes a version each time (offline generator, the product's own
``generate_candidates`` + ``select_candidate``: repeated grouped CV, the estimator of
``chalicelib/evals/estimate.py``). A fourth version refines the n = 10 version with its contradictions among
the 40 rated traces, as ``POST /v1/evals/{id}/refine`` does. Each version's estimate is compared with its
accuracy on the unseen side, twice:

- on the current ratings (``metrics.estimate``, what the product compares versions by): once all 40 traces
  are rated, the generation's estimate stands for the rated traces a version was written from and its own
  agreement scores the rated traces it never saw (``version_estimate``);
- at generation (``generation.heldout_accuracy``), the cross-validation of the writing procedure alone.

Reported: mean absolute gap |estimate - unseen accuracy| (target <= 0.12), with its spread over seeds; coverage
of the 95% interval; pair ordering: among the versions of one (label, seed) whose unseen accuracies differ by
>= 0.10, the share the estimates order the same way (target >= 0.75; a tie counts as wrong).

Every version's ingredients are saved with ``--runs-out`` (bench/estimators.py computes other estimators from
them); ``--from-runs`` renders saved runs without generating again.

Run: .venv/bin/python -m bench.calibration [--seeds 20] [--first-seed 0] [--labels ...] [--out PATH]
Writes its section into bench/results/quality.md (replacing only that section). Code runs in-process
(load_eval) instead of the sandbox: same results, faster; the product runs it in the sandbox.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.estimates import PAIR_GAP, InProcessSandbox, fmt, labeled, unseen_accuracy  # noqa: E402
from bench.quality_direct import BEHAVIOURS, load_taubench  # noqa: E402
from chalicelib.evals.estimate import estimate_on_ratings  # noqa: E402
from chalicelib.evals.generation import CV_REPEATS, generate_candidates, select_candidate  # noqa: E402
from chalicelib.generation.base import GenerationRequest  # noqa: E402
from chalicelib.generation.evaluation import (  # noqa: E402
    LabeledItem,
    split_by_group,
    stratified_sample,
)
from chalicelib.generation.offline import OfflineGenerator, load_eval  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "quality.md"
SECTION = "## Calibration of the held-out estimate"
SIZES = (10, 20, 40)


def nested_samples(pool: list[LabeledItem], rng: random.Random,
                   sizes: tuple[int, ...] = SIZES) -> dict[int, list[LabeledItem]]:
    """Stratified samples of each size (40, 20, 10 rated traces), each inside the next (a user rating more)."""
    out: dict[int, list[LabeledItem]] = {}
    current = list(pool)
    for n in sorted(sizes, reverse=True):
        current = stratified_sample(current, n, rng)
        out[n] = current
    return out


def _correct(code: str, items: list[LabeledItem]) -> list[int]:
    """1 where the code agrees with the item's label (an error disagrees, as in the product)."""
    check = load_eval(code)
    out = []
    for i in items:
        try:
            out.append(int(bool(check(i.trace)[0]) == i.good))
        except Exception:  # noqa: BLE001 - generated code may raise anything; the product counts it as disagreeing
            out.append(0)
    return out


def record(name: str, train: list[LabeledItem], rated: list[LabeledItem], unseen: list[LabeledItem], label: str,
           seed: int, repeats: int, failures: list[LabeledItem] = (), previous_code: str | None = None) -> dict:
    """Generate one version as the product does and record what every estimator needs: the generation's estimate
    and interval, the chosen code's agreement on each rated trace of the final sample and which of them it was
    written from, each CV fold's code's agreement on its held-out and its training part, and the unseen accuracy."""
    started = time.perf_counter()
    request = GenerationRequest(eval_name=label, examples=labeled(train), candidates=3, seed=seed,
                                previous_code=previous_code, previous_failures=labeled(list(failures)))
    generated = generate_candidates(request, OfflineGenerator(), seed=seed, repeats=repeats)
    outcome = select_candidate(request, generated, InProcessSandbox())
    chosen = outcome.chosen
    c = next(i for i, s in enumerate(outcome.candidates) if s.code == chosen.code)
    trained = list(train) + [f for f in failures if f not in train]
    folds = []
    for fold in generated.folds:
        code = fold.candidates[min(c, len(fold.candidates) - 1)].code
        held = set(fold.held_out)
        folds.append({"repeat": fold.repeat, "held_correct": _correct(code, [train[i] for i in sorted(held)]),
                      "train_correct": _correct(code, [t for i, t in enumerate(train) if i not in held]
                                                + [f for f in failures if f not in train])})
    return {"version": name, "label": label, "seed": seed, "n": len(train),
            "positive_share": sum(i.good for i in train) / len(train),
            "estimate": chosen.heldout_accuracy, "interval": chosen.heldout_interval, "raw": chosen.heldout_raw,
            "repeats": chosen.heldout_repeats, "truth": unseen_accuracy(chosen.code, unseen),
            "rated_correct": _correct(chosen.code, rated), "rated_trained": [int(i in trained) for i in rated],
            "train_correct": _correct(chosen.code, trained), "train_good": [int(i.good) for i in trained],
            "folds": folds, "code": chosen.code, "seconds": time.perf_counter() - started}


def versions_of(items: list[LabeledItem], label: str, seed: int, repeats: int,
                sizes: tuple[int, ...] = SIZES) -> list[dict[str, Any]]:
    """The versions of one (label, seed): one per size (nested ratings), and the smallest refined with its
    contradictions among the largest sample, as ``POST /v1/evals/{id}/refine`` does."""
    split = split_by_group(items, n_train=max(sizes), seed=seed)
    pool = [i for i in items if i not in split.heldout]
    samples = nested_samples(pool, random.Random(seed), sizes)
    rated = samples[max(sizes)]
    out = [record(f"n={n}", samples[n], rated, split.heldout, label, seed, repeats) for n in sorted(sizes)]
    small = samples[min(sizes)]
    check = load_eval(out[0]["code"])
    wrong = [i for i in rated if i not in small and bool(check(i.trace)[0]) != i.good]
    if wrong:
        out.append(record("refined", small, rated, split.heldout, label, seed, repeats, failures=wrong,
                          previous_code=out[0]["code"]))
    return out


def on_ratings(v: dict[str, Any]) -> dict[str, Any]:
    """The version as the product shows it once the whole final sample is rated: ``estimate``/``interval`` become
    chalicelib/evals/estimate.py's estimate on the current ratings (version_estimate)."""
    unseen = [bool(c) for c, t in zip(v["rated_correct"], v["rated_trained"]) if not t]
    now = estimate_on_ratings(v["estimate"], v["interval"], sum(v["rated_trained"]), unseen)
    return {**v, "estimate": now.estimate if now else None, "interval": now.estimate_interval if now else None}


def pair_counts(versions: list[dict[str, Any]]) -> tuple[int, int]:
    """(ordered right, pairs) among versions whose unseen accuracies differ by >= PAIR_GAP."""
    right = pairs = 0
    scored = [v for v in versions if v["estimate"] is not None]
    for a in range(len(scored)):
        for b in range(a + 1, len(scored)):
            va, vb = scored[a], scored[b]
            if abs(va["truth"] - vb["truth"]) >= PAIR_GAP - 1e-9:
                pairs += 1
                right += (va["estimate"] - vb["estimate"]) * (va["truth"] - vb["truth"]) > 0
    return right, pairs


def summarize(runs: list[list[dict[str, Any]]]) -> dict[str, Any]:
    """Gap, coverage and ordering over the runs (one run = the versions of one seed)."""
    flat = [v for run in runs for v in run if v["estimate"] is not None]
    gaps = [abs(v["estimate"] - v["truth"]) for v in flat]
    covered = [v["interval"][0] <= v["truth"] <= v["interval"][1] for v in flat]
    widths = [v["interval"][1] - v["interval"][0] for v in flat]
    per_seed_gap = [statistics.mean(abs(v["estimate"] - v["truth"]) for v in run if v["estimate"] is not None)
                    for run in runs if any(v["estimate"] is not None for v in run)]
    counts = [pair_counts(run) for run in runs]
    right, pairs = sum(c[0] for c in counts), sum(c[1] for c in counts)
    by_version = {}
    for name in dict.fromkeys(v["version"] for v in flat):
        mine = [v for v in flat if v["version"] == name]
        by_version[name] = (statistics.mean(abs(v["estimate"] - v["truth"]) for v in mine),
                            statistics.mean(v["estimate"] - v["truth"] for v in mine),
                            sum(v["interval"][0] <= v["truth"] <= v["interval"][1] for v in mine) / len(mine), len(mine))
    missing = sum(1 for run in runs for v in run if v["estimate"] is None)
    return {"versions": len(flat), "missing": missing, "gap": statistics.mean(gaps) if gaps else None,
            "gap_p90": _quantile(gaps, 0.9), "seed_gap": (min(per_seed_gap), max(per_seed_gap)) if per_seed_gap else None,
            "bias": statistics.mean(v["estimate"] - v["truth"] for v in flat) if flat else None,
            "coverage": statistics.mean(covered) if covered else None,
            "width": statistics.median(widths) if widths else None,
            "pairs": pairs, "ordered": right / pairs if pairs else None, "by_version": by_version}


def _quantile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]



def render(by_label: dict[str, list[list[dict[str, Any]]]], seeds: str, sizes: tuple[int, ...], repeats: int,
           minutes: float) -> str:
    ns = ", ".join(map(str, sorted(sizes)))
    lines = [SECTION, "",
             f"`bench/calibration.py`: tau-bench airline, split by task; per label and seed one version per n "
             f"({ns}: nested ratings, a user rating more) and the n = {min(sizes)} version refined with its "
             f"contradictions among the {max(sizes)}; seeds {seeds}; offline generator, CV repeats {repeats}; "
             f"unseen = the other half of the tasks. Targets: mean |gap| <= 0.12, pairs (unseen accuracies differ by "
             f">= {PAIR_GAP}) ordered right >= 0.75. {minutes:.0f} process-minutes (summed over the processes that "
             f"made the runs) on a shared 2-core machine."]
    tables = (("On the current ratings (`metrics.estimate`, what the product compares versions by): each version's "
               f"estimate once all {max(sizes)} traces are rated — the generation's held-out estimate for the rated "
               "traces it was written from, its own agreement on those it never saw (chalicelib/evals/estimate.py "
               "`version_estimate`)", on_ratings),
              ("At generation (`generation.heldout_accuracy`: repeated grouped CV of the writing procedure, as before "
               "this change)", lambda v: v))
    for title, view in tables:
        lines += ["", f"**{title}**", "",
                  "| label | versions | no estimate | mean abs gap | gap p90 | per-seed mean gap (min–max) | mean bias "
                  "| 95% interval covers | median width | pairs | ordered right |",
                  "|---|---|---|---|---|---|---|---|---|---|---|"]
        rows = [(label, summarize([[view(v) for v in run] for run in runs])) for label, runs in by_label.items()]
        rows.append(("all", summarize([[view(v) for v in run] for runs in by_label.values() for run in runs])))
        for label, r in rows:
            spread = f"{r['seed_gap'][0]:.2f}–{r['seed_gap'][1]:.2f}" if r["seed_gap"] else "n/a"
            lines.append(f"| {label} | {r['versions']} | {r['missing']} | {fmt(r['gap'])} | {fmt(r['gap_p90'])} "
                         f"| {spread} | {fmt(r['bias'])} | {fmt(r['coverage'])} | {fmt(r['width'])} | {r['pairs']} "
                         f"| {fmt(r['ordered'])} |")
        lines += ["", "Per version (all labels): mean abs gap / mean bias (estimate - unseen) / coverage / versions", ""]
        lines += [f"- {name}: {g:.2f} / {b:+.2f} / {c:.2f} / {k}" for name, (g, b, c, k) in rows[-1][1]["by_version"].items()]
    return "\n".join(lines) + "\n"


def write_section(text: str, path: Path) -> None:
    """Replace this benchmark's section of quality.md (or append it), keeping everything else."""
    old = path.read_text() if path.exists() else ""
    if SECTION in old:
        head, _, rest = old.partition(SECTION)
        tail = rest[rest.find("\n## "):] if "\n## " in rest else ""
        new = head + text.rstrip("\n") + "\n" + tail
    else:
        new = old.rstrip("\n") + ("\n\n" if old else "") + text
    path.write_text(new)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--labels", default="task_success," + ",".join(BEHAVIOURS))
    parser.add_argument("--repeats", type=int, default=CV_REPEATS["offline"])
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)))
    parser.add_argument("--out", default=str(RESULTS))
    parser.add_argument("--runs-out", help="also save every version's numbers as JSON (to merge runs made apart)")
    parser.add_argument("--from-runs", help="comma-separated JSON files from --runs-out: render them, compute nothing")
    parser.add_argument("--minutes", type=float, help="with --from-runs: the process-minutes the runs took (when "
                                                      "their files do not record it)")
    args = parser.parse_args()
    started = time.perf_counter()
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    sizes = tuple(int(s) for s in args.sizes.split(","))
    runs: list[list[dict[str, Any]]] = []
    if args.from_runs:
        for path in args.from_runs.split(","):
            runs += json.loads(Path(path).read_text())["runs"]
        minutes = args.minutes or sum(v.get("seconds", 0.0) for run in runs for v in run) / 60
    else:
        data = load_taubench()
        for label in args.labels.split(","):
            judge = BEHAVIOURS.get(label)
            items = [LabeledItem(trace=d["trace"], group=d["group"], good=judge(d["trace"]) if judge else d["good"])
                     for d in data]
            for seed in seeds:
                runs.append(versions_of(items, label, seed, args.repeats, sizes))
                print(label, seed, [(v["version"], v["estimate"], round(v["truth"], 3)) for v in runs[-1]], flush=True)
                if args.runs_out:
                    Path(args.runs_out).write_text(json.dumps({"runs": runs}))
        minutes = (time.perf_counter() - started) / 60
    by_label: dict[str, list[list[dict[str, Any]]]] = {}
    for run in runs:
        by_label.setdefault(run[0]["label"], []).append(run)
    used = sorted({run[0]["seed"] for run in runs})
    text = render(by_label, f"{used[0]}..{used[-1]} ({len(used)})" if used else "none", sizes, args.repeats, minutes)
    write_section(text, Path(args.out))
    print(text)


if __name__ == "__main__":
    main()
