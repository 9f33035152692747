"""Hour buckets are the business's local clock hours, in any zone, across clock changes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from queues.metrics import local_hours
from queues.metrics.local_hours import MS_PER_HOUR, MS_PER_MINUTE

KOLKATA = ZoneInfo("Asia/Kolkata")


def ms(when: datetime) -> int:
    return int(when.timestamp() * 1000)


def test_kolkata_minutes_past_nine_share_the_nine_oclock_bucket() -> None:
    """09:20 and 09:40 in Kolkata (+05:30) both fall in the hour that began at 09:00 local."""
    nine = datetime(2026, 11, 23, 9, 0, tzinfo=KOLKATA)
    for minute in (0, 20, 40, 59):
        at = ms(nine.replace(minute=minute))
        assert local_hours.hour_start_ms(at, KOLKATA) == ms(nine)
        assert local_hours.hour_end_ms(at, KOLKATA) == ms(nine) + MS_PER_HOUR
    assert ms(nine) == ms(datetime(2026, 11, 23, 3, 30, tzinfo=UTC))
    assert local_hours.bucket(ms(nine), KOLKATA) == ms(nine) // MS_PER_MINUTE


@pytest.mark.parametrize(
    ("zone", "day"),
    [
        pytest.param("Asia/Kuala_Lumpur", (2026, 11, 23), id="whole-hour"),
        pytest.param("Asia/Kolkata", (2026, 11, 23), id="half-hour"),
        pytest.param("Asia/Kathmandu", (2026, 11, 23), id="quarter-hour"),
        pytest.param("Australia/Adelaide", (2026, 10, 4), id="half-hour-dst-starts"),
        pytest.param("Australia/Adelaide", (2026, 4, 5), id="half-hour-dst-ends"),
        pytest.param("America/St_Johns", (2026, 11, 1), id="negative-half-hour-dst-ends"),
        pytest.param("Europe/London", (2026, 3, 29), id="dst-starts"),
        pytest.param("Australia/Lord_Howe", (2026, 4, 5), id="half-hour-dst-shift"),
    ],
)
def test_every_minute_lies_in_one_local_hour_and_reading_finds_them_all(
    zone: str, day: tuple[int, int, int]
) -> None:
    """Minute by minute over two days: each bucket is one local clock hour, met by a reader."""
    tz = ZoneInfo(zone)
    start = ms(datetime(*day, tzinfo=tz)) - 12 * MS_PER_HOUR
    end = start + 48 * MS_PER_HOUR
    seen: list[int] = []
    for at in range(start, end, MS_PER_MINUTE):
        begin = local_hours.hour_start_ms(at, tz)
        assert begin <= at < local_hours.hour_end_ms(at, tz)
        local, first = (datetime.fromtimestamp(t / 1000, tz) for t in (at, begin))
        assert (local.date(), local.hour) == (first.date(), first.hour)
        if seen and seen[-1] != begin:
            assert at == local_hours.hour_end_ms(at - MS_PER_MINUTE, tz)  # changes at the end
        if not seen or seen[-1] != begin:
            seen.append(begin)
    assert list(local_hours.hour_starts(start, end, tz)) == seen
    assert set(seen) <= set(local_hours.any_hour_starts(start, end))


def local_day_labels(day: tuple[int, int, int], tz: ZoneInfo) -> list[str]:
    """The local start of every hour bucket of one local day."""
    midnight = datetime(*day, tzinfo=tz)
    starts = local_hours.hour_starts(ms(midnight), ms(midnight + timedelta(days=1)), tz)
    return [f"{datetime.fromtimestamp(s / 1000, tz):%H:%M}" for s in starts]


def test_clocks_going_forward_skip_an_hour_and_going_back_repeat_one() -> None:
    """Adelaide's 23-hour day has 23 buckets (no 02:00); its 25-hour day has 02:00 twice."""
    adelaide = ZoneInfo("Australia/Adelaide")
    spring = local_day_labels((2026, 10, 4), adelaide)
    assert (len(spring), "02:00" in spring, spring[2]) == (23, False, "03:00")
    autumn = local_day_labels((2026, 4, 5), adelaide)
    assert (len(autumn), autumn.count("02:00")) == (25, 2)
