"""Step Functions tasks of generate_eval.asl.json and execute_eval.asl.json. Plain functions:
dependencies are passed in; failures are typed exceptions (TransientGenerationError,
SandboxUnavailable) whose class names the state machines retry on."""

from __future__ import annotations

import json
from typing import Any, Callable, Iterable, Iterator

from pydantic import BaseModel

from chalicelib.codegen import inert
from chalicelib.errors import Conflict
from chalicelib.evals.generation import (
    CV_REPEATS, GeneratedSet, GenerationOutcome, Progress, generate_candidates, select_candidate,
)
from chalicelib.evals.models import EvalVersion, Execution
from chalicelib.evals.estimate import metrics_with_estimate, version_estimate
from chalicelib.evals.refinement import compare_refinement, is_identical, judge_refinement, results_on_ratings
from chalicelib.evals.repository import EvalRepository
from chalicelib.evals.sandbox_client import EncodedTrace, Sandbox
from chalicelib.evals.trends import RESULT_KINDS, count_results
from chalicelib.evals.service import EvalSetLookup
from chalicelib.generation.base import EvalGenerator, GenerationRequest, LabeledTrace
from chalicelib.ids import new_id
from chalicelib.jobs.files import JobFiles
from chalicelib.jobs.repository import JobRepository
from chalicelib.metrics import pct_text
from chalicelib.timeutil import now_iso
from chalicelib.traces.repository import TraceRepository
from chalicelib.traces.timeindex import page_of


STORED_PROMPT_CHARS = 40_000  # a version item must stay well under DynamoDB's 400 KB


class JobEvent(BaseModel):
    """The state every task receives: the job, its params, and what earlier states added."""

    job_id: str
    workspace_id: str
    params: dict[str, Any]

    @property
    def key(self) -> tuple[str, str]:
        return (self.workspace_id, self.job_id)


def _eval_name(name: str) -> str:
    """The eval function's name after ``eval_``, from the set's name: snake_case ASCII."""
    return inert(name, "name", limit=40) or "quality"


# --- generation ------------------------------------------------------------------------

def generate_load(ev: JobEvent, *, eval_sets: EvalSetLookup, traces: TraceRepository, jobs: JobRepository,
                  files: JobFiles) -> dict:
    """Collect the set's ratings of traces in its scope (neutral shown, not trained on) into the job's
    examples file."""
    jobs.mark_running(*ev.key)
    eval_set = eval_sets.get_set(ev.workspace_id, ev.params["eval_set_id"])
    ratings = [{"trace_id": r.trace_id, "rating": r.rating, "notes": r.notes or ""}
               for r in eval_sets.ratings(ev.params["eval_set_id"])]
    scope = getattr(eval_set, "scope", None)
    if scope is not None and not scope.empty:
        summaries = traces.summaries(ev.workspace_id, [r["trace_id"] for r in ratings])
        kept = [r for r in ratings if r["trace_id"] in summaries and scope.keep(summaries[r["trace_id"]])]
        if len(kept) < len(ratings):
            jobs.append_event(ev.key, f"left out {len(ratings) - len(kept)} rated traces outside the set's scope")
        if not ({"positive", "negative"} <= {r["rating"] for r in kept}):
            raise Conflict("the eval set's scope leaves no positive or no negative rating to learn from: "
                           "rate traces in scope, or widen the scope")
        ratings = kept
    doc = {"criteria": getattr(eval_set, "criteria", "") or "", "name": getattr(eval_set, "name", "") or "",
           "ratings": ratings}
    if ev.params.get("refine_from"):
        doc.update(refinement_examples(ratings, ev.params))
    files.put(*ev.key, "examples", doc)
    if ev.params.get("refine_from"):
        jobs.append_event(ev.key, f"refining {ev.params['refine_from']}: {len(doc['ratings'])} original training "
                                  f"examples and {len(doc['failures'])} contradictions", progress=5)
    else:
        jobs.append_event(ev.key, f"loaded {len(ratings)} rated traces", progress=5, data={"stage": "load"})
    return {"loaded": len(doc["ratings"])}


