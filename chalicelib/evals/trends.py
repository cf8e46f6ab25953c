"""An eval version's trend: pass rate and result counts per hour and per UTC day, over its runs.

Counts live in their own table (``eval_trends``, key ``eval_id`` + ``period``) as counters per
period, added when a run's chunk of results is recorded (``EvalRepository.record_trend``), so
``GET /v1/evals/{id}/trend`` is one Query on a short key range: no Scan, and no read of the
version's executions.

What is counted: executions, per run. Every run (POST /execute, a schedule's run-active-evals, OTLP
run-active-evals) adds each of its results to the hour and the day it was recorded in, so a trace
run twice in one period counts twice there. Scoring a new version on its set's rated traces at
generation is not a run and is not counted. A chunk retried by the state machine counts once: each
chunk's update is one transaction with a marker item (``run#<job>/<chunk>``) that must not exist.

``pass_rate`` is pass / executed (an error or timeout is not a pass). A point is marked ``drop``
when its pass rate is more than ``DROP_THRESHOLD`` below the previous point's or below the mean of
up to ``TRAILING_POINTS`` points before it."""

from __future__ import annotations

import time
from collections.abc import Iterable
from datetime import datetime, timedelta, timezone
from typing import Any

from boto3.dynamodb.conditions import Key
from botocore.exceptions import ClientError
from chalicelib.errors import ValidationError
from chalicelib.evals.models import DROP_THRESHOLD, TRAILING_POINTS, Trend, TrendPoint
from chalicelib.storage import delete_partition, is_conditional_failure, to_plain
from chalicelib.timeutil import format_iso

BUCKETS: dict[str, timedelta] = {"hour": timedelta(hours=1), "day": timedelta(days=1)}
RESULT_KINDS = ("pass", "fail", "error", "timeout")

DEFAULT_SPAN = {"hour": timedelta(days=7), "day": timedelta(days=90)}
"""The range a request without ``from`` covers, back from ``to`` (or now)."""
MAX_SPAN = {"hour": timedelta(days=31), "day": timedelta(days=1000)}
"""The widest range one request may ask for (a bounded Query)."""
RUN_MARKER_TTL_S = 14 * 24 * 3600
"""Run markers only guard against a retried chunk counting twice; they may expire after this."""


def bucket_start(moment: datetime, bucket: str) -> datetime:
    """The start of the hour or UTC day holding ``moment``."""
    utc = moment.astimezone(timezone.utc)
    if bucket == "hour":
        return utc.replace(minute=0, second=0, microsecond=0)
    return utc.replace(hour=0, minute=0, second=0, microsecond=0)


def count_results(results: Iterable[Any]) -> dict[str, int]:
    """Results (anything with ``.result``) counted by kind, with ``executed``."""
    counts = dict.fromkeys(RESULT_KINDS, 0)
    for r in results:
        counts[r.result] += 1
    return {"executed": sum(counts.values()), **counts}


def _period(bucket: str, start: datetime) -> str:
    return f"{bucket}#{format_iso(start)}"


class TrendStore:
    """The eval_trends table: counters per (eval_id, period) and the markers of counted run chunks."""

    def __init__(self, table: Any):
        self._table = table

    def add_run(self, eval_id: str, counts: dict[str, int], *, at: datetime, run: str) -> bool:
        """Add one run chunk's counts to its hour and its day, once per ``run`` (False: already counted)."""
        if not counts.get("executed"):
            return False
        names = {f"#{k}": k for k in counts}
        values = {f":{k}": v for k, v in counts.items()}
        updates = [{"Update": {
            "TableName": self._table.name, "Key": {"eval_id": eval_id, "period": _period(b, bucket_start(at, b))},
            "UpdateExpression": "ADD " + ", ".join(f"#{k} :{k}" for k in counts),
            "ExpressionAttributeNames": names, "ExpressionAttributeValues": values}} for b in BUCKETS]
        marker = {"Put": {"TableName": self._table.name,
                          "Item": {"eval_id": eval_id, "period": f"run#{run}",
                                   "expires_at": int(time.time()) + RUN_MARKER_TTL_S},
                          "ConditionExpression": "attribute_not_exists(period)"}}
        try:  # the table resource's client serializes plain values itself
            self._table.meta.client.transact_write_items(TransactItems=[marker, *updates])
        except ClientError as exc:
            if is_conditional_failure(exc):
                return False
            raise
        return True

    def periods(self, eval_id: str, bucket: str, first: datetime, last: datetime) -> dict[str, dict[str, int]]:
        """Counts by period start (ISO) for the periods starting in [first, last]."""
        out: dict[str, dict[str, int]] = {}
        kwargs: dict[str, Any] = {"KeyConditionExpression": Key("eval_id").eq(eval_id) & Key("period").between(
            _period(bucket, first), _period(bucket, last))}
        while True:
            page = self._table.query(**kwargs)
            for item in page["Items"]:
                plain = to_plain(item)
                out[plain["period"].split("#", 1)[1]] = {k: int(plain.get(k, 0)) for k in ("executed", *RESULT_KINDS)}
            if "LastEvaluatedKey" not in page:
                return out
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def delete_eval(self, eval_id: str, *, limit: int | None = None) -> int:
        """Delete every counter and marker of a version (at most ``limit``); how many items went."""
        return delete_partition(self._table, "eval_id", eval_id, "period", limit=limit)


