"""assemble_ready_traces decides which pending traces to build, against fakes of its two stores."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from chalicelib.otlp.spans import PendingTrace
from chalicelib.otlp.tasks import assemble_ready_traces
from tests.unit.sources.test_otlp_payloads import simple_spans

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)


class FakeSpans:
    def __init__(self, pending: list[PendingTrace]):
        self.markers = pending
        self.cleared: list[str] = []
        self.read = 0

    def pending(self, limit):
        for marker in self.markers[:limit]:
            self.read += 1
            yield marker

    def spans(self, workspace_id, trace_id):
        span = simple_spans(trace_id)[0]
        return [{"resource": {}, "scope": {}, "span": span}]

    def clear_pending(self, pending):
        self.cleared.append(pending.trace_id)
        return True


class FakeTraces:
    def __init__(self):
        self.stored: dict[str, str] = {}

    def upsert_many(self, workspace_id, traces, *, imported_at):
        outcomes = []
        for trace in traces:
            outcomes.append("skipped" if trace.id in self.stored else "imported")
            self.stored[trace.id] = workspace_id
        return outcomes


def _pending(trace_id: str, *, age_s: int, root_ended: bool = False) -> PendingTrace:
    return PendingTrace("ws_1", trace_id, root_ended, NOW - timedelta(seconds=age_s), f'"{trace_id}"')


def test_only_quiet_or_root_ended_traces_are_built_and_a_rebuild_is_skipped():
    quiet, busy, ended = "1" * 32, "2" * 32, "3" * 32
    spans = FakeSpans([_pending(quiet, age_s=31), _pending(busy, age_s=5), _pending(ended, age_s=1, root_ended=True)])
    traces = FakeTraces()
    out = assemble_ready_traces(NOW, quiet_seconds=30, spans=spans, traces=traces)
    assert (out.imported, out.waiting, len(out.assembled)) == (2, 1, 2)
    assert spans.cleared == [quiet, ended] and out.changed_workspaces == ["ws_1"]
    again = assemble_ready_traces(NOW, quiet_seconds=30, spans=FakeSpans([_pending(quiet, age_s=60)]), traces=traces)
    assert (again.skipped, again.changed_workspaces) == (1, [])


def test_a_run_builds_at_most_limit_traces_and_reads_no_marker_after_the_last():
    spans = FakeSpans([_pending(f"{i:032x}", age_s=60) for i in range(1, 6)])
    out = assemble_ready_traces(NOW, quiet_seconds=30, spans=spans, traces=FakeTraces(), limit=2)
    assert len(out.assembled) == 2 and len(spans.cleared) == 2 and spans.read == 2


def test_a_run_reads_at_most_its_markers_however_many_traces_wait():
    busy = [_pending(f"{i:032x}", age_s=1) for i in range(1, 51)]
    spans = FakeSpans(busy + [_pending("f" * 32, age_s=60)])
    out = assemble_ready_traces(NOW, quiet_seconds=30, spans=spans, traces=FakeTraces(), markers=20)
    assert (spans.read, out.waiting, out.assembled) == (20, 20, [])


class CountingTraces(FakeTraces):
    def __init__(self, fail: bool = False):
        super().__init__()
        self.calls: list[tuple[str, int]] = []
        self.fail = fail

    def upsert_many(self, workspace_id, traces, *, imported_at):
        self.calls.append((workspace_id, len(traces)))
        if self.fail:
            raise RuntimeError("the store is down")
        return super().upsert_many(workspace_id, traces, imported_at=imported_at)


def test_a_run_stores_each_workspace_s_traces_in_one_upsert_one_page_object_not_one_per_trace():
    markers = [PendingTrace(f"ws_{i % 2}", f"{i:032x}", True, NOW, f'"{i}"') for i in range(1, 7)]
    traces = CountingTraces()
    out = assemble_ready_traces(NOW, quiet_seconds=30, spans=FakeSpans(markers), traces=traces)
    assert sorted(traces.calls) == [("ws_0", 3), ("ws_1", 3)]
    assert out.imported == 6 and sorted(out.changed_workspaces) == ["ws_0", "ws_1"]


def test_markers_are_cleared_only_after_their_traces_are_stored():
    spans = FakeSpans([_pending(f"{i:032x}", age_s=60) for i in range(1, 4)])
    try:
        assemble_ready_traces(NOW, quiet_seconds=30, spans=spans, traces=CountingTraces(fail=True))
    except RuntimeError:
        pass
    assert spans.cleared == []
