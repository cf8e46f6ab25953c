"""Offline generator quality on tau-bench airline traces, generator called directly (no API).

Protocol (BENCHMARKS.md section 1): split by task (group), never by trace; n in {10, 20, 40}
stratified training traces; 20 seeds by default; held-out accuracy, F1 (good = positive), Cohen's kappa
as median and range; generation time; baselines majority class and best single rule.
Also scores three behaviour labels defined below on the same traces.

Run: .venv/bin/python -m bench.quality_direct [--seeds 20] [--first-seed 0] [--sizes 10,20,40] [--out PATH]
Writes bench/results/quality_direct.md (or --out). Seeds other than the default 0..19 (e.g.
--first-seed 100 --seeds 60 --out /tmp/dev.md) give a development set that leaves the
reported seeds untouched while the generator is being changed.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import re
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from chalicelib.generation.base import GenerationRequest, LabeledTrace  # noqa: E402
from chalicelib.generation.evaluation import (  # noqa: E402
    LabeledItem,
    best_single_rule,
    majority_baseline,
    run_predictor,
    score_predictions,
    split_by_group,
)
from chalicelib.generation.offline import OfflineGenerator, load_eval  # noqa: E402
from chalicelib.sandbox.validate import validate_code  # noqa: E402
from chalicelib.sources.langfuse.normalize import normalize_langfuse_trace  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "taubench-airline"
RESULTS = ROOT / "bench" / "results" / "quality_direct.md"



def load_taubench() -> list[dict[str, Any]]:
    """Unified traces with their task (group) and label, in file order."""
    labels = {row["trace_id"]: row for row in csv.DictReader((DATA / "labels.csv").open())}
    out = []
    with gzip.open(DATA / "traces.langfuse.jsonl.gz", "rt") as lines:
        for line in lines:
            raw = json.loads(line)
            trace = normalize_langfuse_trace(raw, integration_id="bench").model_dump(mode="json")
            row = labels[raw["id"]]
            out.append({"trace": trace, "group": row["group"], "good": row["label"] == "good"})
    return out


# --- behaviour labels of our own (BENCHMARKS.md section 1, last paragraph) -------------------

WRITE_TOOLS = re.compile(r"^(book|update|cancel)_")
CONSENT = re.compile(r"\b(yes|confirm|confirmed|proceed|go ahead)\b")


def _events(trace: dict[str, Any]) -> list[tuple[str, str, bool]]:
    calls = list(trace.get("tool_calls") or [])
    events: list[tuple[str, str, bool]] = []
    k = 0
    for message in trace.get("messages") or []:
        if message["role"] == "user":
            events.append(("user", str(message.get("content") or "").lower(), False))
        elif message["role"] == "tool" and k < len(calls):
            events.append(("tool", calls[k]["name"], bool(calls[k].get("error"))))
            k += 1
    return events


def consent_before_change(trace: dict[str, Any]) -> bool:
    """Good: every booking/update/cancel call came right after a user turn saying yes/confirm/proceed/go ahead."""
    last_user = ""
    for kind, text, _ in _events(trace):
        if kind == "user":
            last_user = text
        elif WRITE_TOOLS.match(text) and not CONSENT.search(last_user):
            return False
    return True


def priced_before_charging(trace: dict[str, Any]) -> bool:
    """Good: every book_reservation / update_reservation_flights call came after a calculate call."""
    priced = False
    for kind, text, _ in _events(trace):
        if kind == "tool" and text == "calculate":
            priced = True
        elif kind == "tool" and text in ("book_reservation", "update_reservation_flights") and not priced:
            return False
    return True


def retried_after_tool_error(trace: dict[str, Any]) -> bool:
    """Good: some tool call failed and the agent later called the same tool successfully."""
    failed_tools: set[str] = set()
    for kind, text, failed in _events(trace):
        if kind == "tool":
            if failed:
                failed_tools.add(text)
            elif text in failed_tools:
                return True
    return False


BEHAVIOURS: dict[str, Callable[[dict[str, Any]], bool]] = {
    "consent_before_change": consent_before_change,
    "priced_before_charging": priced_before_charging,
    "retried_after_tool_error": retried_after_tool_error,
}

# ---------------------------------------------------------------------------------------------


def summarize(values: Sequence[float | None]) -> str:
    """median [min, max] over seeds, ignoring undefined values."""
    defined = [v for v in values if v is not None]
    if not defined:
        return "n/a"
    return f"{statistics.median(defined):.2f} [{min(defined):.2f}, {max(defined):.2f}]"


def evaluate(items: list[LabeledItem], sizes: Sequence[int], seeds: Sequence[int], label_name: str) -> list[dict[str, Any]]:
    """One row per (n, method): held-out metrics over seeds."""
    generator = OfflineGenerator()
    rows = []
    for n in sizes:
        per: dict[str, dict[str, list[Any]]] = {
            m: {"acc": [], "f1": [], "kappa": [], "time": [], "rules": []} for m in ("offline", "majority", "single rule")
        }
        for seed in seeds:
            split = split_by_group(items, n_train=n, seed=seed)
            request = GenerationRequest(
                eval_name=label_name,
                examples=[
                    LabeledTrace(trace=i.trace, rating="positive" if i.good else "negative") for i in split.train
                ],
                candidates=1,
                seed=seed,
            )
            start = time.perf_counter()
            candidates = generator.generate(request)
            elapsed = time.perf_counter() - start
            code = candidates.candidates[0].code
            validate_code(code)
            check = load_eval(code)
            predictors = {
                "offline": lambda trace, check=check: check(trace)[0],
                "majority": majority_baseline(split.train),
                "single rule": best_single_rule(split.train)[0],
            }
            for method, predict in predictors.items():
                metrics = score_predictions(split.heldout, run_predictor(predict, split.heldout))
                per[method]["acc"].append(metrics.accuracy)
                per[method]["f1"].append(metrics.f1 if metrics.f1 is not None else 0.0)
                per[method]["kappa"].append(metrics.cohen_kappa if metrics.cohen_kappa is not None else 0.0)
            per["offline"]["time"].append(elapsed)
            per["offline"]["rules"].append(code.count("        score "))
        for method, values in per.items():
            rows.append(
                {
                    "label": label_name,
                    "n": n,
                    "method": method,
                    "accuracy": summarize(values["acc"]),
                    "f1": summarize(values["f1"]),
                    "kappa": summarize(values["kappa"]),
                    "kappa_median": statistics.median(values["kappa"]),
                    "time": f"{statistics.median(values['time']):.2f} s" if values["time"] else "",
                    "rules": f"{statistics.median(values['rules']):.0f}" if values["rules"] else "",
                }
            )
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    """Markdown table of result rows."""
    head = "| label | n | method | held-out accuracy | F1 (good) | Cohen's kappa | gen time | rules |\n|---|---|---|---|---|---|---|---|\n"
    return head + "".join(
        f"| {r['label']} | {r['n']} | {r['method']} | {r['accuracy']} | {r['f1']} | {r['kappa']} | {r['time']} | {r['rules']} |\n"
        for r in rows
    )


def main() -> None:
    """Run the benchmark and write bench/results/quality_direct.md."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--first-seed", type=int, default=0, help="seeds are first-seed .. first-seed + seeds - 1")
    parser.add_argument("--out", default=str(RESULTS), help="where to write the markdown results")
    parser.add_argument("--sizes", default="10,20,40")
    parser.add_argument("--behaviours", default="1", help="0 to skip the behaviour labels")
    args = parser.parse_args()
    if not DATA.exists():
        sys.exit(f"data not found at {DATA}")
    sizes = [int(s) for s in args.sizes.split(",")]
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    records = load_taubench()
    task_items = [LabeledItem(r["trace"], r["group"], r["good"]) for r in records]
    rows = evaluate(task_items, sizes, seeds, "task_success")
    out = [
        "# Offline generator quality, called directly (tau-bench airline)",
        "",
        f"200 traces, 50 tasks; split by task (half the tasks train, half held out); {len(seeds)} seeds "
        f"({seeds[0]}..{seeds[-1]}); "
        "median [min, max] over seeds. Machine shared and noisy: times are indicative.",
        "",
        "## Task success (the benchmark's label)",
        "",
        table(rows),
    ]
    print(table(rows))
    if args.behaviours != "0":
        behaviour_rows = []
        rates = []
        for name, rule in BEHAVIOURS.items():
            items = [LabeledItem(r["trace"], r["group"], rule(r["trace"])) for r in records]
            rates.append(f"- `{name}`: {rule.__doc__} ({sum(i.good for i in items)} of {len(items)} good)")
            behaviour_rows += evaluate(items, [20], seeds, name)
        print(table(behaviour_rows))
        out += ["## Behaviour labels defined on these traces (n = 20)", "", *rates, "", table(behaviour_rows)]
    out_path = Path(args.out)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
