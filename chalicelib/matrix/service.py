"""Building matrix pages from Queries on keys, never a Scan: the set's feedback (GSI by_time, newest
rating first, projected to trace, rating and notes) gives the rows; the page's trace summaries and
every column's results come from BatchGetItem on (workspace_id, trace_id) and (eval_id, trace_id),
projected to what a row shows. A filtered page reads feedback in chunks until it is full or
``MAX_EXAMINED`` ratings were looked at (then it is short, with a cursor). The cursor is the
feedback position of a chunk plus how many of its items were used."""

from __future__ import annotations

import base64
import csv
import io
import json
from collections.abc import Iterator
from typing import Any, Protocol

from chalicelib.auth.models import Caller
from chalicelib.errors import NotFound, ValidationError
from chalicelib.evals.models import EvalVersion
from chalicelib.evals.repository import EvalRepository, ResultCell
from chalicelib.evals.results import agrees
from chalicelib.jsonlimits import loads_bounded
from chalicelib.matrix.models import (
    MATRIX_FILTERS, Matrix, MatrixCell, MatrixEval, MatrixHuman, MatrixQuery, MatrixRow, MatrixTrace,
)
from chalicelib.metrics import Metrics, compute_metrics
from chalicelib.storage import parse_limit
from chalicelib.traces.service import parse_trace_range
from chalicelib.traces.repository import TraceRow

FILTERED_CHUNK = 200
MAX_EXAMINED = 2000
MAX_COLUMNS = 10
DEFAULT_NEWEST = 2
CSV_MAX_ROWS = 10_000
CSV_REASON_CHARS = 500
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


class RatedSets(Protocol):
    """What the matrix needs of eval sets (EvalSetRepository provides it)."""

    def get(self, workspace_id: str, eval_set_id: str) -> Any: ...

    def rated_page(self, eval_set_id: str, *, limit: int, cursor: str | None) -> tuple[list[Any], str | None]: ...

    def rating_rows(self, eval_set_id: str) -> list[Any]: ...


class TraceSummaries(Protocol):
    def row_summaries(self, workspace_id: str, trace_ids: list[str]) -> dict[str, TraceRow]: ...


def parse_matrix_query(query: dict[str, str]) -> MatrixQuery:
    """The matrix's query string → MatrixQuery; 400 with the field at fault."""
    flt = query.get("filter") or "all"
    if flt not in MATRIX_FILTERS:
        raise ValidationError("filter must be all, contradictions or errors", [{"field": "filter"}])
    rating = query.get("rating") or None
    if rating not in (None, "positive", "negative", "neutral"):
        raise ValidationError("rating must be positive, negative or neutral", [{"field": "rating"}])
    bounds = parse_trace_range(query)
    eval_ids = [e.strip() for e in (query.get("eval_ids") or "").split(",") if e.strip()] or None
    if eval_ids and len(eval_ids) > MAX_COLUMNS:
        raise ValidationError(f"at most {MAX_COLUMNS} eval_ids", [{"field": "eval_ids"}])
    stats = query.get("stats") or "stored"
    if stats not in ("stored", "fresh", "none"):
        raise ValidationError("stats must be stored, fresh or none", [{"field": "stats"}])
    return MatrixQuery(eval_ids=list(dict.fromkeys(eval_ids)) if eval_ids else None, filter=flt, rating=rating,
                       stats=stats,
                       from_=bounds["from"], to=bounds["to"], source=bounds["source"],
                       limit=parse_limit(query.get("limit")), cursor=query.get("cursor") or None)


def choose_columns(versions: list[EvalVersion], eval_ids: list[str] | None) -> list[EvalVersion]:
    """The asked versions (404 for one not in the set), else the active one and the two newest non-archived."""
    if eval_ids:
        by_id = {v.id: v for v in versions}
        missing = [e for e in eval_ids if e not in by_id]
        if missing:
            raise NotFound(f"eval {missing[0]} not found in this eval set")
        return [by_id[e] for e in eval_ids]
    newest = sorted(versions, key=lambda v: -v.version)
    active = [v for v in newest if v.status == "active"]
    rest = [v for v in newest if v.status != "archived" and v.status != "active"][:DEFAULT_NEWEST]
    return active + rest


