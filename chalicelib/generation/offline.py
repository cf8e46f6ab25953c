"""The offline generator: induce a readable, rule-based eval function from rated traces.

How it works, in order:
1. Neutral ratings are dropped; ``previous_failures`` join the training set (their rating wins).
2. ``features.candidate_features`` proposes conditions from the training traces (tools called,
   counts, mined phrases, relations such as "book_reservation right after the user said yes"), and
   ``criteria.criteria_features`` those the criteria and the raters' notes name ("may cancel only
   after looking the reservation up" -> every cancel_* call after a get_*reservation* call); these
   carry their evidence (the words that named them) and form one family for the prior cost.
   Counts become ``>= threshold`` conditions; conditions identical on every training trace
   are merged, keeping the simplest.
   Each condition carries a prior cost that grows with the size of its family (how many
   look-alike conditions the same helper produced): a rule picked from hundreds of mined
   phrases or tool pairs must separate better than one of a few generic flags to be believed.
3. Two model families are fitted: a single rule (the condition, either way round, with the
   best training accuracy after its prior cost), and scorecards: the K conditions that best
   separate good from bad (smoothed rates minus prior cost, skipping near-duplicates) each add
   or remove points; the trace passes when the score reaches a threshold fitted on the
   training set.
4. The family and K are chosen by repeated cross-validation inside the training set (several
   deterministic fold shuffles; each example's agreement is averaged over them). Models are
   tried simplest first (the rule chosen among the conditions the criteria name, the rule chosen
   among all conditions, then scorecards of growing budget) and a more
   complex model replaces the current pick only when it wins significantly on the examples
   where the two disagree (a one-sided McNemar-style test at the 5% level). With ~20 examples
   the cross-validated agreements of the candidates differ by less than their noise, and
   picking the best of them chose overfitted scorecards; the single rule is the safer default.
   Candidates are returned best-first (the pick, then by cross-validated agreement).
5. The chosen conditions are emitted as Python with the helper functions they need, a
   comment on each rule giving the counts that justify it, and a specific reason string.

Deterministic: the same request gives the same code.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from chalicelib.codegen import inert, string_constants
from chalicelib.errors import GenerationError
from chalicelib.generation.base import Candidate, Candidates, GenerationRequest, LabeledTrace
from chalicelib.generation.criteria import NO_RULE_NAMED, criteria_features
from chalicelib.generation.features import (
    HELPERS_SOURCE,
    Feature,
    candidate_features,
    feature_table,
    helper_source_for,
)
from chalicelib.sandbox.validate import MAX_SOURCE_BYTES

ALLOWED_IMPORTS = ("json", "re")
RULE_BUDGETS = (1, 2, 3, 4, 6, 8)
MAX_THRESHOLDS = 8
FAMILY_PENALTY = 0.04  # prior cost per bit of family size: log2(1 + look-alike conditions from one helper)
REDUNDANCY = 0.9
CV_REPEATS = 3  # fold shuffles averaged by the repeated cross-validation
SINGLE_KINDS = ("criteria rule", "single rule")
KIND_ORDER = {"criteria rules": -1, "criteria rule": 0, "single rule": 1, "scorecard": 2}
SIGNIFICANCE_Z = 1.645  # one-sided 5%: a more complex model must beat the current pick by this many sds
WRITTEN_Z = 2.326  # one-sided 1%: to take over from a rule the user's own words name


@dataclass(frozen=True)
class Condition:
    """A feature turned into a yes/no question (numeric helpers get a threshold)."""

    feature: Feature
    values: tuple[bool, ...]
    penalty: float = 0.0

    @property
    def complexity(self) -> float:
        return self.feature.complexity


@dataclass(frozen=True)
class Rule:
    """A condition with the direction and points it contributes to the score."""

    condition: Condition
    sign: int
    points: int
    pos_hits: int
    pos_total: int
    neg_hits: int
    neg_total: int

    @property
    def right(self) -> int:
        """The rated examples it gets right on its own (pass when it holds, or when it does not for sign -1)."""
        if self.sign > 0:
            return self.pos_hits + self.neg_total - self.neg_hits
        return self.pos_total - self.pos_hits + self.neg_hits


@dataclass
class Scorecard:
    """Rules whose points are summed; the trace passes when the score reaches ``threshold``."""

    rules: list[Rule]
    threshold: int
    default_pass: bool = True
    cv_agreement: float | None = None
    cv_counts: tuple[int, int] = (0, 0)
    cv_correct: tuple[float, ...] = ()
    budget: int = 0
    kind: str = "scorecard"
    notes: list[str] = field(default_factory=list)

    def score(self, index: int) -> int:
        return sum(rule.sign * rule.points for rule in self.rules if rule.condition.values[index])

    def predict(self, index: int) -> bool:
        if not self.rules:
            return self.default_pass
        return self.score(index) >= self.threshold


def build_conditions(features: Sequence[Feature], traces: Sequence[dict[str, Any]],
                     memo: dict[tuple[Any, ...], Any] | None = None,
                     table: Sequence[Sequence[Any]] | None = None) -> list[Condition]:
    """Binary conditions over the training traces, with constant and duplicate ones removed. ``table``: the
    features' raw values (``feature_table``) when the caller already has them."""
    table = feature_table(features, traces, memo) if table is None else table
    conditions: list[Condition] = []
    for feature, raw in zip(features, table):
        if feature.threshold is None:
            conditions.append(Condition(feature, tuple(bool(v) for v in raw)))
            continue
        numbers = sorted({float(v or 0) for v in raw})
        cuts = [(a + b) / 2 for a, b in zip(numbers, numbers[1:])]
        if len(cuts) > MAX_THRESHOLDS:
            step = len(cuts) / MAX_THRESHOLDS
            cuts = [cuts[int(i * step + step / 2)] for i in range(MAX_THRESHOLDS)]
        for cut in cuts:
            cut = _round_cut(cut, numbers)
            thresholded = replace(feature, threshold=cut)
            conditions.append(Condition(thresholded, tuple(float(v or 0) >= cut for v in raw)))
    best: dict[tuple[bool, ...], Condition] = {}
    for condition in conditions:
        if len(set(condition.values)) < 2:
            continue
        key = condition.values
        mirror = tuple(not v for v in key)
        seen = best.get(key) or best.get(mirror)
        if seen is None or _preference(condition) < _preference(seen):
            if seen is not None:
                best.pop(seen.values, None)
            best[key] = condition
    kept = list(best.values())
    family_sizes = Counter(_family(c.feature) for c in kept)
    return [Condition(c.feature, c.values, FAMILY_PENALTY * math.log2(1 + family_sizes[_family(c.feature)]))
            for c in kept]


