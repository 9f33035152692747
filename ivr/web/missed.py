"""Missed callers: who hung up waiting in a queue the agent serves, within the last
`WINDOW_S`, and has had no contact since, to call back from the console
(`/api/agent/missed`).

They come from the metrics' contact records (`queues.metrics.contacts.records`, outcome
`abandoned`: short abandons are left out), so they show up once the fold has seen the
hang-up (within a second or so). A caller who phoned again since, answered or not, is no
longer missed. The call back is the voicemail inbox's (`ivr.web.inbox.call_back_once`):
one callback per missed call, recorded on `Keys.missed_callbacks`, offered first to the
agent who asked.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from starlette.exceptions import HTTPException

from callbacks import callback
from ivr.service import Services
from ivr.web import inbox, voicemails
from ivr.web.inbox import CallBack
from queues.metrics import contacts

WINDOW_S = 8 * 3600
"""How far back missed callers are listed: about a shift."""
ABANDONED = "abandoned"
KIND = "missed"
"""The kind of the callbacks made for missed callers (`Callback.kind`)."""


async def listing(svc: Services, agent: str) -> list[dict[str, Any]]:
    """The agent's queues' missed callers, newest first, with any callback made."""
    rows = await missed_rows(svc, agent)
    if not rows:
        return []
    key = svc.keys.missed_callbacks()
    made: list[str | None] = await svc.redis.hmget(key, [r["id"] for r in rows])  # type: ignore[assignment]
    return [await shown(svc, row, cb_id or "") for row, cb_id in zip(rows, made, strict=True)]


async def missed_rows(svc: Services, agent: str) -> list[dict[str, Any]]:
    """The abandoned contacts of the window in the agent's queues, each its caller's latest."""
    now_ms = int(svc.clock.now() * 1000)
    found = await contacts.records(svc.redis, svc.keys, now_ms - WINDOW_S * 1000, now_ms + 1)
    latest = {row["caller"]: row["call"] for row in found}  # oldest first: the last wins
    queues = await inbox.served(svc, agent) - {inbox.MENU}
    missed = [
        row
        for row in found
        if row["outcome"] == ABANDONED
        and row["queue"] in queues
        and row["caller"]
        and latest[row["caller"]] == row["call"]
    ]
    return [await as_row(svc, row) for row in reversed(missed)]


async def as_row(svc: Services, contact: dict[str, Any]) -> dict[str, Any]:
    """A missed call in the shape of a voicemail (what `inbox.call_back_once` needs), with
    the IVR data and the number called while the call's session is still stored."""
    session = await svc.calls.get(contact["call"])
    data = session.data if session else {}
    started = datetime.fromisoformat(contact["started_at"]).timestamp()
    return {
        "id": contact["call"],
        "kind": KIND,
        "at": str(started),
        "from": contact["caller"],
        "to": session.called if session else "",
        "language": contact["language"],
        "queue": contact["queue"],
        "node": "",
        "data": ",".join(f"{k}={v}" for k, v in data.items()),
        "wait_s": contact["wait_s"],
    }


async def shown(svc: Services, row: dict[str, Any], cb_id: str) -> dict[str, Any]:
    """One missed caller as the console shows it."""
    config = svc.registry.current
    customer = config.customers.get(row["from"])
    language = config.languages.available.get(row["language"])
    queue = config.queues.get(row["queue"])
    cb = await callback.get(svc, cb_id) if cb_id else None
    return {
        "id": row["id"],
        "at": float(row["at"]),
        "age_s": round(max(0.0, svc.clock.now() - float(row["at"])), 1),
        "caller": inbox.mask(row["from"]),
        "caller_name": customer.name if customer else None,
        "language": row["language"],
        "language_name": language.name if language else row["language"],
        "queue": row["queue"],
        "queue_name": (queue.display_name or row["queue"]) if queue else row["queue"],
        "data": voicemails.collected(row["data"]),
        "wait_s": row["wait_s"],
        "callback": {"id": cb.id, "state": cb.state} if cb else None,
    }


async def call_back(svc: Services, agent: str, call: str) -> CallBack:
    """Call a missed caller back, once, offered first to the agent who asked."""
    if not svc.registry.current.callbacks.enabled:
        raise HTTPException(409, "callbacks are turned off (callbacks.enabled)")
    made = await svc.redis.hget(svc.keys.missed_callbacks(), call)
    if made:  # called back already: the caller may no longer be listed as missed
        cb = await callback.get(svc, str(made))
        if cb is None or cb.queue not in await inbox.served(svc, agent):
            raise HTTPException(404, "no such missed call in your queues")
        return CallBack(cb.id, False, cb.state)
    row = next((r for r in await missed_rows(svc, agent) if r["id"] == call), None)
    if row is None:
        raise HTTPException(404, "no such missed call in your queues")
    return await inbox.call_back_once(svc, agent, row, svc.keys.missed_callbacks())
