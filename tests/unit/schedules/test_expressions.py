from datetime import datetime, timedelta, timezone

import pytest

from chalicelib.errors import ValidationError
from chalicelib.schedules.expressions import Cron, Rate, parse_expression

UTC = timezone.utc


def at(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_rate_is_due_one_period_after_the_last_run_or_creation():
    rate = parse_expression("rate(15 minutes)")
    assert rate == Rate(900)
    created = at(2026, 1, 1, 12, 0)
    assert not rate.is_due(None, created, created + timedelta(minutes=14))
    assert rate.is_due(None, created, created + timedelta(minutes=15))
    assert not rate.is_due(created + timedelta(minutes=15), created, created + timedelta(minutes=29))


def test_weekday_business_hours_cron():
    cron = parse_expression("cron(0/15 9-17 ? * MON-FRI *)")
    assert isinstance(cron, Cron)
    assert cron.matches(at(2026, 11, 27, 9, 45))       # a Friday
    assert not cron.matches(at(2026, 11, 27, 9, 44))
    assert not cron.matches(at(2026, 11, 28, 9, 45))   # Saturday
    assert not cron.matches(at(2026, 11, 27, 18, 0))


def test_cron_fires_once_in_its_minute():
    cron = parse_expression("cron(30 6 ? * * *)")
    created = at(2026, 1, 1)
    assert cron.is_due(None, created, at(2026, 3, 1, 6, 30, 5))
    assert not cron.is_due(at(2026, 3, 1, 6, 30, 5), created, at(2026, 3, 1, 6, 30, 40))
    assert cron.is_due(at(2026, 3, 1, 6, 30, 5), created, at(2026, 3, 2, 6, 30, 1))


def test_day_of_month_list_and_month_names():
    cron = parse_expression("cron(0 0 1,15 JAN-MAR ? 2027)")
    assert cron.matches(at(2027, 2, 15, 0, 0))
    assert not cron.matches(at(2026, 2, 15, 0, 0))
    assert not cron.matches(at(2027, 4, 1, 0, 0))


@pytest.mark.parametrize("bad", ["rate(1 minutes)", "rate(2 minute)", "rate(0 hours)", "rate(10 seconds)",
                                 "cron(0 0 * * * *)", "cron(0 0 ? * ? *)", "cron(60 0 ? * * *)",
                                 "cron(0 0 ? * FUNDAY *)", "cron(0 0 ? *)", "hourly"])
def test_invalid_expressions_are_refused_with_a_reason(bad):
    with pytest.raises(ValidationError) as info:
        parse_expression(bad)
    assert info.value.message
