"""A Sentinel-managed primary: its URL, its clients, and the writes confirmed on a replica.

The URL names the sentinels and the service they watch, not a server:

    redis+sentinel://[[user]:password@]host[:port][,host[:port]...]/service[/db]

for example `redis+sentinel://:s3cret@10.0.0.1:26379,10.0.0.2:26379,10.0.0.3/ivr/0`. The
password (and ACL user) is the primary's and the replicas'; the sentinels themselves are
reached without one. A port left out is Sentinel's, 26379.

Every client asks the sentinels where the primary is (`redis-py`'s `Sentinel.master_for`),
connects there, and asks again whenever a connection fails or the server it reached
answers as a replica (`READONLY`): so after a failover the clients follow the promoted
replica without a restart. While no primary can be reached, a command fails with a
`ConnectionError` after `ivr.core.store`'s few quick retries, which a webhook turns into
the degraded-mode TwiML (`ivr.voice.fallback`) and a loop into a logged outage
(`ivr.core.outage`).

Replication is asynchronous: a write the primary acknowledged may not have reached a
replica when the primary dies, and the promoted replica never had it. `confirm` closes
that window for the writes that must not be lost (docs/reliability.md, "Failover").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, cast
from urllib.parse import unquote

import redis
import redis.asyncio as aioredis
import redis.exceptions
from redis.asyncio.retry import Retry as AsyncRetry
from redis.asyncio.sentinel import MasterNotFoundError as AsyncMasterNotFoundError
from redis.asyncio.sentinel import Sentinel as AsyncSentinel
from redis.backoff import ExponentialBackoff
from redis.retry import Retry
from redis.sentinel import Sentinel

from ivr.core import logs
from ivr.core.errors import StoreError
from ivr.core.keys import Keys
from ivr.core.pool import WaitingPool, WaitingSentinelPool
from ivr.core.settings import Settings

log = logs.get(__name__)

SCHEME = "redis+sentinel"
DEFAULT_SENTINEL_PORT = 26379
SENTINEL_TIMEOUT_S = 0.5
"""Longest wait for one sentinel's answer: a silent one is skipped for the next."""
SENTINEL_RETRIES = 1
"""Retries of one sentinel that refused or dropped the connection, before asking the next.
A sentinel that times out is not retried: its host is likely down (redis-py's default, 10
retries with backoff up to 1 s, would hold a webhook for seconds on one dead sentinel)."""
BACKOFF = ExponentialBackoff(cap=0.05, base=0.01)
REFUSED = (redis.exceptions.ConnectionError,)
"""What a sentinel is retried on: a refused or dropped connection, not a timeout."""


@dataclass(frozen=True)
class SentinelUrl:
    """A parsed `redis+sentinel://` URL."""

    sentinels: tuple[tuple[str, int], ...]
    service: str
    db: int = 0
    username: str | None = None
    password: str | None = None

    @classmethod
    def parse(cls, url: str) -> SentinelUrl:
        """Parse `url`; `StoreError` saying what is wrong with it."""
        scheme, sep, rest = url.partition("://")
        if not sep or scheme.lower() != SCHEME:
            raise StoreError(f"not a {SCHEME}:// URL: {scheme or url!r}")
        netloc, _, path = rest.partition("/")
        userinfo, at, hosts = netloc.rpartition("@")
        username, password = credentials(userinfo) if at else (None, None)
        service, db = service_and_db(path.split("?", 1)[0])
        return cls(tuple(address(h) for h in hosts.split(",")), service, db, username, password)


def credentials(userinfo: str) -> tuple[str | None, str | None]:
    """`user:password` (either may be empty) as the user and password, or None for each."""
    user, _, password = userinfo.partition(":")
    return unquote(user) or None, unquote(password) or None


def address(host: str) -> tuple[str, int]:
    """`host[:port]` or `[v6]:port` as (host, port), with Sentinel's port by default."""
    if not host:
        raise StoreError(f"a {SCHEME}:// URL needs at least one sentinel host:port")
    name, colon, port = host.rpartition(":")
    if not colon or name.endswith(":") or (name.startswith("[") and not name.endswith("]")):
        name, port = host, ""  # no port, or a bare IPv6 address
    if port and not port.isdigit():
        raise StoreError(f"bad sentinel port in {host!r}")
    return name.strip("[]"), int(port) if port else DEFAULT_SENTINEL_PORT


def service_and_db(path: str) -> tuple[str, int]:
    """`service[/db]` from the URL's path."""
    service, _, db = path.strip("/").partition("/")
    if not service:
        raise StoreError(f"a {SCHEME}:// URL names the service after the hosts: …/mymaster[/0]")
    if db and not db.isdigit():
        raise StoreError(f"bad database number {db!r} after the service name")
    return unquote(service), int(db or 0)


def is_sentinel(url: str) -> bool:
    """Whether `url` names a Sentinel-managed primary."""
    return url.lower().startswith(SCHEME + "://")


class AsyncPrimary(aioredis.Redis):
    """An asyncio client of the primary the sentinels name; closing it closes its sentinels."""

    sentinels: AsyncSentinel | None = None

    async def aclose(self, close_connection_pool: bool | None = None) -> None:
        await super().aclose(close_connection_pool)
        if self.sentinels is not None:
            await self.sentinels.aclose()


