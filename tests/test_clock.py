"""The service's clocks: a pretended start time that runs at real speed, and local times."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from ivr.core.clock import ShiftedClock, local_time


def test_a_shifted_clock_starts_at_the_time_asked_and_then_runs() -> None:
    """`--at 10:00` reads 10:00 at once and moves on with the wall clock."""
    start = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)
    clock = ShiftedClock(start)
    first = clock.now()
    assert abs(first - start.timestamp()) < 1.0
    time.sleep(0.05)
    assert clock.now() - first >= 0.05


def test_a_local_time_is_read_in_the_business_zone() -> None:
    """`2026-12-07 10:00` in Kuala Lumpur is 02:00 UTC."""
    when = local_time("2026-12-07 10:00", "Asia/Kuala_Lumpur")
    assert when.astimezone(UTC) == datetime(2026, 12, 7, 2, 0, tzinfo=UTC)


def test_a_time_with_its_own_offset_keeps_it() -> None:
    """An explicit offset wins over the business zone."""
    when = local_time("2026-12-07T10:00+00:00", "Asia/Kuala_Lumpur")
    assert when.astimezone(UTC).hour == 10


def test_a_text_that_is_no_time_is_refused() -> None:
    """A typo is an error, not midnight."""
    with pytest.raises(ValueError):
        local_time("tomorrow at ten", "Asia/Kuala_Lumpur")
