"""BENCHMARKS.md §1 through the product's API: eval quality on labeled tau-bench traces.

The local stack runs in this process (moto, the real state machines, the app's handlers,
the Chalice HTTP server). The 200 tau-bench airline traces are served by the fake Langfuse
server and imported through a Langfuse integration. Then, for each label, training size n
and seed: the traces are split by task (``split_by_group``, never by trace), an eval set is
created, the n training traces are rated through the feedback API, the offline generator
runs as a job, the generated version is executed on every held-out trace, and its results
(read back from ``GET /evals/{id}/executions``) are scored against the labels.

Baselines on the same splits: the training majority class and the best single feature
rule on the training split (``chalicelib.generation.evaluation``). Also reported: the
product's own held-out estimate (``version.generation.heldout_accuracy``, cross-validated
on the rated traces) against the held-out accuracy measured here.

    .venv/bin/python -m bench.quality [--seeds 5] [--sizes 10,20,40] [--behaviours 1]
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from bench.common import RESULTS_DIR, TAUBENCH, ApiClient, Report, log, median
from bench.quality_direct import BEHAVIOURS
from chalicelib.generation.evaluation import (
    LabeledItem,
    Split,
    best_single_rule,
    majority_baseline,
    run_predictor,
    score_predictions,
    split_by_group,
)
from chalicelib.metrics import Metrics
from infra.local.fake_langfuse import FakeLangfuse

TASK_LABEL = "task_success"
CRITERIA = {
    TASK_LABEL: "Good when the agent completed the customer's task as the airline policy allows.",
    "consent_before_change": "Good when every booking, update or cancellation came right after the user said yes.",
    "priced_before_charging": "Good when the agent priced (calculate) before every booking or flight change.",
    "retried_after_tool_error": "Good when a failed tool call was retried successfully.",
}
BEHAVIOUR_SIZE = 20
JOB_TIMEOUT_S = 900


@dataclass
class Run:
    """One (label, n, seed): the product's eval and the baselines, scored on the held-out traces."""

    label: str
    n: int
    seed: int
    heldout: int
    product: Metrics
    majority: Metrics
    single_rule: Metrics
    single_rule_text: str
    generation_s: float
    estimate: float | None
    errors: int
    code: str = field(repr=False)


def load_dataset() -> tuple[list[dict[str, Any]], dict[str, tuple[str, bool]]]:
    """The Langfuse trace bodies and {external id: (task, good)} from labels.csv."""
    with gzip.open(TAUBENCH / "traces.langfuse.jsonl.gz", "rt", encoding="utf-8") as handle:
        bodies = [json.loads(line) for line in handle if line.strip()]
    with (TAUBENCH / "labels.csv").open() as handle:
        labels = {row["trace_id"]: (row["group"], row["label"] == "good") for row in csv.DictReader(handle)}
    return bodies, labels