class MatrixReader:
    """One eval set's matrix for one request: set and columns resolved once, then pages."""

    def __init__(self, caller: Caller, eval_set_id: str, q: MatrixQuery, *, eval_sets: RatedSets,
                 evals: EvalRepository, traces: TraceSummaries):
        self.workspace_id = caller.workspace_id
        self.q = q
        self._sets, self._evals, self._traces = eval_sets, evals, traces
        self.eval_set = eval_sets.get(caller.workspace_id, eval_set_id)
        self.columns = choose_columns(evals.all_for_set(self.eval_set.id), q.eval_ids)

    def evals(self) -> list[MatrixEval]:
        return [MatrixEval(id=v.id, version=v.version, status=v.status, name=v.name, generator=v.generator)
                for v in self.columns]

    def stats(self) -> dict[str, Any]:
        """Each column's metrics over the set's rated traces: as stored by its last run or scoring
        (no extra reads), or recomputed now (a projected BatchGetItem over the rated traces per version) when asked or missing."""
        if self.q.stats == "none":
            return {}
        out: dict[str, Any] = {}
        ratings = None
        changed = self.eval_set.ratings_changed_at or ""
        for v in self.columns:
            stored_at = v.metrics.get("computed_at") or ""
            if self.q.stats == "stored" and "confusion" in v.metrics and stored_at >= changed:
                out[v.id] = Metrics.model_validate(v.metrics)
                continue
            if ratings is None:
                ratings = [(r.trace_id, r.rating) for r in self._sets.rating_rows(self.eval_set.id)]
            kinds = self._evals.result_kinds(v.id, [t for t, _ in ratings])
            out[v.id] = compute_metrics((rating, kinds.get(t)) for t, rating in ratings)
            # write back, so the next request reads them (until ratings or results change again)
            self._evals.update(v, metrics={**v.metrics, **out[v.id].model_dump(mode="json")})
        return out

    def page(self, cursor: str | None, limit: int) -> tuple[list[MatrixRow], str | None]:
        """Up to ``limit`` rows from ``cursor``, and the cursor after them (None at the end)."""
        position, skip = _decode(cursor, self.eval_set.id)
        rows: list[MatrixRow] = []
        examined = 0
        needs_results = self.q.filter != "all"
        needs_summary = bool(self.q.from_ or self.q.to or self.q.source)
        while True:
            remaining = limit - len(rows)
            size = FILTERED_CHUNK if (needs_results or needs_summary or self.q.rating) else remaining + skip
            chunk, after = self._sets.rated_page(self.eval_set.id, limit=min(max(size, 1), 200), cursor=position)
            indexed = [(i, f) for i, f in enumerate(chunk) if i >= skip]
            examined += len(indexed)
            if self.q.rating:
                indexed = [(i, f) for i, f in indexed if f.rating == self.q.rating]
            if not (needs_results or needs_summary):
                indexed = indexed[:remaining]
            summaries = (self._traces.row_summaries(self.workspace_id, [f.trace_id for _, f in indexed])
                         if indexed else {})
            if needs_summary:
                indexed = [(i, f) for i, f in indexed if self._keep_trace(summaries.get(f.trace_id))]
            if needs_results:
                results = self._results([f.trace_id for _, f in indexed])
                indexed = [(i, f) for i, f in indexed if self._keep_results(f.rating, f.trace_id, results)][:remaining]
            else:
                indexed = indexed[:remaining]
                results = self._results([f.trace_id for _, f in indexed])
            rows += [self._row(f, summaries.get(f.trace_id), results) for _, f in indexed]
            if len(rows) >= limit and indexed:
                last = indexed[-1][0]
                if last + 1 < len(chunk):
                    return rows, _encode(position, last + 1, self.eval_set.id)
                return rows, _encode(after, 0, self.eval_set.id) if after else None
            if not after:
                return rows, None
            position, skip = after, 0
            if examined >= MAX_EXAMINED:
                return rows, _encode(position, 0, self.eval_set.id)

    def _results(self, trace_ids: list[str]) -> dict[tuple[str, str], ResultCell]:
        if not trace_ids or not self.columns:
            return {}
        return self._evals.result_cells([v.id for v in self.columns], trace_ids)

    def _keep_trace(self, summary: TraceRow | None) -> bool:
        if summary is None:
            return False
        stamp = summary.timestamp or summary.imported_at
        if self.q.from_ and stamp < self.q.from_:
            return False
        if self.q.to and stamp > self.q.to + "\uffff":
            return False
        if self.q.source and self.q.source not in (summary.platform, summary.integration_id):
            return False
        return True

    def _keep_results(self, rating: str, trace_id: str, results: dict) -> bool:
        kinds = [results[(v.id, trace_id)].result for v in self.columns if (v.id, trace_id) in results]
        if self.q.filter == "contradictions":
            return any(agrees(rating, k) is False for k in kinds)
        return any(k in ("error", "timeout") for k in kinds)

    def _row(self, feedback: Any, summary: TraceRow | None, results: dict[tuple[str, str], ResultCell]) -> MatrixRow:
        cells = {}
        for v in self.columns:
            e = results.get((v.id, feedback.trace_id))
            if e is not None:
                cells[v.id] = MatrixCell(result=e.result, reason=e.reason, duration_ms=e.duration_ms,
                                         agrees=agrees(feedback.rating, e.result))
        trace = None
        if summary is not None:
            trace = MatrixTrace(name=summary.name, timestamp=summary.timestamp, input_preview=summary.input_preview,
                                platform=summary.platform)
        return MatrixRow(trace_id=feedback.trace_id, trace=trace,
                         human=MatrixHuman(rating=feedback.rating, notes=feedback.notes or ""), results=cells)


