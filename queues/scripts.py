"""The routing Lua scripts, registered once per client, each behind one typed function.

Every script but `deregister` is `lua/common.lua` (the fixed KEYS, shared
helpers) followed by its own file; each file opens with its KEYS/ARGV header.
Python passes every key in KEYS (fixed keys first, then bucket keys) and one
JSON context in ARGV that names the bucket keys by index. Scripts answer with
JSON; refusals come back as errors whose first word maps to an exception in
`ivr.core.errors`. `deregister` runs alone, on plain KEYS and ARGV.
"""

from __future__ import annotations

import json
import time
from functools import cache
from typing import Any

import redis.asyncio as aioredis
from redis.commands.core import AsyncScript
from redis.exceptions import ResponseError

from ivr.core import lua
from ivr.core.errors import (
    InvalidTransition,
    ReservationError,
    RoutingError,
    TransferRefused,
    UnknownAgent,
    UnknownQueue,
)
from ivr.core.keys import Keys
from queues.decisions import DECISIONS

Context = dict[str, Any]
"""The JSON context passed as ARGV[1]."""
Outcome = dict[str, Any]
"""A script's decoded JSON answer: always `status` and `offers`."""

SCRIPT_NAMES = (
    "enter",
    "status",
    "accept",
    "confirm",
    "requeue",
    "connect_lost",
    "release",
    "hangup",
    "complete",
    "escalate",
    "maxwait",
    "transfer",
    "unpin",
    "consult_start",
    "consult_end",
)


class RetryScript(RoutingError):
    """State read before a script changed before it ran; read again and retry."""


class StaleConfig(RoutingError):
    """The config was synced since this router built its layout; reload and retry."""


ERRORS: dict[str, type[RoutingError]] = {
    "UNKNOWN_AGENT": UnknownAgent,
    "UNKNOWN_QUEUE": UnknownQueue,
    "INVALID_TRANSITION": InvalidTransition,
    "RESERVATION": ReservationError,
    "ROUTING": RoutingError,
    "TRANSFER_REFUSED": TransferRefused,
    "RETRY": RetryScript,
    "STALE_CONFIG": StaleConfig,
}


@cache
def source(name: str) -> str:
    """The full text of one script: the common helpers, then the script itself."""
    return lua.read("queues", "common") + "\n" + lua.read("queues", name)


class KeyList:
    """The KEYS of one script call: the fixed keys, then bucket keys added by index."""

    def __init__(self, keys: Keys) -> None:
        self.keys: list[str] = [
            keys.routing_agents(),
            keys.routing_agent_config(),
            keys.routing_calls(),
            keys.routing_reservations(),
            keys.routing_timers(),
            keys.events(),
            keys.routing_queues(),
            keys.routing_counters(),
            keys.routing_version(),
        ]
        self._index = {key: i + 1 for i, key in enumerate(self.keys)}
        self._fixed = len(self.keys)

    def add_agent_buckets(self, pairs: list[tuple[str, str]]) -> None:
        """The (waiting, available) keys of the script's agent's buckets, first after the
        fixed keys: bucket i (from 1) at KEYS[8 + 2i] and KEYS[9 + 2i], where the scripts
        look for them, so the context need not name them (decoding it was a large share
        of an agent script's time)."""
        if len(self.keys) != self._fixed:
            raise RoutingError("the agent's bucket keys must come first after the fixed keys")
        for waiting, available in pairs:
            self.add(waiting)
            self.add(available)
        if len(self.keys) != self._fixed + 2 * len(pairs):
            raise RoutingError("an agent's bucket keys must all be distinct")

    def add(self, key: str) -> int:
        """The 1-based Lua index of `key`, adding it on first use."""
        if key not in self._index:
            self.keys.append(key)
            self._index[key] = len(self.keys)
        return self._index[key]


def _raise_for(exc: ResponseError) -> RoutingError:
    code, _, message = str(exc).partition(" ")
    kind = ERRORS.get(code)
    if kind is None:
        raise exc
    return kind(message)


