"""The routing event log: one stream entry per state change, in queue_log words.

The scripts append to `Keys.events()` in the same atomic step as the change.
Every entry has `type` and `ts` (ms) and, where they apply: `call`, `agent`,
`queue`, `reason`, `position`, `original_position`, `wait_ms` (time in this
queue), `original_wait_ms` (since the original enqueue time), `ring_ms`,
`talk_ms`, `priority`, `language`; the call controls add `hold_ms`, `kind`, `target`,
`warm`, `outcome` and `consult_ms` (below). Metrics are folds over this stream.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

import redis.asyncio as aioredis

from ivr.core.keys import Keys


class EventType(StrEnum):
    """The `type` field of a routing event."""

    ENTERQUEUE = "ENTERQUEUE"
    OFFERED = "OFFERED"
    RINGNOANSWER = "RINGNOANSWER"
    REJECTED = "REJECTED"
    """An offer not taken: `reason` reject (declined), busy (the device was busy), or
    device_unreachable (accepted in the console, but Twilio refused to ring the device), or
    connect_lost (accepted in the console, but the device was not rung in time: the
    service died in between), unreached (Twilio's API failed through the ring window), or
    noanswer / busy / failed / dropped (accepted, but the agent's leg rang out, was busy,
    failed or hung up before the bridge: `Router.put_back`)."""
    RINGCANCELED = "RINGCANCELED"
    CONNECT = "CONNECT"
    ABANDON = "ABANDON"
    EXITWITHTIMEOUT = "EXITWITHTIMEOUT"
    EXITWITHKEY = "EXITWITHKEY"
    EXITCLOSED = "EXITCLOSED"
    OVERFLOW = "OVERFLOW"
    ESCALATE = "ESCALATE"
    COMPLETEAGENT = "COMPLETEAGENT"
    COMPLETECALLER = "COMPLETECALLER"
    TRANSFER = "TRANSFER"
    """An agent's handle ended by a transfer (`call`, `agent` who transferred, `queue` the
    call was in, `kind` queue|agent|number, `target` queue id, agent id or number, `warm`
    1|0, and `wait_ms`, `talk_ms` as a COMPLETEAGENT's): the agent wraps up as after a
    completed call. To a queue or agent, the same call then has ENTERQUEUE with
    `transfer` 1 (no new arrival; `target` set for an agent), and later a CONNECT with
    `transfer` 1 (a warm one at once: `warm` 1, `wait_ms` 0); every later event of the call
    (ABANDON, exits, COMPLETE*) also carries `transfer` 1: one customer contact, two agent
    handles. To a number, the call leaves routing: TRANSFER is its end, handled."""
    CONSULT = "CONSULT"
    """A warm transfer's consultation ended (`call`, `agent` who consulted, `target` the
    agent consulted, `outcome` completed|cancelled, `consult_ms`); completed is followed by
    TRANSFER (warm 1). A call that ends while consulting ends it cancelled."""
    AGENTSTATUS = "AGENTSTATUS"
    SUPERVISOR = "SUPERVISOR"
    DISPOSITION = "DISPOSITION"
    # Call controls (issue 18): the agent's hold (TRANSFER and CONSULT are above). The fold
    # (`queues/metrics/fold_controls.py`) splits handle time and counts them.
    HOLD = "HOLD"
    """The agent put `call` on hold (`call`, `agent`, `queue`)."""
    UNHOLD = "UNHOLD"
    """A hold of `call` ended (`call`, `agent`, `queue`, `hold_ms`: this hold's length), on
    resume or because the call ended on hold. An UNHOLD that never comes is not lost time:
    the fold ends the hold at the handle's end (its COMPLETE or TRANSFER)."""
    # Callbacks (callbacks/callback.py): `callback` names the callback (CB...), `call` the
    # original call; CALLBACK is the original call leaving the queue for a keep-my-place
    # callback, which takes its place (it is not an abandon).
    CALLBACK = "CALLBACK"
    CALLBACKOFFER = "CALLBACKOFFER"
    """The hold loop offered `call` a callback, the first time only (`queue`, `estimate_s`,
    `position`): abandoned callers offered one first are counted from it."""
    CALLBACKREQUEST = "CALLBACKREQUEST"
    CALLBACKQUEUED = "CALLBACKQUEUED"
    CALLBACKDIAL = "CALLBACKDIAL"
    CALLBACKNOANSWER = "CALLBACKNOANSWER"
    CALLBACKANSWER = "CALLBACKANSWER"
    """A customer-first callback's customer answered; CALLBACKCONNECT follows at the agent."""
    CALLBACKCONNECT = "CALLBACKCONNECT"
    """The customer is connected to an agent: `original_started_ms` and `frt_ms` give FRT."""
    CALLBACKDONE = "CALLBACKDONE"
    CALLBACKFAILED = "CALLBACKFAILED"
    CALLBACKEXPIRED = "CALLBACKEXPIRED"
    CALLBACKCANCELED = "CALLBACKCANCELED"
    EXITCALLBACK = "EXITCALLBACK"
    """A callback's routing entry left the queue without an agent (cancelled, expired, or
    a customer-first dial that will come back as the customer's own call)."""


@dataclass(frozen=True)
class Event:
    """One entry of the event stream."""

    id: str
    type: EventType
    ts_ms: int
    fields: dict[str, str] = field(default_factory=dict)

    def get(self, name: str, default: str = "") -> str:
        """One field of the event, or `default`."""
        return self.fields.get(name, default)


async def read_events(
    redis: aioredis.Redis, keys: Keys, after: str = "-", count: int = 10_000
) -> list[Event]:
    """Events in order, starting after the stream id `after` (`-`: from the start)."""
    start = "-" if after == "-" else f"({after}"
    entries: list[tuple[str, dict[str, str]]] = await redis.xrange(
        keys.events(), min=start, count=count
    )  # type: ignore[assignment]  # decode_responses=True clients answer with str
    known = set(EventType)
    return [
        Event(id=eid, type=EventType(data["type"]), ts_ms=int(data["ts"]), fields=data)
        for eid, data in entries
        if data.get("type") in known  # a newer writer's event types are skipped, not fatal
    ]
