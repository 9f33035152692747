"""Redis/Valkey Cluster: the `redis+cluster://` URL and the cluster-aware clients.

    redis+cluster://[user[:password]@]host[:port][,host[:port]...][/0][?option=value...]
    rediss+cluster://...   (the same, over TLS)

The hosts are seeds: the client asks any one of them for the slot map, then
sends each command to the primary serving its key's slot, and follows MOVED
and ASK redirections when slots move. Name several, so a start does not depend
on one node. The user, password and query options apply to every node, as in a
`redis://` URL. A cluster has only database 0.

Every key of one contact centre carries its hash tag (`ivr:{main}:…`,
`ivr.core.keys`), so each Lua script, transaction and multi-key command of the
service touches one slot, on one shard: the cluster is only ever asked for
single-slot work. Different contact centres hash to different slots, which is
how they spread over the shards.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

import redis.asyncio.cluster as aiocluster
import redis.cluster
import redis.exceptions
from redis._parsers.commands import AsyncCommandsParser
from redis.asyncio.connection import SSLConnection as AsyncSSLConnection
from redis.asyncio.connection import parse_url as parse_async_url
from redis.commands.core import AsyncScript, Script
from redis.connection import SSLConnection, parse_url
from redis.exceptions import NoScriptError

from ivr.core.errors import StoreError
from ivr.core.pool import Gate

SCHEMES = {"redis+cluster": "redis", "rediss+cluster": "rediss"}
"""A cluster URL's scheme -> the scheme of one of its nodes."""
DEFAULT_PORT = 6379
NODE_OPTIONS = ("host", "port", "db", "path", "connection_class")
"""What a node URL's parse says about one node only; the rest applies to all of them."""


def is_cluster(url: str) -> bool:
    """Whether `url` names a cluster (`redis+cluster://` or `rediss+cluster://`)."""
    return url.split("://", 1)[0].lower() in SCHEMES


def seeds(url: str) -> list[tuple[str, int]]:
    """The seed nodes a cluster URL names, as (host, port)."""
    netloc = urlsplit(url).netloc.rpartition("@")[2]
    found = [_host_port(seed) for seed in netloc.split(",") if seed]
    if not found:
        raise StoreError(f"a cluster URL names no node: {redact(url)}")
    if urlsplit(url).path.strip("/") not in ("", "0"):
        raise StoreError(f"a cluster has only database 0: {redact(url)}")
    return found