def _passed_everywhere(features: Sequence[Feature], table: Sequence[Sequence[Any]],
                       forbidden: Sequence[str]) -> list[Condition]:
    """The stated readings every trace of ``table`` (the features' raw values) passes: holds everywhere, or for a
    violation holds nowhere; as conditions (``build_conditions`` drops constant ones)."""
    return [Condition(f, tuple(not f.violation for _ in raw)) for f, raw in zip(features, table)
            if _stated(f) and not _names_forbidden(f, forbidden) and all(bool(v) != f.violation for v in raw)]


def _worded(feature: Feature) -> bool:
    """Whether the criteria or notes themselves name the feature (not the default reading of criteria naming none)."""
    return bool(feature.evidence) and feature.evidence != NO_RULE_NAMED


def _stated(feature: Feature) -> bool:
    """A rule the words state as it is (no threshold the ratings chose)."""
    return _worded(feature) and feature.threshold is None


def _family(feature: Feature) -> str:
    """The look-alike conditions a feature's prior cost counts: those the criteria proposed are one family."""
    return feature.family or feature.helper


def _preference(condition: Condition) -> tuple[bool, int]:
    """Of conditions true on the same traces, keep the one the criteria named, then the simplest."""
    return (not condition.feature.evidence, condition.complexity)


def _round_cut(cut: float, numbers: Sequence[float]) -> float:
    """A readable threshold between observed values: the smallest observed value above the cut."""
    above = [n for n in numbers if n >= cut]
    value = above[0] if above else cut
    return float(round(value)) if abs(value) >= 10 else round(value, 2)


def _hits(values: Sequence[bool], labels: Sequence[bool], rows: Sequence[int]) -> tuple[int, int]:
    """(good rows, bad rows) of ``rows`` where a condition with these values holds."""
    pos_hits = sum(1 for i in rows if labels[i] and values[i])
    return pos_hits, sum(1 for i in rows if values[i]) - pos_hits


