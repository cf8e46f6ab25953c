"""Refinement: a new version written from the parent's training examples plus its contradictions
(false passes and false fails among the set's rated traces), with the parent's code and failures
in the prompt (LLM) or as extra training data (offline). It runs through generate_eval.asl.json
(params carry ``refine_from``) and reports before/after metrics on the same traces; the new
version is a draft and never becomes active by itself.

A refinement never regresses silently: code identical to the parent's (same normalised AST) is not
saved, and one whose estimate is below the parent's is saved as ``rejected`` with the reason, unless the
request says ``keep``. Both estimates are taken on the set's current ratings (chalicelib/evals/estimate.py
``version_estimate``): each version's generation estimate for what it was written from, its own agreement on
the rest, so the two are compared by what their code does on mostly the same traces."""

from __future__ import annotations

import ast
from typing import Any, Literal

from pydantic import BaseModel, Field

from chalicelib.auth.models import Caller
from chalicelib.errors import Unprocessable
from chalicelib.evals.models import EvalVersion, Execution, RefineRequest
from chalicelib.evals.repository import EvalRepository
from chalicelib.evals.results import agrees, metrics_on
from chalicelib.evals.sandbox_client import Sandbox
from chalicelib.jobs import service as jobs_service
from chalicelib.jobs.models import Job
from chalicelib.jobs.repository import JobRepository
from chalicelib.metrics import pct_text
from chalicelib.timeutil import now_iso

MAX_CONTRADICTIONS = 200
"""Contradictions passed to the generator (the prompt clips them anyway)."""


def find_contradictions(ratings: list[tuple[str, str]], results: dict[str, str]) -> list[str]:
    """Trace ids rated positive/negative whose result says the opposite (false passes and false fails)."""
    return [t for t, rating in ratings if agrees(rating, results.get(t)) is False]


def start_refine(caller: Caller, eval_id: str, req: RefineRequest, *, evals: EvalRepository, eval_sets: Any,
                 jobs: JobRepository, sfn: Any, state_machine_arn: str) -> Job:
    """Start a refine job (the generate state machine with ``refine_from``); 422 when the set cannot train."""
    parent = evals.get(caller.workspace_id, eval_id)
    eval_set = eval_sets.get(caller.workspace_id, parent.eval_set_id)
    ratings = [(r.trace_id, r.rating) for r in eval_sets.rating_rows(parent.eval_set_id)]
    positives = sum(r == "positive" for _, r in ratings)
    negatives = sum(r == "negative" for _, r in ratings)
    if not positives or not negatives:
        raise Unprocessable(f"refinement needs at least one positive and one negative rating (eval set "
                            f"{parent.eval_set_id} has {positives} positive, {negatives} negative)")
    contradictions = find_contradictions(ratings, evals.result_kinds(parent.id, [t for t, _ in ratings]))
    params = {"eval_set_id": parent.eval_set_id, **req.model_dump(), "created_by": caller.key_id,
              "parent_id": parent.id, "refine_from": parent.id, "eval_set_name": getattr(eval_set, "name", ""),
              "training_trace_ids": parent.training_trace_ids,
              "contradiction_ids": contradictions[:MAX_CONTRADICTIONS], "contradictions_total": len(contradictions),
              "previous_code": parent.code}
    return jobs_service.start_job(caller.workspace_id, "refine", params, state_machine_arn=state_machine_arn,
                                  jobs=jobs, sfn=sfn)


class SideBySide(BaseModel):
    traces: int = Field(description="rated traces compared")
    before: dict = Field(description="the parent's metrics on them")
    after: dict = Field(description="the refined version's metrics on them")


class RefinementComparison(BaseModel):
    """Before/after on the same rated traces; ``unseen`` leaves out every trace either version trained on."""

    all_rated: SideBySide
    unseen: SideBySide
    fixed: list[str] = Field(description="traces the parent got wrong and the refined version gets right")
    broken: list[str] = Field(description="traces the parent got right and the refined version gets wrong")
    summary: str


def results_on_ratings(workspace_id: str, version: EvalVersion, ids: list[str], *, evals: EvalRepository,
                       sandbox: Sandbox, traces: Any) -> dict[str, str]:
    """A version's results on the given rated traces by trace id: stored ones, and the version run (and its results
    stored) where it has none."""
    results = {t: e.result for t, e in evals.executions_for(version.id, ids).items()}
    missing = [t for t in ids if t not in results]
    if missing:
        bodies = traces.get_many(workspace_id, missing)
        ran = sandbox.run(version.code, [bodies[t] for t in missing if t in bodies])
        at = now_iso()
        evals.put_executions(Execution(eval_id=version.id, trace_id=r.trace_id, result=r.result, reason=r.reason,
                                       duration_ms=r.duration_ms, stdout=r.stdout, stderr=r.stderr, executed_at=at)
                             for r in ran)
        results.update((r.trace_id, r.result) for r in ran)
    return results


