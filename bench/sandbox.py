"""Sandbox throughput (BENCHMARKS.md section 2): in-process exec vs batch sandbox vs a process per trace.

Prints a markdown table (medians over repeats) and writes bench/results/sandbox.md.
Not covered here: one eval over 10,000 traces through the execute API (needs the execution
state machine; measured by the API benchmark once it exists).
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from chalicelib.sandbox import run_batch, sandbox_capabilities, validate_code  # noqa: E402

EVAL = '''
import re

REFUND = re.compile(r"\\b(refund|cancel)\\w*", re.IGNORECASE)

def eval_cheap(trace):
    steps = trace.get("steps", [])
    tools = trace.get("stats", {}).get("tool_calls", 0)
    answer = trace.get("output", {}).get("text", "")
    if REFUND.search(answer) and tools == 0:
        return False, "refund promised without a tool call"
    return True, f"{len(steps)} steps, {tools} tools"
'''

TRACES = 1000
NAIVE_TRACES = 50
REPEATS = 5


def make_traces(n: int) -> list[dict]:
    """Synthetic unified traces of about 5 KB each."""
    traces = []
    for i in range(n):
        steps = [{"id": f"s{j}", "type": "llm" if j % 2 else "tool", "name": f"step {j}",
                  "input": {"text": "customer asks about booking " + "x" * 180},
                  "output": {"text": "assistant answers politely " + "y" * 180},
                  "tool_calls": [], "metadata": {"k": j}} for j in range(10)]
        traces.append({"id": f"trace-{i}", "input": {"text": "please help"},
                       "output": {"text": ("I will refund you. " if i % 4 == 0 else "Done. ") + "z" * 200},
                       "steps": steps, "stats": {"steps": 10, "tool_calls": i % 3}})
    return traces


def time_in_process(traces: list[dict]) -> float:
    namespace: dict = {}
    exec(compile(EVAL, "<eval>", "exec"), namespace)
    fn = namespace["eval_cheap"]
    started = time.perf_counter()
    for trace in traces:
        fn(trace)
    return time.perf_counter() - started


def time_in_process_from_json(lines: list[str]) -> float:
    namespace: dict = {}
    exec(compile(EVAL, "<eval>", "exec"), namespace)
    fn = namespace["eval_cheap"]
    started = time.perf_counter()
    for line in lines:
        fn(json.loads(line))
    return time.perf_counter() - started


def time_batch(traces: list[dict]) -> float:
    started = time.perf_counter()
    results = run_batch(EVAL, traces)
    elapsed = time.perf_counter() - started
    assert len(results) == len(traces) and all(r.result in ("pass", "fail") for r in results)
    return elapsed


def time_naive(traces: list[dict]) -> float:
    started = time.perf_counter()
    for trace in traces:
        run_batch(EVAL, [trace])
    return time.perf_counter() - started


def main() -> str:
    validate_code(EVAL)
    traces = make_traces(TRACES)
    lines = [json.dumps(t) for t in traces]
    size = statistics.mean(len(line) for line in lines)
    sandbox_capabilities()  # warm the interpreter's file cache
    per_trace = {
        "in-process exec (dicts in memory)": [time_in_process(traces) / TRACES for _ in range(REPEATS)],
        "in-process exec (json.loads each trace)": [time_in_process_from_json(lines) / TRACES for _ in range(REPEATS)],
        "sandbox batch (run_batch, one child)": [time_batch(traces) / TRACES for _ in range(REPEATS)],
        "process per trace (run_batch per trace)": [time_naive(traces[:NAIVE_TRACES]) / NAIVE_TRACES
                                                   for _ in range(REPEATS)],
    }
    med = {name: statistics.median(values) for name, values in per_trace.items()}
    layers = sandbox_capabilities()
    rows = [
        "# Sandbox throughput",
        "",
        f"Cheap eval (dict lookups + one regex), {TRACES} synthetic traces of ~{size / 1024:.1f} KB; "
        f"process-per-trace over {NAIVE_TRACES} traces, extrapolated per trace. Median of {REPEATS} runs.",
        f"Child layers: {', '.join(f'{k}={v.split()[0]}' for k, v in layers.items())}.",
        "",
        "| mode | ms per trace (median) | min | max | 1,000 traces (s) |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, values in per_trace.items():
        rows.append(f"| {name} | {med[name] * 1000:.4f} | {min(values) * 1000:.4f} | "
                    f"{max(values) * 1000:.4f} | {med[name] * TRACES:.3f} |")
    batch = med["sandbox batch (run_batch, one child)"]
    start_up = med["process per trace (run_batch per trace)"]
    steady = max(batch - start_up / TRACES, 0.0)
    rows.append(f"| sandbox batch minus one child start-up (steady state) | {steady * 1000:.4f} | | | |")
    rows += [
        "",
        "| ratio | value |",
        "|---|---:|",
        f"| sandbox / in-process (dicts) | {batch / med['in-process exec (dicts in memory)']:.1f}x |",
        f"| sandbox / in-process (json.loads) | {batch / med['in-process exec (json.loads each trace)']:.1f}x |",
        f"| sandbox steady state / in-process (json.loads) | {steady / med['in-process exec (json.loads each trace)']:.1f}x |",
        f"| naive / sandbox | {med['process per trace (run_batch per trace)'] / batch:.0f}x |",
        "",
        "Not measured here: one eval over 10,000 traces through the execute API end to end "
        "(needs the execution state machine).",
    ]
    table = "\n".join(rows) + "\n"
    out = ROOT / "bench" / "results" / "sandbox.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(table)
    return table


if __name__ == "__main__":
    print(main())
