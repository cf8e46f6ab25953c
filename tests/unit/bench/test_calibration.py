"""bench/calibration.py's bookkeeping: pair ordering, coverage and the quality.md section it owns."""

from bench.calibration import SECTION, pair_counts, summarize, write_section


def _v(name, estimate, truth, lo=0.0, hi=1.0):
    return {"version": name, "estimate": estimate, "truth": truth, "interval": (lo, hi)}


def test_pairs_count_only_versions_whose_unseen_accuracies_differ_by_a_tenth_and_ties_are_wrong():
    run = [_v("a", 0.6, 0.60), _v("b", 0.7, 0.75), _v("c", 0.7, 0.65), _v("d", 0.5, 0.95)]
    # pairs: a-b (right), a-d, b-c (a tie), b-d, c-d (wrong); a-c differs by less than 0.10
    assert pair_counts(run) == (1, 5)
    assert pair_counts([_v("a", 0.7, 0.6), _v("b", 0.7, 0.8)]) == (0, 1)  # a tie orders nothing


def test_summary_reports_gap_coverage_and_versions_without_estimate():
    runs = [[_v("n=10", 0.5, 0.7, 0.4, 0.6), _v("n=20", 0.8, 0.7, 0.6, 0.9)], [_v("n=10", None, 0.6)]]
    s = summarize(runs)
    assert s["versions"] == 2 and s["missing"] == 1
    assert abs(s["gap"] - 0.15) < 1e-9 and s["coverage"] == 0.5
    assert s["pairs"] == 0 and s["ordered"] is None


def test_the_section_is_replaced_and_the_rest_of_quality_md_kept(tmp_path):
    path = tmp_path / "quality.md"
    path.write_text("# Quality\n\nintro\n\n## Other\n\nkeep me\n")
    write_section(f"{SECTION}\n\nfirst\n", path)
    write_section(f"{SECTION}\n\nsecond\n", path)
    text = path.read_text()
    assert "keep me" in text and "intro" in text and "second" in text and "first" not in text
    assert text.count(SECTION) == 1
    path.write_text(f"# Quality\n\n{SECTION}\n\nold\n\n## After\n\nstays\n")
    write_section(f"{SECTION}\n\nnew\n", path)
    assert path.read_text() == f"# Quality\n\n{SECTION}\n\nnew\n\n## After\n\nstays\n"


def test_on_the_current_ratings_a_version_is_scored_where_it_never_trained():
    from bench.calibration import on_ratings

    v = {"version": "n=10", "estimate": 0.5, "interval": (0.3, 0.7), "truth": 0.9,
         "rated_trained": [1, 1, 0, 0, 0, 0], "rated_correct": [0, 1, 1, 1, 1, 0]}
    now = on_ratings(v)
    assert now["estimate"] == round((2 * 0.5 + 3) / 6, 4) and now["truth"] == 0.9  # trained ones: the CV estimate
    assert on_ratings({**v, "rated_trained": [1] * 6})["interval"] == (0.3, 0.7)  # nothing unseen: as generated
    assert on_ratings({**v, "estimate": None, "interval": None})["estimate"] == 0.75