def build_matrix(caller: Caller, eval_set_id: str, q: MatrixQuery, *, eval_sets: RatedSets, evals: EvalRepository,
                 traces: TraceSummaries) -> Matrix:
    """One page of the matrix; stats on the first page (no cursor)."""
    reader = MatrixReader(caller, eval_set_id, q, eval_sets=eval_sets, evals=evals, traces=traces)
    rows, nxt = reader.page(q.cursor, q.limit)
    return Matrix(evals=reader.evals(), rows=rows, stats=reader.stats() if not q.cursor else {}, next_cursor=nxt,
                  stats_mode=q.stats)


def matrix_csv(caller: Caller, eval_set_id: str, q: MatrixQuery, *, eval_sets: RatedSets, evals: EvalRepository,
               traces: TraceSummaries, max_rows: int = CSV_MAX_ROWS) -> tuple[str, str | None]:
    """The same rows as CSV, from ``q.cursor`` up to ``max_rows``; (text, cursor of the rest or None)."""
    reader = MatrixReader(caller, eval_set_id, q, eval_sets=eval_sets, evals=evals, traces=traces)
    out = io.StringIO()
    writer = csv.writer(out)
    header = ["trace_id", "trace_name", "timestamp", "platform", "rating", "notes"]
    for v in reader.columns:
        header += [f"v{v.version}_{field}" for field in ("result", "agrees", "reason", "duration_ms")]
    writer.writerow(header)
    for row in _walk(reader, q.cursor, max_rows):
        if isinstance(row, str):
            return out.getvalue(), row
        t = row.trace
        line = [row.trace_id, t.name if t else "", t.timestamp if t else "", t.platform if t else "",
                row.human.rating, row.human.notes]
        for v in reader.columns:
            c = row.results.get(v.id)
            line += ([c.result, "" if c.agrees is None else str(c.agrees).lower(), c.reason[:CSV_REASON_CHARS],
                      c.duration_ms] if c else ["", "", "", ""])
        writer.writerow([csv_cell(value) for value in line])
    return out.getvalue(), None


# OWASP "CSV Injection": a spreadsheet runs a cell starting with = + - @ tab or CR as a formula. Every text
# cell (trace ids and names, timestamps, platforms, notes, reasons) goes through csv_cell; the numbers the
# product writes (duration_ms) are ints, never negative, and stay numbers.
def csv_cell(value: Any) -> Any:
    """The cell with a leading ' when it is text a spreadsheet would run as a formula; csv.writer quotes it."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def _walk(reader: MatrixReader, cursor: str | None, max_rows: int) -> Iterator[MatrixRow | str]:
    """Rows from ``cursor``; a str (the cursor of the rest) when ``max_rows`` is reached first."""
    done = 0
    while True:
        rows, cursor = reader.page(cursor, min(200, max_rows - done))
        yield from rows
        done += len(rows)
        if not cursor:
            return
        if done >= max_rows:
            yield cursor
            return


def _encode(feedback_cursor: str | None, skip: int, eval_set_id: str) -> str:
    doc = {"s": eval_set_id, "f": feedback_cursor, "k": skip}
    return base64.urlsafe_b64encode(json.dumps(doc).encode()).decode()


def _decode(cursor: str | None, eval_set_id: str) -> tuple[str | None, int]:
    if not cursor:
        return None, 0
    try:
        doc = loads_bounded(base64.urlsafe_b64decode(cursor.encode()))
    except (ValueError, TypeError) as exc:
        raise ValidationError("invalid cursor") from exc
    if (not isinstance(doc, dict) or doc.get("s") != eval_set_id or not isinstance(doc.get("k"), int)
            or doc["k"] < 0 or not isinstance(doc.get("f"), (str, type(None)))):
        raise ValidationError("invalid cursor")
    return doc["f"], doc["k"]