def rank_rules(conditions: Sequence[Condition], labels: Sequence[bool], rows: Sequence[int]) -> list[tuple[float, Rule]]:
    """Each condition scored by how well it separates good from bad on the given rows."""
    pos_total = sum(1 for i in rows if labels[i])
    neg_total = len(rows) - pos_total
    ranked = []
    for condition in conditions:
        pos_hits, neg_hits = _hits(condition.values, labels, rows)
        p_pos = (pos_hits + 0.5) / (pos_total + 1)
        p_neg = (neg_hits + 0.5) / (neg_total + 1)
        strength = abs(p_pos - p_neg) - condition.penalty
        odds = abs(math.log(p_pos / (1 - p_pos)) - math.log(p_neg / (1 - p_neg)))
        points = max(1, min(3, round(odds)))
        rule = Rule(condition, 1 if p_pos > p_neg else -1, points, pos_hits, pos_total, neg_hits, neg_total)
        ranked.append((strength, rule))
    ranked.sort(key=lambda sr: (-sr[0], sr[1].condition.complexity, sr[1].condition.feature.expression()))
    return ranked


def fit_scorecard(
    conditions: Sequence[Condition], labels: Sequence[bool], rows: Sequence[int], budget: int
) -> Scorecard:
    """Pick up to ``budget`` strong, non-redundant rules and fit the pass threshold on ``rows``."""
    chosen: list[Rule] = []
    for strength, rule in rank_rules(conditions, labels, rows):
        if len(chosen) >= budget or strength <= 0:
            break
        if any(_overlap(rule.condition, other.condition, rows) >= REDUNDANCY for other in chosen):
            continue
        chosen.append(rule)
    majority = sum(1 for i in rows if labels[i]) * 2 >= len(rows)
    card = Scorecard(chosen, 0, default_pass=majority, budget=budget)
    if not chosen:
        return card
    scores = sorted({card.score(i) for i in rows})
    best: tuple[float, float, float] | None = None
    for threshold in [*scores, scores[-1] + 1]:
        hits = sum(1 for i in rows if (card.score(i) >= threshold) == labels[i])
        balanced = _balanced_accuracy(card, threshold, labels, rows)
        centred = -abs(threshold - (scores[0] + scores[-1] + 1) / 2)
        key = (hits, balanced, centred)
        if best is None or key > best:
            best = key
            card.threshold = threshold
    return card


def fit_single_rule(conditions: Sequence[Condition], labels: Sequence[bool], rows: Sequence[int],
                    kind: str = "single rule", always: Sequence[Condition] = ()) -> Scorecard:
    """The one condition (either way round) with the best training accuracy after its prior cost, as a scorecard.
    ``always``: readings the criteria state that hold on every rated trace, a criteria rule's last resort."""
    pos_total = sum(1 for i in rows if labels[i])
    neg_total = len(rows) - pos_total
    majority = pos_total * 2 >= len(rows)
    best: tuple[tuple[float, float, int, str], Rule] | None = None
    for condition in conditions:
        pos_hits, neg_hits = _hits(condition.values, labels, rows)
        for sign, right_pos, right_neg in ((1, pos_hits, neg_total - neg_hits), (-1, pos_total - pos_hits, neg_hits)):
            balanced = (right_pos / pos_total if pos_total else 0.0) + (right_neg / neg_total if neg_total else 0.0)
            key = ((right_pos + right_neg) / len(rows) - condition.penalty, balanced, -condition.complexity,
                   condition.feature.expression())
            if best is None or key[:3] > best[0][:3]:
                best = (key, Rule(condition, sign, 1, pos_hits, pos_total, neg_hits, neg_total))
    if best is None or best[0][0] + best[1].condition.penalty <= max(pos_total, neg_total) / len(rows):
        stated = _stated_rule([*conditions, *always], labels, rows) if kind == "criteria rule" and majority else None
        if stated is None:
            return Scorecard([], 0, default_pass=majority, budget=1, kind=kind)
        return Scorecard([stated], 1 if stated.sign > 0 else 0, default_pass=majority, budget=1, kind=kind)
    rule = best[1]
    # sign +1: pass when the condition holds (score 1 >= 1); sign -1: pass when it does not (score 0 >= 0)
    return Scorecard([rule], 1 if rule.sign > 0 else 0, default_pass=majority, budget=1, kind=kind)


