"""Helpers for the metrics tests: hand-built event streams, and folding them on the real store."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import redis
import redis.asyncio as aioredis
from redis.typing import EncodableT, FieldT

from ivr.config.loader import load
from ivr.config.model import Config
from ivr.core.keys import Keys
from ivr.core.store import async_client
from queues.metrics import fold as metrics
from queues.metrics import rollups
from queues.metrics.batch import FoldOptions
from tests.conftest import OPEN_TIME, SAMPLE_CONFIG

T0 = int(OPEN_TIME.timestamp() * 1000)
"""Monday 10:00 in Kuala Lumpur, in ms: the scripts' time zero."""
S = 1000
DAY = 86_400 * S
KEYS = Keys()
T = TypeVar("T")


def sample_config() -> Config:
    return load(SAMPLE_CONFIG)


def in_zone(config: Config, zone: str) -> Config:
    """The config with the company (whose clock the hour rollups follow) in another zone."""
    company = config.company.model_copy(update={"timezone": zone})
    return config.model_copy(update={"company": company})


class Script:
    """Writes call sessions, routing events and survey replies as the service would."""

    def __init__(self, r: redis.Redis, redis_url: str, config: Config | None = None) -> None:
        self.r, self.url, self.config = r, redis_url, config or sample_config()

    def session(self, sid: str, caller: str, started_ms: int, **extra: Any) -> None:
        body: dict[str, Any] = {
            "sid": sid,
            "caller": caller,
            "called": "+60312345678",
            "language": "en",
        }
        body.update(started_at=started_ms / 1000, config_version="v", path=["welcome"], **extra)
        self.r.set(KEYS.call(sid), json.dumps(body))

    def event(self, kind: str, ts: int, **fields: Any) -> None:
        entry: dict[FieldT, EncodableT] = {
            "type": kind,
            "ts": str(ts),
            **{k: str(v) for k, v in fields.items()},
        }
        self.r.xadd(KEYS.events(), entry)

    def answered(self, sid: str, queue: str, agent: str, enter: int, wait: int, talk: int) -> None:
        """A call that enters, is connected after `wait` ms and talks `talk` ms."""
        self.event("ENTERQUEUE", enter, call=sid, queue=queue, language="en", position=1)
        self.event(
            "CONNECT", enter + wait, call=sid, queue=queue, agent=agent, wait_ms=wait, ring_ms=0
        )
        self.event(
            "COMPLETEAGENT", enter + wait + talk, call=sid, queue=queue, agent=agent, talk_ms=talk
        )

    def survey(self, sid: str, score: object, ts: int, sent_ms: int | None = None) -> None:
        entry = {"call": sid, "score": str(score), "ts": str(ts)}
        if sent_ms is not None:
            entry["sent_ms"] = str(sent_ms)
        self.r.xadd(KEYS.survey_responses(), entry)  # type: ignore[arg-type]

    def fold(self, options: FoldOptions | None = None) -> int:
        return self.run(lambda c: metrics.fold(c, KEYS, self.config, options))

    def totals(self, scope: str = "all") -> rollups.Totals:
        return self.run(lambda c: rollups.all_time(c, KEYS, scope))

    def figures(self, scope: str = "all") -> dict[str, Any]:
        return self.totals(scope).figures()

    def run(self, work: Callable[[aioredis.Redis], Awaitable[T]]) -> T:
        async def main() -> T:
            client = async_client(self.url)  # on any store topology (a cluster too)
            try:
                return await work(client)
            finally:
                await client.aclose()

        return asyncio.run(main())

    def snapshot(self) -> dict[str, Any]:
        """Every key the fold writes, with its content."""
        out: dict[str, Any] = {}
        for key in sorted(self.r.scan_iter(f"{KEYS.prefix}:metrics:*")):
            if key.endswith(":lock"):
                continue
            kind = self.r.type(key)
            if kind == "hash":
                out[key] = self.r.hgetall(key)
            elif kind == "zset":
                out[key] = self.r.zrange(key, 0, -1, withscores=True)
            else:
                out[key] = self.r.get(key)
        return out
