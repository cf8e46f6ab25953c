from datetime import datetime, timedelta, timezone

import pytest

from chalicelib.timeutil import format_iso


@pytest.mark.parametrize("year", [1, 296, 999, 1970, 2026, 9999])
def test_times_round_trip_and_sort_as_text_whatever_the_year(year):
    moment = datetime(year, 9, 29, 19, 50, 22, 123000, tzinfo=timezone.utc)
    text = format_iso(moment)
    assert datetime.fromisoformat(text.replace("Z", "+00:00")) == moment
    assert len(text) == len("2026-11-27T18:00:00.123Z")


def test_other_offsets_are_written_in_utc():
    moment = datetime(2026, 1, 1, 0, 30, tzinfo=timezone(timedelta(hours=-4, minutes=-55)))
    assert format_iso(moment) == "2026-01-01T05:25:00.000Z"
