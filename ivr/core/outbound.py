"""The outbound backlog: legs the service asked Twilio to place that are not ringing yet.

Twilio places calls made through the REST API at the account's calls per second (1 by
default) and keeps the others `queued`; the answer's `queue_time` estimates the wait in
milliseconds. Agent rings and customer-first callbacks are such calls. Each one is kept
here from its REST answer until its `ringing` status event (or its end), so the
supervisor view and `/metrics` can show how many wait and for how long the oldest has.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis

from ivr.core.keys import Keys

STALE_S = 86_400.0
"""Twilio places or refuses a call within 24 hours (error 22005): a leg recorded longer
ago than that lost its events, and is dropped when the backlog is read."""
RANG_KEPT_S = 60.0
"""A leg that rang is kept this long as rung (a negative score: when, negated), so its
REST answer, handled after its `ringing` event, does not put it back."""


@dataclass(frozen=True)
class Backlog:
    """Legs requested and not ringing yet, and the age of the oldest (0 when none)."""

    legs: int = 0
    oldest_s: float = 0.0


def queue_wait_s(leg: Any) -> float:
    """Twilio's estimate of how long a created call waits to be placed (its `queue_time`,
    in ms, on the REST answer); 0 when the answer has none."""
    try:
        return max(0.0, float(getattr(leg, "queue_time", None) or 0) / 1000)
    except (TypeError, ValueError):
        return 0.0


async def requested(redis: aioredis.Redis, keys: Keys, leg: str, at: float) -> None:
    """Leg `leg` (a CallSid) was asked of Twilio at `at` and is not ringing yet (unless it
    has rung already)."""
    await redis.zadd(keys.outbound_backlog(), {leg: at}, nx=True)


async def progressed(redis: aioredis.Redis, keys: Keys, leg: str, now: float) -> None:
    """Leg `leg` rang (or ended) at `now`: it has left the backlog."""
    key = keys.outbound_backlog()
    await redis.zremrangebyscore(key, "-inf", -(now - RANG_KEPT_S))
    await redis.zadd(key, {leg: -now})


async def backlog(redis: aioredis.Redis, keys: Keys, now: float) -> Backlog:
    """The legs still waiting to ring, and the age of the oldest."""
    key = keys.outbound_backlog()
    await redis.zremrangebyscore(key, "-inf", -(now - RANG_KEPT_S))
    await redis.zremrangebyscore(key, 0, now - STALE_S)
    legs = int(await redis.zcount(key, 0, "+inf"))
    oldest: list[tuple[str, float]] = await redis.zrangebyscore(  # type: ignore[assignment]
        key, 0, "+inf", start=0, num=1, withscores=True
    )
    return Backlog(legs, max(0.0, now - oldest[0][1]) if oldest else 0.0)
