"""Webhook latency and server errors, counted in the store so every web process reports
the same totals.

Each process adds what it saw to its own `pending` counts and then to the store's
hash (`Keys.metrics_http`) in one pipeline, after the response has gone; `/metrics`
reads the hash back. With `ivr serve --workers N`, a scrape that reaches any worker
sees every worker's requests, so the counters never step back between scrapes. While
the store is down the counts wait in `pending` (a failed flush is not retried for
`RETRY_AFTER_S`, so an outage adds no wait to every request) and are added once it
is back: nothing is lost while the process lives.

Fields: `errors|<path>`, `count|<path>`, `sum|<path>` (seconds) and `le|<path>|<i>`,
the number of latencies in bucket `i` of `LATENCY_BUCKETS_S` (not cumulative; `i` =
len(LATENCY_BUCKETS_S) is +Inf).
"""

from __future__ import annotations

import bisect
import time
from collections import Counter
from collections.abc import Iterator

import redis.asyncio as aioredis

from ivr.core.keys import Keys
from ivr.core.outage import is_outage

LATENCY_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 15.0)
"""Twilio gives up on a webhook after 15 s."""
RETRY_AFTER_S = 5.0
"""After a flush failed (store down), the next is tried no sooner than this."""


class Tally:
    """This process's webhook latencies and server errors not yet added to the store."""

    def __init__(self) -> None:
        self.pending: Counter[str] = Counter()
        self.pending_s: dict[str, float] = {}
        self.retry_at = 0.0

    def error(self, path: str) -> None:
        self.pending[f"errors|{path}"] += 1

    def latency(self, path: str, seconds: float) -> None:
        bucket = bisect.bisect_left(LATENCY_BUCKETS_S, seconds)
        self.pending[f"count|{path}"] += 1
        self.pending[f"le|{path}|{bucket}"] += 1
        add_seconds(self.pending_s, {f"sum|{path}": seconds})

    async def flush(self, client: aioredis.Redis, keys: Keys) -> None:
        """Add the pending counts to the store; while it cannot take them (`is_outage`: down,
        or refusing writes) keep them for later."""
        if not (self.pending or self.pending_s) or time.monotonic() < self.retry_at:
            return
        counts, seconds = self.pending, self.pending_s
        self.pending, self.pending_s = Counter(), {}  # requests meanwhile count anew
        try:
            await add(client, keys, counts, seconds)
        except Exception as exc:
            if not is_outage(exc):
                raise
            self.pending.update(counts)
            add_seconds(self.pending_s, seconds)
            self.retry_at = time.monotonic() + RETRY_AFTER_S


def add_seconds(into: dict[str, float], more: dict[str, float]) -> None:
    for name, s in more.items():
        into[name] = into.get(name, 0.0) + s


async def add(
    client: aioredis.Redis, keys: Keys, counts: Counter[str], seconds: dict[str, float]
) -> None:
    async with client.pipeline(transaction=False) as pipe:
        for name, n in counts.items():
            pipe.hincrby(keys.metrics_http(), name, n)
        for name, s in seconds.items():
            pipe.hincrbyfloat(keys.metrics_http(), name, s)
        await pipe.execute()


async def read(client: aioredis.Redis, keys: Keys) -> dict[str, float]:
    """Every process's counts so far, as stored."""
    stored = await client.hgetall(keys.metrics_http())
    return {str(k): float(v) for k, v in stored.items()}


def paths(totals: dict[str, float], kind: str) -> Iterator[str]:
    """The paths with a field of `kind` (errors, count), sorted."""
    prefix = f"{kind}|"
    yield from sorted(name[len(prefix) :] for name in totals if name.startswith(prefix))


def cumulative(totals: dict[str, float], path: str) -> list[tuple[str, float]]:
    """The path's latency buckets as Prometheus wants them: (le, count at or below)."""
    bounds = [f"{b:g}" for b in LATENCY_BUCKETS_S] + ["+Inf"]
    running, out = 0.0, []
    for i, le in enumerate(bounds):
        running += totals.get(f"le|{path}|{i}", 0.0)
        out.append((le, running))
    return out


TALLY = Tally()
"""The one tally of this process (the middleware adds to it, `/metrics` flushes it too)."""
