"""The timer worker: due timers fire promptly, once, whichever process runs them."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as aioredis

from ivr.config.queues import AgentConfig, QueueConfig
from ivr.core.clock import ManualClock
from ivr.core.keys import Keys
from ivr.core.store import async_client
from queues.events import EventType, read_events
from queues.router import Router

pytestmark = pytest.mark.anyio
KEYS = Keys("timers")


@pytest.fixture(name="anyio_backend")
def fixture_anyio_backend() -> str:
    """Run async tests on asyncio only."""
    return "asyncio"


@pytest.fixture(name="aredis")
async def fixture_aredis(r: Any, redis_url: str) -> AsyncIterator[aioredis.Redis]:
    """An asyncio client on the flushed test database."""
    client = async_client(redis_url)
    yield client
    await client.aclose()


async def make_router(aredis: aioredis.Redis, clock: ManualClock, agents: int) -> Router:
    """A router with one queue and `agents` agents, all logged in."""
    router = Router(aredis, KEYS, clock)
    await router.sync_config(
        {"q": QueueConfig(required_skills={"x": 1})},
        {
            f"a{i}": AgentConfig(name=f"a{i}", device=f"client:a{i}", skills={"x": 1})
            for i in range(agents)
        },
    )
    for i in range(agents):
        await router.set_available(f"a{i}")
    return router


async def test_ring_timeout_fires_within_250_ms(aredis: aioredis.Redis) -> None:
    """A running timer loop fires a ring timeout within 250 ms of the clock reaching it."""
    clock = ManualClock()
    router = await make_router(aredis, clock, 1)
    await router.enter("c", "q")
    stop = asyncio.Event()
    worker = asyncio.create_task(router.run_timers(stop))
    await asyncio.sleep(0.05)
    clock.advance(15)
    started = time.monotonic()
    while not any(e.type == EventType.RINGNOANSWER for e in await read_events(aredis, KEYS)):
        await asyncio.sleep(0.005)
        assert time.monotonic() - started < 0.25
    stop.set()
    await worker


async def test_many_workers_fire_each_timer_once(aredis: aioredis.Redis) -> None:
    """With several timer loops running, every due timer fires exactly once."""
    clock = ManualClock()
    router = await make_router(aredis, clock, 20)
    for i in range(20):
        await router.enter(f"c{i}", "q")
    workers = [Router(aredis, KEYS, clock) for _ in range(4)]
    stop = asyncio.Event()
    tasks = [asyncio.create_task(w.run_timers(stop)) for w in workers]
    clock.advance(15)
    await asyncio.sleep(0.5)
    stop.set()
    await asyncio.gather(*tasks)
    missed = [e for e in await read_events(aredis, KEYS) if e.type == EventType.RINGNOANSWER]
    assert sorted(e.get("call") for e in missed) == sorted(f"c{i}" for i in range(20))
    assert await router.next_due() == pytest.approx(clock.now() + 5)  # the hold-backs