class Primary(redis.Redis):
    """A blocking client of the primary the sentinels name; closing it closes its sentinels."""

    sentinels: Sentinel | None = None

    def close(self) -> None:
        super().close()
        if self.sentinels is not None:
            self.sentinels.close()


class Sentinels(AsyncSentinel):
    """The sentinels of an asyncio client, asked in turn where the primary is."""

    async def discover_master(self, service_name: str) -> tuple[str, int]:
        """The primary's address, from the first sentinel that knows it, which is asked
        first from then on. redis-py moves that sentinel to the front by the place it had
        when the asking began; with many connections opened at once, others have moved it
        meanwhile, and that swap put one sentinel in the list twice and dropped another:
        never asked again, nor closed (its connections were left to the garbage collector)."""
        failed: list[str] = []
        for each in tuple(self.sentinels):
            try:
                masters = cast(dict[str, Any], await each.sentinel_masters())
            except (*REFUSED, redis.exceptions.TimeoutError, StoreError) as exc:
                failed.append(f"{each} - {exc!r}")
                continue
            state = masters.get(service_name)
            if state and self.check_master_state(state, service_name):
                at = self.sentinels.index(each)
                self.sentinels[0], self.sentinels[at] = each, self.sentinels[0]
                return state["ip"], state["port"]
        said = f": {', '.join(failed)}" if failed else ""
        raise AsyncMasterNotFoundError(f"No master found for {service_name!r}{said}")


def async_client(
    url: str, max_connections: int, pool_wait_s: float, **options: Any
) -> AsyncPrimary:
    """An asyncio client that follows the primary of `url` through failovers. `options` are
    the servers' connection options (timeouts, retry); the sentinels get short ones. At
    `max_connections` to the primary, a command waits up to `pool_wait_s` for one; so does
    a new connection's question to a sentinel (each one opens a connection to ask)."""
    where = SentinelUrl.parse(url)
    retry = AsyncRetry(BACKOFF, SENTINEL_RETRIES, supported_errors=REFUSED)
    sentinel = Sentinels([])  # type: ignore[no-untyped-call]
    sentinel.sentinels = [
        aioredis.Redis.from_pool(
            WaitingPool(
                host=host,
                port=port,
                max_connections=max_connections,
                timeout=pool_wait_s,
                **quick(retry),
            )
        )
        for host, port in where.sentinels
    ]
    client = sentinel.master_for(
        where.service,
        redis_class=AsyncPrimary,
        connection_pool_class=WaitingSentinelPool,
        max_connections=max_connections,
        timeout=pool_wait_s,
        **server_options(where),
        **options,
    )
    assert isinstance(client, AsyncPrimary)
    client.sentinels = sentinel
    return client


def sync_client(url: str, **options: Any) -> Primary:
    """A blocking client that follows the primary of `url` through failovers (CLI, jobs)."""
    where = SentinelUrl.parse(url)
    retry = Retry(BACKOFF, SENTINEL_RETRIES, supported_errors=REFUSED)
    sentinel = Sentinel(list(where.sentinels), sentinel_kwargs=quick(retry))  # type: ignore[no-untyped-call]
    client = sentinel.master_for(  # type: ignore[no-untyped-call]
        where.service, redis_class=Primary, **server_options(where), **options
    )
    assert isinstance(client, Primary)
    client.sentinels = sentinel
    return client


def quick(retry: Retry | AsyncRetry) -> dict[str, Any]:
    """Connection options for the sentinels: short timeouts, and `retry`."""
    return {
        "socket_connect_timeout": SENTINEL_TIMEOUT_S,
        "socket_timeout": SENTINEL_TIMEOUT_S,
        "retry": retry,
    }


def server_options(where: SentinelUrl) -> dict[str, Any]:
    """The primary's database and credentials, as connection options."""
    return {"db": where.db, "username": where.username, "password": where.password}


# -- writes that must not be lost ------------------------------------------------------


class Store(Protocol):
    """What `confirm` needs of a process's services (`Services` and callbacks' `Context`)."""

    settings: Settings
    redis: aioredis.Redis
    keys: Keys


async def confirm(svc: Store, write: str) -> bool:
    """Wait until the writes made so far reach `settings.store_wait_replicas` replicas, for
    at most `settings.store_wait_ms`; whether they did (True when off). `write` names the
    write for the log.

    `WAIT` counts the writes of the connection it is sent on, and a pooled client may send
    it on another: so one small write (`keys.replication_mark()`) goes first, on the same
    connection. Replication keeps order, so a replica that has the mark has every write
    acknowledged before it. A timeout is logged, not raised: the write stands on the
    primary, and the caller is served either way.
    """
    settings = svc.settings
    if settings.store_wait_replicas <= 0:
        return True
    async with svc.redis.pipeline(transaction=False) as pipe:
        pipe.incr(svc.keys.replication_mark())
        pipe.wait(settings.store_wait_replicas, settings.store_wait_ms)
        _, acked = await pipe.execute()
    if int(acked) >= settings.store_wait_replicas:
        return True
    log.warning(
        "write not yet on a replica: a failover now would lose it",
        write=write,
        replicas=int(acked),
        wanted=settings.store_wait_replicas,
        waited_ms=settings.store_wait_ms,
    )
    return False