def fit_clauses(conditions: Sequence[Condition], labels: Sequence[bool], rows: Sequence[int],
                always: Sequence[Condition] = ()) -> Scorecard:
    """Criteria of several sentences ("Refund only after the checks. Never refund an order twice."): each sentence's
    rule (``fit_single_rule`` among the readings that sentence states, no threshold the ratings chose), and a trace
    passes when every one of them does. Each rule is fitted again on the rated traces the others pass: a trace
    another sentence's rule fails tells nothing about this one's."""
    clauses = _clauses([*conditions, *always])

    def fit(clause: int, train: Sequence[int]) -> Rule | None:
        stated = [c for c in conditions if c.feature.clause == clause and _stated(c.feature)]
        card = fit_single_rule(stated, labels, train, "criteria rule", [c for c in always if c.feature.clause == clause])
        return card.rules[0] if card.rules else None

    rules = {clause: fit(clause, rows) for clause in clauses}
    for clause in clauses:
        others = [r for k, r in rules.items() if k != clause and r is not None]
        rules[clause] = fit(clause, [i for i in rows if all(_passes(r, i) for r in others)]) or rules[clause]
    chosen = [_recounted(r, labels, rows) for r in rules.values() if r is not None]
    majority = sum(1 for i in rows if labels[i]) * 2 >= len(rows)
    # every rule passing: each +1 rule holds (one point each) and no -1 rule does; one rule alone is a criteria rule
    return Scorecard(chosen, sum(1 for r in chosen if r.sign > 0), default_pass=majority, budget=len(chosen),
                     kind="criteria rules" if len(chosen) > 1 else "criteria rule")


def _clauses(conditions: Sequence[Condition]) -> list[int]:
    """The sentences of the criteria that proposed some of the conditions."""
    return sorted({c.feature.clause for c in conditions if c.feature.clause >= 0})


def _recounted(rule: Rule, labels: Sequence[bool], rows: Sequence[int]) -> Rule:
    """The rule with its counts over ``rows`` (what its comment reports), not over the rows it was fitted on."""
    pos_hits, neg_hits = _hits(rule.condition.values, labels, rows)
    pos_total = sum(1 for i in rows if labels[i])
    return replace(rule, pos_hits=pos_hits, pos_total=pos_total, neg_hits=neg_hits, neg_total=len(rows) - pos_total)


def _passes(rule: Rule, index: int) -> bool:
    return rule.condition.values[index] == (rule.sign > 0)


def _stated_rule(conditions: Sequence[Condition], labels: Sequence[bool], rows: Sequence[int]) -> Rule | None:
    """When no rule beats passing every trace on the ratings: the rule the criteria state (pass when it holds,
    the simplest reading first), if it does no worse than passing every trace. The ratings cannot tell the two
    apart, and the user wrote the rule. Readings that separate the ratings come first; one that holds on every
    rated trace comes last: with rare violations, 20 ratings often hold none the rule would catch (or only label
    noise), and the stated rule still catches them on unseen traces, where a rule fitted to that noise does not
    (measured on the benches' development criteria: bench/results/returns.md and helpdesk.md, session 12). A
    reading of what must not happen (``Feature.violation``) is stated the other way round: pass when it does not
    hold."""
    pos_total = sum(1 for i in rows if labels[i])
    neg_total = len(rows) - pos_total
    stated = [c for c in conditions if _stated(c.feature)]
    for condition in sorted(stated, key=lambda c: (len(set(c.values)) < 2, c.complexity)):
        pos_hits, neg_hits = _hits(condition.values, labels, rows)
        rule = Rule(condition, -1 if condition.feature.violation else 1, 1, pos_hits, pos_total, neg_hits, neg_total)
        if rule.right >= pos_total:
            return rule
    return None


def _balanced_accuracy(card: Scorecard, threshold: int, labels: Sequence[bool], rows: Sequence[int]) -> float:
    pos = [i for i in rows if labels[i]]
    neg = [i for i in rows if not labels[i]]
    tpr = sum(1 for i in pos if card.score(i) >= threshold) / len(pos) if pos else 0.0
    tnr = sum(1 for i in neg if card.score(i) < threshold) / len(neg) if neg else 0.0
    return (tpr + tnr) / 2


def _overlap(a: Condition, b: Condition, rows: Sequence[int]) -> float:
    same = sum(1 for i in rows if a.values[i] == b.values[i]) / len(rows)
    return max(same, 1 - same)


