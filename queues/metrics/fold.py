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

import json
import secrets
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import tzinfo
from typing import Any
from zoneinfo import ZoneInfo

import redis.asyncio as aioredis
from redis.exceptions import ResponseError, WatchError

from ivr.config.model import Config
from ivr.config.queues import SERVICE_LEVEL_S
from ivr.core.keys import Keys
from queues.metrics import histogram, local_hours
from queues.metrics.local_hours import MS_PER_MINUTE

GROUP = "metrics"
CONSUMER = "fold"
DEFAULT_SHORT_ABANDON_S = 5.0
"""Abandons that waited less than this are short: left out of abandonment and SL."""
DEFAULT_FCR_WINDOW_S = 7 * 86_400
DEFAULT_SURVEY_WINDOW_S = 86_400
"""A survey reply later than this after the contact ended is counted late, not scored."""
DEFAULT_RETENTION_S = 30 * 86_400
DEFAULT_MINUTE_TTL_S = 2 * 86_400
"""Minute rollups serve today's charts; hour rollups serve the 30-day history."""
BATCH = 500
MAX_BATCHES_PER_PASS = 20
LOCK_TTL_MS = 30_000
TRIM_INTERVAL_S = 600
FOLD_INTERVAL_S = 1.0
"""A process folds at most this often (service clock): live figures lag by at most this."""
CALLBACK_EVENT = "CALLBACK"
"""Hook for the callback issue: a call that leaves its queue for a callback emits this
(or any exit event with `reason=callback`); it is counted in `callbacks`, never as an abandon."""
EXIT_FIELDS = {
    "EXITWITHTIMEOUT": "timeouts",
    "EXITWITHKEY": "exits_key",
    "EXITCLOSED": "exits_closed",
    "OVERFLOW": "overflows",
}
BUSY_STATES = ("on_call", "wrap_up")
STAFFED_STATES = ("available", "reserved", "on_call", "wrap_up")

RELEASE_LOCK = """
-- release the fold lock only if this process still holds it.
-- KEYS[1]: the lock; ARGV[1]: this holder's token. Returns 1 if released.
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


@dataclass(frozen=True)
class FoldOptions:
    """The fold's thresholds and lifetimes (defaults in the constants above)."""

    short_abandon_s: float = DEFAULT_SHORT_ABANDON_S
    fcr_window_s: int = DEFAULT_FCR_WINDOW_S
    survey_window_s: int = DEFAULT_SURVEY_WINDOW_S
    retention_s: int = DEFAULT_RETENTION_S
    minute_ttl_s: int = DEFAULT_MINUTE_TTL_S
    batch: int = BATCH


def scopes(queue: str = "", agent: str = "", language: str = "") -> list[str]:
    """The rollup scopes one fact counts in."""
    out = ["all"]
    if queue:
        out.append(f"q:{queue}")
    if agent:
        out.append(f"a:{agent}")
    if queue and agent:
        out.append(f"qa:{queue}:{agent}")
    if language:
        out.append(f"l:{language}")
    return out


def id_after(entry_id: str, applied: str) -> bool:
    """True if stream id `entry_id` comes after `applied`."""
    a, _, b = entry_id.partition("-")
    c, _, d = applied.partition("-")
    return (int(a), int(b or 0)) > (int(c), int(d or 0))


