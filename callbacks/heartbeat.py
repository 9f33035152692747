"""The job worker's heartbeat: when some `ivr worker` last went round its loop.

Every worker writes the wall-clock time (Unix seconds) to one key
(`Keys.worker_heartbeat`) at most every `BEAT_INTERVAL_S`, so the key holds the
latest beat of any worker. `/healthz` and `/metrics` read its age: older than
`STALE_AFTER_S` means no worker is running jobs (surveys and callbacks stop).
It is wall-clock time, not the service clock, because liveness is about real
seconds even when a test drives the service on a controlled clock. A store
where no worker ever beat has no key: nothing was expected there, so nothing is
reported down (a web process on its own, as in the tests).
"""

from __future__ import annotations

import redis
import redis.asyncio as aioredis

from ivr.core.keys import Keys

BEAT_INTERVAL_S = 5.0
STALE_AFTER_S = 60.0
"""A worker silent this long is down: ten missed beats, or one job stuck for a minute."""
KEPT_S = 30 * 86400
"""The key outlives a stopped worker by this long, so its absence is still reported."""


def beat(client: redis.Redis, keys: Keys, now_s: float) -> None:
    """Record a beat of this worker at wall-clock `now_s`."""
    client.set(keys.worker_heartbeat(), repr(now_s), ex=int(KEPT_S))


async def age_s(client: aioredis.Redis, keys: Keys, now_s: float) -> float | None:
    """Seconds since the latest beat of any worker; None when none ever beat."""
    last = await client.get(keys.worker_heartbeat())
    return None if last is None else max(0.0, now_s - float(last))


def is_stale(age: float | None) -> bool:
    """Whether a worker that once beat has gone silent (never beating is not stale)."""
    return age is not None and age > STALE_AFTER_S