def compare_refinement(workspace_id: str, parent: EvalVersion, refined: EvalVersion, *, eval_sets: Any,
                       evals: EvalRepository, sandbox: Sandbox, traces: Any) -> RefinementComparison:
    """Metrics of parent and refined version on the set's rated traces (the parent is run where it has no result)."""
    ratings = [(r.trace_id, r.rating) for r in eval_sets.ratings(refined.eval_set_id)]
    ids = [t for t, _ in ratings]
    before = results_on_ratings(workspace_id, parent, ids, evals=evals, sandbox=sandbox, traces=traces)
    after = {t: e.result for t, e in evals.executions_for(refined.id, ids).items()}
    trained = set(parent.training_trace_ids) | set(refined.training_trace_ids)
    unseen = [(t, r) for t, r in ratings if t not in trained]
    fixed = [t for t, r in ratings if agrees(r, before.get(t)) is False and agrees(r, after.get(t)) is True]
    broken = [t for t, r in ratings if agrees(r, before.get(t)) is True and agrees(r, after.get(t)) is False]
    all_rated = SideBySide(traces=len(ratings), before=metrics_on(ratings, before), after=metrics_on(ratings, after))
    return RefinementComparison(
        all_rated=all_rated,
        unseen=SideBySide(traces=len(unseen), before=metrics_on(unseen, before), after=metrics_on(unseen, after)),
        fixed=fixed, broken=broken,
        summary=(f"accuracy {pct_text(all_rated.before['accuracy'])} → {pct_text(all_rated.after['accuracy'])} on "
                 f"{len(ratings)} rated traces; {len(fixed)} fixed, {len(broken)} broken"))


class RefinementVerdict(BaseModel):
    """What becomes of a refinement: ``identical`` (not saved), ``rejected`` (saved, not a normal
    version) or ``accepted`` (a draft)."""

    outcome: Literal["identical", "rejected", "accepted"]
    reason: str
    parent_estimate: float | None = Field(description="the parent's estimate on the set's current ratings "
                                                      "(metrics.estimate; its accuracy on the rated traces when it "
                                                      "has none, e.g. hand-edited)")
    estimate: float | None = Field(description="the refinement's estimate on the same ratings")


def normalized_ast(code: str) -> str | None:
    """The module's AST without docstrings (comments and layout never reach it); None if it does not parse."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return None
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and body
                and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)):
            node.body = body[1:] or [ast.Pass()]
    return ast.dump(tree, annotate_fields=False)


def parent_estimate(parent: EvalVersion) -> float | None:
    """The parent's held-out estimate, else its accuracy on the rated traces."""
    for value in (parent.generation.get("heldout_accuracy"), parent.metrics.get("heldout_accuracy"),
                  parent.metrics.get("accuracy")):
        if value is not None:
            return float(value)
    return None


def is_identical(parent_code: str, code: str) -> bool:
    """Same normalised AST (docstrings, comments and layout aside)."""
    same = normalized_ast(code)
    return same is not None and same == normalized_ast(parent_code)


def judge_refinement(parent: EvalVersion, code: str, estimate: float | None, *, keep: bool,
                     parent_now: float | None = None) -> RefinementVerdict:
    """Identical code is not saved; a lower estimate is rejected unless ``keep``. ``estimate`` and ``parent_now``
    are both versions' estimates on the set's current ratings (chalicelib/evals/estimate.py: version_estimate);
    without ``parent_now`` the parent's stored estimate is used."""
    before = parent_now if parent_now is not None else parent_estimate(parent)
    if is_identical(parent.code, code):
        return RefinementVerdict(outcome="identical", parent_estimate=before, estimate=estimate,
                                 reason=f"identical to parent {parent.id}; no new version")
    if before is not None and estimate is not None and estimate < before:
        why = (f"estimate {estimate:.0%} on the current ratings is lower than the parent's {before:.0%}")
        if keep:
            return RefinementVerdict(outcome="accepted", parent_estimate=before, estimate=estimate,
                                     reason=why + "; kept as a draft because the request said keep")
        return RefinementVerdict(outcome="rejected", parent_estimate=before, estimate=estimate,
                                 reason=why + "; saved as a rejected candidate (refine with keep: true to keep it)")
    return RefinementVerdict(outcome="accepted", parent_estimate=before, estimate=estimate,
                             reason="estimate on the current ratings not lower than the parent's")


