"""Where a caller leaving their queue goes next: the exit marked on their hold record.

A timer, a key or closing time marks the exit (`mark_exit`); the caller's next
webhook (`<Leave>`'s Enqueue action, or a redirect) reads it and plays the treatment.
"""

from __future__ import annotations

import json

from ivr.config.queues import OverflowAction
from ivr.service import Services
from queues.router import ACTION


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
