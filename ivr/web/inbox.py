"""The agent's voicemail inbox: the messages left for the queues they serve, to take, call
back and mark done (`/api/agent/voicemails`).

An agent sees a voicemail left from a queue they serve (overflow, max wait, the hold exit
key), and every voicemail left in the menu before any queue (the closed-hours message):
nobody else would. Taking one is `HSETNX` on `Keys.voicemail_owners`, so of two agents
who click at once exactly one gets it. Calling back makes one callback
(`callbacks.callback`) per voicemail, created under the callback store's rule of one live
callback per number and queue, then recorded on `Keys.voicemail_callbacks`: a double
click, a second agent or a retried request finds it and makes none. The callback is
offered first to the agent who asked (`callbacks.dial.enter_queue` with `prefer`): free,
their device is rung at once into the dial to the customer, as if they had accepted it
(`ivr.web.console.accept`); busy, it waits in the queue for its next agent, as every
callback does.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any

from starlette.exceptions import HTTPException

from callbacks import callback
from callbacks import dial as callback_dial
from callbacks.callback import Callback
from ivr.core import logs
from ivr.core.session import CallSession
from ivr.service import Services
from ivr.web import console, voicemails

log = logs.get(__name__)
MENU = ""
"""The queue of a voicemail left in the menu, before any queue: every agent sees it."""
SHOWN_DIGITS = 3
"""The caller's last digits shown when the caller has no name (the rest is masked)."""
MASK = "•"
KIND = "voicemail"
"""The kind of the callbacks made from the inbox (`Callback.kind`)."""
RESUME_AFTER_S = 10.0
"""A callback made this long ago and still out of routing was left by a request that died
midway: the next request routes it (sooner, it is a concurrent request's, under way)."""


@dataclass(frozen=True)
class CallBack:
    """What a call-back request did: the callback (new or the one already made) and whether
    it was put straight through to the asking agent's device."""

    callback: str
    created: bool
    state: str
    routed: str = ""
    """`you` (your device is being rung), `queue` (it waits for the queue's next agent)."""
    device: str = ""


# -- what an agent sees -------------------------------------------------------------
async def served(svc: Services, agent: str) -> set[str]:
    """The queues the agent serves (meets a step's skills), plus the menu's messages."""
    layout = await svc.router.layout()
    queues = set(layout.agent_queues(agent)) if agent in layout.agents else set()
    return queues | {MENU}


async def inbox(svc: Services, agent: str) -> list[dict[str, Any]]:
    """The unhandled voicemails the agent may handle, newest first."""
    queues = await served(svc, agent)
    rows = [row for row in await voicemails.listing(svc, True) if row["queue"] in queues]
    if not rows:
        return []
    ids = [row["id"] for row in rows]
    owners: list[str | None] = await svc.redis.hmget(svc.keys.voicemail_owners(), ids)  # type: ignore[assignment]
    made: list[str | None] = await svc.redis.hmget(svc.keys.voicemail_callbacks(), ids)  # type: ignore[assignment]
    return [
        await entry(svc, row, owner or "", cb_id or "")
        for row, owner, cb_id in zip(rows, owners, made, strict=True)
    ]


async def entry(svc: Services, row: dict[str, Any], owner: str, cb_id: str) -> dict[str, Any]:
    """One voicemail as the inbox shows it: who, in what language, what the IVR collected."""
    config = svc.registry.current
    customer = config.customers.get(row["from"])
    language = config.languages.available.get(row["language"])
    queue = config.queues.get(row["queue"])
    cb = await callback.get(svc, cb_id) if cb_id else None
    taker = config.agents.get(owner)
    return {
        "id": row["id"],
        "at": float(row["at"] or 0),
        "age_s": round(max(0.0, svc.clock.now() - float(row["at"] or 0)), 1),
        "caller": mask(row["from"]),
        "caller_name": customer.name if customer else None,
        "language": row["language"],
        "language_name": language.name if language else row["language"],
        "queue": row["queue"],
        "queue_name": (queue.display_name or row["queue"]) if queue else None,
        "data": voicemails.collected(row["data"]),
        "duration_s": int(row["duration_s"] or 0),
        "recording": recording(row["url"]),
        "owner": owner or None,
        "owner_name": taker.name if taker else owner or None,
        "callback": {"id": cb.id, "state": cb.state} if cb else None,
    }


