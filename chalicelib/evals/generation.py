"""Choosing an eval honestly: candidates are ranked by cross-validated agreement (each fold's
code is written without the fold's traces, then scored on them), never by training accuracy
alone; the chosen version carries its held-out estimate and flags for code that memorises.

The cross-validation is grouped (a session never sits on both sides) and repeated with different
fold assignments when writing is cheap (offline). Candidates are ranked by the mean agreement over
repeats; the estimate a user sees, and its interval, are calibrated from it in
chalicelib/evals/estimate.py (measured by bench/calibration.py)."""

from __future__ import annotations

import json
import random
import re
import time
from typing import Callable

from pydantic import BaseModel, Field

from chalicelib.codegen import string_constants
from chalicelib.errors import Unprocessable
from chalicelib.evals.sandbox_client import Sandbox
from chalicelib.generation.base import Candidate, Candidates, EvalGenerator, GenerationRequest, LabeledTrace
from chalicelib.evals.estimate import heldout_estimate
from chalicelib.generation.offline import significantly_better
from chalicelib.metrics import compute_metrics, pct_text

LOW_CONFIDENCE_BELOW = 0.80
MAX_FOLDS = 5
LONG_LITERAL_CHARS = 40
CV_REPEATS = {"offline": 3}
"""Cross-validation repeats per generator: cheap writers repeat with new folds; an LLM runs once
(each repeat costs another call per fold)."""

Progress = Callable[[str, str, int, int], None]
"""``(stage, message, step, steps)``: generation reports its real stages as they happen — ``candidates``
(written from all examples), ``folds`` (one per cross-validation fold written without its traces) and
``testing`` (folds and candidates scored in the sandbox); the tasks turn them into job events."""


def _quiet(stage: str, message: str, step: int, steps: int) -> None:
    """The default Progress: report nothing."""


class ScoredCandidate(BaseModel):
    code: str
    rationale: str = ""
    training_accuracy: float | None
    heldout_accuracy: float | None = Field(description="estimated accuracy on unseen traces: cross-validated, "
                                           "calibrated (chalicelib/evals/estimate.py); None when too few examples")
    heldout_raw: float | None = Field(default=None, description="mean cross-validated agreement over repeats, "
                                      "before calibration (what candidates are ranked by)")
    heldout_kappa: float | None = None
    heldout_interval: tuple[float, float] | None = Field(
        default=None, description="95% interval on accuracy on unseen traces (chalicelib/evals/estimate.py)")
    heldout_repeats: list[float] = Field(default_factory=list, description="the estimate of each CV repeat")
    folds: int = 0
    input_tokens: int = Field(default=0, description="tokens this candidate took to write (CV folds not included)")
    output_tokens: int = 0
    cost_usd: float = 0.0


class GenerationOutcome(BaseModel):
    """The chosen candidate, every candidate's scores, and what producing them cost."""

    chosen: ScoredCandidate
    candidates: list[ScoredCandidate]
    generator: str
    model: str | None
    prompt: str | None
    input_tokens: int
    output_tokens: int
    cost_usd: float
    duration_s: float
    flags: list[str]
    selection: str = Field(default="", description="which candidate was chosen and why (held-out agreement of each)")
    training_results: dict[str, str] = Field(description="trace id -> result of the chosen code on its training traces")


def check_trainable(examples: list[LabeledTrace]) -> None:
    """422 unless there is at least one positive and one negative example."""
    positives = sum(e.rating == "positive" for e in examples)
    negatives = sum(e.rating == "negative" for e in examples)
    if not positives or not negatives:
        raise Unprocessable(f"generation needs at least one positive and one negative rating "
                            f"(this set has {positives} positive, {negatives} negative)")


def group_of(trace: dict) -> str:
    """Traces of one session (else one user) are one group: they never sit on both sides of a
    fold, or near-duplicates would make the held-out estimate optimistic."""
    return str(trace.get("session_id") or trace.get("user_id") or trace.get("id"))