class Scripts:
    """The routing scripts registered on one client."""

    def __init__(self, redis: aioredis.Redis, keys: Keys) -> None:
        self._scripts: dict[str, AsyncScript] = {
            name: redis.register_script(source(name)) for name in SCRIPT_NAMES
        }
        self._deregister = redis.register_script(lua.read("queues", "deregister"))
        self._ring_from = redis.register_script(lua.read("queues", "ring_from"))
        self._connect_from = redis.register_script(lua.read("queues", "connect_from"))
        self._agents_key = keys.routing_agents()
        self._ring_keys = [keys.routing_reservations(), keys.routing_timers()]
        self._connect_keys = [keys.routing_calls(), keys.routing_timers()]

    async def _run(self, name: str, keys: KeyList, ctx: Context) -> Outcome:
        started = time.perf_counter()
        try:
            raw = await self._scripts[name](keys=keys.keys, args=[json.dumps(ctx)])
        except ResponseError as exc:
            raise _raise_for(exc) from None
        finally:
            DECISIONS.observe(name, time.perf_counter() - started)
        outcome: Outcome = json.loads(raw)
        if not isinstance(outcome.get("offers"), list):  # cjson encodes {} for an empty list
            outcome["offers"] = []
        return outcome

    async def enter(self, keys: KeyList, ctx: Context) -> Outcome:
        """A call joins a queue; offered at once when an eligible agent is available."""
        return await self._run("enter", keys, ctx)

    async def status(self, keys: KeyList, ctx: Context) -> Outcome:
        """An agent state change (asked, or a hold-back/wrap-up timer), then a take."""
        return await self._run("status", keys, ctx)

    async def accept(self, keys: KeyList, ctx: Context) -> Outcome:
        """The agent answers its offer: agent on call, call connected (CONNECT unless pending)."""
        return await self._run("accept", keys, ctx)

    async def confirm(self, keys: KeyList, ctx: Context) -> Outcome:
        """A pending connection's agent device was rung: CONNECT is recorded now."""
        return await self._run("confirm", keys, ctx)

    async def requeue(self, keys: KeyList, ctx: Context) -> Outcome:
        """A pending connection's agent device could not be rung: the call goes back."""
        return await self._run("requeue", keys, ctx)

    async def connect_lost(self, keys: KeyList, ctx: Context) -> Outcome:
        """A pending connection's timer is due unconfirmed: the call goes back as in requeue."""
        return await self._run("connect_lost", keys, ctx)

    async def release(self, keys: KeyList, ctx: Context) -> Outcome:
        """An offer ends unanswered; the call returns to its original place."""
        return await self._run("release", keys, ctx)

    async def hangup(self, keys: KeyList, ctx: Context) -> Outcome:
        """The caller hangs up: abandon, or the end of a connected call."""
        return await self._run("hangup", keys, ctx)

    async def complete(self, keys: KeyList, ctx: Context) -> Outcome:
        """The agent ends a connected call and goes to wrap-up."""
        return await self._run("complete", keys, ctx)

    async def escalate(self, keys: KeyList, ctx: Context) -> Outcome:
        """A call moves to its next escalation step, keeping its place."""
        return await self._run("escalate", keys, ctx)

    async def maxwait(self, keys: KeyList, ctx: Context) -> Outcome:
        """A call that waited too long leaves with its overflow action."""
        return await self._run("maxwait", keys, ctx)

    async def transfer(self, keys: KeyList, ctx: Context) -> Outcome:
        """A connected call is transferred cold: to a queue, a named agent or a number."""
        return await self._run("transfer", keys, ctx)

    async def unpin(self, keys: KeyList, ctx: Context) -> Outcome:
        """A call transferred to a named agent not taken in time falls back to its queue."""
        return await self._run("unpin", keys, ctx)

    async def consult_start(self, keys: KeyList, ctx: Context) -> Outcome:
        """Warm transfer: the target agent is reserved for a consultation about the call."""
        return await self._run("consult_start", keys, ctx)

    async def consult_end(self, keys: KeyList, ctx: Context) -> Outcome:
        """Warm transfer ends: the target takes the call (completed) or is freed (cancelled)."""
        return await self._run("consult_end", keys, ctx)

    async def deregister(self, agent: str, available: list[str]) -> bool:
        """An agent reserved through one bucket leaves its `available` sets (the keys of
        all its buckets); False when it is listed again and so was left alone."""
        dropped = await self._deregister(keys=[self._agents_key, *available], args=[agent])
        return bool(dropped)

    async def ring_from(self, reservation_id: str, start_ms: int, rang: bool) -> int:
        """Move an offer's ring timeout to count from `start_ms` (`rang`: the phone rings
        now; else an estimate of when it will); its new expiry in ms, 0 if none was set."""
        args = [reservation_id, str(start_ms), "rang" if rang else ""]
        return int(await self._ring_from(keys=self._ring_keys, args=args))

    async def connect_from(self, call_sid: str, due_ms: int) -> bool:
        """Move a pending connection's timer later, to `due_ms`; False if nothing moved."""
        moved = await self._connect_from(keys=self._connect_keys, args=[call_sid, str(due_ms)])
        return bool(moved)
