"""Where a caller leaving their queue goes next: the exit marked on their hold record.

A timer, a key or closing time marks the exit (`mark_exit`); the caller's next
webhook (`<Leave>`'s Enqueue action, or a redirect) reads it and plays the treatment.
A timer's exit is marked before its redirect is asked of Twilio: should the redirect be
lost (an API error, or the web process died first), the caller's next hold fetch finds
the mark (`moved_on`) and leaves the queue for it.
"""

from __future__ import annotations

import json

from ivr.config.queues import OverflowAction
from ivr.service import Services
from queues.router import ACTION

STRANDED_S = 10.0
"""A waiting caller whom routing let go of with no exit marked goes to voicemail after this
long on hold. Otherwise the gap between a timer's firing and its mark is milliseconds; only
a web process that died in it leaves none."""
UNROUTED = "unrouted_at"
"""The hold record's field: when a hold fetch first found the caller out of routing."""


async def mark_exit(
    svc: Services, sid: str, action: OverflowAction, event: str, queue: str = ""
) -> None:
    """Remember where a caller leaving `queue` goes next, and how to record the exit."""
    mapping = {
        "exit": json.dumps(ACTION.dump_python(action, mode="json")),
        "exit_event": event,
        "exit_queue": queue,
    }
    await svc.redis.hset(svc.keys.hold(sid), mapping=mapping)  # type: ignore[arg-type]


async def moved_on(svc: Services, sid: str) -> bool:
    """Whether routing let go of the waiting caller, who still waits in their Twilio queue,
    and where they go next is marked (a timer fired, a queue refused them). A caller left
    with no mark for `STRANDED_S` (the web process that fired their timer died before it
    marked one) is marked for voicemail: rather a message than a silent queue."""
    if await svc.router.has_call(sid):
        return False
    key = svc.keys.hold(sid)
    if await svc.redis.hexists(key, "exit"):
        return True
    now = svc.clock.now()
    await svc.redis.hsetnx(key, UNROUTED, now)
    since = float(await svc.redis.hget(key, UNROUTED) or now)
    if now - since < STRANDED_S:
        return False
    await mark_exit(svc, sid, "voicemail", "EXITWITHTIMEOUT")
    return True
