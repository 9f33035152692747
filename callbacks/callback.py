"""A callback's record and its state machine in the store, changed atomically.

    scheduled ──> queued ──> dialling(attempt k) ──> connected
                    ^                 │  └──────> done (machine message left)
                    └── no_answer <───┘
                        └──> failed (attempts used up)
    any live state (scheduled, queued, no_answer) ──> expired | cancelled

Each callback is one hash (`Keys.callback`); every move is one Lua script
(`callbacks/lua/callback_move.lua`) that checks the state it leaves (and the
attempt it expects), writes the new one and appends its event, so a retried
webhook, a retried job or a second worker finds the move already made and
does nothing. One live callback per number and queue is enforced by
`callback_create.lua`, which also swaps a waiting caller's routing entry
for the callback's ("keep my place"). The callback's id (`CB` + 32 hex) is
its id in routing too.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from callbacks.context import Context
from ivr.core import logs, lua, sentinel

log = logs.get(__name__)

PREFIX = "CB"
LIVE = frozenset({"scheduled", "queued", "dialling", "no_answer"})
"""States in which a callback still counts against its number (de-duplication)."""
CANCELLABLE = ("scheduled", "queued", "no_answer")
"""A callback being dialled is not cancelled under the dialler: the attempt finishes first."""
CREATE_LUA = lua.read("callbacks", "callback_create")
OFFERED_LUA = lua.read("callbacks", "callback_offered")
MOVE_LUA = lua.read("callbacks", "callback_move")


def new_id() -> str:
    return PREFIX + uuid.uuid4().hex


def is_callback(call_sid: str) -> bool:
    """Whether a routing id is a callback's (not a Twilio call's)."""
    return call_sid.startswith(PREFIX)


@dataclass
class Callback:
    """One callback as stored (every field a string in the hash)."""

    id: str
    number: str
    queue: str
    state: str = "scheduled"
    kind: str = "scheduled"
    """`keep` (took a waiting caller's place) or `scheduled` (a slot)."""
    called: str = ""
    """The business number the customer called: the caller ID we call back from."""
    language: str = ""
    priority: int = 0
    orig_ms: int = 0
    """The original enqueue time: the callback's place in the queue."""
    started_ms: int = 0
    """When the original call arrived: FRT runs from here."""
    call: str = ""
    data: str = ""
    """The routing data JSON (caller, name, IVR data), shown to the agent."""
    created_ms: int = 0
    due: float = 0.0
    """When it joins the queue (scheduled) or is expected to be called (keep)."""
    expire_at: float = 0.0
    """Set when a callback was moved to the next opening: earlier expiry jobs stand down."""
    attempts: int = 0
    agent: str = ""
    leg: str = ""
    outcome: str = ""

    @classmethod
    def parse(cls, raw: dict[str, str]) -> Callback:
        ints = {"priority", "orig_ms", "started_ms", "created_ms", "attempts"}
        known: dict[str, Any] = {}
        for name in cls.__dataclass_fields__:
            if name in raw:
                value = raw[name]
                known[name] = int(value or 0) if name in ints else value
        known["due"] = float(raw.get("due", 0) or 0)
        known["expire_at"] = float(raw.get("expire_at", 0) or 0)
        return cls(**known)

    def dump(self) -> dict[str, str]:
        return {k: str(v) for k, v in asdict(self).items()}

    @property
    def live(self) -> bool:
        return self.state in LIVE

    @property
    def ivr_data(self) -> dict[str, str]:
        """What the caller told the IVR (account number, ...)."""
        try:
            found = json.loads(self.data or "{}").get("data") or {}
        except ValueError:
            return {}
        return {str(k): str(v) for k, v in found.items()}


@dataclass(frozen=True)
class Created:
    """What `create` did: `created`, `exists` (id and expected time of the live one),
    `moved` (the caller is being connected: no swap) or `gone` (not in the queue)."""

    status: str
    id: str
    expected: float = 0.0


@dataclass(frozen=True)
class Moved:
    """What `move` did: `moved`, `refused` (not in a state it may leave that way) or `unknown`."""

    status: str
    before: str
    attempt: int

    @property
    def ok(self) -> bool:
        return self.status == "moved"


def _live_keys(svc: Context, cb_id: str, number: str, queue: str) -> list[str]:
    keys = svc.keys
    return [
        keys.callback(cb_id),
        keys.callback_live(number, queue),
        keys.callbacks_of(number),
        keys.callbacks_pending(),
        keys.events(),
    ]


def _ms(seconds: float) -> int:
    return int(round(seconds * 1000))


async def create(svc: Context, cb: Callback, take_over: str = "") -> Created:
    """Store a new callback unless the number has a live one for the queue.

    `take_over` names a waiting call whose routing entry the callback takes in
    the same step (keep my place): the record then gets that entry's queue,
    priority and original time.
    """
    keys = _live_keys(svc, cb.id, cb.number, cb.queue)
    ctx: dict[str, Any] = {
        "id": cb.id,
        "now": _ms(svc.clock.now()),
        "expected": cb.due,
        "kind": cb.kind,
        "record": cb.dump(),
        "call": take_over,
        "step": 0,
        "lang": "",
    }
    if take_over:
        entry = await svc.router.takeover(take_over)
        if entry is None:
            return Created("gone", cb.id)
        ctx.update(step=entry.step, lang=entry.language)
        keys += entry.keys
    script = svc.redis.register_script(CREATE_LUA)
    answer = json.loads(await script(keys=keys, args=[json.dumps(ctx, ensure_ascii=False)]))
    await sentinel.confirm(svc, "callback booked")  # on a replica before the caller is told
    return Created(answer["status"], answer["id"], float(answer.get("expected", 0)))


async def move(
    svc: Context,
    cb: Callback,
    from_: Iterable[str],
    to: str,
    event: str,
    *,
    attempt: int = -1,
    bump: bool = False,
    expected: float = -1,
    fields: dict[str, str] | None = None,
    data: dict[str, str] | None = None,
) -> Moved:
    """Move `cb` to `to` if it is in one of `from_` (and at `attempt`, unless -1)."""
    ctx = {
        "id": cb.id,
        "now": _ms(svc.clock.now()),
        "from": list(from_),
        "attempt": attempt,
        "to": to,
        "bump": 1 if bump else 0,
        "final": 0 if to in LIVE else 1,
        "expected": expected,
        "fields": fields or {},
        "data": data or {},
        "event": event,
    }
    script = svc.redis.register_script(MOVE_LUA)
    keys = _live_keys(svc, cb.id, cb.number, cb.queue)
    answer = json.loads(await script(keys=keys, args=[json.dumps(ctx, ensure_ascii=False)]))
    moved = Moved(answer["status"], answer.get("state", ""), int(answer.get("attempt", 0)))
    if moved.ok:
        log.info("callback moved", callback=cb.id, before=moved.before, after=to)
    return moved


async def get(svc: Context, cb_id: str) -> Callback | None:
    raw: dict[str, str] = await svc.redis.hgetall(svc.keys.callback(cb_id))  # type: ignore[assignment]
    return Callback.parse(raw) if raw else None


async def live_for(svc: Context, number: str, queue: str) -> Callback | None:
    """The number's live callback for the queue, if any."""
    cb_id = await svc.redis.get(svc.keys.callback_live(number, queue))
    return None if cb_id is None else await get(svc, str(cb_id))


async def live_of(svc: Context, number: str) -> list[Callback]:
    """The number's live callbacks in every queue, soonest first."""
    ids: set[str] = await svc.redis.smembers(svc.keys.callbacks_of(number))  # type: ignore[assignment]
    found = [cb for cb in [await get(svc, i) for i in sorted(ids)] if cb is not None and cb.live]
    return sorted(found, key=lambda cb: cb.due)


async def pending(svc: Context, limit: int = 500) -> list[Callback]:
    """Live callbacks (scheduled, queued, being dialled, waiting to retry), soonest first.

    For the supervisor view.
    """
    ids: list[str] = await svc.redis.zrange(svc.keys.callbacks_pending(), 0, limit - 1)  # type: ignore[assignment]
    found = [await get(svc, cb_id) for cb_id in ids]
    return [cb for cb in found if cb is not None and cb.live]


async def cancel(svc: Context, callback_id: str, by: str) -> bool:
    """Cancel a live callback (supervisor, customer SMS, a caller who phoned in again).

    It leaves the queue if it was in it; False when it was not cancellable
    (unknown, being dialled, or already over).
    """
    cb = await get(svc, callback_id)
    if cb is None:
        return False
    moved = await move(
        svc, cb, CANCELLABLE, "cancelled", "CALLBACKCANCELED", fields={"outcome": f"by {by}"}
    )
    if not moved.ok:
        return False
    await leave_queue(svc, cb.id)
    log.info("callback cancelled", callback=cb.id, by=by)
    return True


async def offered(
    svc: Context, call_sid: str, queue: str, position: int, estimate: float | None
) -> bool:
    """Note that a waiting call was offered a callback; True for its first offer, which
    appends CALLBACKOFFER (offer coverage: `queues/metrics/offers.py`)."""
    ctx = {
        "call": call_sid,
        "queue": queue,
        "now": _ms(svc.clock.now()),
        "ttl": svc.settings.session_ttl_s,
        "estimate_s": "" if estimate is None else f"{estimate:.0f}",
        "position": position,
    }
    keys = [svc.keys.callback_offered(call_sid), svc.keys.events()]
    script = svc.redis.register_script(OFFERED_LUA)
    return bool(await script(keys=keys, args=[json.dumps(ctx)]))


async def leave_queue(svc: Context, cb_id: str) -> None:
    """Take the callback's entry out of routing (stopping any agent ringing for it)."""
    await svc.legs.abandon(cb_id, "EXITCALLBACK")