def refinement_examples(ratings: list[dict], params: dict) -> dict:
    """The examples of a refinement: the parent's training traces (as rated now) and its contradictions."""
    training = set(params.get("training_trace_ids") or [])
    contradictions = set(params.get("contradiction_ids") or [])
    examples = [r for r in ratings if r["trace_id"] in training] if training else ratings
    failures = [r for r in ratings if r["trace_id"] in contradictions and r["rating"] != "neutral"]
    return {"ratings": examples, "failures": failures, "previous_code": params.get("previous_code")}


def _request(ev: JobEvent, *, traces: TraceRepository, files: JobFiles, extra: list[dict] | None = None,
             previous_code: str | None = None) -> GenerationRequest:
    doc = files.get(*ev.key, "examples")
    extra = extra if extra is not None else doc.get("failures")
    previous_code = previous_code or doc.get("previous_code")
    bodies = traces.get_many(ev.workspace_id, [r["trace_id"] for r in doc["ratings"] + (extra or [])])
    examples = [LabeledTrace(trace=bodies[r["trace_id"]], rating=r["rating"], notes=r["notes"])
                for r in doc["ratings"] if r["trace_id"] in bodies]
    failures = [LabeledTrace(trace=bodies[r["trace_id"]], rating=r["rating"], notes=r["notes"])
                for r in (extra or []) if r["trace_id"] in bodies]
    p = ev.params
    return GenerationRequest(eval_name=_eval_name(doc["name"]), criteria=doc["criteria"], examples=examples,
                             candidates=p.get("candidates", 3), instructions=p.get("instructions", ""),
                             model=p.get("model"), previous_code=previous_code, previous_failures=failures)


def generate_write(ev: JobEvent, *, generator: EvalGenerator, traces: TraceRepository, jobs: JobRepository,
                   files: JobFiles, request: GenerationRequest | None = None, reason: str = "") -> dict:
    """Write candidates from all examples and per CV fold (the LLM or offline step); record which
    generator ran and why (``reason``) for the job's result."""
    request = request or _request(ev, traces=traces, files=files)
    files.put(*ev.key, "generator", {"generator": generator.name, "reason": reason})
    jobs.append_event(ev.key, f"writing candidates with the {generator.name} generator "
                              f"({reason or 'as configured'}) from {len(request.examples)} examples", progress=10,
                      data={"stage": "candidates", "step": 0, "steps": 1})
    repeats = CV_REPEATS.get(generator.name, 1)
    generated = generate_candidates(request, generator, seed=0, repeats=repeats,
                                    progress=stage_events(jobs, ev.key, {"candidates": (10, 20), "folds": (20, 50)}))
    files.put(*ev.key, "generated", generated.model_dump(mode="json"))
    jobs.append_event(ev.key, f"{len(generated.full.candidates)} candidates written, "
                              f"{len(generated.folds)} cross-validation folds ({repeats} repeat"
                              f"{'s' if repeats > 1 else ''})", progress=50)
    return {"candidates": len(generated.full.candidates)}


def stage_events(jobs: JobRepository, key: tuple[str, str], spans: dict[str, tuple[int, int]]) -> Progress:
    """A generation Progress that appends each stage's step as a job event (``data.stage``, ``step``,
    ``steps``), its progress moved through the stage's (start, end) percent span."""
    def report(stage: str, message: str, step: int, steps: int) -> None:
        start, end = spans[stage]
        jobs.append_event(key, message, progress=start + (end - start) * step // max(steps, 1),
                          data={"stage": stage, "step": step, "steps": steps})
    return report


def generate_test(ev: JobEvent, *, sandbox: Sandbox, traces: TraceRepository, jobs: JobRepository,
                  files: JobFiles, request: GenerationRequest | None = None) -> dict:
    """Score every candidate in the sandbox and choose (held-out agreement first)."""
    request = request or _request(ev, traces=traces, files=files)
    generated = GeneratedSet.model_validate(files.get(*ev.key, "generated"))
    outcome = select_candidate(request, generated, sandbox,
                               progress=stage_events(jobs, ev.key, {"testing": (50, 79)}))
    files.put(*ev.key, "outcome", outcome.model_dump(mode="json"))
    chosen = outcome.chosen
    interval = chosen.heldout_interval
    jobs.append_event(ev.key, f"chose a candidate: training {pct_text(chosen.training_accuracy)}, "
                              f"held-out {pct_text(chosen.heldout_accuracy)}"
                              + (f" (95% {pct_text(interval[0])}–{pct_text(interval[1])})" if interval else ""),
                      progress=80, data={"stage": "save", "step": 0, "steps": 1})
    return {"heldout_accuracy": chosen.heldout_accuracy, "generator": outcome.generator, "cost_usd": outcome.cost_usd,
            "duration_s": outcome.duration_s, "input_tokens": outcome.input_tokens,
            "output_tokens": outcome.output_tokens}


