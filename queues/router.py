"""The `Router` facade: the async API the web handlers and timer workers call.

Each method reads what it needs to name the keys (the layout, sometimes the
call's current step), then runs one atomic script that checks, decides and
records the change with its event. If the state moved in between, the script
refuses (`RetryScript`) and the method reads again; if the config was synced
meanwhile (`StaleConfig`) it reloads the layout first.
"""

from __future__ import annotations

import asyncio
import json
import random
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import redis.asyncio as aioredis
from pydantic import BaseModel, TypeAdapter

from ivr.config.queues import AgentConfig, OverflowAction, QueueConfig, ToQueue
from ivr.core.clock import Clock
from ivr.core.errors import (
    ReservationError,
    RoutingError,
    TransferRefused,
    UnknownAgent,
    UnknownQueue,
    UnknownSkill,
)
from ivr.core.keys import Keys
from queues import timers
from queues.agent import CONNECTION_LOST, DEVICE_UNREACHABLE, AgentState
from queues.layout import Bucket, Layout
from queues.metrics.fold_events import CALLBACK_PREFIX
from queues.queue import Position, RoutedCall, pack_score
from queues.reservation import (
    Connection,
    Departure,
    Entry,
    Exit,
    Fired,
    Offer,
    Reservation,
    Takeover,
    Transfer,
)
from queues.scripts import Context, KeyList, Outcome, RetryScript, Scripts, StaleConfig
from queues.staffing import Staffing, StaffingCache

MAX_RETRIES = 5
"""How often a method re-reads and retries when the state moved under it."""
MAX_OVERFLOW_HOPS = 5
"""How many queue-to-queue overflows one call may follow in one go."""
ACTION = TypeAdapter(OverflowAction)
UNREACHABLE = "device_unreachable"
"""The REJECTED reason of a call put back because the agent's device could not be rung."""
CONNECT_LOST = "connect_lost"
"""The REJECTED reason of a call put back because its pending connection was never
confirmed: the process that was to ring the agent's device died first."""
UNSERVED_SWEEP_S = 1.0
"""How often (service clock) the timer pass looks for waiting calls no logged-in agent can
ever answer, to start their no-agents timer: a caller is moved on at most this long after
`no_agents_after_s`."""
PENDING_CONNECT_TIMEOUT_S = 20
"""How long a pending accept may wait for `confirm` or `requeue` before its timer puts the
call back: well above the second or two a Twilio REST call takes, yet short enough that a
caller stranded by a crashed web process is soon offered to the next agent."""


TargetBucket = Callable[[KeyList, Layout, dict[str, Any]], dict[str, Any]]
"""What a transfer names its target bucket's keys with: (keys, layout, call as stored)."""


def _ms(seconds: float) -> int:
    return int(round(seconds * 1000))


def queue_record(queue: QueueConfig, retired: bool = False) -> dict[str, Any]:
    """The JSON the scripts read for a queue."""
    return {
        "retired": retired,
        "strategy": queue.strategy,
        "weight": queue.weight,
        "ring_ms": queue.ring_timeout_s * 1000,
        "wrap_ms": queue.wrap_up_s * 1000,
        "steps_ms": [step.after_s * 1000 for step in queue.escalation],
        "max_size": queue.max_size or 0,
        "max_wait_ms": (queue.max_wait_s or 0) * 1000,
        "when_no_agents": queue.when_no_agents,
        "when_full": ACTION.dump_python(queue.when_full, mode="json"),
        "when_max_wait": ACTION.dump_python(queue.when_max_wait, mode="json"),
        "no_agents_action": ACTION.dump_python(queue.no_agents_action, mode="json"),
        "pin_ms": queue.transfer_agent_timeout_s * 1000,
    }


def agent_record(agent: AgentConfig, skill: dict[str, int]) -> dict[str, Any]:
    """The JSON the scripts read for an agent."""
    return {
        "device": agent.device,
        "wrap_ms": -1 if agent.wrap_up_s is None else agent.wrap_up_s * 1000,
        "max_no_answer": agent.max_no_answer,
        "reject_ms": agent.reject_delay_s * 1000,
        "busy_ms": agent.busy_delay_s * 1000,
        "no_answer_ms": agent.no_answer_delay_s * 1000,
        "skill": skill,
    }


def stored_record(
    record: dict[str, Any], config: BaseModel, exclude: frozenset[str] = frozenset()
) -> str:
    """A `routing:queues` / `routing:agent-config` value: the record, a newline, the config.

    The scripts decode only the first line; the config, there for `Router.load`, is dumped
    without its defaults. A value of 1 KiB or more costs a script about 5 usec more to
    read (measured on Valkey 9), and a queue's full dump alone came to about 1 KiB.
    """
    dump = config.model_dump(mode="json", exclude_defaults=True, exclude=set(exclude))
    return json.dumps(record, separators=(",", ":")) + "\n" + json.dumps(dump)


