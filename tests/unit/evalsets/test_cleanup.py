"""clean_deleted_sets against fakes of its stores: what it does with a set whose delete has not happened."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from chalicelib.errors import NotFound
from chalicelib.evalsets.cleanup import SETTLE, DeletedSet, clean_deleted_sets

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)


class FakeMarkers:
    def __init__(self, *marked: DeletedSet):
        self.marked = list(marked)

    def pending(self, limit):
        yield from self.marked[:limit]

    def clear(self, deleted):
        self.marked.remove(deleted)


class FakeSets:
    def __init__(self, existing: set[str]):
        self.existing = existing
        self.feedback_deleted: list[str] = []

    def get(self, workspace_id, eval_set_id):
        if eval_set_id not in self.existing:
            raise NotFound(eval_set_id)
        return eval_set_id

    def delete_feedback_of(self, eval_set_id, *, limit):
        self.feedback_deleted.append(eval_set_id)
        return 0


class FakeVersions:
    def __init__(self):
        self.results_deleted: list[str] = []

    def all_for_set(self, eval_set_id, *, include_rejected=False):
        return []

    def delete_versions(self, eval_set_id, eval_ids):
        pass

    def delete_results(self, eval_id, *, limit):
        self.results_deleted.append(eval_id)
        return 0


def test_a_marked_set_that_still_exists_is_left_alone_then_its_marker_dropped():
    marker = DeletedSet("ws_1", "es_live", ("ev_1",), NOW)
    markers, sets, versions = FakeMarkers(marker), FakeSets({"es_live"}), FakeVersions()
    out = clean_deleted_sets(NOW + timedelta(minutes=1), markers=markers, eval_sets=sets, evals=versions)
    assert out.pending == 1 and markers.marked == [marker]
    out = clean_deleted_sets(NOW + SETTLE, markers=markers, eval_sets=sets, evals=versions)
    assert out.pending == 0 and markers.marked == [] and out.finished == []
    assert versions.results_deleted == [] and sets.feedback_deleted == []  # a live set's contents are never touched


def test_settle_outlasts_the_execute_state_machine_s_time_limit():
    """SETTLE copies infra's limit (the Lambda package has no infra): a run started before a delete can write
    results until its execution times out, so the cleanup must wait longer than that."""
    from infra.resources import STATE_MACHINES

    execute = next(sm for sm in STATE_MACHINES if sm.name == "execute_eval")
    assert SETTLE > timedelta(seconds=execute.timeout_seconds)
