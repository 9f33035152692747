"""Local clock hours of a time zone, named by the UTC instant they start at: the hour buckets.

An hour rollup holds one hour of the business's clock (`company.timezone`), so
in a zone half an hour off UTC (Asia/Kolkata, +05:30) the 09:00 rollup holds
09:00–10:00 local, not 09:30–10:30. A bucket is named by the epoch minute at
which its local hour began, at the offset in force then: a repeated hour when
clocks go back is two buckets, a skipped one is none.

Every zone in use today starts its hours and changes its offset on UTC quarter
hours, and no local hour is shorter than 30 minutes, so sampling a range every
15 minutes meets every bucket in it.
"""

from __future__ import annotations

from datetime import datetime, tzinfo
from functools import lru_cache

MS_PER_MINUTE = 60_000
MS_PER_HOUR = 3_600_000
QUARTER_MS = 15 * MS_PER_MINUTE
"""The finest step at which any zone in use today starts an hour or changes its offset."""
CACHED_RANGES = 64
"""Ranges whose hours are remembered: one report reads the same range for many scopes."""


def offset_ms(ts_ms: int, zone: tzinfo) -> int:
    """The zone's UTC offset (ms) at the instant `ts_ms`."""
    offset = datetime.fromtimestamp(ts_ms / 1000, zone).utcoffset()
    return int(offset.total_seconds() * 1000) if offset is not None else 0


def hour_start_ms(ts_ms: int, zone: tzinfo) -> int:
    """When (UTC ms) the local clock hour holding `ts_ms` began, at the offset in force."""
    offset = offset_ms(ts_ms, zone)
    wall = ts_ms + offset
    return wall - wall % MS_PER_HOUR - offset


def bucket(ts_ms: int, zone: tzinfo) -> int:
    """The hour rollup's bucket number for an instant: the epoch minute its local hour began."""
    return hour_start_ms(ts_ms, zone) // MS_PER_MINUTE


def hour_end_ms(ts_ms: int, zone: tzinfo) -> int:
    """The first instant after `ts_ms` that is in another local hour."""
    begin = hour_start_ms(ts_ms, zone)
    quarter = ts_ms // QUARTER_MS + 1
    while hour_start_ms(quarter * QUARTER_MS, zone) == begin:
        quarter += 1
    return quarter * QUARTER_MS


@lru_cache(maxsize=CACHED_RANGES)
def hour_starts(start_ms: int, end_ms: int, zone: tzinfo) -> tuple[int, ...]:
    """The start (UTC ms) of every local hour that overlaps [start, end), oldest first."""
    out: list[int] = []
    last = max(start_ms, end_ms - 1)
    for quarter in range(start_ms // QUARTER_MS, last // QUARTER_MS + 1):
        begin = hour_start_ms(max(start_ms, quarter * QUARTER_MS), zone)
        if not out or begin != out[-1]:
            out.append(begin)
    return tuple(out)


def any_hour_starts(start_ms: int, end_ms: int) -> range:
    """Every instant at which an hour overlapping [start, end) may start in some zone.

    For a reader that does not know the zone the fold used: four times the keys
    of `hour_starts`, most of them absent.
    """
    first = (start_ms - MS_PER_HOUR) // QUARTER_MS + 1
    last = max(start_ms, end_ms - 1) // QUARTER_MS
    return range(first * QUARTER_MS, (last + 1) * QUARTER_MS, QUARTER_MS)