def generate_save(ev: JobEvent, *, evals: EvalRepository, eval_sets: EvalSetLookup, sandbox: Sandbox,
                  traces: TraceRepository, jobs: JobRepository, files: JobFiles) -> dict:
    """Save the chosen code as a new draft version and score it on every rated trace."""
    outcome = GenerationOutcome.model_validate(files.get(*ev.key, "outcome"))
    doc = files.get(*ev.key, "examples")
    eval_set_id = ev.params["eval_set_id"]
    ran = files.get(*ev.key, "generator")
    from chalicelib.evals.generation import function_name_of

    verdict = None
    version = EvalVersion(
        id=new_id("ev"), eval_set_id=eval_set_id, version=0, parent_id=ev.params.get("parent_id"), status="draft",
        name=function_name_of(outcome.chosen.code), code=outcome.chosen.code, generator=outcome.generator,
        model=outcome.model, prompt=_clip(outcome.prompt, STORED_PROMPT_CHARS),
        training_trace_ids=list(dict.fromkeys(r["trace_id"] for r in doc["ratings"] + doc.get("failures", [])
                                              if r["rating"] != "neutral")),
        generation={"training_accuracy": outcome.chosen.training_accuracy,
                    "heldout_accuracy": outcome.chosen.heldout_accuracy,
                    "heldout_raw": outcome.chosen.heldout_raw,
                    "heldout_kappa": outcome.chosen.heldout_kappa, "folds": outcome.chosen.folds,
                    "heldout_interval": outcome.chosen.heldout_interval,
                    "heldout_repeats": outcome.chosen.heldout_repeats,
                    "candidates": [c.model_dump(exclude={"code"}) for c in outcome.candidates],
                    "selection": outcome.selection,
                    "job_id": ev.job_id},
        flags=outcome.flags, input_tokens=outcome.input_tokens, output_tokens=outcome.output_tokens,
        cost_usd=outcome.cost_usd, duration_s=outcome.duration_s,
        created_by=ev.params.get("created_by") or ev.job_id, created_at=now_iso())
    ratings = eval_sets.ratings(eval_set_id)
    scored = None
    if ev.params.get("refine_from"):
        # parent and refinement are judged on the same current ratings (chalicelib/evals/estimate.py)
        parent = evals.get(ev.workspace_id, ev.params["refine_from"])
        pairs = [(r.trace_id, r.rating) for r in ratings]
        before = results_on_ratings(ev.workspace_id, parent, [t for t, _ in pairs], evals=evals, sandbox=sandbox,
                                    traces=traces)
        parent_now = version_estimate(parent, pairs, before)
        parent_now = parent_now.estimate if parent_now else None
        if is_identical(parent.code, outcome.chosen.code):
            verdict = judge_refinement(parent, outcome.chosen.code, outcome.chosen.heldout_accuracy, keep=False,
                                       parent_now=parent_now)
            jobs.append_event(ev.key, verdict.reason, progress=95)
            return {"result": {"saved": False, "refined_from": parent.id,
                               "refinement": verdict.model_dump(mode="json"), "message": verdict.reason,
                               "generator": ran["generator"], "generator_reason": ran["reason"]}}
        scored = run_on_ratings(ev.workspace_id, version, ratings, sandbox=sandbox, traces=traces)
        now = version_estimate(version, pairs, {r.trace_id: r.result for r in scored})
        verdict = judge_refinement(parent, outcome.chosen.code, now.estimate if now else outcome.chosen.heldout_accuracy,
                                   keep=bool(ev.params.get("keep")), parent_now=parent_now)
    rejected = verdict is not None and verdict.outcome == "rejected"
    version = version.model_copy(update={"version": evals.next_version(ev.workspace_id, eval_set_id),
                                         "status": "rejected" if rejected else "draft",
                                         "rejected_reason": verdict.reason if rejected else None})
    evals.add(ev.workspace_id, version)
    metrics = score_on_ratings(ev.workspace_id, version, eval_sets=eval_sets, evals=evals, sandbox=sandbox,
                               traces=traces, ratings=ratings, results=scored)
    metrics.update(training_accuracy=outcome.chosen.training_accuracy,
                   heldout_accuracy=outcome.chosen.heldout_accuracy,
                   heldout_interval=outcome.chosen.heldout_interval)
    evals.update(version, metrics=metrics)
    result = {"eval_id": version.id, "version": version.version, "metrics": metrics, "flags": outcome.flags,
              "generator": ran["generator"], "generator_reason": ran["reason"], "saved": True,
              "status": version.status, "selection": outcome.selection}
    if verdict is not None:
        result["refined_from"] = ev.params["refine_from"]
        result["refinement"] = verdict.model_dump(mode="json")
        if rejected:
            result["message"] = verdict.reason
        result["comparison"] = compare_refinement(ev.workspace_id, evals.get(ev.workspace_id, ev.params["refine_from"]),
                                                  version, eval_sets=eval_sets, evals=evals, sandbox=sandbox,
                                                  traces=traces).model_dump(mode="json")
        jobs.append_event(ev.key, "refined: " + result["comparison"]["summary"], progress=95)
    return {"result": result}


