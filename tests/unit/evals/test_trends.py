"""Trend arithmetic: period starts, the query's validation, and which points count as a drop."""

from datetime import datetime, timedelta, timezone

import pytest

from chalicelib.errors import ValidationError
from chalicelib.evals.trends import DROP_THRESHOLD, MAX_SPAN, TrendPoint, bucket_start, mark_drops, parse_trend_query


def _points(rates):
    return [TrendPoint(start=f"2026-01-{i + 1:02d}T00:00:00.000Z", executed=0 if r is None else 100,
                       pass_=0 if r is None else round(r * 100), fail=0, error=0, timeout=0, pass_rate=r)
            for i, r in enumerate(rates)]


def test_a_period_starts_on_the_utc_hour_or_day():
    moment = datetime(2026, 3, 4, 23, 59, 59, 999000, tzinfo=timezone(timedelta(hours=-2)))  # 01:59 UTC next day
    assert bucket_start(moment, "hour") == datetime(2026, 3, 5, 1, tzinfo=timezone.utc)
    assert bucket_start(moment, "day") == datetime(2026, 3, 5, tzinfo=timezone.utc)


def test_a_fall_beyond_the_threshold_from_the_previous_point_or_the_trailing_mean_is_a_drop():
    points = _points([0.9, 0.9, 0.7, 0.9, 0.9 - DROP_THRESHOLD, None, 0.5])
    mark_drops(points)
    assert [p.drop for p in points] == [False, False, True, False, False, False, True]
    assert points[2].baseline == 0.9 and points[0].baseline is None and points[5].baseline is None
    # a slow slide: each step is small, but against the trailing mean it is a drop
    slide = _points([0.9, 0.9, 0.9, 0.9, 0.84, 0.78, 0.7])  # mean before the last: 0.87
    mark_drops(slide)
    assert [p.drop for p in slide] == [False] * 6 + [True]


@pytest.mark.parametrize("query", [{"bucket": "week"}, {"bucket": ""}, {"bucket": "day", "from": "yesterday"},
                                   {"from": "2026-02-01", "to": "2026-01-01"},
                                   {"bucket": "hour", "from": "2026-01-01", "to": "2026-03-01"}])
def test_a_bad_bucket_or_range_is_a_validation_error(query):
    if query.get("bucket") == "":  # an empty bucket is the default (day), not an error
        assert parse_trend_query(query)[0] == "day"
        return
    with pytest.raises(ValidationError):
        parse_trend_query(query)


def test_the_default_range_ends_now_and_a_date_as_to_includes_that_day():
    now = datetime(2026, 5, 1, 12, tzinfo=timezone.utc)
    bucket, start, end = parse_trend_query({"bucket": "hour"}, now=now)
    assert (bucket, end) == ("hour", now) and end - start <= MAX_SPAN["hour"]
    _, start, end = parse_trend_query({"from": "2026-01-01", "to": "2026-01-31"})
    assert start == datetime(2026, 1, 1, tzinfo=timezone.utc) and end.date().isoformat() == "2026-01-31"
    assert end.hour == 23
