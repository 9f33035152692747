"""The asyncio clients' connection pools: a limit per process, and a short wait at it.

redis-py's asyncio pool holds at most 100 connections by default and, once they are all
taken, refuses the next command outright (`MaxConnectionsError`): at about a hundred
webhooks in flight, or the background loops and open consoles plus webhooks, callers
heard the degraded-mode apology from a store that was fine. Here each process keeps at
most `IVR_STORE_MAX_CONNECTIONS` connections (`Settings.store_max_connections`; on a
cluster, commands in flight, and connections to each shard). At that limit a command waits
for a connection to come back, at most `POOL_WAIT_S`, then fails with `StoreBusy`, a
store error (`ivr.core.store.STORE_ERRORS`): a webhook answers with the degraded-mode
TwiML and a loop logs an outage, as for a store that is down. Never a 500.

    WaitingPool            a single server (`ivr.core.store.async_client`)
    WaitingSentinelPool    the primary the sentinels name (`ivr.core.sentinel`)
    Gate                   a cluster client's commands and pipelines (`ivr.core.cluster`)
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
from collections.abc import AsyncIterator
from typing import Any

import redis.exceptions
from redis.asyncio.connection import BlockingConnectionPool
from redis.asyncio.sentinel import SentinelConnectionPool

from ivr.core.errors import StoreBusy

POOL_WAIT_S = 1.0
"""Longest wait for a free connection at the limit. It is the connect timeout's length
(`ivr.core.store.STORE_CONNECT_TIMEOUT_S`): a store we cannot get a connection to within
it is down for a webhook's purposes. While the store is down, connections come back at
once (refused) or within the reply timeout (a hung server), so waiters are not starved
longer than that; a webhook's worst case stays far under Twilio's 15 s."""


def busy(limit: int, wait_s: float | None) -> StoreBusy:
    """The error of a command that found every connection taken for `wait_s`."""
    return StoreBusy(
        f"all {limit} store connections of this process stayed in use for {wait_s} s"
        " (IVR_STORE_MAX_CONNECTIONS)"
    )


class WaitingPool(BlockingConnectionPool):
    """redis-py's blocking pool, whose wait at the limit ends in `StoreBusy`."""

    async def get_connection(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return await super().get_connection(*args, **kwargs)  # type: ignore[no-untyped-call]
        except redis.exceptions.ConnectionError as exc:
            # The wait ran out: redis-py says "No connection available." from the
            # timeout. A failed connect has an OSError or nothing as its cause.
            if isinstance(exc.__cause__, asyncio.TimeoutError):
                raise busy(self.max_connections, self.timeout) from exc
            raise


class WaitingSentinelPool(SentinelConnectionPool, WaitingPool):
    """A pool of connections to the primary the sentinels name, waiting at its limit."""


_HOLDING: contextvars.ContextVar[bool] = contextvars.ContextVar("holding_turn", default=False)
"""Whether this task already holds a turn of a `Gate`: redis-py's cluster pipeline falls
back to the client's own commands, which must not wait for a second turn."""


class Gate:
    """At most `size` commands in flight on a cluster client, each waiting at most `wait_s`
    for its turn. redis-py's cluster nodes refuse a connection past their limit
    (`MaxConnectionsError`), with no wait to configure, so the wait is in front of them."""

    def __init__(self, size: int, wait_s: float = POOL_WAIT_S) -> None:
        self.size = size
        self.wait_s = wait_s
        self._turns = asyncio.Semaphore(size)

    @contextlib.asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        """Hold one of the turns while the block runs; `StoreBusy` if none comes in time."""
        if _HOLDING.get():
            yield
            return
        try:
            async with asyncio.timeout(self.wait_s):
                await self._turns.acquire()
        except TimeoutError:
            raise busy(self.size, self.wait_s) from None
        token = _HOLDING.set(True)
        try:
            yield
        finally:
            _HOLDING.reset(token)
            self._turns.release()