def stratified_folds(labels: Sequence[bool], folds: int, seed: int) -> list[list[int]]:
    """Deterministic stratified folds (each a list of row indices); fewer folds when a class is small."""
    rng = random.Random(seed)
    pos = [i for i, y in enumerate(labels) if y]
    neg = [i for i, y in enumerate(labels) if not y]
    rng.shuffle(pos)
    rng.shuffle(neg)
    k = max(2, min(folds, len(labels)))
    buckets: list[list[int]] = [[] for _ in range(k)]
    for offset, index in enumerate(pos + neg):
        buckets[offset % k].append(index)
    return [sorted(b) for b in buckets if b]


def cross_validate(
    fit: Callable[[list[int]], Callable[[int], bool]], labels: Sequence[bool], *, folds: int = 5, seed: int = 0
) -> tuple[int, int]:
    """(agreements, scored) when ``fit(train_rows)`` returns a predictor of row index, tried on each held-out fold."""
    agree = total = 0
    for held_out in stratified_folds(labels, folds, seed):
        held = set(held_out)
        predictor = fit([i for i in range(len(labels)) if i not in held])
        for i in held_out:
            agree += predictor(i) == labels[i]
            total += 1
    return agree, total


def cross_validated_correctness(
    fit: Callable[[list[int]], Callable[[int], bool]], labels: Sequence[bool], *, folds: int = 5,
    seeds: Sequence[int] = (0,)
) -> list[float]:
    """For each row, the share of fold shuffles in which the model fitted without it predicted it right."""
    correct = [0.0] * len(labels)
    for seed in seeds:
        for held_out in stratified_folds(labels, folds, seed):
            held = set(held_out)
            predictor = fit([i for i in range(len(labels)) if i not in held])
            for i in held_out:
                correct[i] += (predictor(i) == labels[i]) / len(seeds)
    return correct


def significantly_better(challenger: Sequence[float], incumbent: Sequence[float], z: float = SIGNIFICANCE_Z) -> bool:
    """McNemar-style paired test on per-example correctness: the challenger's net wins exceed z standard deviations."""
    wins = sum(max(0.0, a - b) for a, b in zip(challenger, incumbent))
    losses = sum(max(0.0, b - a) for a, b in zip(challenger, incumbent))
    return wins + losses > 0 and wins - losses > z * math.sqrt(wins + losses)


def cross_validate_code(
    make_code: Callable[[list[LabeledTrace]], str], examples: Sequence[LabeledTrace], *, folds: int = 5, seed: int = 0
) -> float | None:
    """Cross-validated agreement of code written by ``make_code`` (exec'd in-process: trusted code only)."""
    scored = [e for e in examples if e.rating != "neutral"]
    labels = [e.rating == "positive" for e in scored]

    def fit(rows: list[int]) -> Callable[[int], bool]:
        check = load_eval(make_code([scored[i] for i in rows]))
        return lambda i: bool(check(scored[i].trace)[0])

    agree, total = cross_validate(fit, labels, folds=folds, seed=seed)
    return agree / total if total else None


def load_eval(code: str) -> Callable[[dict[str, Any]], tuple[bool, str]]:
    """Exec generated code in-process and return its eval function (for trusted, self-generated code)."""
    namespace: dict[str, Any] = {}
    exec(compile(code, "<offline-eval>", "exec"), namespace)  # noqa: S102 - tests and benches only
    names = [n for n in namespace if n.startswith("eval_") and callable(namespace[n])]
    if len(names) != 1:
        raise GenerationError(f"expected one eval_ function, found {names}")
    return namespace[names[0]]


