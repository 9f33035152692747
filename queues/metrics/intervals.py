"""A report's rows over time: the hours of one day, the hours of a few days in order, or days.

A range within one local day has a row per local hour ("10:00"). A range of two
to seven local days has a row per local hour in date order ("2026-11-23 10:00"):
the same hour of different days is never summed. A longer range has a row per
local day ("2026-11-23"). Hour rows run from the first to the last busy hour of
each day (an idle hour between busy ones is a row of zeros, so a gap shows);
idle days have no rows, nor do the idle nights around busy hours. Busy: an inbound
queue entry, answer or abandon, or a callback requested or completed. Percentiles
come from the merged histograms of the row's hours, never from averaging hourly
percentiles. A window cut inside an hour gives that hour's part only, from minute
rollups; its row is labelled by the window's edge ("10:50").
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, tzinfo
from typing import Any

import redis.asyncio as aioredis

from ivr.core.keys import Keys
from queues.metrics import rollups

HOURLY_MAX_DAYS = 7
"""Ranges of up to this many local days get hourly rows; longer ones a row per day."""
FIGURES = (
    "queued",
    "answered",
    "abandoned",
    "service_level",
    "abandon_rate",
    "asa_s",
    "frt_median_s",
    "frt_p90_s",
    "frt_p95_s",
    "frt_mean_s",
    "callbacks_requested",
    "callbacks_completed",
)
Hour = tuple[datetime, rollups.Totals]


def local_days(span: tuple[int, int], zone: tzinfo) -> int:
    """How many local dates the range [start, end) touches."""
    start, end = span
    first = datetime.fromtimestamp(start / 1000, zone).date()
    last = datetime.fromtimestamp(max(start, end - 1) / 1000, zone).date()
    return (last - first).days + 1


def busy(totals: rollups.Totals) -> bool:
    """An inbound queue entry, answer or abandon, or a callback requested or completed."""
    inbound = totals["entered"] or totals["answered"] or totals["abandoned"]
    return bool(inbound or totals["callbacks_requested"] or totals["callbacks_completed"])


def by_date(hours: list[Hour]) -> dict[date, list[Hour]]:
    days: dict[date, list[Hour]] = {}
    for when, totals in hours:
        days.setdefault(when.date(), []).append((when, totals))
    return days


def busy_hours(hours: list[Hour]) -> list[Hour]:
    """Each day's hours from its first to its last busy hour, in order."""
    out: list[Hour] = []
    for day in by_date(hours).values():
        marks = [i for i, (_, totals) in enumerate(day) if busy(totals)]
        if marks:
            out.extend(day[marks[0] : marks[-1] + 1])
    return out


def busy_days(hours: list[Hour]) -> list[Hour]:
    """One (local midnight, totals) per day with a busy hour, in order."""
    out: list[Hour] = []
    for day in by_date(hours).values():
        total = rollups.Totals()
        for _, totals in day:
            total.counts.update(totals.counts)
        if busy(total):
            midnight = day[0][0].replace(hour=0, minute=0, second=0, microsecond=0)
            out.append((midnight, total))
    return out


def row(when: datetime, totals: rollups.Totals, label: str) -> dict[str, Any]:
    figures = totals.figures()
    return {"start": when.isoformat(), "label": label} | {f: figures[f] for f in FIGURES}


async def collect(
    redis: aioredis.Redis, keys: Keys, scope: str, span: tuple[int, int], zone: tzinfo
) -> dict[str, Any]:
    """{"by": "hour" or "day", "rows": [{start, label, figures…}]} for one scope over the range."""
    series = await rollups.window_series(redis, keys, scope, *span, zone)
    hours = [(datetime.fromtimestamp(at / 1000, zone), totals) for at, totals in series]
    days = local_days(span, zone)
    label: Callable[[datetime], str]
    if days > HOURLY_MAX_DAYS:
        picked, by, label = busy_days(hours), "day", lambda d: f"{d:%Y-%m-%d}"
    elif days > 1:
        picked, by, label = busy_hours(hours), "hour", lambda d: f"{d:%Y-%m-%d %H:%M}"
    else:
        picked, by, label = busy_hours(hours), "hour", lambda d: f"{d:%H:%M}"
    return {"by": by, "rows": [row(when, totals, label(when)) for when, totals in picked]}
