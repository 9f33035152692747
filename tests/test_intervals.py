"""A report's rows over time: hours of one day, dated hours of a few days, or days."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import redis

from queues.metrics import intervals
from tests.test_metrics_script import KEYS, S, Script, in_zone, sample_config

KL = ZoneInfo("Asia/Kuala_Lumpur")
FIRST = datetime(2026, 11, 23, tzinfo=KL)
"""Midnight at the start of the sample's Monday in Kuala Lumpur."""


def local(day: int, hour: float, zone: ZoneInfo = KL, first: datetime = FIRST) -> int:
    """`hour` o'clock on the `day`-th local day after `first` (0: that day), in ms."""
    midnight = datetime.combine(first.date() + timedelta(days=day), datetime.min.time(), zone)
    return int((midnight + timedelta(hours=hour)).timestamp() * 1000)


def rows(script: Script, days: int, zone: ZoneInfo = KL, first: datetime = FIRST) -> dict[str, Any]:
    """The billing rows over `days` local days from `first`."""
    span = (local(0, 0, zone, first), local(days, 0, zone, first))
    return script.run(lambda c: intervals.collect(c, KEYS, "q:billing", span, zone))


@pytest.fixture(name="script")
def fixture_script(r: redis.Redis, redis_url: str) -> Script:
    """Billing calls on Monday 10:xx (two) and 12:xx (one), and Wednesday 10:xx (one)."""
    s = Script(r, redis_url)
    for i, (day, hour, wait_s) in enumerate(
        ((0, 10.2, 10), (0, 10.7, 40), (0, 12.5, 5), (2, 10.5, 5))
    ):
        s.answered(f"CA{i}", "billing", "alice", local(day, hour), wait_s * S, 60 * S)
    s.fold()
    return s


def test_one_day_has_a_row_per_local_hour(script: Script) -> None:
    """Monday alone: 10:00 (2 calls, SL 50 %), an idle 11:00 row, and 12:00."""
    doc = rows(script, 1)
    assert doc["by"] == "hour"
    got = [(r["label"], r["answered"], r["service_level"]) for r in doc["rows"]]
    assert got == [("10:00", 2, 0.5), ("11:00", 0, None), ("12:00", 1, 1.0)]
    assert doc["rows"][0]["start"] == "2026-11-23T10:00:00+08:00"


def test_a_few_days_have_dated_hours_in_order_never_summed(script: Script) -> None:
    """Monday to Wednesday: Monday's and Wednesday's 10:00 are two rows; idle Tuesday has none."""
    doc = rows(script, 3)
    got = [(r["label"], r["answered"]) for r in doc["rows"]]
    assert doc["by"] == "hour"
    assert got == [
        ("2026-11-23 10:00", 2),
        ("2026-11-23 11:00", 0),
        ("2026-11-23 12:00", 1),
        ("2026-11-25 10:00", 1),
    ]


def test_more_than_a_week_has_a_row_per_busy_day(script: Script) -> None:
    """Eight days or more: one row per busy day, its percentiles from the merged histograms."""
    doc = rows(script, 8)
    assert doc["by"] == "day"
    monday, wednesday = doc["rows"]
    assert (monday["label"], monday["answered"], monday["service_level"]) == (
        "2026-11-23",
        3,
        pytest.approx(2 / 3),
    )
    assert monday["asa_s"] == pytest.approx((10 + 40 + 5) / 3)
    assert monday["frt_median_s"] <= monday["frt_p95_s"]
    assert (wednesday["label"], wednesday["answered"]) == ("2026-11-25", 1)


@pytest.mark.parametrize(
    ("start", "end", "days"),
    [
        pytest.param(local(0, 9), local(0, 17), 1, id="within-a-day"),
        pytest.param(local(0, 0), local(1, 0), 1, id="one-whole-day"),
        pytest.param(local(0, 23), local(1, 1), 2, id="across-midnight"),
        pytest.param(local(0, 0), local(7, 0), 7, id="a-week"),
        pytest.param(local(0, 0), local(7, 0) + 1, 8, id="a-week-and-a-moment"),
    ],
)
def test_days_counted_for_the_choice_of_rows(start: int, end: int, days: int) -> None:
    """The local dates a range touches (its end exclusive) decide hours or days."""
    assert intervals.local_days((start, end), KL) == days


def test_adelaide_on_the_day_clocks_go_forward(r: redis.Redis, redis_url: str) -> None:
    """In Adelaide on 4 Oct 2026 (02:00 becomes 03:00, +09:30 to +10:30): rows 01:00 and 03:00."""
    adelaide = ZoneInfo("Australia/Adelaide")
    day = datetime(2026, 10, 4, tzinfo=adelaide)
    script = Script(r, redis_url, in_zone(sample_config(), "Australia/Adelaide"))
    midnight = int(day.timestamp() * 1000)
    for i, minutes in enumerate((90, 100, 160)):  # elapsed since midnight: 01:30, 01:40, 03:40
        at = midnight + minutes * 60 * S
        script.answered(f"CA{i}", "billing", "alice", at, 10 * S, 60 * S)
    script.fold()
    doc = rows(script, 1, adelaide, day)
    assert [(r["label"], r["answered"]) for r in doc["rows"]] == [("01:00", 2), ("03:00", 1)]