def mask(number: str) -> str:
    """The number with all but its country code's first digits and its last few hidden."""
    if len(number) <= SHOWN_DIGITS + 4:
        return MASK * len(number)
    return number[:4] + MASK * (len(number) - 4 - SHOWN_DIGITS) + number[-SHOWN_DIGITS:]


def recording(url: str) -> str | None:
    """The MP3 of a Twilio recording (`<audio>` may load https://*.twilio.com), or None."""
    return f"{url}.mp3" if url.startswith("https://") else None


async def visible(svc: Services, agent: str, voicemail: str) -> dict[str, Any]:
    """The voicemail if the agent may handle it: 404 unknown or another queue's, 409 done."""
    row = await voicemails.find(svc, voicemail)
    if row is None or row["queue"] not in await served(svc, agent):
        raise HTTPException(404, "no such voicemail in your queues")
    if row["handled"]:
        raise HTTPException(409, "that voicemail is already done")
    return row


# -- what an agent does -------------------------------------------------------------
async def take(svc: Services, agent: str, voicemail: str) -> str:
    """Assign the voicemail to the agent; 409 if another agent took it first."""
    await visible(svc, agent, voicemail)
    key = svc.keys.voicemail_owners()
    async with svc.redis.pipeline(transaction=True) as pipe:
        pipe.hsetnx(key, voicemail, agent)
        pipe.hget(key, voicemail)
        _, owner = await pipe.execute()
    if owner != agent:
        name = svc.registry.current.agents.get(owner)
        raise HTTPException(409, f"{name.name if name else owner} has taken that voicemail")
    return str(owner)


async def done(svc: Services, agent: str, voicemail: str) -> None:
    """Mark the voicemail handled (the agent's, or nobody's yet); 409 another agent's."""
    await take(svc, agent, voicemail)
    await voicemails.mark_handled(svc, voicemail)
    log.info("voicemail done", voicemail=voicemail, agent=agent)


async def call_back(svc: Services, agent: str, voicemail: str) -> CallBack:
    """Call the voicemail's caller back through the callback machinery, exactly once.

    The callback store allows one live callback per number and queue (`callback_create.lua`),
    so of two requests at once one creates it and the other finds it; the voicemail then
    points at it (`Keys.voicemail_callbacks`), for every later request.
    """
    if not svc.registry.current.callbacks.enabled:
        raise HTTPException(409, "callbacks are turned off (callbacks.enabled)")
    row = await visible(svc, agent, voicemail)
    await take(svc, agent, voicemail)
    return await call_back_once(svc, agent, row, svc.keys.voicemail_callbacks())


async def call_back_once(svc: Services, agent: str, row: dict[str, Any], key: str) -> CallBack:
    """One callback for `row` (a voicemail or a missed call), recorded under its id in the
    hash `key`; every later request finds it there."""
    made = await svc.redis.hget(key, row["id"])
    if made:
        return await resume(svc, agent, str(made), row)
    cb = await new_callback(svc, agent, row)
    created = await callback.create(svc, cb)
    if created.status != "created":  # a request a moment ago, or the number's own callback
        await svc.redis.hsetnx(key, row["id"], created.id)
        return await resume(svc, agent, created.id, row)
    await prepare(svc, cb, row)
    await svc.redis.hset(key, row["id"], cb.id)
    log.info("called back", of=row["id"], agent=agent, callback=cb.id)
    return await route(svc, agent, cb)


async def prepare(svc: Services, cb: Callback, row: dict[str, Any]) -> None:
    """The callback's call session and its expiry job (both idempotent)."""
    await remember_caller(svc, cb, row)
    expires = cb.created_ms / 1000 + svc.registry.current.callbacks.expire_after_s
    await callback_dial.schedule(svc, cb, "expire", expires)


