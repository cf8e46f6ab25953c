"""Hybrid generation: an LLM proposes, cross-validation disposes.

When a model is configured, one answer of the model (the meta-prompt plus a request for predicates,
chalicelib/generation/prompt.py) gives two things: an eval function, and up to ``predicates`` small named
boolean functions ``pred_<what>(trace) -> bool`` over the unified trace. The predicates are measured on
the training traces **in the sandbox** (model output never runs in this process: one sandbox run of a
table-building module returns every predicate's value per trace), join the offline generator's feature
library as conditions, and the offline inducer fits single rules and scorecards over both. Each call
returns three candidates, always in the same slots so the cross-validation of
chalicelib/evals/generation.py scores like with like:

    slot 0  hybrid   the offline inducer's pick over its features plus the model's predicates
    slot 1  llm      the model's eval function as written
    slot 2  offline  the offline inducer's pick over its own features alone

Why the model never gets credit for what it saw: ``generate_candidates`` calls ``generate`` once on all
examples and once per cross-validation fold with **only that fold's training examples** (and refinement
failures minus the fold's held-out traces). So each fold's prompt, predicates and fitted rules come from
examples the fold's held-out traces are not among, and every slot's held-out estimate is the agreement
of code written without the traces it is scored on. (The alternative, showing the model no labels and
fitting its predicates per fold, would make one call instead of 1 + k but would hide the raters' notes,
the strongest hint to the rule; the per-fold prompt keeps the notes and stays honest.) A predicate that
does not help in a fold's inner cross-validation is simply not used by that fold's scorecard.

Model text reaching generated code: the predicates' own code is model output (it runs only in the sandbox
and is validated like any eval); their names must already be snake_case (``inert(name, "name")`` leaves
them unchanged, else they are dropped) and their docstrings reach comments and reason strings only
through ``inert`` (offline.emit_code). Model helpers whose names collide with the feature library's are
renamed ``llm_<name>`` so neither shadows the other; the values measured are those of the emitted code.
"""

from __future__ import annotations

import ast
import json
import math
from dataclasses import dataclass
from typing import Any, Protocol

from chalicelib.codegen import inert, string_constants
from chalicelib.errors import CodeRejected
from chalicelib.evals.sandbox_client import Sandbox
from chalicelib.generation.base import Candidate, Candidates, GenerationRequest, LabeledTrace
from chalicelib.generation.features import HELPERS_SOURCE, Feature
from chalicelib.generation.offline import (
    FAMILY_PENALTY, Condition, OfflineGenerator, _forbidden_literals, training_examples,
)
from chalicelib.sandbox.validate import validate_code

MAX_PREDICATES = 12
PREDICATE_PREFIX = "pred_"
TABLE_FUNCTION = "eval_predicate_table"
PREDICATE_COMPLEXITY = 2
SLOTS = ("hybrid", "llm", "offline")


class LlmGenerator(Protocol):
    """What the hybrid needs from an LLM generator (AnthropicGenerator, OpenAICompatibleGenerator)."""

    name: str

    def generate(self, request: GenerationRequest) -> Candidates: ...


@dataclass(frozen=True)
class PredicateModule:
    """The model's module ready to run as predicates: its source and (name, docstring) of each predicate."""

    source: str
    predicates: list[tuple[str, str]]


