"""EventBridge Scheduler expressions: ``rate(5 minutes)`` and ``cron(min hour dom month dow year)``.

Parsed here so bad expressions get a clear 400 (moto's Scheduler accepts anything) and so the
local scheduler can tell when a schedule is due (moto's never fires).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from chalicelib.errors import ValidationError

_RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}
_DOW = {"SUN": 1, "MON": 2, "TUE": 3, "WED": 4, "THU": 5, "FRI": 6, "SAT": 7}
_MONTHS = {m: i + 1 for i, m in enumerate(
    ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"])}
# (name, low, high, aliases) of the six cron fields
_FIELDS = (("minute", 0, 59, {}), ("hour", 0, 23, {}), ("day-of-month", 1, 31, {}), ("month", 1, 12, _MONTHS),
           ("day-of-week", 1, 7, _DOW), ("year", 1970, 2199, {}))
MIN_RATE_SECONDS = 60


@dataclass(frozen=True)
class Rate:
    seconds: int

    def is_due(self, last_run: datetime | None, created: datetime, now: datetime) -> bool:
        return now - (last_run or created) >= timedelta(seconds=self.seconds)


@dataclass(frozen=True)
class Cron:
    fields: tuple[frozenset[int] | None, ...]  # None = any (``*`` or ``?``)

    def matches(self, at: datetime) -> bool:
        values = (at.minute, at.hour, at.day, at.month, at.isoweekday() % 7 + 1, at.year)
        return all(allowed is None or value in allowed for allowed, value in zip(self.fields, values))

    def is_due(self, last_run: datetime | None, created: datetime, now: datetime) -> bool:
        minute = now.replace(second=0, microsecond=0)
        already = last_run is not None and last_run >= minute
        return self.matches(minute) and not already and minute >= created.replace(second=0, microsecond=0)


def parse_expression(expression: str) -> Rate | Cron:
    """A Rate or Cron; 400 with the reason when the expression is not valid."""
    text = expression.strip()
    match = _RATE.match(text)
    if match:
        amount, unit = int(match.group(1)), match.group(2).rstrip("s")
        if amount < 1 or (amount != 1) != match.group(2).endswith("s"):
            raise ValidationError(f"invalid rate expression {expression!r}: use e.g. 'rate(1 hour)', 'rate(5 minutes)'")
        seconds = amount * _UNIT_SECONDS[unit]
        if seconds < MIN_RATE_SECONDS:
            raise ValidationError("schedules run at most once a minute")
        return Rate(seconds)
    if text.startswith("cron(") and text.endswith(")"):
        parts = text[5:-1].split()
        if len(parts) != 6:
            raise ValidationError(f"invalid cron expression {expression!r}: it needs 6 fields "
                                  "(minutes hours day-of-month month day-of-week year)")
        fields = tuple(_parse_field(part, spec) for part, spec in zip(parts, _FIELDS))
        if (parts[2] == "?") == (parts[4] == "?"):
            raise ValidationError("in a cron expression exactly one of day-of-month and day-of-week must be '?'")
        return Cron(fields)
    raise ValidationError(f"invalid schedule expression {expression!r}: use 'rate(…)' or 'cron(…)'")


def _parse_field(part: str, spec: tuple) -> frozenset[int] | None:
    name, low, high, aliases = spec
    if part in ("*", "?"):
        return None
    values: set[int] = set()
    for item in part.split(","):
        step = 1
        if "/" in item:
            item, step_text = item.split("/", 1)
            step = _number(step_text, name, {}, 1, high)
        if item in ("*", ""):
            start, end = low, high
        elif "-" in item:
            a, b = item.split("-", 1)
            start, end = _number(a, name, aliases, low, high), _number(b, name, aliases, low, high)
        else:
            start = _number(item, name, aliases, low, high)
            end = high if step > 1 else start
        if start > end:
            raise ValidationError(f"invalid {name} range {item!r} in cron expression")
        values.update(range(start, end + 1, step))
    return frozenset(values)


def _number(text: str, name: str, aliases: dict, low: int, high: int) -> int:
    value = aliases.get(text.upper()) if text.upper() in aliases else (int(text) if text.isdigit() else None)
    if value is None or not low <= value <= high:
        raise ValidationError(f"invalid {name} {text!r} in cron expression (allowed {low}-{high})")
    return value