def parse_stored(raw: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The (record, config) of a stored value; one written before the split (a single
    JSON object holding the config under `config`) is read too."""
    head, _, tail = raw.partition("\n")
    record: dict[str, Any] = json.loads(head)
    return record, json.loads(tail) if tail else record["config"]


class Router:
    """Skill-based routing of queued calls to agents, for one tenant."""

    def __init__(self, redis: aioredis.Redis, keys: Keys, clock: Clock) -> None:
        self.redis = redis
        self.keys = keys
        self.clock = clock
        self.scripts = Scripts(redis, keys)
        self._layout: Layout | None = None
        self._version = ""
        self._swept_at = float("-inf")
        self._staffing = StaffingCache(clock)

    # -- config ---------------------------------------------------------------
    async def load(self) -> Layout:
        """Build the layout from the config last synced to the store."""
        version = str(await self.redis.get(self.keys.routing_version()) or "")
        stored_queues: dict[str, str] = await self.redis.hgetall(self.keys.routing_queues())  # type: ignore[assignment]
        stored_agents: dict[str, str] = await self.redis.hgetall(self.keys.routing_agent_config())  # type: ignore[assignment]
        queues: dict[str, QueueConfig] = {}
        retired: set[str] = set()
        for name, raw in stored_queues.items():
            record, config = parse_stored(raw)
            queues[name] = QueueConfig.model_validate(config)
            if record["retired"]:
                retired.add(name)
        agents = {
            name: AgentConfig.model_validate(parse_stored(raw)[1])
            for name, raw in stored_agents.items()
        }
        raw_languages = await self.redis.get(self.keys.routing_languages())
        languages = frozenset(json.loads(raw_languages)) if raw_languages else None
        self._layout = Layout(self.keys, queues, agents, frozenset(retired), languages)
        self._version = version
        return self._layout

    async def layout(self) -> Layout:
        """The current layout, loaded on first use."""
        return self._layout if self._layout is not None else await self.load()

    async def sync_config(
        self,
        queues: dict[str, QueueConfig],
        agents: dict[str, AgentConfig],
        languages: frozenset[str] | None = None,
    ) -> None:
        """Store queue and agent definitions and relist agents under the new buckets.

        A removed queue that still has calls is kept, retired: it takes no new
        calls, but its calls keep their places and are served by agents who
        still meet its requirements; it goes at the first sync after it empties.
        A removed agent who is reserved or on a call is kept until the next
        sync; any other removed agent is logged off.
        """
        old = await self.load()
        states = await self._states(list(old.agents))
        queues = dict(queues)
        retired: set[str] = set()
        for name, queue in old.queues.items():
            if name not in queues and await self.redis.zcard(self.keys.queue_calls(name)):
                queues[name], retired = queue, retired | {name}
        agents = dict(agents)
        for name, agent in old.agents.items():
            if name not in agents and states[name].state in ("reserved", "on_call"):
                agents[name] = agent
        for name in set(old.agents) - set(agents):
            if states[name].state != "offline":
                await self.set_offline(name)
        new = Layout(self.keys, queues, agents, frozenset(retired), languages)
        await self._write_config(new, old)
        for name in sorted(agents):
            if name in old.agents and states[name].state != "offline":
                await self._refresh(name, old, new)

    async def _write_config(self, new: Layout, old: Layout) -> None:
        version = uuid.uuid4().hex
        async with self.redis.pipeline(transaction=True) as pipe:
            for name in set(old.queues) - set(new.queues):
                pipe.hdel(self.keys.routing_queues(), name)
            for name in set(old.agents) - set(new.agents):
                pipe.hdel(self.keys.routing_agent_config(), name)
            for name, queue in new.queues.items():
                record = queue_record(queue, retired=name in new.retired)
                pipe.hset(self.keys.routing_queues(), name, stored_record(record, queue))
            for name, agent in new.agents.items():
                record = agent_record(agent, new.skill_scores(name))
                # The login secret's hash stays out: routing has no use for it.
                raw = stored_record(record, agent, exclude=frozenset({"secret_hash"}))
                pipe.hset(self.keys.routing_agent_config(), name, raw)
            pipe.set(self.keys.routing_version(), version)
            if new.languages is None:
                pipe.delete(self.keys.routing_languages())
            else:
                pipe.set(self.keys.routing_languages(), json.dumps(sorted(new.languages)))
            await pipe.execute()
        self._layout, self._version = new, version

    async def _refresh(self, agent: str, old: Layout, new: Layout) -> None:
        dropped = set(old.agent_queues(agent)) - set(new.agent_queues(agent))
        for queue in dropped:
            await self.redis.srem(self.keys.queue_staffed(queue), agent)
        kl = KeyList(self.keys)
        ctx = self._context(kl, new, agent=agent, target="refresh", reason="", timer="")
        ctx["drop"] = [kl.add(old.available_key(b)) for b in old.agent_buckets(agent)]
        await self._offers(await self.scripts.status(kl, ctx))

    # -- helpers --------------------------------------------------------------
    def _context(self, kl: KeyList, layout: Layout, **fields: Any) -> Context:
        ctx: Context = {
            "now": _ms(self.clock.now()),
            "version": self._version,
            "res": [uuid.uuid4().hex, uuid.uuid4().hex],
            "rnd": random.random(),
            "entries": [],
            "staffed": [],
            "queues": {},
        }
        ctx.update(fields)
        agent = fields.get("agent", "")
        if agent and agent in layout.agents:
            buckets = layout.agent_buckets(agent)
            kl.add_agent_buckets(
                [(layout.waiting_key(b), layout.available_key(b)) for b in buckets]
            )
            ctx["entries"] = [bucket.queue for bucket in buckets]
            served = layout.agent_queues(agent)
            ctx["staffed"] = [kl.add(self.keys.queue_staffed(q)) for q in served]
            # What agent-side decisions need of each queue, so they read no queue record.
            ctx["queues"] = {
                q: [layout.queues[q].weight, layout.queues[q].strategy] for q in served
            }
            ctx["pinned"] = kl.add(self.keys.routing_pinned(agent))
        return ctx

    def _entry(self, kl: KeyList, layout: Layout, bucket: Bucket) -> dict[str, Any]:
        """A call's bucket for the context: its queue and the keys a call-side script needs."""
        return {
            "q": bucket.queue,
            "w": kl.add(layout.waiting_key(bucket)),
            "a": kl.add(layout.available_key(bucket)),
            "m": kl.add(self.keys.queue_calls(bucket.queue)),
            "st": kl.add(self.keys.queue_staffed(bucket.queue)),
        }

    def _call_entry(self, kl: KeyList, layout: Layout, call: dict[str, Any]) -> dict[str, Any]:
        """The call's own bucket for the context (`_entry`), with `p`, the pinned set of
        the agent it waits for, when it was transferred to one by name."""
        bucket = layout.call_bucket(call["queue"], call["step"], call["lang"])
        entry = self._entry(kl, layout, bucket)
        if call.get("pin"):
            entry["p"] = kl.add(self.keys.routing_pinned(call["pin"]))
        return entry

    async def _retrying(self, attempt: Callable[[Layout], Awaitable[Outcome]]) -> Outcome:
        """Run `attempt` with a fresh read whenever the state or config moved under it."""
        for _ in range(MAX_RETRIES):
            layout = await self.layout()
            try:
                return await attempt(layout)
            except StaleConfig:
                await self.load()
            except RetryScript:
                continue
        raise RoutingError("the routing state kept changing; giving up")

    async def _offers(self, outcome: Outcome) -> list[Reservation]:
        """The offers a script made; agents reserved through one bucket leave the others.

        An agent who took a call itself (agent side) was never listed, so only offers the
        script flags `listed` (picked from one available set) need the extra script.
        """
        layout = await self.layout()
        for offer in outcome["offers"]:
            agent = offer["agent"]
            if offer.get("listed") and agent in layout.agents:
                keys = [layout.available_key(b) for b in layout.agent_buckets(agent)]
                await self.scripts.deregister(agent, keys)
        return [Reservation.from_offer(offer) for offer in outcome["offers"]]

    async def _call(self, call_sid: str) -> dict[str, Any] | None:
        raw = await self.redis.hget(self.keys.routing_calls(), call_sid)
        return None if raw is None else dict(json.loads(raw))

    def _agent_known(self, layout: Layout, agent: str) -> None:
        if agent not in layout.agents:
            raise UnknownAgent(agent)

    # -- calls ----------------------------------------------------------------
    async def enter(
        self,
        call_sid: str,
        queue: str,
        priority: int | None = None,
        language: str | None = None,
        data: str = "",
        original_enqueued_at: float | None = None,
        prefer: str = "",
    ) -> Entry:
        """Join `queue`; offered to the best available eligible agent at once if there is one.

        `prefer` names an agent (a returning caller's last one) offered first when free.

        A full queue, or one with nobody logged in that diverts, answers with
        its overflow action; an action naming another queue is followed.
        """
        for _ in range(MAX_OVERFLOW_HOPS):
            entry = await self._enter_once(
                call_sid, queue, priority, language, data, original_enqueued_at, prefer
            )
            if isinstance(entry.action, ToQueue):
                queue = entry.action.queue
                continue
            return entry
        raise RoutingError(f"call {call_sid} overflowed through {MAX_OVERFLOW_HOPS} queues")

    async def _enter_once(
        self,
        call_sid: str,
        queue: str,
        priority: int | None,
        language: str | None,
        data: str,
        original_enqueued_at: float | None,
        prefer: str = "",
    ) -> Entry:
        async def attempt(layout: Layout) -> Outcome:
            config = layout.queues.get(queue)
            if config is None or queue in layout.retired:
                raise UnknownQueue(queue)
            wanted = config.priority if priority is None else priority
            if language and layout.wants_language(queue) and language not in layout.skills:
                raise UnknownSkill(language)
            now = self.clock.now()
            orig = _ms(now if original_enqueued_at is None else original_enqueued_at)
            kl = KeyList(self.keys)
            bucket = self._entry(kl, layout, layout.call_bucket(queue, 0, language))
            ctx = self._context(kl, layout, call=call_sid, priority=wanted)
            ctx.update(
                language=language or "",
                score=str(pack_score(wanted, orig)),
                orig=orig,
                data=data,
                prefer=prefer,
                bucket=bucket,
            )
            return await self.scripts.enter(kl, ctx)

        outcome = await self._retrying(attempt)
        offers = await self._offers(outcome)
        action = outcome.get("action")
        return Entry(
            status=outcome["status"],
            queue=queue,
            position=int(outcome.get("position", 0)),
            reservation=offers[0] if offers else None,
            action=None if action is None else ACTION.validate_python(action),
        )

    async def hangup(self, call_sid: str, exit: str = "") -> str:
        """The caller hung up: `abandoned` (any ringing agent released), `completed`, `unknown`.

        `exit` names a deliberate exit instead of a hang-up (an `EventType` such as
        EXITWITHKEY), so it is recorded as that and not as an abandon.
        """
        return (await self.leave(call_sid, exit)).status

    async def leave(self, call_sid: str, exit: str = "") -> Departure:
        """Like `hangup`, and hands back the offers it made: an agent freed from ringing
        for this call, or ending it with no wrap-up, may take the next call at once."""

        outcome = await self._depart(call_sid, exit, connected_too=True)
        return Departure(str(outcome["status"]), await self._offers(outcome))

    async def _depart(self, call_sid: str, exit: str, connected_too: bool) -> Outcome:
        """Take the call out of routing (`hangup.lua`); a connected call only `connected_too`."""

        async def attempt(layout: Layout) -> Outcome:
            call = await self._call(call_sid)
            if call is None or (call["state"] == "connected" and not connected_too):
                return {"status": "unknown", "offers": []}
            kl = KeyList(self.keys)
            ctx = self._context(kl, layout, call=call_sid, agent=call["agent"])
            ctx.update(
                state=call["state"],
                step=call["step"],
                pin=call.get("pin") or "",
                bucket=self._call_entry(kl, layout, call),
                exit=exit,
            )
            return await self.scripts.hangup(kl, ctx)

        return await self._retrying(attempt)

    async def complete(self, call_sid: str, agent: str = "", conn: str = "") -> list[Reservation]:
        """The agent ended the connected call: wrap-up, then the next offer. With `agent`,
        only if the call is still theirs (not transferred on meanwhile); with `conn`, only
        if it is still that connection (the reservation accepted): the late end of an old
        leg of the call never ends a newer connection (complete.lua checks it)."""

        async def attempt(layout: Layout) -> Outcome:
            call = await self._call(call_sid)
            if call is None or call["state"] != "connected":
                raise RoutingError(f"call {call_sid} is not connected")
            if agent and call["agent"] != agent:
                raise RoutingError(f"call {call_sid} is no longer connected to {agent}")
            kl = KeyList(self.keys)
            ctx = self._context(kl, layout, call=call_sid, agent=call["agent"], conn=conn)
            return await self.scripts.complete(kl, ctx)

        return await self._offers(await self._retrying(attempt))

    # -- transfers ------------------------------------------------------------
    async def _connected_to(self, call_sid: str, agent: str) -> dict[str, Any]:
        """The call as stored, if it is connected to `agent`; RoutingError if it is not."""
        call = await self._call(call_sid)
        if call is None or call["state"] != "connected" or call["agent"] != agent:
            raise RoutingError(f"call {call_sid} is not connected to {agent}")
        return call

    async def _transfer(
        self, call_sid: str, agent: str, kind: str, target: str, bucket: TargetBucket
    ) -> Outcome:
        """Run transfer.lua; `bucket(kl, layout, call)` gives the target bucket's keys."""

        async def attempt(layout: Layout) -> Outcome:
            call = await self._connected_to(call_sid, agent)
            kl = KeyList(self.keys)
            ctx = self._context(kl, layout, call=call_sid, agent=agent, kind=kind, target=target)
            ctx["bucket"] = bucket(kl, layout, call)
            return await self.scripts.transfer(kl, ctx)

        return await self._retrying(attempt)

    async def _transferred(self, outcome: Outcome) -> Transfer:
        return Transfer(
            status=outcome["status"],
            queue=outcome["queue"],
            position=int(outcome.get("position", 0)),
            offers=await self._offers(outcome),
        )

    async def transfer_to_queue(self, call_sid: str, agent: str, queue: str) -> Transfer:
        """Cold transfer: `agent` puts their connected call into `queue` (the same or
        another) with its original arrival time and priority, and goes to wrap-up as after
        a completed call. TransferRefused when the queue is full, diverts with nobody
        staffed, or has no agent who could ever take the call (its language)."""

        def bucket(kl: KeyList, layout: Layout, call: dict[str, Any]) -> dict[str, Any]:
            if queue not in layout.queues or queue in layout.retired:
                raise UnknownQueue(queue)
            language = call["lang"] or None
            if not layout.answerers(queue, 0, language):
                speaking = f" speaking {language}" if layout.wants_language(queue) else ""
                raise TransferRefused(f"queue {queue} has no agents{speaking}")
            return self._entry(kl, layout, layout.call_bucket(queue, 0, language))

        return await self._transferred(
            await self._transfer(call_sid, agent, "queue", queue, bucket)
        )

    async def transfer_to_agent(self, call_sid: str, agent: str, target: str) -> Transfer:
        """Cold transfer to a named agent: the call waits for `target` only (pinned; they
        take it before any queue's call), rung at once if they are available. If they have
        not taken it within the call's queue's `transfer_agent_timeout_s`, or let its offer
        go, it falls back to its queue at its original place. TransferRefused when `target`
        is not logged in, is `agent`, or does not speak the caller's language."""

        def bucket(kl: KeyList, layout: Layout, call: dict[str, Any]) -> dict[str, Any]:
            self._agent_known(layout, target)
            self._speaks(layout, target, call["lang"])
            entry = self._entry(kl, layout, layout.call_bucket(call["queue"], 0, call["lang"]))
            entry["p"] = kl.add(self.keys.routing_pinned(target))
            return entry

        return await self._transferred(
            await self._transfer(call_sid, agent, "agent", target, bucket)
        )

    async def transfer_to_number(self, call_sid: str, agent: str, number: str) -> list[Reservation]:
        """Cold transfer out of the service: the call leaves routing, handled by `agent`
        (TRANSFER kind number), who goes to wrap-up. Any offer made is returned."""

        def bucket(kl: KeyList, layout: Layout, call: dict[str, Any]) -> dict[str, Any]:
            return {}

        outcome = await self._transfer(call_sid, agent, "number", number, bucket)
        return await self._offers(outcome)

    def _speaks(self, layout: Layout, agent: str, language: str) -> None:
        """TransferRefused unless `agent` speaks the caller's `language` (when it is one of
        the config's caller languages: a language no agent has is no requirement)."""
        known = language in layout.skills and (
            layout.languages is None or language in layout.languages
        )
        if known and layout.agents[agent].skills.get(language, 0) < 1:
            raise TransferRefused(f"{agent} does not speak {language}")

    async def consult_start(self, call_sid: str, agent: str, target: str) -> str:
        """Warm transfer begins: `target` (available) is reserved for a consultation about
        `agent`'s connected call; no offer reaches them until it is completed or cancelled.
        Returns the connection id the call will have with `target` if it is completed (the
        voice layer names it in their leg). TransferRefused when `target` is not logged in,
        busy, `agent`, or does not speak the caller's language."""

        async def attempt(layout: Layout) -> Outcome:
            self._agent_known(layout, target)
            call = await self._connected_to(call_sid, agent)
            self._speaks(layout, target, call["lang"])
            kl = KeyList(self.keys)
            ctx = self._context(kl, layout, call=call_sid, agent=target, by=agent)
            return await self.scripts.consult_start(kl, ctx)

        return str((await self._retrying(attempt))["conn"])

    async def consult_cancel(self, call_sid: str, agent: str) -> list[Reservation]:
        """The consultation ends without a transfer: the consulted agent is free again (any
        offer they take at once is returned); the call stays with `agent`."""
        return await self._consult_end(call_sid, agent, "cancelled")

    async def consult_complete(self, call_sid: str, agent: str) -> list[Reservation]:
        """The consulted agent takes the call; `agent` goes to wrap-up (any offer they take
        at once, without one, is returned)."""
        return await self._consult_end(call_sid, agent, "completed")

    async def _consult_end(self, call_sid: str, agent: str, outcome: str) -> list[Reservation]:
        async def attempt(layout: Layout) -> Outcome:
            call = await self._connected_to(call_sid, agent)
            target = (call.get("consult") or {}).get("agent", "")
            if not target:
                raise RoutingError(f"call {call_sid} is not in a consultation")
            freed = target if outcome == "cancelled" else agent
            kl = KeyList(self.keys)
            ctx = self._context(kl, layout, call=call_sid, agent=freed, by=agent)
            ctx.update(target=target, outcome=outcome)
            return await self.scripts.consult_end(kl, ctx)

        return await self._offers(await self._retrying(attempt))

    async def _unpin(self, call_sid: str, timer: str) -> Outcome:
        """A call transferred to a named agent was not taken in time: back to its queue."""

        async def attempt(layout: Layout) -> Outcome:
            call = await self._call(call_sid)
            kl = KeyList(self.keys)
            ctx = self._context(kl, layout, call=call_sid, timer=timer, pin="", bucket={})
            if call is not None and call.get("pin"):
                ctx.update(pin=call["pin"], bucket=self._call_entry(kl, layout, call))
            return await self.scripts.unpin(kl, ctx)

        return await self._retrying(attempt)

    # -- agents ---------------------------------------------------------------
    async def _status(
        self, agent: str, target: str, reason: str = "", timer: str = "", back_ms: int = 0
    ) -> Outcome:
        async def attempt(layout: Layout) -> Outcome:
            self._agent_known(layout, agent)
            kl = KeyList(self.keys)
            ctx = self._context(kl, layout, agent=agent, target=target, reason=reason, timer=timer)
            ctx["back_ms"] = back_ms
            return await self.scripts.status(kl, ctx)

        return await self._retrying(attempt)

    async def set_available(self, agent: str) -> list[Reservation]:
        """Log in or come back: the agent takes the best waiting call it can, if any."""
        return await self._offers(await self._status(agent, "available"))

    async def set_ready(self, agent: str) -> list[Reservation]:
        """End wrap-up early."""
        return await self._offers(await self._status(agent, "ready"))

    async def set_break(
        self, agent: str, reason: str = "", back_after_s: float | None = None
    ) -> None:
        """Go on break (not while reserved or on a call); with `back_after_s`, the break
        ends on its own then (a `back:<agent>` timer), unless its reason changed."""
        await self._status(agent, "break", reason, back_ms=_ms(back_after_s or 0))

    async def set_offline(self, agent: str) -> None:
        """Log off (not while reserved or on a call)."""
        await self._status(agent, "offline")

    async def agent_state(self, agent: str) -> AgentState:
        """The agent's current state."""
        self._agent_known(await self.layout(), agent)
        raw = await self.redis.hget(self.keys.routing_agents(), agent)
        return AgentState.from_stored(agent, None if raw is None else json.loads(raw))

    async def breaks_end(self, agents: list[str]) -> dict[str, float | None]:
        """When each agent's break ends on its own (a device's cool-down), Unix seconds."""
        if not agents:
            return {}
        members = [f"{timers.BACK}:{agent}" for agent in agents]
        scores = await self.redis.zmscore(self.keys.routing_timers(), members)
        return {
            agent: None if score is None else float(score) / 1000
            for agent, score in zip(agents, scores, strict=True)
        }

    async def _states(self, agents: list[str]) -> dict[str, AgentState]:
        if not agents:
            return {}
        raws = await self.redis.hmget(self.keys.routing_agents(), agents)
        return {
            a: AgentState.from_stored(a, None if raw is None else json.loads(raw))
            for a, raw in zip(agents, raws, strict=True)
        }

    # -- reservations -----------------------------------------------------------
    async def accept(
        self,
        reservation_id: str,
        agent: str,
        pending: bool = False,
        deadline_s: float = PENDING_CONNECT_TIMEOUT_S,
    ) -> Connection:
        """The agent answered: on call; a late, repeated or foreign accept is a ReservationError.

        `pending`: the agent's device is rung only now (the console), so the CONNECT
        event waits for `confirm`, and `requeue` can still put the call back. If neither
        comes within `deadline_s` (the process died), a timer puts it back.
        """

        async def attempt(layout: Layout) -> Outcome:
            raw = await self.redis.hget(self.keys.routing_reservations(), reservation_id)
            queue = json.loads(raw)["queue"] if raw else ""
            kl = KeyList(self.keys)
            ctx = self._context(kl, layout, reservation=reservation_id, pending=pending)
            ctx["connect_ms"] = _ms(deadline_s)
            ctx.update(agent=agent, bucket={"m": kl.add(self.keys.queue_calls(queue))})
            return await self.scripts.accept(kl, ctx)

        outcome = await self._retrying(attempt)
        return Connection(
            call_sid=outcome["call"],
            agent=agent,
            queue=outcome["queue"],
            wait_s=outcome["wait_ms"] / 1000,
            ring_s=outcome["ring_ms"] / 1000,
        )

    async def confirm(self, call_sid: str, agent: str) -> bool:
        """The pending connection's device was rung: CONNECT now; False if not pending."""

        async def attempt(layout: Layout) -> Outcome:
            kl = KeyList(self.keys)
            ctx = self._context(kl, layout, call=call_sid)
            ctx["agent"] = agent  # only to check the call is theirs: no bucket keys needed
            return await self.scripts.confirm(kl, ctx)

        return bool((await self._retrying(attempt))["status"] == "confirmed")

    async def requeue(self, call_sid: str, agent: str) -> list[Reservation]:
        """The pending connection's device could not be rung: the call goes back to its
        place (original time and priority) and is offered on; the agent goes on break
        "device unreachable". RoutingError when the call is not pending on `agent`."""

        return await self._requeue(
            call_sid, agent, reason=UNREACHABLE, break_reason=DEVICE_UNREACHABLE
        )

    async def put_back(
        self, call_sid: str, agent: str, reason: str, bridging: bool = False, *, conn: str
    ) -> list[Reservation]:
        """The agent's leg of a pending connection rang out, was busy, failed or dropped
        before the bridge: the call goes back to its place as with `requeue`, and the agent
        gets the missed-call treatment (`noanswer` counts towards `max_no_answer`; `busy`,
        `failed`, `dropped` hold them back `busy_delay_s`). `bridging`: also a connection
        confirmed by the caller's Queue url fetch (the agent's `<Dial>` then ended without
        a bridge). `conn`: the connection (reservation accepted) the leg belonged to, checked
        in the script, so an old leg's late end never puts back a newer connection of the
        same call to the same agent; "" for whichever is current (a supervisor freeing the
        agent). RoutingError when the call is not pending on `agent` through `conn`."""

        return await self._requeue(
            call_sid, agent, reason=reason, break_reason="", bridging=bridging, conn=conn
        )

    async def _requeue(self, call_sid: str, agent: str, **fields: object) -> list[Reservation]:
        """`requeue.lua` for a call pending on `agent`, with `fields` in its context."""

        async def attempt(layout: Layout) -> Outcome:
            call = await self._call(call_sid)
            if call is None:
                raise RoutingError(f"call {call_sid} is not pending on {agent}")
            kl = KeyList(self.keys)
            ctx = self._requeue_context(kl, layout, call_sid, call, agent)
            ctx.update(fields)
            return await self.scripts.requeue(kl, ctx)

        return await self._offers(await self._retrying(attempt))

    def _requeue_context(
        self, kl: KeyList, layout: Layout, call_sid: str, call: dict[str, Any], agent: str
    ) -> Context:
        """What requeue.lua and connect_lost.lua need: the agent's and the call's buckets."""
        ctx = self._context(kl, layout, call=call_sid, agent=agent, step=call["step"])
        bucket = layout.call_bucket(call["queue"], call["step"], call["lang"])
        ctx["bucket"] = self._entry(kl, layout, bucket)
        return ctx

    async def ring_from(self, reservation_id: str, start: float, rang: bool) -> float | None:
        """The offer's ring timeout counts from `start`: when its phone rang (`rang`, the
        leg's ringing event), or an estimate of when it will (the REST request plus Twilio's
        outbound queue wait). An offer marked so whose timer fires before its phone rang
        counts no miss. The new expiry; None when nothing changed (the offer is no longer
        pending, or its phone already rang)."""
        expires_ms = await self.scripts.ring_from(reservation_id, _ms(start), rang)
        return expires_ms / 1000 if expires_ms else None

    async def connect_from(self, call_sid: str, due: float) -> bool:
        """A pending connection (a console accept) waits for its bridge until `due` at least:
        the agent's device, rung only after the accept, may wait its turn in Twilio's
        outbound queue first. False when the call has no pending connection (or its timer
        is due later already)."""
        return await self.scripts.connect_from(call_sid, _ms(due))

    async def reject(
        self, reservation_id: str, agent: str, busy: bool = False, reason: str = ""
    ) -> list[Reservation]:
        """The agent declined (or its device was busy): the call goes back to its place.

        `reason` `unreached`: the device could not be rung for a fault of the API, not the
        agent's, who is free again at once."""
        reason = reason or ("busy" if busy else "reject")
        return await self._offers(await self._release(reservation_id, agent, reason, ""))

    async def _release(self, reservation_id: str, agent: str, reason: str, timer: str) -> Outcome:
        async def attempt(layout: Layout) -> Outcome:
            raw = await self.redis.hget(self.keys.routing_reservations(), reservation_id)
            if raw is None:
                if timer:
                    await self.redis.zrem(self.keys.routing_timers(), timer)
                    return {"status": "gone", "offers": []}
                raise ReservationError(f"{reservation_id} is unknown or already answered")
            offer = json.loads(raw)
            call = await self._call(offer["call"])
            if call is None:
                raise RetryScript("call vanished")
            kl = KeyList(self.keys)
            owner = offer["agent"] if timer else agent
            ctx = self._context(kl, layout, agent=owner, reservation=reservation_id)
            bucket = layout.call_bucket(call["queue"], call["step"], call["lang"])
            ctx.update(
                reason=reason,
                timer=timer,
                step=call["step"],
                bucket=self._entry(kl, layout, bucket),
            )
            return await self.scripts.release(kl, ctx)

        return await self._retrying(attempt)

    # -- views ----------------------------------------------------------------
    # The read API for everyone outside queues/: routing's keys are private to it.
    async def call(self, call_sid: str) -> RoutedCall | None:
        """The call as routing holds it (waiting, ringing or connected), None when it is not."""
        raw = await self._call(call_sid)
        return None if raw is None else RoutedCall.from_stored(call_sid, raw)

    async def offer(self, reservation_id: str) -> Offer | None:
        """The offer while it is still pending (ringing), None once it is not."""
        raw = await self.redis.hget(self.keys.routing_reservations(), reservation_id)
        return None if raw is None else Offer.from_stored(reservation_id, json.loads(raw))

    async def agent_states(self, agents: list[str]) -> dict[str, AgentState]:
        """The state of each agent named; one never logged in (or unknown) is offline."""
        return await self._states(agents)

    async def wrap_end(self, agent: str) -> float | None:
        """When the agent's wrap-up ends on its own (Unix seconds), None without one."""
        due = await self.redis.zscore(self.keys.routing_timers(), f"{timers.WRAP}:{agent}")
        return None if due is None else float(due) / 1000

    async def staffed(self, queue: str) -> int:
        """How many agents of the queue are logged in and not on break."""
        return int(await self.redis.scard(self.keys.queue_staffed(queue)))

    async def calls_held(self) -> int:
        """How many calls routing holds (waiting, ringing or connected), in all queues."""
        return int(await self.redis.hlen(self.keys.routing_calls()))

    async def calls_bytes(self) -> int:
        """What the calls routing holds take in the store (MEMORY USAGE of every element),
        for the memory figures of `bench.routing`."""
        used = await self.redis.memory_usage(self.keys.routing_calls(), samples=0)
        return int(used or 0)

    async def takeover(self, call_sid: str) -> Takeover | None:
        """What a script needs to take over a waiting call's routing entry in the same step
        (`callback_create.lua`, "keep my place"): the keys, and the step and language read,
        which the script checks are unchanged. None when routing has no such call."""
        call = await self._call(call_sid)
        if call is None or call.get("pin"):
            return None  # a call waiting for the agent it was transferred to keeps no place
        layout = await self.layout()
        bucket = layout.call_bucket(call["queue"], call["step"], call["lang"])
        keys = [
            self.keys.routing_calls(),
            self.keys.queue_calls(call["queue"]),
            layout.waiting_key(bucket),
            self.keys.routing_timers(),
        ]
        return Takeover(keys, int(call["step"]), str(call["lang"]))

    async def has_call(self, call_sid: str) -> bool:
        """Whether the call is known to routing (waiting, ringing or connected)."""
        return await self._call(call_sid) is not None

    async def unbridged(self, call_sid: str) -> bool:
        """Whether the call is in routing but not talking to an agent: waiting, ringing, or
        pending on an agent's device (a caller whose bridge fell through waits again)."""
        call = await self._call(call_sid)
        return call is not None and (call["state"] != "connected" or bool(call.get("pending")))

    async def position(self, call_sid: str) -> Position | None:
        """Where the call stands in its queue (None when it is not queued)."""
        call = await self._call(call_sid)
        if call is None or call["state"] == "connected":
            return None
        rank = await self.redis.zrank(self.keys.queue_calls(call["queue"]), call_sid)
        if rank is None:
            return None
        return Position(
            call_sid=call_sid,
            queue=call["queue"],
            position=int(rank) + 1,  # type: ignore[arg-type]
            state=call["state"],
            priority=int(call["prio"]),
            waited_s=self.clock.now() - call["entered"] / 1000,
        )

    async def queue_snapshot(self, queue: str, limit: int = 100) -> list[Position]:
        """The first `limit` calls of the queue, in the order they will be served."""
        sids: list[str] = await self.redis.zrange(self.keys.queue_calls(queue), 0, limit - 1)  # type: ignore[assignment]
        found = [await self.position(sid) for sid in sids]
        return [p for p in found if p is not None]

    # -- timers ---------------------------------------------------------------
    async def next_due(self) -> float | None:
        """When the earliest timer is due (Unix seconds), or None."""
        head: list[tuple[str, float]] = await self.redis.zrange(
            self.keys.routing_timers(), 0, 0, withscores=True
        )  # type: ignore[assignment]
        return float(head[0][1]) / 1000 if head else None

    async def run_due(self, now: float | None = None) -> Fired:
        """Fire every timer due at `now` (default: the clock); each fires in one process only."""
        due_ms = _ms(self.clock.now() if now is None else now)
        members: list[str] = await self.redis.zrangebyscore(  # type: ignore[assignment]
            self.keys.routing_timers(), "-inf", due_ms, start=0, num=timers.TIMER_BATCH
        )
        fired = Fired()
        for member in members:
            fired.timers += 1
            await self._fire(member, fired)
        await self._watch_unserved(due_ms / 1000)
        return fired

    async def _fire(self, member: str, fired: Fired) -> None:
        kind, ident = timers.parse(member)
        layout = await self.layout()
        if kind == timers.RING:
            outcome = await self._release(ident, "", "noanswer", member)
            if outcome.get("status") != "gone":
                fired.expired.append(ident)
            fired.offers += await self._offers(outcome)
        elif kind in (timers.HOLD, timers.WRAP) and ident in layout.agents:
            target = "hold_end" if kind == timers.HOLD else "wrap_end"
            fired.offers += await self._offers(await self._status(ident, target, timer=member))
        elif kind == timers.BACK and ident in layout.agents:
            outcome = await self._status(ident, "break_end", DEVICE_UNREACHABLE, timer=member)
            fired.offers += await self._offers(outcome)
        elif kind == timers.ESCALATE:
            fired.offers += await self._offers(await self._escalate(ident, member))
        elif kind == timers.MAX_WAIT:
            await self._max_wait(ident, member, fired)
        elif kind == timers.NO_AGENTS:
            await self._max_wait(ident, member, fired, unserved=True)
        elif kind == timers.PIN:
            fired.offers += await self._offers(await self._unpin(ident, member))
        elif kind == timers.CONNECT:
            outcome = await self._connect_lost(ident, member)
            if outcome["status"] == "requeued":
                fired.requeued.append(ident)
                fired.lost[ident] = str(outcome.get("conn") or "")
            fired.offers += await self._offers(outcome)
        else:
            await self.redis.zrem(self.keys.routing_timers(), member)

    async def _escalate(self, call_sid: str, timer: str) -> Outcome:
        async def attempt(layout: Layout) -> Outcome:
            call = await self._call(call_sid)
            if call is None:
                await self.redis.zrem(self.keys.routing_timers(), timer)
                return {"status": "gone", "offers": []}
            queue, step = call["queue"], call["step"]
            last = layout.step_count(queue) - 1 if queue in layout.queues else step
            kl = KeyList(self.keys)
            ctx = self._context(kl, layout, call=call_sid, timer=timer, step=step)
            here = layout.call_bucket(queue, step, call["lang"])
            after = layout.call_bucket(queue, min(step + 1, last), call["lang"])
            ctx.update(bucket=self._entry(kl, layout, here), next=self._entry(kl, layout, after))
            return await self.scripts.escalate(kl, ctx)

        return await self._retrying(attempt)

    async def _connect_lost(self, call_sid: str, timer: str) -> Outcome:
        """A pending connection never confirmed: put the call back as `requeue` does, with
        REJECTED `connect_lost` and the agent on break "connection lost"."""

        async def attempt(layout: Layout) -> Outcome:
            call = await self._call(call_sid)
            kl = KeyList(self.keys)
            if call is None or not call.get("pending"):
                # The script drops the timer atomically: a non-atomic ZREM here could
                # remove the timer of a new pending accept of the same call.
                ctx = self._context(kl, layout, call=call_sid, timer=timer)
                return await self.scripts.connect_lost(kl, ctx)
            ctx = self._requeue_context(kl, layout, call_sid, call, call["agent"])
            ctx.update(timer=timer, reason=CONNECT_LOST, break_reason=CONNECTION_LOST)
            return await self.scripts.connect_lost(kl, ctx)

        return await self._retrying(attempt)

    async def _max_wait(
        self, call_sid: str, timer: str, fired: Fired, unserved: bool = False
    ) -> None:
        """A max-wait timer, or (`unserved`) a no-agents timer, is due: maxwait.lua."""

        async def attempt(layout: Layout) -> Outcome:
            call = await self._call(call_sid)
            if call is None:
                await self.redis.zrem(self.keys.routing_timers(), timer)
                return {"status": "gone", "offers": []}
            kl = KeyList(self.keys)
            ctx = self._context(kl, layout, call=call_sid, timer=timer, step=call["step"])
            bucket = layout.call_bucket(call["queue"], call["step"], call["lang"])
            ctx.update(bucket=self._entry(kl, layout, bucket))
            if unserved:
                answerers = layout.answerers(call["queue"], call["step"], call["lang"])
                ctx["eligible"] = sorted(answerers)
            return await self.scripts.maxwait(kl, ctx)

        outcome = await self._retrying(attempt)
        if outcome["status"] != "timeout":
            return
        await self._exit(call_sid, outcome, fired)

    async def _exit(self, call_sid: str, outcome: Outcome, fired: Fired) -> None:
        """A call a timer took out of its queue: follow its overflow action, and hand the
        web layer what the caller must hear (the target queue's own overflow, if it had to
        refuse the call)."""
        action = ACTION.validate_python(outcome["action"])
        entry = None
        if isinstance(action, ToQueue):
            entry = await self._enter_moved(call_sid, action.queue, outcome)
            if entry.reservation is not None:
                fired.offers.append(entry.reservation)
            if entry.action is not None:
                action = entry.action
        fired.exits.append(Exit(call_sid, outcome["queue"], action, entry))

    async def _enter_moved(self, call_sid: str, queue: str, left: Outcome) -> Entry:
        """Enter `queue` with the original arrival time and priority of the queue `left`
        (a script's outcome); a language nobody in routing speaks is dropped, as at entry.
        A queue removed meanwhile sends the caller to voicemail rather than nowhere."""
        language = left["language"] or None
        for lang in (language, None) if language else (None,):
            try:
                return await self.enter(
                    call_sid,
                    queue,
                    priority=int(left["priority"]),
                    language=lang,
                    data=left["data"],
                    original_enqueued_at=left["orig"] / 1000,
                )
            except UnknownSkill:
                continue
            except UnknownQueue:
                break
        return Entry(status="unknown", queue=queue, action="voicemail")

    async def move(self, call_sid: str, queue: str, exit: str) -> tuple[Departure, Entry | None]:
        """Overflow a waiting call into `queue`: it leaves its queue (recorded as `exit`,
        such as EXITCLOSED or OVERFLOW) and joins `queue` with its original arrival time
        and priority, so first-response time counts from when the caller first queued.

        Returns the departure (with any offer it made to the agent it freed) and the entry,
        None when the call was no longer waiting (hung up or connected meanwhile).
        """

        outcome = await self._depart(call_sid, exit, connected_too=False)
        departure = Departure(str(outcome["status"]), await self._offers(outcome))
        if departure.status != "abandoned":
            return departure, None
        return departure, await self._enter_moved(call_sid, queue, outcome)

    async def _watch_unserved(self, now: float) -> None:
        """Leave when empty: start the no-agents timer of each waiting call that no logged-in
        agent can ever answer. One read of the agents' states, then one range per bucket
        nobody logged in can answer (bounded by config); a timer already set is kept."""
        if now - self._swept_at < UNSERVED_SWEEP_S:
            return
        self._swept_at = now
        layout = await self.layout()
        states = await self._states(sorted(layout.agents))
        present = {a for a, state in states.items() if state.state != "offline"}
        empty = [
            b
            for b in layout.waiting_buckets()
            if layout.queues[b.queue].no_agents_after_s is not None
            and not layout.answerers(b.queue, b.step, b.language) & present
        ]
        if not empty:
            return
        async with self.redis.pipeline(transaction=False) as pipe:
            for bucket in empty:
                pipe.zrange(layout.waiting_key(bucket), 0, -1)
            waiting: list[list[str]] = await pipe.execute()
        for bucket, sids in zip(empty, waiting, strict=True):
            after_s = layout.queues[bucket.queue].no_agents_after_s or 0
            # A callback holds a place for an agent by design: its own expiry ends it.
            callers = [sid for sid in sids if not sid.startswith(CALLBACK_PREFIX)]
            due = {f"{timers.NO_AGENTS}:{sid}": _ms(now + after_s) for sid in callers}
            if due:
                await self.redis.zadd(self.keys.routing_timers(), due, nx=True)

    async def unserved(self, call_sid: str) -> bool:
        """Whether no logged-in agent can ever answer this waiting call, as the hold loop
        tells it (counted at most once per `staffing.TTL_S`; the no-agents timer that moves
        such callers on reads live state)."""
        call = await self.call(call_sid)
        if call is None or call.state != "waiting":
            return False
        if call.queue not in (await self.layout()).queues:
            return False
        return (await self.staffing(call)).logged_in == 0

    async def staffing(self, call: RoutedCall) -> Staffing:
        """Who can answer `call` now or after escalation, by state, for what a waiting caller
        is told (`queues.staffing`: read at most once per `TTL_S` per bucket, per process)."""
        layout = await self.layout()
        if call.queue not in layout.queues:
            return Staffing(answerers=0, logged_in=0, staffed=0, idle=0)
        key = (call.queue, call.step, call.language)
        return await self._staffing.get(layout, key, self._states)

    async def run_timers(self, stop: asyncio.Event) -> None:
        """Fire timers until `stop` (an asyncio.Event) is set."""
        await timers.run_timers(self, stop, self.clock)