def run_on_ratings(workspace_id: str, version: EvalVersion, ratings: list, *, sandbox: Sandbox,
                   traces: TraceRepository) -> list:
    """Run a version's code on the rated traces (present ones) in the sandbox, storing nothing."""
    bodies = traces.get_many(workspace_id, [r.trace_id for r in ratings])
    return sandbox.run(version.code, [bodies[r.trace_id] for r in ratings if r.trace_id in bodies])


def score_on_ratings(workspace_id: str, version: EvalVersion, *, eval_sets: EvalSetLookup, evals: EvalRepository,
                     sandbox: Sandbox, traces: TraceRepository, ratings: list | None = None,
                     results: list | None = None) -> dict:
    """Run a version on every rated trace of its set (unless ``results`` of that run are given), store the results,
    return its metrics with its estimate on the ratings (chalicelib/evals/estimate.py)."""
    ratings = eval_sets.ratings(version.eval_set_id) if ratings is None else ratings
    if results is None:
        results = run_on_ratings(workspace_id, version, ratings, sandbox=sandbox, traces=traces)
    evals.put_executions(_executions(version.id, results))
    by_trace = {r.trace_id: r.result for r in results}
    return metrics_with_estimate(version, [(r.trace_id, r.rating) for r in ratings], by_trace)


def _executions(eval_id: str, results) -> list[Execution]:
    at = now_iso()
    return [Execution(eval_id=eval_id, trace_id=r.trace_id, result=r.result, reason=r.reason,
                      duration_ms=r.duration_ms, stdout=r.stdout, stderr=r.stderr, executed_at=at) for r in results]


def _clip(text: str | None, limit: int) -> str | None:
    if text is None or len(text) <= limit:
        return text
    return text[:limit] + f"\n… [{len(text) - limit} more characters not stored]"


# --- execution -------------------------------------------------------------------------

RESULTS_FOLDER = "results"  # where the run's ResultWriter writes its children's results
_PAGE = 100  # ids checked per BatchGetItem
WINDOW_CHUNKS = 64  # chunks' worth of listed ids that prepare orders by body page before cutting them


# a page of ids, with the time-index slot of each when they were listed without reading their items (else None)
ListedPage = tuple[list[str], list[str | None] | None]


