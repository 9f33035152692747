"""One batch of the metrics fold: the writes it will make, and what the handlers share.

`queues.metrics.fold` reads the streams and applies each `Batch` in one MULTI/EXEC;
the handlers (`fold_events`, `fold_surveys`) add to a batch through `scopes`, `add`,
`observe` and the contact and agent records it loads once.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import tzinfo
from typing import Any
from zoneinfo import ZoneInfo

import redis.asyncio as aioredis

from ivr.config.model import Config
from ivr.config.queues import SERVICE_LEVEL_S
from ivr.core.keys import Keys
from queues.metrics import histogram, local_hours
from queues.metrics.local_hours import MS_PER_MINUTE

DEFAULT_SHORT_ABANDON_S = 5.0
"""Abandons that waited less than this are short: left out of abandonment and SL."""
DEFAULT_FCR_WINDOW_S = 7 * 86_400
DEFAULT_RETENTION_S = 30 * 86_400
DEFAULT_MINUTE_TTL_S = 2 * 86_400
"""Minute rollups serve today's charts; hour rollups serve the 30-day history."""
BATCH = 500
CALLBACK_EVENT = "CALLBACK"
"""Hook for the callback issue: a call that leaves its queue for a callback emits this
(or any exit event with `reason=callback`); it is counted in `callbacks`, never as an abandon."""
EXIT_FIELDS = {
    "EXITWITHTIMEOUT": "timeouts",
    "EXITWITHKEY": "exits_key",
    "EXITCLOSED": "exits_closed",
    "OVERFLOW": "overflows",
}


@dataclass(frozen=True)
class FoldOptions:
    """The fold's thresholds and lifetimes (defaults in the constants above)."""

    short_abandon_s: float = DEFAULT_SHORT_ABANDON_S
    fcr_window_s: int = DEFAULT_FCR_WINDOW_S
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
        """A span of time, split at local hour boundaries, into hour and all-time rollups,
        and at minutes into the minute rollups it outlives (a report window cut inside an
        hour reads them)."""
        self.add_minutes(where, name, start_ms, end_ms)
        while start_ms < end_ms:
            hour = local_hours.bucket(start_ms, self.zone)
            cut = min(end_ms, local_hours.hour_end_ms(start_ms, self.zone))
            for scope in where:
                key = self.keys.metrics_rollup("h", scope, hour)
                self.bump(key, name, cut - start_ms, self.options.retention_s)
                self.bump(self.keys.metrics_rollup("t", scope, 0), name, cut - start_ms, None)
            start_ms = cut

    def add_minutes(self, where: list[str], name: str, start_ms: int, end_ms: int) -> None:
        """A span of time, split at UTC minutes, into minute rollups (the last
        `minute_ttl_s` of it only: older minutes are gone from every other figure too)."""
        ttl = self.options.minute_ttl_s
        start_ms = max(start_ms, end_ms - ttl * 1000)
        while start_ms < end_ms:
            cut = min(end_ms, start_ms - start_ms % MS_PER_MINUTE + MS_PER_MINUTE)
            for scope in where:
                key = self.keys.metrics_rollup("m", scope, start_ms // MS_PER_MINUTE)
                self.bump(key, name, cut - start_ms, ttl)
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