async def resume(svc: Services, agent: str, cb_id: str, row: dict[str, Any]) -> CallBack:
    """The callback already made. One whose request died before routing it (still queued,
    out of routing, older than `RESUME_AFTER_S`) is routed now."""
    cb = await callback.get(svc, cb_id)
    if cb is None:
        return CallBack(cb_id, False, "unknown")
    stale = svc.clock.now() - cb.created_ms / 1000 > RESUME_AFTER_S
    if (
        cb.kind == (row.get("kind") or KIND)
        and cb.state == "queued"
        and stale
        and not await svc.router.has_call(cb_id)
    ):
        await prepare(svc, cb, row)
        return replace(await route(svc, agent, cb), created=False)
    return CallBack(cb_id, False, cb.state)


async def route(svc: Services, agent: str, cb: Callback) -> CallBack:
    """Offer the callback to the asking agent first: free, their device rings into the dial."""
    offer = await callback_dial.enter_queue(svc, cb, prefer=agent)
    if offer is None:
        return CallBack(cb.id, True, cb.state, "queue")
    put_through = await console.accept(svc, agent, offer.id)
    return CallBack(cb.id, True, "dialling", "you", str(put_through["device"]))


async def new_callback(svc: Services, agent: str, row: dict[str, Any]) -> Callback:
    """The callback for a voicemail: its caller, queue (the menu's: the agent's first), data."""
    config = svc.registry.current
    queue = row["queue"] or await menu_queue(svc, agent, row["language"])
    if queue not in config.queues:
        raise HTTPException(409, "you serve no queue to call back through")
    customer = config.customers.get(row["from"])
    data: dict[str, Any] = {
        "caller": row["from"],
        "name": customer.name if customer else None,
        "data": voicemails.collected(row["data"]),
    }
    now_ms = int(svc.clock.now() * 1000)
    return Callback(
        id=callback.new_id(),
        number=row["from"],
        queue=queue,
        state="queued",
        kind=row.get("kind") or KIND,
        called=row.get("to") or "",
        language=row["language"],
        priority=config.callbacks.priority or config.queues[queue].priority,
        orig_ms=now_ms,
        started_ms=int(float(row["at"] or 0) * 1000),
        data=json.dumps(data, ensure_ascii=False),
        created_ms=now_ms,
        due=svc.clock.now(),
    )


async def menu_queue(svc: Services, agent: str, language: str) -> str:
    """The queue a message left in the menu is called back through: the agent's first that
    rings the agent first (not `customer_first`) and that they answer from its first step in
    the caller's language, so `route` rings them at once (routing prefers an agent only when
    they are free for the call's first step); else their first queue."""
    layout = await svc.router.layout()
    queues = layout.agent_queues(agent) if agent in layout.agents else []
    mine = set(layout.agent_buckets(agent)) if queues else set()
    customer_first = svc.registry.current.callbacks.customer_first
    first = [
        q
        for q in queues
        if q not in customer_first and layout.call_bucket(q, 0, language or None) in mine
    ]
    return (first or queues or [""])[0]


async def remember_caller(svc: Services, cb: Callback, row: dict[str, Any]) -> None:
    """A call session under the callback's id: the screen pop, the caller's contact history
    and the metrics' repeat contacts find the customer through it. The contact starts when
    the message was left."""
    session = CallSession(
        sid=cb.id,
        caller=cb.number,
        called=cb.called,
        started_at=cb.started_ms / 1000,
        config_version=svc.registry.current.version,
        language=cb.language or svc.registry.current.languages.default,
        caller_name=json.loads(cb.data or "{}").get("name"),
        path=[row["node"]] if row["node"] else [],
        data=cb.ivr_data,
        queue=cb.queue,
    )
    await svc.redis.set(svc.keys.call(cb.id), session.to_json(), ex=svc.settings.session_ttl_s)