class OfflineGenerator:
    """Induces a readable rule-based eval from labeled traces; no network, deterministic."""

    name = "offline"

    def __init__(self, *, budgets: Sequence[int] = RULE_BUDGETS, folds: int = 5, repeats: int = CV_REPEATS,
                 memo: dict[tuple[Any, ...], Any] | None = None):
        self.memo = memo  # benchmarks only: feature values by trace id, kept across calls (ids must not be reused)
        self.budgets = tuple(budgets)
        self.folds = folds
        self.repeats = repeats

    def generate(self, request: GenerationRequest, *, extra: Sequence[Condition] = ()) -> Candidates:
        """Return up to ``request.candidates`` scorecards: the chosen model, then by cross-validated agreement.

        ``extra``: more conditions (values on ``training_examples(request)``, in order) competing with the
        feature library's, e.g. an LLM's predicates measured in the sandbox (chalicelib/generation/hybrid.py)."""
        examples = training_examples(request)
        traces = [e.trace for e in examples]
        labels = [e.rating == "positive" for e in examples]
        notes = [e.notes for e in examples if e.notes]
        features = candidate_features(traces) + criteria_features(request.criteria, notes, traces)
        table = feature_table(features, traces, self.memo)
        conditions = build_conditions(features, traces, table=table)
        forbidden = _forbidden_literals(examples)
        conditions = [c for c in conditions if not _names_forbidden(c.feature, forbidden)] + list(extra)
        named = [c for c in conditions if c.feature.evidence]
        always = _passed_everywhere(features, table, forbidden)
        rows = list(range(len(examples)))

        models: list[tuple[str, int, Callable[[list[int]], Scorecard]]] = [
            ("criteria rule", 1, lambda train: fit_single_rule(named, labels, train, "criteria rule", always))
        ] if named or always else []
        if len(_clauses([*named, *always])) >= 2:
            models.append(("criteria rules", 2, lambda train: fit_clauses(named, labels, train, always)))
        models += [
            ("single rule", 1, lambda train: fit_single_rule(conditions, labels, train))
        ] + [
            ("scorecard", b, lambda train, b=b: fit_scorecard(conditions, labels, train, b)) for b in self.budgets
        ]
        seeds = [request.seed * self.repeats + r for r in range(self.repeats)]
        scored: list[Scorecard] = []
        for kind, budget, fit in models:
            correct = cross_validated_correctness(lambda train, fit=fit: fit(train).predict, labels, folds=self.folds,
                                                  seeds=seeds)
            card = fit(rows)
            card.cv_correct = tuple(correct)
            card.cv_agreement = sum(correct) / len(correct)
            card.cv_counts = (round(sum(correct)), len(correct))
            scored.append(card)
        scored = rank_models(scored)
        unique: list[Scorecard] = []
        for card in scored:
            signature = [(r.condition.feature.expression(), r.sign, r.points) for r in card.rules] + [card.threshold]
            if all(
                signature != [(r.condition.feature.expression(), r.sign, r.points) for r in u.rules] + [u.threshold]
                for u in unique
            ):
                unique.append(card)
        out = []
        for card in unique:
            if len(out) >= request.candidates:
                break
            code = emit_code(request.eval_name, card, labels, request.criteria)
            if len(code.encode("utf-8")) > MAX_SOURCE_BYTES and card is not unique[-1]:
                continue  # the sandbox would refuse it (long tool lists in many rules): offer the next model
            constants = [c.lower() for c in set(string_constants(code)) - _HELPER_CONSTANTS]
            if any(lit in c for lit in forbidden for c in constants):
                raise GenerationError("generated code would name a training trace id")
            out.append(Candidate(code=code, rationale=_rationale(card)))
        return Candidates(candidates=out, generator=self.name)


def rank_models(models: Sequence[Scorecard]) -> list[Scorecard]:
    """Best first: simplest first, a more complex model taking over only when significantly better; then by agreement.

    Simplest means chosen among the fewest alternatives: the rule chosen among the conditions the criteria or
    notes name (a few dozen), then the rule chosen among all conditions (hundreds), then scorecards of growing
    budget. Each takes over from the current pick only when it wins significantly under cross-validation, so a
    feature the criteria named is used only as long as nothing does significantly better on the ratings.

    Up to seven challengers each get their chance, so at 5% one-sided a rule the ratings happen to favour
    takes over too often; a rule the user's words name asks for 1% (``WRITTEN_Z``). The default reading of
    criteria that name no rule is only the generator's guess and keeps 5%.

    Criteria of several sentences have two readings of the user's words: a rule per sentence, all of which must
    hold ("criteria rules", tried first), and one rule for them all ("criteria rule"); the one with the better
    cross-validated agreement is the pick (a sentence that states no policy, "Being polite alone does not count.",
    should not add a rule fitted to noise), then the challengers as above."""
    order = sorted(models, key=lambda m: (KIND_ORDER.get(m.kind, len(KIND_ORDER)), m.budget, len(m.rules)))
    order = [m for m in order if m.rules or not m.kind.startswith("criteria rule")] or order  # one that found nothing
    pick = order[0]
    for challenger in order[1:]:
        if pick.kind == "criteria rules" and challenger.kind == "criteria rule":
            # two readings of the same words (a rule per sentence, or one for them all): the better one under
            # cross-validation, each sentence a rule on a tie
            if (challenger.cv_agreement or 0.0) > (pick.cv_agreement or 0.0):
                pick = challenger
            continue
        z = WRITTEN_Z if _written(pick) else SIGNIFICANCE_Z
        if significantly_better(challenger.cv_correct, pick.cv_correct, z):
            pick = challenger
    rest = [m for m in models if m is not pick]
    rest.sort(key=lambda m: (-(m.cv_agreement or 0.0), len(m.rules), m.budget))
    return [pick, *rest]


