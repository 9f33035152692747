"""Reading rollups back over a range, with or without knowing the business's time zone."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import redis

from queues.metrics import rollups
from tests.test_metrics_script import KEYS, S, Script, in_zone, sample_config

ADELAIDE = ZoneInfo("Australia/Adelaide")
MIDNIGHT = datetime(2026, 11, 23, tzinfo=ADELAIDE)
"""A Monday in Adelaide, in summer time (+10:30)."""


def at(hours: float) -> int:
    return int((MIDNIGHT + timedelta(hours=hours)).timestamp() * 1000)


def test_a_reader_without_the_zone_still_finds_every_hour(r: redis.Redis, redis_url: str) -> None:
    """Totals over a range read without the zone equal those read in Adelaide's local hours."""
    script = Script(r, redis_url, in_zone(sample_config(), "Australia/Adelaide"))
    for i, hour in enumerate((8.25, 9.75, 13.5, 23.9)):
        script.answered(f"CA{i}", "billing", "alice", at(hour), 10 * S, 60 * S)
    script.fold()
    span = (at(0), at(24))
    local = script.run(lambda c: rollups.read(c, KEYS, "q:billing", *span, zone=ADELAIDE))
    anywhere = script.run(lambda c: rollups.read(c, KEYS, "q:billing", *span))
    assert local["answered"] == anywhere["answered"] == 4
    assert local.counts == anywhere.counts


def test_a_range_reads_the_whole_local_hours_it_touches(r: redis.Redis, redis_url: str) -> None:
    """09:45 to 10:15 in Adelaide reads the 09:00 and the 10:00 hours whole."""
    script = Script(r, redis_url, in_zone(sample_config(), "Australia/Adelaide"))
    for i, hour in enumerate((9.1, 10.9, 11.1)):
        script.answered(f"CA{i}", "billing", "alice", at(hour), 10 * S, 60 * S)
    script.fold()
    series = script.run(
        lambda c: rollups.series(c, KEYS, "q:billing", at(9.75), at(10.25), zone=ADELAIDE)
    )
    assert [(start, totals["answered"]) for start, totals in series] == [(at(9), 1), (at(10), 1)]
