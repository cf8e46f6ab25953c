"""Synthetic agent benchmarks through the product's API: the machinery ``bench/helpdesk.py`` and
``bench/returns.py`` share.

An agent benchmark is a seeded simulator (``make_traces(seed) -> list[Case]``: unified traces built with
``Conversation``, each with its task group and the simulator's hidden facts) and criteria in plain words,
each labelled by an explicit function (``judge(trace, case)``) and flipped for ``noise`` of the traces
(seeded per criterion and trace: imperfect raters). ``run_benchmark`` uploads the traces through
``POST /v1/traces/upload?format=unified``, reads them back with ``GET /v1/traces/{id}``, and per criterion,
n and seed splits by task (``split_by_group``), rates the n training traces through the feedback API,
generates offline (job), executes the eval on the held-out traces and scores it against the labels, with
the majority class and the best single rule on the same split (``bench.quality.score_run``).
``--direct`` calls the generator in-process instead (the development loop; it writes nothing).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import re
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.common import RESULTS_DIR, Report, log
from bench.criteria import Criterion, calls
from chalicelib.generation.evaluation import (
    LabeledItem,
    best_single_rule,
    majority_baseline,
    run_predictor,
    score_predictions,
    split_by_group,
)

GROUPS = ("development", "held-out")


# --- building traces ----------------------------------------------------------------------------

@dataclass
class Case:
    """One synthetic trace, its task group and the hidden facts of the conversation."""

    trace: dict[str, Any]
    group: str
    intent: str
    resolved: bool  # the problem the user came with is fixed at the end (a labelling function's input)
    facts: dict[str, Any] = field(default_factory=dict)


class Conversation:
    """Builds one unified trace turn by turn."""

    def __init__(self, trace_id: str, started: dt.datetime, rng: random.Random):
        self.trace_id = trace_id
        self.rng = rng
        self.clock = started
        self.messages: list[dict[str, Any]] = []
        self.calls: list[dict[str, Any]] = []
        self.steps: list[dict[str, Any]] = []
        self.llm_calls = 0

    def _tick(self, low: int, high: int) -> str:
        self.clock += dt.timedelta(milliseconds=self.rng.randint(low, high))
        return self.clock.isoformat().replace("+00:00", "Z")

    def user(self, text: str) -> None:
        self._tick(2000, 15000)
        self.messages.append({"role": "user", "content": text})

    def say(self, text: str) -> None:
        self.llm_calls += 1
        self._tick(600, 2500)
        self.messages.append({"role": "assistant", "content": text})

    def call(self, name: str, arguments: dict[str, Any], result: Any = None, error: str | None = None) -> bool:
        """The assistant calls a tool; the tool answers (result or error). True when it succeeded."""
        self.llm_calls += 1
        call_id = f"call_{len(self.calls) + 1:02d}"
        start = self._tick(500, 2000)
        end = self._tick(50, 900 if error is None else 8000)
        step_id = f"{self.trace_id}-s{len(self.steps) + 1}"
        self.messages.append({"role": "assistant", "content": "",
                              "tool_calls": [{"id": call_id, "name": name, "arguments": arguments}]})
        self.messages.append({"role": "tool", "tool_call_id": call_id, "name": name,
                              "content": error if error is not None else result})
        self.calls.append({"id": call_id, "name": name, "arguments": arguments, "result": result, "error": error,
                           "step_id": step_id})
        self.steps.append({"id": step_id, "type": "tool", "name": name, "start_time": start, "end_time": end,
                           "input": arguments, "output": result, "error": error})
        return error is None

    def trace(self, name: str, user_id: str, session: str, started: dt.datetime,
              tags: Sequence[str] = ("synthetic",)) -> dict[str, Any]:
        final = next((m["content"] for m in reversed(self.messages) if m["role"] == "assistant" and m["content"]), "")
        latency = int((self.clock - started).total_seconds() * 1000)
        return {
            "id": self.trace_id, "schema_version": 1,
            "source": {"platform": "upload", "external_id": self.trace_id},
            "name": name, "timestamp": started.isoformat().replace("+00:00", "Z"),
            "user_id": user_id, "session_id": session, "tags": list(tags), "metadata": {},
            "input": self.messages[0]["content"], "output": final, "messages": self.messages,
            "tool_calls": self.calls, "steps": self.steps,
            "stats": {"steps": len(self.steps) + self.llm_calls, "llm_calls": self.llm_calls,
                      "tool_calls": len(self.calls), "tool_errors": sum(1 for c in self.calls if c["error"]),
                      "latency_ms": latency, "input_tokens": 0, "output_tokens": 0, "cost_usd": None},
            "error": None,
        }


def attempts_of(tasks: Sequence[Any], attempts: int, rng: random.Random, start: dt.datetime, minutes: int,
                simulate: Callable[[Any, int, random.Random, dt.datetime], Case]) -> list[Case]:
    """``attempts`` simulated attempts at each task, in order, one every ``minutes`` from ``start``."""
    cases = []
    for k, task in enumerate(tasks):
        for attempt in range(attempts):
            cases.append(simulate(task, attempt, rng, start + dt.timedelta(minutes=minutes * (k * attempts + attempt))))
    return cases


# --- reading traces (labelling functions) --------------------------------------------------------

def every_call_after(trace: dict[str, Any], tools: set[str],
                     prior: Callable[[dict[str, Any], dict[str, Any]], bool]) -> bool:
    """Each call to one of ``tools`` had an earlier error-free call p for which ``prior(p, call)`` holds."""
    seen: list[dict[str, Any]] = []
    for call in calls(trace):
        if call["name"] in tools and not any(prior(p, call) for p in seen):
            return False
        if not call.get("error"):
            seen.append(call)
    return True


# --- one benchmark -------------------------------------------------------------------------------

@dataclass(frozen=True)
class AgentBenchmark:
    """A synthetic agent, its criteria and how its report is written."""

    name: str  # the bench script (bench/<name>.py) and its report (bench/results/<name>.md)
    title: str
    make_traces: Callable[[int], list[Case]]
    criteria: tuple[Criterion, ...]
    headline: tuple[str, ...]  # criteria run first, at every --sizes
    noise: float
    tasks: int
    traces_module: str  # where the traces come from, for the report


def labelled(bench: AgentBenchmark, criterion: Criterion, traces: dict[str, dict[str, Any]],
             cases: Sequence[Case]) -> list[LabeledItem]:
    """The criterion's labels on the stored traces (by external id), each flipped with probability ``noise``."""
    items = []
    for case in cases:
        trace = traces[case.trace["id"]]
        good = criterion.judge(trace, case)
        if random.Random(f"noise-{criterion.name}-{case.trace['id']}").random() < bench.noise:
            good = not good
        items.append(LabeledItem(trace, case.group, good))
    return items