def _host_port(seed: str) -> tuple[str, int]:
    """`host`, `host:port`, `[v6]` or `[v6]:port`."""
    if seed.startswith("["):
        host, _, rest = seed[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") else DEFAULT_PORT
    host, _, port = seed.partition(":")
    return host, int(port) if port else DEFAULT_PORT


def node_url(url: str) -> str:
    """The URL of the first seed alone, with the cluster URL's credentials and options."""
    parts = urlsplit(url)
    user, at, _ = parts.netloc.rpartition("@")
    host, port = seeds(url)[0]
    host = f"[{host}]" if ":" in host else host
    scheme = SCHEMES[parts.scheme.lower()]
    query = f"?{parts.query}" if parts.query else ""
    return f"{scheme}://{user}{at}{host}:{port}{query}"


def redact(url: str) -> str:
    """`url` without its password, for messages."""
    parts = urlsplit(url)
    user, at, hosts = parts.netloc.rpartition("@")
    return f"{parts.scheme}://{user.split(':')[0]}{at}{hosts}{parts.path}"


def options(parsed: Mapping[str, Any], tls_class: type) -> dict[str, Any]:
    """Client options from a node URL's parse, for every node: credentials, TLS, query."""
    found = {name: value for name, value in parsed.items() if name not in NODE_OPTIONS}
    if parsed.get("connection_class") is tls_class:
        found["ssl"] = True
    return found


class AsyncShardScript(AsyncScript):
    """A Lua script that a shard not knowing it yet loads for itself: EVAL, routed by the
    script's first key like the EVALSHA it replaces. redis-py's own fallback sends SCRIPT
    LOAD to every primary, so one shard down would fail the first run of every script in
    every contact centre, on the shards still up too."""

    async def __call__(
        self,
        keys: Sequence[Any] | None = None,
        args: Iterable[Any] | None = None,
        client: Any = None,
    ) -> Any:
        target = client or self.registered_client
        found = [*(keys or []), *(args or [])]
        try:
            return await target.evalsha(self.sha, len(keys or []), *found)
        except NoScriptError:
            return await target.eval(str(self.script), len(keys or []), *found)


class ShardScript(Script):
    """`AsyncShardScript` for the blocking client."""

    def __call__(
        self,
        keys: Sequence[Any] | None = None,
        args: Iterable[Any] | None = None,
        client: Any = None,
    ) -> Any:
        target = client or self.registered_client
        found = [*(keys or []), *(args or [])]
        try:
            return target.evalsha(self.sha, len(keys or []), *found)
        except NoScriptError:
            return target.eval(str(self.script), len(keys or []), *found)


class AnyPrimaryCommandsParser(AsyncCommandsParser):
    """Loads the command table from the first primary that answers, and makes it the
    default node. redis-py asks only the first primary it lists, so one shard down when
    a client starts would stop it on every shard, those still serving among them."""

    def __init__(self, cluster: aiocluster.RedisCluster) -> None:
        super().__init__()
        self.cluster = cluster

    async def initialize(self, node: aiocluster.ClusterNode | None = None) -> None:
        primaries = self.cluster.get_primaries()
        failed: redis.exceptions.ConnectionError | None = None
        for each in [node, *(p for p in primaries if p is not node)] if node else primaries:
            try:
                await super().initialize(each)
            except redis.exceptions.ConnectionError as exc:
                failed = failed or exc
                continue
            self.cluster.set_default_node(each)
            return
        raise failed or redis.exceptions.ConnectionError("no cluster primary answers")


class AsyncShardedCluster(aiocluster.RedisCluster):
    """The asyncio cluster client, with scripts loaded shard by shard (`AsyncShardScript`),
    its command table from any primary that answers (`AnyPrimaryCommandsParser`), and its
    commands and pipelines taking turns (`gate`) at its connection limit."""

    def __init__(self, *, gate: Gate, **kwargs: Any) -> None:
        super().__init__(max_connections=gate.size, **kwargs)
        self.commands_parser = AnyPrimaryCommandsParser(self)
        self.gate = gate

    def register_script(self, script: str | bytes) -> AsyncShardScript:  # type: ignore[override]
        return AsyncShardScript(self, script)

    async def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        async with self.gate.turn():
            return await super().execute_command(*args, **kwargs)

    def pipeline(
        self, transaction: Any | None = None, shard_hint: Any | None = None
    ) -> aiocluster.ClusterPipeline:
        if shard_hint:
            raise redis.exceptions.RedisClusterException("shard_hint is deprecated in cluster mode")
        # mypy takes ClusterPipeline for abstract (`_event_dispatcher`); redis-py builds it
        return GatedPipeline(self, transaction)  # type: ignore[abstract]


class GatedPipeline(aiocluster.ClusterPipeline):
    """A cluster pipeline whose run takes one of its client's turns (`Gate`). A WATCH
    before it holds a connection of its own while the caller reads: at the limit, that
    connection may be refused (`MaxConnectionsError`, a store error too). A transaction
    runs on the caller's event loop (`InLoopTransaction`)."""

    def __init__(self, client: aiocluster.RedisCluster, transaction: bool | None = None) -> None:
        super().__init__(client, transaction)
        if transaction:
            self._execution_strategy = InLoopTransaction(self)

    async def execute(self, raise_on_error: bool = True, allow_redirections: bool = True) -> Any:
        client = self.cluster_client
        assert isinstance(client, AsyncShardedCluster)
        async with client.gate.turn():
            return await super().execute(raise_on_error, allow_redirections)


class InLoopTransaction(aiocluster.TransactionStrategy):
    """A cluster transaction (MULTI/EXEC, with WATCH) run on the caller's event loop.

    redis-py 8.1 gives each command of a cluster transaction to a new thread running its
    own event loop (`asyncio.run`), to find the command's slot, and joins it: the caller's
    loop, and every webhook it serves, stands still meanwhile (about 1 ms a command; the
    metrics fold alone queues dozens a tick). Here a queued command is only queued, its slot
    found when the transaction runs; a command that must run at once (WATCH, and reads after
    it, before MULTI) is an awaitable the caller awaits, as on a single server."""

    def __init__(self, pipe: aiocluster.ClusterPipeline) -> None:
        super().__init__(pipe)
        self._unplaced: list[tuple[Any, ...]] = []

    def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        now = self._watching or args[0] in self.IMMEDIATE_EXECUTE_COMMANDS
        if now and not self._explicit_transaction:
            return self._at_once(*args, **kwargs)
        self._unplaced.append(args)
        return aiocluster.AbstractStrategy.execute_command(self, *args, **kwargs)

    async def _at_once(self, *args: Any, **kwargs: Any) -> Any:
        sent = await self._execute_command(*args, **kwargs)  # the command's coroutine
        return await sent

    async def execute(self, raise_on_error: bool = True, allow_redirections: bool = True) -> Any:
        client = self._pipe.cluster_client
        if client._initialize:
            await client.initialize()
        for args in self._unplaced:
            if args[0] not in self.NO_SLOTS_COMMANDS:
                self._pipeline_slots.add(await client._determine_slot(*args))
        self._unplaced.clear()
        return await super().execute(raise_on_error, allow_redirections)

    async def reset(self) -> None:
        self._unplaced.clear()
        await super().reset()  # type: ignore[no-untyped-call]


class ShardedCluster(redis.cluster.RedisCluster):
    """The blocking cluster client, with scripts loaded shard by shard (`ShardScript`)."""

    def register_script(self, script: str | bytes) -> ShardScript:  # type: ignore[override]
        return ShardScript(self, script)


def async_client(
    url: str, max_connections: int, pool_wait_s: float, **extra: Any
) -> aiocluster.RedisCluster:
    """An asyncio cluster client seeded by every node `url` names. At most `max_connections`
    commands are in flight at once (so as many connections to each shard); past that, one
    waits up to `pool_wait_s` for its turn (`ivr.core.pool.Gate`)."""
    nodes = [aiocluster.ClusterNode(host, port) for host, port in seeds(url)]
    found = options(parse_async_url(node_url(url)), AsyncSSLConnection)
    gate = Gate(max_connections, pool_wait_s)
    return AsyncShardedCluster(startup_nodes=nodes, gate=gate, **{**extra, **found})


def sync_client(url: str, **extra: Any) -> redis.cluster.RedisCluster:
    """A blocking cluster client seeded by every node `url` names."""
    # untyped in redis-py
    nodes = [redis.cluster.ClusterNode(h, p) for h, p in seeds(url)]  # type: ignore[no-untyped-call]
    found = options(parse_url(node_url(url)), SSLConnection)  # type: ignore[no-untyped-call]
    return ShardedCluster(startup_nodes=nodes, **{**extra, **found})


def url_of(node: str) -> str:
    """The cluster URL seeded by the one node `node` (a `redis://` or `rediss://` URL)."""
    parts = urlsplit(node)
    return parts._replace(scheme=f"{parts.scheme}+cluster").geturl()
