from chalicelib.evalsets.models import MAX_HISTORY, RateRequest
from chalicelib.evalsets.service import next_feedback


def test_first_rating_starts_the_history_from_nothing():
    fb = next_feedback(None, "tr_1", RateRequest(rating="positive", notes="ok"), by="key_a", at="t1")
    assert (fb.rating, fb.author, fb.version, fb.changes) == ("positive", "key_a", 1, 0)
    assert [(h.from_, h.to, h.by, h.at) for h in fb.history] == [(None, "positive", "key_a", "t1")]


def test_changes_count_rating_changes_not_note_edits():
    fb = next_feedback(None, "tr_1", RateRequest(rating="positive"), by="a", at="t1")
    fb = next_feedback(fb, "tr_1", RateRequest(rating="positive", notes="more"), by="b", at="t2")
    fb = next_feedback(fb, "tr_1", RateRequest(rating="negative"), by="a", at="t3")
    fb = next_feedback(fb, "tr_1", RateRequest(rating="positive"), by="b", at="t4")
    assert fb.changes == 2 and fb.version == 4 and fb.created_at == "t1" and fb.updated_at == "t4"
    assert [(h.from_, h.to) for h in fb.history] == [(None, "positive"), ("positive", "positive"),
                                                     ("positive", "negative"), ("negative", "positive")]


def test_history_keeps_the_latest_entries_only():
    fb = None
    for i in range(MAX_HISTORY + 7):
        fb = next_feedback(fb, "tr_1", RateRequest(rating="positive" if i % 2 else "negative"), by="a", at=f"t{i}")
    assert len(fb.history) == MAX_HISTORY and fb.history[-1].at == f"t{MAX_HISTORY + 6}"
    assert fb.changes == MAX_HISTORY + 6