@dataclass
class Outcome:
    criterion: str
    n: int
    seed: int
    product: Any
    majority: Any
    single_rule: Any
    seconds: float
    estimate: float | None = None


def run_direct(criterion: Criterion, items: Sequence[LabeledItem], n: int, seed: int) -> Outcome:
    """The generator called in-process (development loop only)."""
    from chalicelib.generation.base import GenerationRequest, LabeledTrace
    from chalicelib.generation.offline import OfflineGenerator, load_eval

    split = split_by_group(items, n_train=n, seed=seed)
    started = time.perf_counter()
    request = GenerationRequest(eval_name=criterion.name, criteria=criterion.text, candidates=1, examples=[
        LabeledTrace(trace=i.trace, rating="positive" if i.good else "negative") for i in split.train])
    check = load_eval(OfflineGenerator().generate(request).candidates[0].code)
    seconds = time.perf_counter() - started
    single, _ = best_single_rule(split.train)
    return Outcome(criterion.name, n, seed,
                   score_predictions(split.heldout, run_predictor(lambda t: check(t)[0], split.heldout)),
                   score_predictions(split.heldout, run_predictor(majority_baseline(split.train), split.heldout)),
                   score_predictions(split.heldout, run_predictor(single, split.heldout)), seconds)


def upload(api: Any, cases: Sequence[Case]) -> dict[str, dict[str, Any]]:
    """Upload the traces as unified JSON Lines; {external id: the stored trace, as the API returns it}."""
    body = "\n".join(json.dumps(case.trace) for case in cases)
    job = api.ok("POST", "/traces/upload?format=unified", status=202, content=body.encode(),
                 headers={"Content-Type": "application/x-ndjson"})
    done = api.wait_job(job["job_id"], timeout_s=600)
    if done["status"] != "succeeded":
        raise RuntimeError(f"upload ended {done['status']}: {done.get('error')}")
    listed = api.list_all("/traces")
    return {t["source"]["external_id"]: api.ok("GET", f"/traces/{t['id']}") for t in listed}


def kappa(metrics: Any) -> float:
    return metrics.cohen_kappa if metrics.cohen_kappa is not None else 0.0


def summary(values: Sequence[float]) -> str:
    return f"{statistics.median(values):.2f} [{min(values):.2f}, {max(values):.2f}]"


def rows_for(outcomes: Sequence[Outcome], criteria: Sequence[Criterion]) -> list[list[str]]:
    rows = []
    for c in criteria:
        for n in dict.fromkeys(o.n for o in outcomes if o.criterion == c.name):
            group = [o for o in outcomes if o.criterion == c.name and o.n == n]
            rows.append([c.name, str(n), str(len(group)), summary([kappa(o.product) for o in group]),
                         summary([kappa(o.single_rule) for o in group]), summary([kappa(o.majority) for o in group]),
                         summary([o.product.accuracy or 0.0 for o in group]),
                         summary([o.single_rule.accuracy or 0.0 for o in group]),
                         f"{statistics.median([o.seconds for o in group]):.1f} s"])
    return rows


