"""Voicemails for supervisors: the messages callers left, which are still to be handled,
and a CSV export (`GET /api/supervisor/voicemails`).

Callers who leave a message are told someone will get back to them, so every message
stays "unhandled" until a supervisor marks it handled (`mark_handled`), or an agent marks
it done from their console inbox (`ivr.web.inbox`); the floor view and `/metrics` count
the unhandled ones, in all and per queue (`backlog`), so a backlog is seen and can be
alerted on.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from typing import Any

from ivr.service import Services

FIELDS = (
    "id",
    "at",
    "from",
    "to",
    "call",
    "duration_s",
    "language",
    "node",
    "queue",
    "data",
    "url",
    "handled",
)
"""The columns of a voicemail, in the API and the CSV export."""
ENTRY_ID = re.compile(r"\d{1,20}-\d{1,20}")
"""A stream entry id, the only form of voicemail id (anything else is unknown: 404)."""
LISTED = 500
"""The most recent messages listed (older ones stay in the stream)."""


@dataclass(frozen=True)
class Backlog:
    """A queue's voicemails still to be handled, and how long the oldest has waited."""

    count: int = 0
    oldest_age_s: float | None = None


async def listing(svc: Services, unhandled_only: bool = False) -> list[dict[str, Any]]:
    """The most recent voicemails, newest first, each with whether it was handled."""
    entries: list[tuple[str, dict[str, str]]] = await svc.redis.xrevrange(  # type: ignore[assignment]
        svc.keys.voicemails(), count=LISTED
    )
    handled = await svc.redis.smembers(svc.keys.voicemails_handled())
    found = [_row(entry_id, fields, entry_id in handled) for entry_id, fields in entries]
    return [row for row in found if not (unhandled_only and row["handled"])]


def _row(entry_id: str, fields: dict[str, str], handled: bool) -> dict[str, Any]:
    row: dict[str, Any] = {name: fields.get(name, "") for name in FIELDS}
    return row | {"id": entry_id, "handled": handled}


async def unhandled(svc: Services) -> int:
    """How many of the listed voicemails are still to be handled."""
    return len(await listing(svc, unhandled_only=True))


async def backlog(svc: Services) -> dict[str, Backlog]:
    """Per queue (every configured one, and `""` for the menu's messages when there are
    any): how many voicemails are still to be handled, and the oldest one's age."""
    found = {name: Backlog() for name in svc.registry.current.queues}
    now = svc.clock.now()
    for row in await listing(svc, unhandled_only=True):
        age = max(0.0, now - float(row["at"] or now))
        was = found.get(row["queue"], Backlog())
        found[row["queue"]] = Backlog(was.count + 1, max(was.oldest_age_s or 0.0, age))
    return found


async def find(svc: Services, entry_id: str) -> dict[str, Any] | None:
    """One voicemail by id, with whether it was handled; None if there is no such one."""
    if not ENTRY_ID.fullmatch(entry_id):
        return None
    entries: list[tuple[str, dict[str, str]]] = await svc.redis.xrange(  # type: ignore[assignment]
        svc.keys.voicemails(), min=entry_id, max=entry_id
    )
    if not entries:
        return None
    handled = bool(await svc.redis.sismember(svc.keys.voicemails_handled(), entry_id))
    return _row(entry_id, entries[0][1], handled)


def collected(data: str) -> dict[str, str]:
    """The IVR data of a voicemail (`name=value,...`, as stored) as a mapping."""
    pairs = (item.partition("=") for item in data.split(",") if "=" in item)
    return {name: value for name, _, value in pairs}


async def mark_handled(svc: Services, entry_id: str) -> bool:
    """Mark one voicemail handled (again is fine); False if there is no such voicemail."""
    if await find(svc, entry_id) is None:
        return False
    await svc.redis.sadd(svc.keys.voicemails_handled(), entry_id)
    return True


def as_csv(rows: list[dict[str, Any]]) -> str:
    """The rows as CSV, one line per voicemail, with a header."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=FIELDS)
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()