def _written(card: Scorecard) -> bool:
    """A criteria rule the user's own words name (not the default reading of criteria that name no rule)."""
    return card.kind in ("criteria rule", "criteria rules") and any(_worded(r.condition.feature) for r in card.rules)


def training_examples(request: GenerationRequest) -> list[LabeledTrace]:
    """Rated (non-neutral) examples plus refinement failures; refuses when one class is missing."""
    by_id: dict[str, LabeledTrace] = {}
    order: list[str] = []
    for position, example in enumerate([*request.examples, *request.previous_failures]):
        key = str(example.trace.get("id") or f"#{position}")
        if key not in by_id:
            order.append(key)
        by_id[key] = example
    examples = [by_id[k] for k in order if by_id[k].rating != "neutral"]
    positives = sum(1 for e in examples if e.rating == "positive")
    negatives = len(examples) - positives
    if positives == 0 or negatives == 0:
        raise GenerationError(
            f"need at least one positive and one negative rating to generate an eval (have {positives} positive, "
            f"{negatives} negative)"
        )
    return examples


# The helper library's own words ("return" among the write verbs) are not from any trace.
_HELPER_CONSTANTS = frozenset(string_constants(HELPERS_SOURCE))


def _forbidden_literals(examples: Sequence[LabeledTrace]) -> list[str]:
    found = set()
    for example in examples:
        trace = example.trace
        for value in (trace.get("id"), (trace.get("source") or {}).get("external_id"), trace.get("session_id")):
            if isinstance(value, str) and len(value) >= 6:
                found.add(value.lower())
    return sorted(found)


def _names_forbidden(feature: Feature, forbidden: Sequence[str]) -> bool:
    texts = [a for arg in feature.args for a in (arg if isinstance(arg, tuple) else (arg,)) if isinstance(a, str)]
    return any(any(a.lower() in lit or lit in a.lower() for lit in forbidden if len(a) >= 6) for a in texts)


def _rationale(card: Scorecard) -> str:
    agree, total = card.cv_counts
    cv = f"{agree}/{total}" if total else "n/a"
    if card.kind in SINGLE_KINDS:
        default = " (default reading: task success)" if _default_reading(card) else ""
        return f"offline {card.kind}{default}; cross-validated agreement {cv}"
    if card.kind == "criteria rules":
        return f"offline criteria rules: {len(card.rules)} sentence(s), each must hold; cross-validated agreement {cv}"
    return f"offline scorecard with {len(card.rules)} rule(s) (budget {card.budget}); cross-validated agreement {cv}"


def _default_reading(card: Scorecard) -> bool:
    """Whether the card's rules are the default reading of criteria that name no rule (task success)."""
    return bool(card.rules) and all(r.condition.feature.evidence == NO_RULE_NAMED for r in card.rules)


def _counts_comment(rule: Rule, stated: bool = False) -> str:
    """How the rated examples split on the rule; ``stated``: the rule is the criteria rule's stated reading."""
    good = f"{rule.pos_hits} of {rule.pos_total} good examples"
    bad = f"{rule.neg_hits} of {rule.neg_total} bad examples"
    lead, tail = (good, bad) if rule.sign > 0 else (bad, good)
    if stated and rule.right <= rule.pos_total:  # a fitted rule gets more right than passing every trace
        return f"{lead} match, against {tail} (the ratings cannot tell it from passing every trace; the criteria state it)"
    return f"{lead} match, against {tail}"