def hand_sections(path: Path) -> str:
    """The report's hand-written sections (a "## " heading on), kept across reruns."""
    if not path.exists():
        return ""
    parts = re.split(r"(?m)^(?=## )", path.read_text())[1:]
    return "".join(parts)


def write_report(bench: AgentBenchmark, chosen: Sequence[Criterion], rates: dict[str, int],
                 outcomes: Sequence[Outcome], traces: int) -> None:
    """bench/results/<name>.md from the criteria run so far (hand-written "## " sections are kept)."""
    kept = hand_sections(RESULTS_DIR / f"{bench.name}.md")
    report = Report(bench.name, bench.title)
    for group in GROUPS:
        members = [c for c in chosen if c.group == group]
        if not members:
            continue
        report.table(["criterion", "behaviour", "the criteria, as the eval set states them", "how the label is computed",
                      "good"],
                     [[c.name, c.behaviour, c.text, " ".join((c.judge.__doc__ or "").split()),
                       f"{rates[c.name]} of {traces}"] for c in members],
                     caption=f"**{group.capitalize()} criteria.**")
        report.table(["criterion", "n", "seeds", "iofold offline (API): kappa", "best single rule: kappa",
                      "majority: kappa", "iofold: accuracy", "best single rule: accuracy", "generation"],
                     rows_for(outcomes, members),
                     caption=f"{group.capitalize()}: {traces} traces, {bench.tasks} tasks, split by task (half the "
                             f"tasks train, half held out); median [min, max] over seeds; labels {bench.noise:.0%} noisy.")
    report.note(f"Traces: `{bench.traces_module}` (seed 0), uploaded through "
                f"`POST /v1/traces/upload?format=unified`; labels computed by the functions in `bench/{bench.name}.py` "
                "on the stored traces.")
    path = report.write()
    if kept:
        path.write_text(path.read_text() + "\n" + kept)


def run_benchmark(bench: AgentBenchmark, argv: list[str] | None, doc: str | None) -> None:
    """The command line of an agent benchmark: through the API (writes the report) unless --direct."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--sizes", default="10,20,40")
    parser.add_argument("--other-sizes", default="", help="n for the criteria not in the headline (default: --sizes)")
    parser.add_argument("--only", default="", help="comma-separated criterion names (default: all)")
    parser.add_argument("--groups", default=",".join(GROUPS), help="criteria groups to run (default: all)")
    parser.add_argument("--direct", action="store_true", help="call the generator in-process; print, write nothing")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    other_sizes = [int(s) for s in (args.other_sizes or args.sizes).split(",")]
    chosen = [c for c in bench.criteria if (not args.only or c.name in args.only.split(","))
              and c.group in args.groups.split(",")]
    chosen.sort(key=lambda c: c.name not in bench.headline)
    cases = bench.make_traces(0)
    outcomes: list[Outcome] = []
    if args.direct:
        traces = {case.trace["id"]: case.trace for case in cases}
        for c in chosen:
            items = labelled(bench, c, traces, cases)
            for n in sizes if c.name in bench.headline else other_sizes:
                got = [run_direct(c, items, n, seed) for seed in range(args.seeds)]
                log(f"{c.name} n={n}: kappa {summary([kappa(o.product) for o in got])} "
                    f"(single rule {summary([kappa(o.single_rule) for o in got])})")
        return

    from bench.common import local_stack
    from bench.quality import score_run

    with local_stack() as stack:
        api = stack.new_workspace(f"bench-{bench.name}")
        started = time.perf_counter()
        traces = upload(api, cases)
        log(f"uploaded {len(traces)} traces in {time.perf_counter() - started:.1f}s")
        rates = {}
        for c in chosen:
            items = labelled(bench, c, traces, cases)
            rates[c.name] = sum(i.good for i in items)
            for n in sizes if c.name in bench.headline else other_sizes:
                for seed in range(args.seeds):
                    run = score_run(api, items, c.name, n, seed, criteria=c.text)
                    outcomes.append(Outcome(c.name, n, seed, run.product, run.majority, run.single_rule,
                                            run.generation_s, run.estimate))
                    log(f"{c.name} n={n} seed={seed}: kappa {kappa(run.product):+.2f} "
                        f"(single rule {kappa(run.single_rule):+.2f}), {run.generation_s:.1f}s")
            write_report(bench, [m for m in chosen if m.name in rates], rates, outcomes, len(cases))  # after each
        api.close()