def execute_prepare(ev: JobEvent, *, evals: EvalRepository, traces: TraceRepository, jobs: JobRepository,
                    files: JobFiles, chunk_size: int, trace_id_pages: Callable[[str, dict | None], Iterable[ListedPage]],
                    max_concurrency: int, tolerated_failure_percent: float) -> dict:
    """Resolve the trace ids page by page (dropping those already done when only_missing), write them in
    chunks and a manifest of the chunks to S3: what the Distributed Map reads. No more than a page and a
    window of ids (WINDOW_CHUNKS chunks) is held at once (the requested ids of a request are at most 20,000).
    An unfiltered run lists the time index without reading the traces' items (``index_entries``): a chunk
    keeps the slot each such id was listed from, and the chunk's own read of the traces drops stale entries
    (``total`` counts them; the run's results count what ran). Within a window the ids whose bodies share an
    import page go to the same chunk (``_by_page``), so a chunk reads a few page objects however the
    imports spread their traces in time."""
    jobs.mark_running(*ev.key)
    eval_id = ev.params["eval_id"]
    evals.get(ev.workspace_id, eval_id)
    pages: Iterable[ListedPage]
    if ev.params.get("trace_ids") or ev.params.get("trace_ids_file"):
        pages = ((ids, None) for ids in _requested_pages(ev, traces=traces, files=files))
    else:
        pages = trace_id_pages(ev.workspace_id, ev.params.get("filters"))
    manifest: list[dict] = []
    window: dict[str, list[str | None]] = {}  # id → the slots it was listed from ([] when checked)
    total = skipped = 0

    def flush(ids: list[str]) -> None:
        slots = {t: window[t] for t in ids if window[t]}
        files.put(*ev.key, f"chunk-{len(manifest)}", {"ids": ids, "slots": slots} if slots else ids)
        manifest.append({"chunk": len(manifest), "size": len(ids)})

    def cut() -> None:
        order = _by_page(window)
        for i in range(0, len(order), chunk_size):
            flush(order[i:i + chunk_size])
        window.clear()

    for ids, slots in pages:
        entries = list(zip(ids, slots)) if slots is not None else [(t, None) for t in ids]
        if ev.params.get("only_missing") and ids:
            done = {trace_id for _, trace_id in evals.results_for([eval_id], ids)}
            skipped += len(done)
            entries = [e for e in entries if e[0] not in done]
        for trace_id, slot in entries:
            if trace_id in window:  # listed twice (once from a stale entry): one chunk, checked against both
                if slots is not None and window[trace_id]:
                    window[trace_id].append(slot)
                continue
            window[trace_id] = [slot] if slots is not None else []
            total += 1
            if len(window) == WINDOW_CHUNKS * chunk_size:
                cut()
    if window:
        cut()
    files.put(*ev.key, "manifest", manifest)
    files.put(*ev.key, "plan", {"total": total, "skipped": skipped})
    jobs.append_event(ev.key, f"running on {total} traces in {len(manifest)} chunks"
                              + (f" ({skipped} already had results)" if skipped else ""), progress=1,
                      data={"total": total, "chunks": len(manifest), "skipped": skipped})
    return {"total": total, "manifest": files.location(*ev.key, "manifest"),
            "results": files.folder(*ev.key, RESULTS_FOLDER), "max_concurrency": max_concurrency,
            "tolerated_failure_percentage": tolerated_failure_percent}


def _by_page(window: dict[str, list[str | None]]) -> list[str]:
    """The window's ids, those listed from the same import page together (pages in the order first listed,
    ids in their listed order within a page; ids listed without a slot keep theirs, as one group)."""
    rank: dict[str | None, int] = {}
    keyed = [(rank.setdefault(page_of(s[0]) if s and s[0] else None, len(rank)), t) for t, s in window.items()]
    return [t for _, t in sorted(keyed, key=lambda k: k[0])]


def _requested_pages(ev: JobEvent, *, traces: TraceRepository, files: JobFiles) -> Iterator[list[str]]:
    """The requested ids (in the params, or in the job's file when there were many), first occurrence
    only, that are still traces of the workspace, a page at a time."""
    wanted = ev.params.get("trace_ids") or files.get(*ev.key, ev.params["trace_ids_file"])
    unique = list(dict.fromkeys(wanted))
    for i in range(0, len(unique), _PAGE):
        page = unique[i:i + _PAGE]
        gone = set(traces.missing_ids(ev.workspace_id, page))
        yield [t for t in page if t not in gone]