def emit_code(eval_name: str, card: Scorecard, labels: Sequence[bool], criteria: str = "") -> str:
    """The eval module for a fitted scorecard: imports, helpers, and the commented rules."""
    if not eval_name or inert(eval_name, "name") != eval_name:
        raise GenerationError(f"eval name must be snake_case, got {eval_name!r}")
    positives = sum(labels)
    header = [
        f'"""Offline eval generated by iofold from {len(labels)} rated traces ({positives} good, '
        f'{len(labels) - positives} bad).',
        "",
    ]
    if criteria.strip():
        header += ["Criteria: " + inert(criteria, "docstring", limit=300), ""]
    if card.rules and card.kind == "criteria rule" and _default_reading(card):
        header += ["One rule decides, chosen among signs that the task was done: the criteria and notes name no "
                   "rule of their own (no other rule or scorecard did better under cross-validation)."]
    elif card.rules and card.kind == "criteria rule":
        header += ["One rule decides, chosen among the conditions the criteria or notes name (no other rule or "
                   "scorecard did better under cross-validation)."]
    elif card.rules and card.kind == "criteria rules":
        header += ["Every rule below must hold: one for each sentence of the criteria, chosen among the readings "
                   "that sentence states (no other rule or scorecard did better under cross-validation)."]
    elif card.rules and card.kind == "single rule":
        header += ["One rule decides (no scorecard beat it significantly under cross-validation)."]
    elif card.rules:
        header += [
            "Each rule below adds or removes points; the trace passes when its score is at least "
            f"{card.threshold}.",
        ]
    agree, total = card.cv_counts
    if total:
        header.append(f"Cross-validated agreement on the rated traces: {agree} of {total}.")
    header.append('"""')
    # a feature with ``module_source`` (an LLM predicate, chalicelib/generation/hybrid.py) brings its own code
    helpers = helper_source_for(sorted({r.condition.feature.helper for r in card.rules
                                        if not r.condition.feature.module_source}))
    own = [src for src in dict.fromkeys(r.condition.feature.module_source for r in card.rules) if src]
    lines = [*header, "", "import json", "import re", ""]
    for chunk in (helpers, *own):
        if chunk:
            lines += ["", chunk, "", ""]
    lines += [f"def eval_{eval_name}(trace: dict) -> tuple[bool, str]:"]
    lines.append('    """Pass when the signs of a good trace outweigh the signs of a bad one."""')
    if not card.rules:
        verdict = "True" if card.default_pass else "False"
        share = f"{positives} of {len(labels)}" if card.default_pass else f"{len(labels) - positives} of {len(labels)}"
        lines += [
            f"    # No rule separated good from bad examples; {share} examples share this verdict.",
            f'    return {verdict}, "no distinguishing rule found; default verdict"',
        ]
        return "\n".join(lines) + "\n"
    lines += ["    score = 0", "    good_signs = []", "    bad_signs = []"]
    for rule in card.rules:
        feature = rule.condition.feature
        described = feature.describe()  # built from trace text: only through inert()
        stated = card.kind.startswith("criteria rule") and _stated(feature)
        lines.append(f"    # {_counts_comment(rule, stated)}: {inert(described, 'comment')}.")
        if feature.evidence:
            lines.append(f"    # Named by the {inert(feature.evidence, 'comment', limit=200)}.")
        lines.append(f"    if {feature.expression()}:")
        word = "good_signs" if rule.sign > 0 else "bad_signs"
        op = "+=" if rule.sign > 0 else "-="
        lines.append(f"        score {op} {rule.points}")
        lines.append(f"        {word}.append({inert(described, 'literal')})")
        if rule.sign > 0:
            lines.append("    else:")
            lines.append(f"        bad_signs.append({inert('not: ' + described, 'literal')})")
    lines += [
        f"    if score >= {card.threshold}:",
        f'        return True, "looks good (score " + str(score) + " >= {card.threshold}): " + '
        '("; ".join(good_signs) or "no sign of a bad trace")',
        f'    return False, "looks bad (score " + str(score) + " < {card.threshold}): " + '
        '("; ".join(bad_signs) or "not enough signs of a good trace")',
    ]
    return "\n".join(lines) + "\n"


__all__ = [
    "HELPERS_SOURCE",
    "OfflineGenerator",
    "Scorecard",
    "build_conditions",
    "cross_validate",
    "cross_validate_code",
    "cross_validated_correctness",
    "emit_code",
    "fit_scorecard",
    "load_eval",
    "rank_models",
    "significantly_better",
    "stratified_folds",
    "training_examples",
]
