from chalicelib.evals.generation import stratified_folds
from chalicelib.generation.base import LabeledTrace


def _example(i: int, rating: str, user: str | None = None, session: str | None = None) -> LabeledTrace:
    return LabeledTrace(trace={"id": f"t{i}", "user_id": user, "session_id": session}, rating=rating)


def test_a_user_or_session_never_sits_on_both_sides_of_a_fold():
    examples = [_example(i, "positive" if i % 3 else "negative", user=f"u{i // 4}") for i in range(40)]
    examples += [_example(100 + i, "negative", user="shared", session=f"s{i % 2}") for i in range(6)]
    folds = stratified_folds(examples, seed=1)
    assert 2 <= len(folds) <= 5
    assert sorted(i for f in folds for i in f) == list(range(len(examples)))
    for fold in folds:
        inside = {examples[i].trace["session_id"] or examples[i].trace["user_id"] for i in fold}
        outside = {examples[i].trace["session_id"] or examples[i].trace["user_id"]
                   for i in range(len(examples)) if i not in fold}
        assert not inside & outside


def test_folds_keep_both_classes_and_are_deterministic():
    examples = [_example(i, "positive" if i % 2 else "negative") for i in range(20)]
    folds = stratified_folds(examples, seed=3)
    assert folds == stratified_folds(examples, seed=3) and len(folds) == 5
    for fold in folds:
        assert {examples[i].rating for i in fold} == {"positive", "negative"}


def test_too_few_groups_or_examples_means_no_held_out_estimate():
    assert stratified_folds([_example(0, "positive"), _example(1, "negative")], seed=0) == []
    same_user = [_example(i, "positive" if i % 2 else "negative", user="one") for i in range(10)]
    assert stratified_folds(same_user, seed=0) == []


def test_a_small_class_does_not_cut_the_number_of_folds():
    # 3 bad examples: 5 folds (each fold's code trains on 4/5 of the examples), not 3 (2/3 of them)
    examples = [_example(i, "negative" if i < 3 else "positive") for i in range(20)]
    folds = stratified_folds(examples, seed=0)
    assert len(folds) == 5 and sorted(i for f in folds for i in f) == list(range(20))
    assert sum(any(examples[i].rating == "negative" for i in f) for f in folds) == 3
    one_bad = [_example(i, "negative" if i == 0 else "positive") for i in range(20)]
    assert stratified_folds(one_bad, seed=0) == []  # the fold holding it out could not train
