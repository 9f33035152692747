"""Estimated wait time (EWT) for one caller, recomputed at every announcement.

Method (see docs/ewt.md): with N agents staffed for the queue and a recent
handle time H, agents free up at a rate of about N/H while all are busy, so
the caller at position p waits for p departures: EWT = p·H/N. If an eligible
agent is free the wait is about zero. With nobody staffed there is no
estimate, and the caller is told nothing rather than something false.
"""

from __future__ import annotations

import math

import redis.asyncio as aioredis
from redis.exceptions import WatchError

from ivr.core.keys import Keys

SMOOTHING = 0.05
"""Weight of the newest handle time in the moving average (about the last 20-40 calls).

Handle times vary about as much as their mean (exponential-like), so a faster
average (0.2) added about a third of noise to every estimate in bench/ewt.py."""
LESS_THAN_MIN = 2
MORE_THAN_MIN = 15


def estimate(position: int, staffed: int, handle_s: float) -> float | None:
    """Seconds the caller at `position` is expected to wait, or None without agents."""
    if staffed <= 0 or handle_s <= 0 or position <= 0:
        return None
    return position * handle_s / staffed


def time_box(seconds: float) -> tuple[str, int]:
    """The phrase kind and minutes to say: ("less", 2), ("about", 5) or ("more", 15)."""
    minutes = seconds / 60
    if minutes < LESS_THAN_MIN:
        return "less", LESS_THAN_MIN
    if minutes > MORE_THAN_MIN:
        return "more", MORE_THAN_MIN
    return "about", max(LESS_THAN_MIN, math.ceil(minutes))


async def handle_time(redis: aioredis.Redis, keys: Keys, queue: str, default_s: float) -> float:
    """The queue's recent handle time, or `default_s` before any call was measured."""
    raw = await redis.hget(keys.handle_times(), queue)
    return float(raw) if raw else default_s


async def record_handle_time(
    redis: aioredis.Redis, keys: Keys, queue: str, seconds: float, default_s: float
) -> None:
    """Fold one finished call's handle time (talk + wrap-up) into the moving average.

    Read-modify-write under WATCH, so two processes finishing calls at once
    both count.
    """
    key = keys.handle_times()
    async with redis.pipeline(transaction=True) as pipe:
        while True:
            try:
                await pipe.watch(key)
                raw = await pipe.hget(key, queue)
                current = float(raw) if raw else default_s
                pipe.multi()  # type: ignore[no-untyped-call]
                pipe.hset(key, queue, f"{(1 - SMOOTHING) * current + SMOOTHING * seconds:.1f}")
                await pipe.execute()
                return
            except WatchError:
                continue
