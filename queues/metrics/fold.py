"""The metrics fold: routing events and survey replies into per-minute and per-hour rollups.

One consumer group (`metrics`) reads `Keys.events()` and `Keys.survey_responses()`.
Each batch is applied in one MULTI/EXEC that writes the rollups, the contact
records and the fold's own state, advances an applied-id watermark and XACKs
the batch, under WATCH on the watermark. So a crash before EXEC changes
nothing (the batch stays pending and is read again first), and a replay of
ids at or below the watermark is skipped: folding is idempotent. A short lock
keeps one process folding at a time, so batches apply in stream order.

Rollups (`Keys.metrics_rollup`) are hashes of counters and sparse histogram
buckets (`queues.metrics.histogram`) per scope: `all`, `q:<queue>`, `a:<agent>`,
`l:<language>`, `qa:<queue>:<agent>`. Minute rollups live `minute_ttl_s`, hour
rollups the retention, and the `t` (all-time) rollups for Prometheus counters
forever. Hours are the company's local clock hours (`queues.metrics.local_hours`), so
they line up with local hours in any zone. Every figure and formula is defined
in docs/metrics.md.
"""

from __future__ import annotations

import secrets
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import ResponseError, WatchError

from ivr.config.model import Config
from ivr.core.keys import Keys
from queues.metrics import fold_events, fold_surveys
from queues.metrics.batch import Batch, FoldOptions, Handler

GROUP = "metrics"
CONSUMER = "fold"
MAX_BATCHES_PER_PASS = 20
LOCK_TTL_MS = 30_000
TRIM_INTERVAL_S = 600
FOLD_INTERVAL_S = 1.0
"""A process folds at most this often (service clock): live figures lag by at most this."""
BUSY_STATES = ("on_call", "wrap_up")
STAFFED_STATES = ("available", "reserved", "on_call", "wrap_up")

RELEASE_LOCK = """
-- release the fold lock only if this process still holds it.
-- KEYS[1]: the lock; ARGV[1]: this holder's token. Returns 1 if released.
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def id_after(entry_id: str, applied: str) -> bool:
    """True if stream id `entry_id` comes after `applied`."""
    a, _, b = entry_id.partition("-")
    c, _, d = applied.partition("-")
    return (int(a), int(b or 0)) > (int(c), int(d or 0))


async def read_group(
    redis: aioredis.Redis, stream: str, count: int
) -> list[tuple[str, dict[str, str] | None]]:
    """This consumer's pending entries first (a crashed pass), else new ones."""
    for start in ("0", ">"):
        reply: Any
        try:
            reply = await redis.xreadgroup(GROUP, CONSUMER, {stream: start}, count=count)
        except ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            await redis.xgroup_create(stream, GROUP, id="0", mkstream=True)
            reply = await redis.xreadgroup(GROUP, CONSUMER, {stream: start}, count=count)
        entries = reply[0][1] if reply else []
        if entries:
            return list(entries)
    return []


async def fold_batch(
    redis: aioredis.Redis,
    keys: Keys,
    config: Config,
    options: FoldOptions,
    stream: str,
    handle: Handler,
) -> int:
    """Fold one batch of `stream`; the number of entries read (0: caught up or lost a race)."""
    entries = await read_group(redis, stream, options.batch)
    if not entries:
        return 0
    try:
        async with redis.pipeline(transaction=True) as pipe:
            await pipe.watch(keys.metrics_applied())
            applied = str(await pipe.hget(keys.metrics_applied(), stream) or "0-0")
            batch = Batch(pipe, redis, keys, config, options)
            last = applied
            for entry_id, fields in entries:
                if fields and id_after(entry_id, applied):
                    await handle(batch, entry_id, fields)
                last = entry_id if id_after(entry_id, last) else last
            pipe.multi()  # type: ignore[no-untyped-call]  # untyped in redis-py
            batch.write(pipe)
            pipe.hset(keys.metrics_applied(), stream, last)
            pipe.xack(stream, GROUP, *[entry_id for entry_id, _ in entries])
            await pipe.execute()
    except WatchError:
        return 0  # another process applied past us; our pending entries are skipped next pass
    return len(entries)


async def fold(
    redis: aioredis.Redis, keys: Keys, config: Config, options: FoldOptions | None = None
) -> int:
    """Fold everything new in both streams (bounded per pass); entries read, 0 if locked out."""

    options = options or FoldOptions()
    token = secrets.token_hex(8)
    if not await redis.set(keys.metrics_lock(), token, nx=True, px=LOCK_TTL_MS):
        return 0
    total = 0
    try:
        for stream, handle in (
            (keys.events(), fold_events.handle),
            (keys.survey_responses(), fold_surveys.handle),
        ):
            for _ in range(MAX_BATCHES_PER_PASS):
                n = await fold_batch(redis, keys, config, options, stream, handle)
                total += n
                if n < options.batch:
                    break
    finally:
        await redis.eval(RELEASE_LOCK, 1, keys.metrics_lock(), token)
    return total


async def trim(
    redis: aioredis.Redis, keys: Keys, stream_now_ms: int, clock_now_ms: int, retention_s: int
) -> None:
    """Drop stream entries and contact index entries older than the retention.

    Stream ids carry the store's wall-clock time (`stream_now_ms`); contact
    records are scored by event time (`clock_now_ms`). Nothing not yet folded
    is trimmed: the cut never passes the applied watermark.
    """
    cut = stream_now_ms - retention_s * 1000
    for stream in (keys.events(), keys.survey_responses()):
        applied = await redis.hget(keys.metrics_applied(), stream) or "0-0"
        minid = max(0, min(cut, int(str(applied).partition("-")[0])))
        await redis.xtrim(stream, minid=str(minid), approximate=False)
    oldest = clock_now_ms - retention_s * 1000
    await redis.zremrangebyscore(keys.metrics_contacts(), "-inf", f"({oldest}")


async def behind(redis: aioredis.Redis, keys: Keys) -> tuple[bool, bool]:
    """(a stream has entries past the watermark, the trim interval has passed): one round trip."""
    streams = (keys.events(), keys.survey_responses())
    async with redis.pipeline(transaction=False) as pipe:
        pipe.hgetall(keys.metrics_applied())
        for stream in streams:
            pipe.xrevrange(stream, count=1)
        pipe.set(keys.metrics_trimmed(), "1", nx=True, ex=TRIM_INTERVAL_S)
        applied, *lasts, trim_due = await pipe.execute()
    new = any(
        last and id_after(last[0][0], applied.get(s, "0-0"))
        for s, last in zip(streams, lasts, strict=True)
    )
    return new, bool(trim_due)


async def fold_service(svc: Any, options: FoldOptions | None = None) -> int:
    """The web process's pass (from `background.tick`): fold, then trim now and then.

    Called on every tick; at most one pass per FOLD_INTERVAL_S, and an idle pass
    costs one round trip.
    """
    options = options or FoldOptions()
    now, last = svc.clock.now(), svc.folded_at
    if last is not None and 0 <= now - last < FOLD_INTERVAL_S:
        return 0
    svc.folded_at = now
    new, trim_due = await behind(svc.redis, svc.keys)
    n = await fold(svc.redis, svc.keys, svc.registry.current, options) if new else 0
    if trim_due:
        seconds, micros = await svc.redis.time()
        store_ms, clock_ms = seconds * 1000 + micros // 1000, int(svc.clock.now() * 1000)
        await trim(svc.redis, svc.keys, store_ms, clock_ms, options.retention_s)
    return n
