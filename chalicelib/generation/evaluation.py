"""Quality measurement for generators: group splits, stratified training samples, baselines.

Used by ``bench/quality_direct.py`` (generator called directly) and meant for the API-level
``bench/quality.py``: both must split the same way (by group, never by trace).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from chalicelib.generation.features import candidate_features
from chalicelib.generation.offline import Condition, build_conditions
from chalicelib.metrics import Metrics, compute_metrics


@dataclass(frozen=True)
class LabeledItem:
    """A trace with its group (e.g. the task) and its label (True = good)."""

    trace: dict[str, Any]
    group: str
    good: bool


@dataclass(frozen=True)
class Split:
    """One seed's training sample and held-out set."""

    train: list[LabeledItem]
    heldout: list[LabeledItem]


def split_by_group(items: Sequence[LabeledItem], *, n_train: int, seed: int, train_share: float = 0.5) -> Split:
    """Put whole groups on one side; draw a stratified sample of n_train from the training groups."""
    groups = sorted({item.group for item in items})
    rng = random.Random(seed)
    rng.shuffle(groups)
    cut = max(1, round(len(groups) * train_share))
    train_groups = set(groups[:cut])
    pool = [i for i in items if i.group in train_groups]
    heldout = [i for i in items if i.group not in train_groups]
    return Split(train=stratified_sample(pool, n_train, rng), heldout=heldout)


def stratified_sample(pool: Sequence[LabeledItem], n: int, rng: random.Random) -> list[LabeledItem]:
    """n items keeping the pool's class balance, with at least one of each class."""
    good = [i for i in pool if i.good]
    bad = [i for i in pool if not i.good]
    if not good or not bad:
        raise ValueError("the pool needs both classes")
    n = min(n, len(pool))
    n_good = round(n * len(good) / len(pool))
    n_good = min(max(1, n_good), n - 1, len(good))
    n_bad = min(n - n_good, len(bad))
    sample = rng.sample(good, n_good) + rng.sample(bad, n_bad)
    rng.shuffle(sample)
    return sample


def score_predictions(items: Sequence[LabeledItem], results: Sequence[str | None]) -> Metrics:
    """Metrics of pass/fail/error results against the items' labels."""
    return compute_metrics(("positive" if i.good else "negative", r) for i, r in zip(items, results))


def run_predictor(predict: Callable[[dict[str, Any]], bool], items: Sequence[LabeledItem]) -> list[str]:
    """pass/fail for each item; an exception counts as error (reported apart, as in the product)."""
    results = []
    for item in items:
        try:
            results.append("pass" if predict(item.trace) else "fail")
        except (KeyError, TypeError, ValueError, AttributeError, IndexError, ZeroDivisionError):
            results.append("error")
    return results


def majority_baseline(train: Sequence[LabeledItem]) -> Callable[[dict[str, Any]], bool]:
    """Predict the training set's majority class for every trace (ties: good)."""
    verdict = sum(i.good for i in train) * 2 >= len(train)
    return lambda trace: verdict


def best_condition(conditions: Sequence[Condition], labels: Sequence[bool]) -> tuple[Condition, bool] | None:
    """The condition and polarity with the best training accuracy (ties: the simpler, then the first); None when
    there is no condition."""
    best: tuple[tuple[int, int], Condition, bool] | None = None
    for condition in conditions:
        hits = sum(v == y for v, y in zip(condition.values, labels))
        for polarity, agree in ((True, hits), (False, len(labels) - hits)):
            key = (agree, -condition.complexity)
            if best is None or key > best[0]:
                best = (key, condition, polarity)
    return None if best is None else (best[1], best[2])


def best_single_rule(train: Sequence[LabeledItem]) -> tuple[Callable[[dict[str, Any]], bool], str]:
    """The single feature condition (either polarity) with the best training accuracy, and its description."""
    traces = [i.trace for i in train]
    conditions = build_conditions(candidate_features(traces), traces)
    best = best_condition(conditions, [i.good for i in train])
    if best is None:
        verdict = majority_baseline(train)
        return verdict, "majority class (no feature varies)"
    condition, polarity = best
    feature = condition.feature

    def predict(trace: dict[str, Any]) -> bool:
        return feature.holds(feature.raw(trace)) == polarity

    return predict, ("" if polarity else "not ") + feature.expression()