@dataclass
class Batch:
    """The writes one batch will make, built in memory, applied in one MULTI/EXEC."""

    pipe: Any
    redis: aioredis.Redis
    keys: Keys
    config: Config
    options: FoldOptions
    incr: dict[str, dict[str, int]] = field(default_factory=lambda: defaultdict(dict))
    ttl: dict[str, int] = field(default_factory=dict)
    contacts: dict[str, dict[str, str]] = field(default_factory=dict)
    agents: dict[str, dict[str, Any]] = field(default_factory=dict)
    last_contacts: dict[str, dict[str, Any] | None] = field(default_factory=dict)
    ops: list[Callable[[Any], Any]] = field(default_factory=list)
    zone: tzinfo = field(init=False)

    def __post_init__(self) -> None:
        self.zone = ZoneInfo(self.config.company.timezone)

    # -- counting -------------------------------------------------------------
    def bump(self, key: str, name: str, delta: int, ttl: int | None) -> None:
        fields = self.incr[key]
        fields[name] = fields.get(name, 0) + delta
        if ttl is not None:
            self.ttl[key] = ttl

    def add(self, ts_ms: int, where: list[str], name: str, delta: int = 1) -> None:
        """Count `delta` in the minute, local hour and all-time rollups of each scope."""
        o = self.options
        minute, hour = ts_ms // MS_PER_MINUTE, local_hours.bucket(ts_ms, self.zone)
        for scope in where:
            self.bump(self.keys.metrics_rollup("m", scope, minute), name, delta, o.minute_ttl_s)
            self.bump(self.keys.metrics_rollup("h", scope, hour), name, delta, o.retention_s)
            self.bump(self.keys.metrics_rollup("t", scope, 0), name, delta, None)

    def observe(self, ts_ms: int, where: list[str], name: str, ms: int) -> None:
        """A duration: its sum, its count and its histogram bucket."""
        self.add(ts_ms, where, f"{name}_ms", ms)
        self.add(ts_ms, where, f"{name}:{histogram.bucket_of(ms)}")

    def add_hours(self, where: list[str], name: str, start_ms: int, end_ms: int) -> None:
        """A span of time, split at local hour boundaries, into hour and all-time rollups."""
        while start_ms < end_ms:
            hour = local_hours.bucket(start_ms, self.zone)
            cut = min(end_ms, local_hours.hour_end_ms(start_ms, self.zone))
            for scope in where:
                key = self.keys.metrics_rollup("h", scope, hour)
                self.bump(key, name, cut - start_ms, self.options.retention_s)
                self.bump(self.keys.metrics_rollup("t", scope, 0), name, cut - start_ms, None)
            start_ms = cut

    # -- state ----------------------------------------------------------------
    async def contact(self, call: str) -> dict[str, str]:
        """The contact record (loaded once per batch; changes are written at the end)."""
        if call not in self.contacts:
            self.contacts[call] = await self.pipe.hgetall(self.keys.metrics_contact(call))
        return self.contacts[call]

    async def agent(self, agent: str) -> dict[str, Any]:
        if agent not in self.agents:
            raw = await self.pipe.hget(self.keys.metrics_agents(), agent)
            self.agents[agent] = json.loads(raw) if raw else {}
        return self.agents[agent]

    async def last_contact(self, number: str) -> dict[str, Any] | None:
        """The number's latest contact {call, at} (as this batch leaves it)."""
        if number not in self.last_contacts:
            raw = await self.pipe.get(self.keys.metrics_last_contact(number))
            self.last_contacts[number] = json.loads(raw) if raw else None
        return self.last_contacts[number]

    def service_level_ms(self, queue: str) -> int:
        cfg = self.config.queues.get(queue)
        return 1000 * (cfg.service_level_s if cfg else SERVICE_LEVEL_S)

    def short_abandon_ms(self, queue: str) -> float:
        cfg = self.config.queues.get(queue)
        # `short_abandon_s` per queue once the config grows it; the fold's option till then.
        return 1000 * float(getattr(cfg, "short_abandon_s", self.options.short_abandon_s))

    def write(self, pipe: Any) -> None:
        """Queue every write of the batch on `pipe` (inside MULTI)."""
        for key, fields in self.incr.items():
            for name, delta in fields.items():
                pipe.hincrby(key, name, delta)
            if key in self.ttl:
                pipe.expire(key, self.ttl[key])
        for call, record in self.contacts.items():
            if record:
                pipe.hset(self.keys.metrics_contact(call), mapping=record)
                pipe.expire(self.keys.metrics_contact(call), self.options.retention_s)
        for agent, state in self.agents.items():
            if state:
                pipe.hset(self.keys.metrics_agents(), agent, json.dumps(state))
        for op in self.ops:
            op(pipe)


Handler = Callable[[Batch, str, dict[str, str]], Awaitable[None]]


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
    from queues.metrics import fold_events, fold_surveys  # the handlers, one module per stream

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