def stratified_folds(examples: list[LabeledTrace], *, seed: int) -> list[list[int]]:
    """Indexes of k folds (k ≤ 5) keeping each group whole and each fold's classes balanced;
    [] when there are too few examples or groups to hold any out."""
    groups: dict[str, list[int]] = {}
    for i, e in enumerate(examples):
        if e.rating in ("positive", "negative"):
            groups.setdefault(group_of(e.trace), []).append(i)
    per_class = [sum(examples[i].rating == c for i in range(len(examples))) for c in ("positive", "negative")]
    # k is not capped by the smaller class: with 3 bad examples, 3 folds would train each fold's code on a
    # third fewer examples than the version it estimates, and the estimate came out far too low on skewed
    # labels (bench/results/quality.md); a fold holding no bad example still scores its good ones.
    k = min(MAX_FOLDS, len(groups))
    if k < 2 or min(per_class) < 2:
        return []
    rng = random.Random(seed)
    order = list(groups.values())
    rng.shuffle(order)
    order.sort(key=len, reverse=True)  # place big groups first, while folds are still even
    folds: list[list[int]] = [[] for _ in range(k)]
    counts = [[0, 0] for _ in range(k)]
    for members in order:
        pos = sum(examples[i].rating == "positive" for i in members)
        neg = len(members) - pos
        # the fold that has least of what this group brings, each class weighed by its share
        best = min(range(k), key=lambda f: (pos * counts[f][0] / per_class[0] + neg * counts[f][1] / per_class[1],
                                            counts[f][0] + counts[f][1]))
        folds[best] += members
        counts[best][0] += pos
        counts[best][1] += neg
    return [sorted(f) for f in folds if f]


def _results(sandbox: Sandbox, code: str, examples: list[LabeledTrace]) -> list[str]:
    return [r.result for r in sandbox.run(code, [e.trace for e in examples])]


def _held_out_pairs(examples: list[LabeledTrace], results: list[str | None]) -> tuple[list[LabeledTrace], list[str]]:
    """The examples some fold held out, with their results (a fold that could not train has none)."""
    kept = [(e, r) for e, r in zip(examples, results) if r is not None]
    return [e for e, _ in kept], [r for _, r in kept]


def _accuracy(examples: list[LabeledTrace], results: list[str]) -> tuple[float | None, float | None]:
    m = compute_metrics((e.rating, r) for e, r in zip(examples, results))
    # errors and timeouts count against a candidate when choosing: they are not agreement
    scored = m.n + m.errors + m.timeouts
    acc = (m.confusion.tp + m.confusion.tn) / scored if scored else None
    return acc, m.cohen_kappa


class FoldCandidates(BaseModel):
    held_out: list[int] = Field(description="indexes of the examples this fold's code never saw")
    repeat: int = Field(default=0, description="which repetition of the cross-validation this fold belongs to")
    candidates: list[Candidate]


class GeneratedSet(BaseModel):
    """Candidates written from all examples, and from each fold's training part (for CV)."""

    full: Candidates
    folds: list[FoldCandidates]
    duration_s: float


def generate_candidates(request: GenerationRequest, generator: EvalGenerator, *, seed: int = 0,
                        repeats: int = 1, progress: Progress = _quiet) -> GeneratedSet:
    """Candidates on all examples, then once per stratified fold without the fold's examples, for
    ``repeats`` different fold assignments."""
    started = time.monotonic()
    examples = scored_examples(request)
    check_trainable(examples)
    assignments = [(r, fold) for r in range(max(1, repeats)) for fold in stratified_folds(examples, seed=seed + r)]
    full = generator.generate(request)
    if not full.candidates:
        raise Unprocessable("the generator returned no candidate")
    progress("candidates", f"wrote {len(full.candidates)} candidate{'s' if len(full.candidates) != 1 else ''} "
                           f"from all {len(examples)} examples", 1, 1)
    folds: list[FoldCandidates] = []
    neutral = [e for e in request.examples if e.rating == "neutral"]
    for step, (repeat, fold) in enumerate(assignments, start=1):
        held = set(fold)
        train = [e for i, e in enumerate(examples) if i not in held]
        if {e.rating for e in train} != {"positive", "negative"}:
            progress("folds", f"cross-validation fold {step} of {len(assignments)}: skipped (its traces hold a "
                              f"whole class)", step, len(assignments))
            continue  # one group holds a whole class: this fold cannot train, its traces get no estimate
        held_ids = {examples[i].trace.get("id") for i in held}
        # a refinement's previous failures never include the fold's held-out traces (no leak into CV)
        failures = [f for f in request.previous_failures if f.trace.get("id") not in held_ids]
        out = generator.generate(request.model_copy(update={"examples": train + neutral,
                                                            "previous_failures": failures}))
        full = full.model_copy(update={"input_tokens": full.input_tokens + out.input_tokens,
                                       "output_tokens": full.output_tokens + out.output_tokens,
                                       "cost_usd": full.cost_usd + out.cost_usd})
        folds.append(FoldCandidates(held_out=fold, repeat=repeat, candidates=out.candidates))
        progress("folds", f"cross-validation fold {step} of {len(assignments)}: wrote candidates without its "
                          f"{len(fold)} held-out traces", step, len(assignments))
    return GeneratedSet(full=full, folds=folds, duration_s=round(time.monotonic() - started, 3))


