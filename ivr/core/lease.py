"""Claiming due work in a sorted set of due times, with a lease, across web processes.

The work stays in the set while a process does it, due again `lease_s` later: should the
process die first, another takes it then. The process removes it when the work is over.
"""

from __future__ import annotations

import redis.asyncio as aioredis


async def take(redis: aioredis.Redis, key: str, member: str, now: float, lease_s: float) -> bool:
    """Claim `member` of the sorted set `key` if it is due at `now` (its score, in seconds,
    is not later): it becomes due at `now + lease_s`. False when it is not due (done, or
    another process's claim holds). Of several processes taking it at once, one gets it."""
    async with redis.pipeline(transaction=True) as pipe:
        while True:
            try:
                await pipe.watch(key)
                due = await pipe.zscore(key, member)
                if due is None or float(due) > now:
                    return False
                pipe.multi()  # type: ignore[no-untyped-call]
                pipe.zadd(key, {member: now + lease_s}, xx=True)
                await pipe.execute()
                return True
            except aioredis.WatchError:
                continue  # the set changed meanwhile: look again