def _top_level_names(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names |= {t.id for t in targets if isinstance(t, ast.Name)}
    return names


_LIBRARY_NAMES = frozenset(_top_level_names(ast.parse(HELPERS_SOURCE)) | {TABLE_FUNCTION})


class _Rename(ast.NodeTransformer):
    def __init__(self, names: set[str]):
        self.names = names

    def _new(self, name: str) -> str:
        return f"llm_{name}" if name in self.names else name

    def visit_Name(self, node: ast.Name) -> ast.Name:
        node.id = self._new(node.id)
        return node

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.FunctionDef:
        node.name = self._new(node.name)
        self.generic_visit(node)
        return node

    def visit_arg(self, node: ast.arg) -> ast.arg:
        node.arg = self._new(node.arg)
        return node

    def visit_keyword(self, node: ast.keyword) -> ast.keyword:
        if node.arg:
            node.arg = self._new(node.arg)
        self.generic_visit(node)
        return node


def predicate_module(code: str, limit: int = MAX_PREDICATES) -> PredicateModule | None:
    """The model's predicates from its module (eval functions removed, library names renamed); None when
    it defines no usable ``pred_*(trace)`` function."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return None
    tree.body = [n for n in tree.body if not (isinstance(n, ast.FunctionDef) and n.name.startswith("eval_"))]
    found = []
    for node in tree.body:
        if (isinstance(node, ast.FunctionDef) and node.name.startswith(PREDICATE_PREFIX) and len(node.args.args) == 1
                and not node.args.vararg and not node.args.kwarg and inert(node.name, "name") == node.name):
            found.append((node.name, (ast.get_docstring(node) or "").strip().splitlines()[0:1]))
    if not found:
        return None
    collisions = _top_level_names(tree) & _LIBRARY_NAMES
    tree = _Rename(collisions).visit(tree)
    predicates = [(f"llm_{n}" if n in collisions else n,
                   doc[0].rstrip(".") if doc else n.removeprefix(PREDICATE_PREFIX).replace("_", " "))
                  for n, doc in found[:limit]]
    source = "# Written by the model; its predicates were measured on the rated traces in the sandbox.\n"
    return PredicateModule(source=source + ast.unparse(ast.fix_missing_locations(tree)), predicates=predicates)


def table_code(module: PredicateModule) -> str:
    """A sandbox eval whose reason is the JSON list of every predicate's value (1, 0, or null when it raised)."""
    names = ", ".join(name for name, _ in module.predicates)
    return (f"import json\n\n{module.source}\n\n\n"
            f"def {TABLE_FUNCTION}(trace: dict) -> tuple[bool, str]:\n"
            "    values = []\n"
            f"    for check in ({names},):\n"
            "        try:\n"
            "            values.append(1 if check(trace) else 0)\n"
            "        except Exception:\n"
            "            values.append(None)\n"
            "    return True, json.dumps(values)\n")


def measure_predicates(module: PredicateModule, examples: list[LabeledTrace], sandbox: Sandbox) -> list[list[bool]]:
    """Each predicate's value on each example, run in the sandbox (an error or a bad row counts as False)."""
    width = len(module.predicates)
    columns: list[list[bool]] = [[] for _ in range(width)]
    for result in sandbox.run(table_code(module), [e.trace for e in examples]):
        row: Any = None
        if result.result == "pass":
            try:
                row = json.loads(result.reason)
            except ValueError:
                row = None
        if not (isinstance(row, list) and len(row) == width):
            row = [None] * width
        for column, value in zip(columns, row):
            column.append(value == 1)
    return columns


class HybridGenerator:
    """An LLM generator and the offline inducer together (see the module docstring); implements EvalGenerator."""

    def __init__(self, llm: LlmGenerator, offline: OfflineGenerator, sandbox: Sandbox, *,
                 predicates: int = 8):
        self.llm = llm
        self.offline = offline
        self.sandbox = sandbox
        self.predicates = predicates
        self.name = llm.name

    def generate(self, request: GenerationRequest) -> Candidates:
        """Three candidates in fixed slots (hybrid, llm, offline); the model's tokens and cost on the first two."""
        answer = self.llm.generate(request.model_copy(update={"candidates": 1, "predicates": self.predicates}))
        written = answer.candidates[0]
        one = request.model_copy(update={"candidates": 1})
        offline = self.offline.generate(one).candidates[0]
        conditions, proposed = self._conditions(written.code, request)
        hybrid = self.offline.generate(one, extra=conditions).candidates[0] if conditions else offline
        used = [name for name, _ in proposed if f"{name}(trace)" in hybrid.code]
        if used:
            try:
                validate_code(hybrid.code)
            except CodeRejected as exc:
                hybrid, used = offline, []
                proposed = [(n, f"{why}; the combined module was refused: {exc.message}") for n, why in proposed]
        spent = {"input_tokens": written.input_tokens, "output_tokens": written.output_tokens,
                 "cost_usd": written.cost_usd}
        return Candidates(
            candidates=[
                Candidate(code=hybrid.code, rationale=_hybrid_rationale(hybrid.rationale, proposed, used), **spent),
                Candidate(code=written.code, rationale="llm: the model's eval function as written. "
                          + written.rationale, **spent),
                Candidate(code=offline.code, rationale="offline: " + offline.rationale),
            ],
            generator=answer.generator, model=answer.model, prompt=answer.prompt, input_tokens=answer.input_tokens,
            output_tokens=answer.output_tokens, cost_usd=answer.cost_usd, attempts=answer.attempts)

    def _conditions(self, code: str, request: GenerationRequest) -> tuple[list[Condition], list[tuple[str, str]]]:
        """The model's predicates as conditions on the training examples, and why each was (not) usable."""
        module = predicate_module(code, min(self.predicates, MAX_PREDICATES))
        if module is None:
            return [], []
        examples = training_examples(request)
        ids = _forbidden_literals(examples)
        if any(i in c.lower() for c in string_constants(module.source) for i in ids):
            return [], [(n, "not used: the module names a training trace") for n, _ in module.predicates]
        try:
            validate_code(table_code(module))
        except CodeRejected as exc:
            return [], [(n, f"not used: {exc.message}") for n, _ in module.predicates]
        columns = measure_predicates(module, examples, self.sandbox)
        penalty = FAMILY_PENALTY * math.log2(1 + len(module.predicates))
        conditions: list[Condition] = []
        status: list[tuple[str, str]] = []
        seen: set[tuple[bool, ...]] = set()
        for (name, doc), values in zip(module.predicates, columns):
            key = tuple(values)
            if len(set(key)) < 2:
                status.append((name, "constant on the training traces"))
                continue
            if key in seen or tuple(not v for v in key) in seen:
                status.append((name, "same as another predicate on the training traces"))
                continue
            seen.add(key)
            # a model's predicate competes as one of the library's features: no evidence (it earns nothing for
            # being named), its own family; its code comes with the rules that use it
            feature = Feature(helper=name, complexity=PREDICATE_COMPLEXITY, description=doc,
                              module_source=module.source)
            conditions.append(Condition(feature, key, penalty))
            status.append((name, f"true on {sum(values)} of {len(values)}"))
        return conditions, status


def _hybrid_rationale(offline_rationale: str, proposed: list[tuple[str, str]], used: list[str]) -> str:
    if not proposed:
        return "hybrid: the model proposed no usable predicate; " + offline_rationale
    rejected = [n for n, _ in proposed if n not in used]
    text = (f"hybrid: {len(proposed)} model predicate(s) competed with the offline features; "
            f"used by cross-validation: {', '.join(used) or 'none'}")
    if rejected:
        text += f"; not used: {', '.join(rejected)}"
    return f"{text}. {offline_rationale}"