def scored_examples(request: GenerationRequest) -> list[LabeledTrace]:
    """The examples that train and score: positive and negative (neutral is shown, not trained on)."""
    return [e for e in request.examples if e.rating != "neutral"]


def select_candidate(request: GenerationRequest, generated: GeneratedSet, sandbox: Sandbox,
                     progress: Progress = _quiet) -> GenerationOutcome:
    """Score every candidate in the sandbox (training and cross-validated) and pick the best."""
    started = time.monotonic()
    examples = scored_examples(request)
    full = generated.full
    repeats = sorted({f.repeat for f in generated.folds})
    steps = len(generated.folds) + len(full.candidates)
    # fold_results[repeat][candidate][example]: the result of code written without that example
    fold_results = {r: [[None] * len(examples) for _ in full.candidates] for r in repeats}
    for step, fold in enumerate(generated.folds, start=1):
        held_examples = [examples[i] for i in fold.held_out]
        for c in range(len(full.candidates)):
            fold_code = fold.candidates[min(c, len(fold.candidates) - 1)].code
            for i, result in zip(fold.held_out, _results(sandbox, fold_code, held_examples)):
                fold_results[fold.repeat][c][i] = result
        progress("testing", f"tested fold {step} of {len(generated.folds)} on its {len(fold.held_out)} held-out "
                            f"traces", step, steps)
    scored: list[ScoredCandidate] = []
    training: list[list[str]] = []
    positive_share = sum(e.rating == "positive" for e in examples) / len(examples) if examples else 0.5
    for c, candidate in enumerate(full.candidates):
        results = _results(sandbox, candidate.code, examples)
        training.append(results)
        train_acc, _ = _accuracy(examples, results)
        per_repeat = [_accuracy(*_held_out_pairs(examples, fold_results[r][c])) for r in repeats]
        accs = [a for a, _ in per_repeat if a is not None]
        kappas = [k for _, k in per_repeat if k is not None]
        held_kappa = round(sum(kappas) / len(kappas), 4) if kappas else None
        n_scored = len(_held_out_pairs(examples, fold_results[repeats[0]][c])[0]) if repeats else 0
        estimate = heldout_estimate(accs, n_scored, positive_share)
        scored.append(ScoredCandidate(code=candidate.code, rationale=candidate.rationale, training_accuracy=train_acc,
                                      heldout_accuracy=estimate.accuracy if estimate else None,
                                      heldout_raw=estimate.raw if estimate else None, heldout_kappa=held_kappa,
                                      heldout_interval=estimate.interval if estimate else None,
                                      heldout_repeats=[round(a, 4) for a in accs],
                                      folds=sum(f.repeat == 0 for f in generated.folds),
                                      input_tokens=candidate.input_tokens, output_tokens=candidate.output_tokens,
                                      cost_usd=candidate.cost_usd))
        progress("testing", f"tested candidate {c + 1} of {len(full.candidates)}: training {pct_text(train_acc)}, "
                            f"held-out {pct_text(scored[-1].heldout_accuracy)}", len(generated.folds) + c + 1, steps)
    best = _pick(scored, [_correctness(examples, [fold_results[r][c] for r in repeats]) for c in range(len(scored))])
    chosen = scored[best]
    flags = honesty_flags(chosen.code, examples)
    if chosen.heldout_accuracy is None:
        flags += ["too_few_examples_for_heldout", "low_confidence"]
    elif chosen.heldout_accuracy < LOW_CONFIDENCE_BELOW:
        flags.append("low_confidence")
    return GenerationOutcome(
        chosen=chosen, candidates=scored, generator=full.generator, model=full.model, prompt=full.prompt,
        selection=explain_selection(scored, best),
        input_tokens=full.input_tokens, output_tokens=full.output_tokens, cost_usd=round(full.cost_usd, 6),
        duration_s=round(generated.duration_s + time.monotonic() - started, 3), flags=flags,
        training_results={str(e.trace.get("id")): r for e, r in zip(examples, training[best])})