def parse_trend_query(query: dict[str, str], *, now: datetime | None = None) -> tuple[str, datetime, datetime]:
    """``bucket`` (day or hour, default day) and the range from ``from``/``to`` (the shared time parser);
    400 for anything else, a reversed range or one wider than MAX_SPAN. Returns (bucket, start, end)."""
    from chalicelib.traces.service import parse_trace_range

    bucket = query.get("bucket") or "day"
    if bucket not in BUCKETS:
        raise ValidationError(f"bucket must be one of {', '.join(sorted(BUCKETS))}", [{"field": "bucket",
                                                                                      "value": bucket}])
    bounds = parse_trace_range({"from": query.get("from"), "to": query.get("to")})
    end = _moment(bounds["to"], end_of_day=True) if bounds["to"] else (now or datetime.now(timezone.utc))
    start = _moment(bounds["from"]) if bounds["from"] else end - DEFAULT_SPAN[bucket]
    if start > end:
        raise ValidationError("from must not be after to", [{"field": "from"}, {"field": "to"}])
    if end - start > MAX_SPAN[bucket]:
        raise ValidationError(f"a {bucket} trend covers at most {MAX_SPAN[bucket].days} days; narrow from/to",
                              [{"field": "from"}, {"field": "to"}])
    return bucket, start, end


def _moment(text: str, *, end_of_day: bool = False) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    if end_of_day and len(text) <= 10:  # a date as ``to`` includes that whole day
        moment += timedelta(days=1) - timedelta(milliseconds=1)
    return moment


def build_trend(eval_id: str, bucket: str, start: datetime, end: datetime, *, store: TrendStore) -> Trend:
    """The trend of a version over [start, end]: stored counters per period, pass rates and drops."""
    first, last = bucket_start(start, bucket), bucket_start(end, bucket)
    counted = store.periods(eval_id, bucket, first, last)
    points = [_point(at, counts) for at, counts in sorted(counted.items())]
    mark_drops(points)
    return Trend(eval_id=eval_id, bucket=bucket, from_=format_iso(first), to=format_iso(last + BUCKETS[bucket]),
                 points=points)


def _point(start: str, counts: dict[str, int]) -> TrendPoint:
    executed = counts["executed"]
    return TrendPoint(start=start, executed=executed, pass_=counts["pass"], fail=counts["fail"],
                      error=counts["error"], timeout=counts["timeout"],
                      pass_rate=round(counts["pass"] / executed, 4) if executed else None)


def mark_drops(points: list[TrendPoint], threshold: float = DROP_THRESHOLD) -> None:
    """Mark each point whose pass rate fell more than ``threshold`` below the previous point's or the
    mean of up to TRAILING_POINTS points before it (points without a pass rate are skipped)."""
    seen: list[float] = []
    for point in points:
        if point.pass_rate is None:
            continue
        if seen:
            trailing = seen[-TRAILING_POINTS:]
            point.baseline = round(sum(trailing) / len(trailing), 4)
            fall = max(seen[-1], point.baseline) - point.pass_rate
            point.drop = fall > threshold + 1e-9  # a fall of exactly the threshold is not a drop
        seen.append(point.pass_rate)


def eval_trend(workspace_id: str, eval_id: str, query: dict[str, str], *, evals: Any) -> Trend:
    """GET /v1/evals/{id}/trend: 400 for a bad bucket or range, 404 for a version not in the workspace."""
    bucket, start, end = parse_trend_query(query)
    evals.get(workspace_id, eval_id)
    return build_trend(eval_id, bucket, start, end, store=evals.trends)