def execute_chunk(ev: JobEvent, chunk: int, *, evals: EvalRepository, traces: TraceRepository, sandbox: Sandbox,
                  jobs: JobRepository, files: JobFiles, total: int | None = None) -> dict:
    """Run the version on one chunk in the sandbox and store each trace's result. ``total`` (the run's
    traces, for progress) comes with the chunk (the Map's ItemSelector); without it (an execution started
    before it did) it is read from the run's plan."""
    if jobs.get(*ev.key).status != "running":
        return {"chunk": chunk, "skipped": True}
    version = evals.get(ev.workspace_id, ev.params["eval_id"])
    listed = files.get(*ev.key, f"chunk-{chunk}")  # its ids, or {"ids", "slots"} when listed unchecked
    ids, slots = (listed, None) if isinstance(listed, list) else (listed["ids"], listed["slots"])
    bodies = traces.get_many_text(ev.workspace_id, ids, slots)  # sent as stored: no parse and re-encode per trace
    results = sandbox.run(version.code, [EncodedTrace(t, bodies[t]) for t in ids if t in bodies])
    evals.put_executions(_executions(version.id, results))
    tally = count_results(results)  # {"executed", "pass", "fail", "error", "timeout"}
    evals.record_trend(version.id, tally, run=f"{ev.job_id}/{chunk}")
    # gone: listed, but deleted since or a stale index entry (the trace is listed, or was, elsewhere)
    counts = {**{k: tally[k] for k in RESULT_KINDS}, "gone": len(ids) - len(bodies)}
    if total is None:
        total = files.get(*ev.key, "plan")["total"]
    try:
        done = _done(jobs, ev.key) + len(results)
        progress = min(99, int(100 * done / total)) if total else 99
        counted = jobs.add_counts(*ev.key, tally, progress=progress,
                                  once=f"chunk-{chunk}")
    except Conflict:
        return {"chunk": chunk, "skipped": True}
    if not counted:  # a retry of a chunk that was counted before it failed: its results are rewritten, not recounted
        return {"chunk": chunk, **counts}
    jobs.append_event(ev.key, f"chunk {chunk + 1}: {counts['pass']} pass, {counts['fail']} fail, "
                              f"{counts['error']} error, {counts['timeout']} timeout", progress=progress,
                      data={"executed": done, "total": total})
    return {"chunk": chunk, **counts}


def _done(jobs: JobRepository, key: tuple[str, str]) -> int:
    return jobs.get(*key).counters.get("executed", 0)


def execute_aggregate(ev: JobEvent, *, result_manifest: str, evals: EvalRepository, eval_sets: EvalSetLookup,
                      jobs: JobRepository, files: JobFiles) -> dict:
    """Totals for the run from the results its Distributed Map wrote to S3 (the ResultWriter's manifest and
    result files; every chunk counted once, whatever its retries), and the version's metrics on its set's
    rated traces. Failed chunks (within the tolerance) make the result partial: their traces did not run."""
    counts = dict.fromkeys(RESULT_KINDS, 0)
    gone = 0  # listed traces deleted before their chunk ran (or stale index entries): not in the total
    failed: dict[int, str] = {}
    written = files.read(*ev.key, result_manifest)["ResultFiles"]
    for entry in written.get("SUCCEEDED", []):
        for child in files.read(*ev.key, entry["Key"]):
            out = json.loads(child["Output"])
            for kind in counts:
                counts[kind] += int(out.get(kind, 0))
            gone += int(out.get("gone", 0))
    for status in ("FAILED", "PENDING"):
        for entry in written.get(status, []):
            for child in files.read(*ev.key, entry["Key"]):
                failed[int(json.loads(child["Input"])["chunk"])] = (
                    f"{child.get('Error') or child.get('Status', status)}: {(child.get('Cause') or '')[:300]}")
    plan = files.get(*ev.key, "plan")
    not_run = 0
    if failed:
        sizes = {c["chunk"]: c["size"] for c in files.get(*ev.key, "manifest")}
        not_run = sum(sizes.get(c, 0) for c in failed)
        jobs.append_event(ev.key, f"{len(failed)} chunks failed after their retries; their {not_run} traces did "
                                  f"not run (run again with only_missing to complete): "
                                  f"{'; '.join(list(failed.values())[:3])}"[:1000])
    version = evals.get(ev.workspace_id, ev.params["eval_id"])
    ratings = eval_sets.ratings(version.eval_set_id)
    results = evals.executions_for(version.id, [r.trace_id for r in ratings])
    metrics = metrics_with_estimate(version, [(r.trace_id, r.rating) for r in ratings],
                                    {t: e.result for t, e in results.items()})
    for kept in ("training_accuracy", "heldout_accuracy", "heldout_interval"):
        if kept in version.metrics:
            metrics[kept] = version.metrics[kept]
    evals.update(version, metrics=metrics)
    return {"result": {"eval_id": version.id, "total": plan["total"] - gone, "skipped": plan["skipped"],
                       "executed": sum(counts.values()), **counts, "partial": bool(failed),
                       "failed_chunks": len(failed), "not_run": not_run, "metrics": metrics}}