def _correctness(examples: list[LabeledTrace], per_repeat: list[list[str | None]]) -> list[float]:
    """Per example, the share of repeats in which code written without it agreed with its rating (an error or
    a timeout disagrees; an example no fold scored counts 0 for every candidate alike)."""
    out = []
    for i, example in enumerate(examples):
        wanted = "pass" if example.rating == "positive" else "fail"
        results = [run[i] for run in per_repeat if run[i] is not None]
        out.append(sum(r == wanted for r in results) / len(results) if results else 0.0)
    return out


def _pick(scored: list[ScoredCandidate], correct: list[list[float]]) -> int:
    """The generator's own pick (its first candidate) unless another wins significantly under the grouped CV
    (the paired test the offline generator uses between its models): with ~20 ratings the candidates' CV
    agreements differ by less than their noise, and taking the highest undid the generator's simplest-first
    choice. Without a CV (too few examples), the highest training agreement."""
    if any(s.heldout_raw is None for s in scored):
        return max(range(len(scored)), key=lambda c: (
            scored[c].heldout_raw if scored[c].heldout_raw is not None else -1,
            scored[c].training_accuracy or 0, -c))
    pick = 0
    for c in sorted(range(1, len(scored)), key=lambda c: (-(scored[c].heldout_raw or 0.0), c)):
        if significantly_better(correct[c], correct[pick]):
            pick = c
    return pick


def explain_selection(scored: list[ScoredCandidate], best: int) -> str:
    """One sentence for the job: the chosen candidate, what it is, and every candidate's held-out agreement."""
    def what(c: ScoredCandidate) -> str:
        return c.rationale.split(". ")[0].strip().rstrip(".") or "no rationale"

    others = "; ".join(f"candidate {i + 1} ({what(c)}): {pct_text(c.heldout_accuracy)}"
                       for i, c in enumerate(scored) if i != best)
    text = (f"chose candidate {best + 1} of {len(scored)} ({what(scored[best])}) by held-out agreement "
            f"{pct_text(scored[best].heldout_accuracy)}")
    return text + (f"; others: {others}" if others else "")


def honesty_flags(code: str, examples: list[LabeledTrace]) -> list[str]:
    """names_trace_ids: the code mentions a training trace's id; copies_literals: a long string
    literal that appears in exactly one training trace."""
    flags: list[str] = []
    ids = {str(v) for e in examples for v in (e.trace.get("id"), (e.trace.get("source") or {}).get("external_id")) if v}
    constants = string_constants(code)
    if any(i in c for i in ids for c in constants):
        flags.append("names_trace_ids")
    literals = [c for c in constants if len(c) >= LONG_LITERAL_CHARS]
    if literals:
        bodies = [json.dumps(e.trace, ensure_ascii=False) for e in examples]
        for literal in literals:
            needle = json.dumps(literal, ensure_ascii=False)[1:-1]
            if sum(needle in b for b in bodies) == 1:
                flags.append("copies_literals")
                break
    return flags


def function_name_of(code: str) -> str:
    """The ``eval_*`` function a module defines."""
    match = re.search(r"^def (eval_\w+)\s*\(", code, flags=re.M)
    if not match:
        raise Unprocessable("eval code must define a top-level function named eval_<name>(trace)")
    return match.group(1)