def import_traces(api: ApiClient, bodies: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Import the bodies through a Langfuse integration; {external id: unified trace as the API returns it}."""
    with FakeLangfuse(bodies) as fake:
        integration = api.ok("POST", "/integrations", status=201, json={
            "platform": "langfuse", "name": "tau-bench", "base_url": fake.base_url,
            "credentials": {"public_key": fake.public_key, "secret_key": fake.secret_key}})
        job = api.ok("POST", "/traces/import", status=202, json={"integration_id": integration["id"], "filters": {}})
        done = api.wait_job(job["job_id"], timeout_s=JOB_TIMEOUT_S)
    if done["status"] != "succeeded":
        raise RuntimeError(f"import ended {done['status']}: {done.get('error')}")
    listed = api.list_all("/traces")
    return {t["source"]["external_id"]: api.ok("GET", f"/traces/{t['id']}") for t in listed}


def run_product(api: ApiClient, label: str, split: Split, seed: int,
                criteria: str | None = None) -> tuple[dict[str, str], dict[str, Any], float]:
    """Rate the training traces, generate offline, execute on the held-out ones; (results by trace id, version, s).
    The eval set's criteria: ``criteria``, or this benchmark's own for the label."""
    eval_set = api.ok("POST", "/eval-sets", status=201, json={
        "name": f"{label} n={len(split.train)} seed={seed}", "description": "bench.quality",
        "criteria": CRITERIA.get(label, "") if criteria is None else criteria})
    for item in split.train:
        api.ok("PUT", f"/eval-sets/{eval_set['id']}/feedback/{item.trace['id']}",
               json={"rating": "positive" if item.good else "negative", "notes": ""})
    started = time.perf_counter()
    job = api.ok("POST", f"/eval-sets/{eval_set['id']}/generate", status=202, json={"generator": "offline"})
    done = api.wait_job(job["job_id"], timeout_s=JOB_TIMEOUT_S, poll_s=0.1)
    seconds = time.perf_counter() - started
    if done["status"] != "succeeded":
        raise RuntimeError(f"generation ended {done['status']}: {done.get('error')}")
    eval_id = done["result"]["eval_id"]
    version = api.ok("GET", f"/evals/{eval_id}")
    heldout_ids = [item.trace["id"] for item in split.heldout]
    run = api.ok("POST", f"/evals/{eval_id}/execute", status=202, json={"trace_ids": heldout_ids})
    finished = api.wait_job(run["job_id"], timeout_s=JOB_TIMEOUT_S, poll_s=0.1)
    if finished["status"] != "succeeded":
        raise RuntimeError(f"execution ended {finished['status']}: {finished.get('error')}")
    results = {e["trace_id"]: e["result"] for e in api.list_all(f"/evals/{eval_id}/executions")}
    return results, version, seconds


def score_run(api: ApiClient, items: Sequence[LabeledItem], label: str, n: int, seed: int,
              criteria: str | None = None) -> Run:
    """One (label, n, seed) through the API, with the baselines on the same split."""
    split = split_by_group(items, n_train=n, seed=seed)
    results, version, seconds = run_product(api, label, split, seed, criteria)
    heldout_results = [results.get(item.trace["id"]) for item in split.heldout]
    single, single_text = best_single_rule(split.train)
    return Run(
        label=label, n=n, seed=seed, heldout=len(split.heldout),
        product=score_predictions(split.heldout, heldout_results),
        majority=score_predictions(split.heldout, run_predictor(majority_baseline(split.train), split.heldout)),
        single_rule=score_predictions(split.heldout, run_predictor(single, split.heldout)),
        single_rule_text=single_text, generation_s=seconds,
        estimate=(version.get("generation") or {}).get("heldout_accuracy"),
        errors=sum(r not in ("pass", "fail") for r in heldout_results), code=version["code"])


def summary(values: Sequence[float | None]) -> str:
    """median [min, max], undefined values left out."""
    defined = [v for v in values if v is not None]
    if not defined:
        return "n/a"
    return f"{median(defined):.2f} [{min(defined):.2f}, {max(defined):.2f}]"


def metric_rows(runs: Sequence[Run]) -> list[list[str]]:
    """Per (label, n): a row for the product and each baseline."""
    rows = []
    for key in dict.fromkeys((r.label, r.n) for r in runs):
        group = [r for r in runs if (r.label, r.n) == key]
        methods: list[tuple[str, Callable[[Run], Metrics]]] = [
            ("iofold offline (API)", lambda r: r.product), ("majority class", lambda r: r.majority),
            ("best single rule", lambda r: r.single_rule)]
        for method, pick in methods:
            ms = [pick(r) for r in group]
            rows.append([key[0], str(key[1]), method, summary([m.accuracy for m in ms]),
                         summary([m.f1 if m.f1 is not None else 0.0 for m in ms]),
                         summary([m.cohen_kappa if m.cohen_kappa is not None else 0.0 for m in ms]),
                         f"{median([r.generation_s for r in group]):.1f} s" if method.startswith("iofold") else "",
                         str(sum(r.errors for r in group)) if method.startswith("iofold") else ""])
    return rows


def honesty_rows(runs: Sequence[Run]) -> list[list[str]]:
    """Per (label, n): the product's cross-validated estimate against the measured held-out accuracy."""
    rows = []
    for key in dict.fromkeys((r.label, r.n) for r in runs):
        group = [r for r in runs if (r.label, r.n) == key and r.estimate is not None and r.product.accuracy is not None]
        if not group:
            continue
        gaps = [r.estimate - r.product.accuracy for r in group]
        rows.append([key[0], str(key[1]), summary([r.estimate for r in group]),
                     summary([r.product.accuracy for r in group]), f"{median(gaps):+.2f}",
                     f"{sum(abs(g) for g in gaps) / len(gaps):.2f}"])
    return rows


def kept_sections(text: str) -> str:
    """The sections other scripts or people maintain in the report (a "## " heading on, e.g. the calibration
    section bench/calibration.py's owner edits), kept across reruns; not the hand notes about the previous run."""
    parts = re.split(r"(?m)^(?=## )", text)[1:]
    return "".join(p for p in parts if not p.startswith("## Notes"))


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark through the API and write bench/results/quality.md (keeping ``kept_sections``)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--sizes", default="10,20,40")
    parser.add_argument("--behaviours", type=int, default=1, help="0 to skip the behaviour labels")
    args = parser.parse_args(argv)
    if not TAUBENCH.exists():
        raise SystemExit(f"data not found at {TAUBENCH}")
    sizes = [int(s) for s in args.sizes.split(",")]
    seeds = list(range(args.seeds))
    bodies, labels = load_dataset()

    from bench.common import local_stack

    runs: list[Run] = []
    with local_stack() as stack:
        api = stack.new_workspace("bench-quality")
        started = time.perf_counter()
        traces = import_traces(api, bodies)
        log(f"imported {len(traces)} traces in {time.perf_counter() - started:.1f}s")
        tasks = {TASK_LABEL: [LabeledItem(traces[ext], group, good) for ext, (group, good) in labels.items()]}
        label_sizes = {TASK_LABEL: sizes}
        if args.behaviours:
            for name, rule in BEHAVIOURS.items():
                tasks[name] = [LabeledItem(traces[ext], group, rule(traces[ext])) for ext, (group, _) in labels.items()]
                label_sizes[name] = [BEHAVIOUR_SIZE]
        for label, items in tasks.items():
            for n in label_sizes[label]:
                for seed in seeds:
                    run = score_run(api, items, label, n, seed)
                    runs.append(run)
                    log(f"{label} n={n} seed={seed}: held-out acc {run.product.accuracy:.2f} "
                        f"kappa {run.product.cohen_kappa or 0:+.2f} (single rule {run.single_rule.cohen_kappa or 0:+.2f}), "
                        f"estimate {run.estimate}, generation {run.generation_s:.1f}s")
        api.close()

    report = Report("quality", "Eval quality through the API (tau-bench airline)")
    report.table(["label", "n", "method", "held-out accuracy", "F1 (good)", "Cohen's kappa", "generation", "errors"],
                 metric_rows(runs),
                 caption=f"200 traces, 50 tasks; split by task (half the tasks train, half held out); "
                         f"{len(seeds)} seeds; median [min, max] over seeds. Generation = POST generate to job end "
                         f"(the generator runs once on all ratings and once per cross-validation fold, candidates "
                         f"are scored in the sandbox); errors = held-out traces whose eval raised or timed out.")
    report.table(["label", "n", "product's held-out estimate", "measured held-out accuracy", "median gap",
                  "mean |gap|"], honesty_rows(runs),
                 caption="Is the product's estimate honest? Its estimate is cross-validated on the n rated traces "
                         "(folds keep each session or user whole: in tau-bench a user is a task); the measurement is on traces of unseen tasks.")
    rates = []
    for label, items in tasks.items():
        rule = BEHAVIOURS.get(label)
        text = rule.__doc__ if rule else "tau-bench reward (task completed, checked against the database)"
        rates.append(f"`{label}`: {text} ({sum(i.good for i in items)} of {len(items)} good)")
    for line in rates:
        report.note(line)
    previous = RESULTS_DIR / "quality.md"
    kept = kept_sections(previous.read_text()) if previous.exists() else ""
    path = report.write()
    if kept:
        path.write_text(path.read_text().rstrip("\n") + "\n\n" + kept)


if __name__ == "__main__":
    main()
