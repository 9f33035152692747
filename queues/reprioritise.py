"""Changing a queued call's priority (a supervisor action), keeping its original time.

Kept apart from `Router` on purpose: one script (`lua/reprioritise.lua`) and one
function, so the routing engine's own scripts stay untouched. The call keeps
its original enqueue time, so among calls of its new priority it stands where
its arrival puts it.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from ivr.config.queues import PRIORITY_MAX
from ivr.core.errors import RoutingError
from queues.queue import pack_score
from queues.router import MAX_RETRIES, Router, _ms

RETRY = "RETRY"


@cache
def _source() -> str:
    return (resources.files("queues") / "lua" / "reprioritise.lua").read_text()


async def reprioritise(router: Router, call_sid: str, priority: int, by: str) -> int:
    """Give a waiting or ringing call `priority` (0-99); returns the old priority.

    `by` names who asked (`supervisor:sam`); it is recorded with the change in
    the event stream. Raises RoutingError when the call is not queued.
    """
    if not 0 <= priority <= PRIORITY_MAX:
        raise RoutingError(f"priority {priority} is outside 0..{PRIORITY_MAX}")
    script = router.redis.register_script(_source())
    for _ in range(MAX_RETRIES):
        keys, args = await _read(router, call_sid, priority, by)
        try:
            raw = await script(keys=keys, args=args)
        except ResponseError as exc:
            code, _, message = str(exc).partition(" ")
            if code == RETRY:
                continue
            raise RoutingError(message or str(exc)) from None
        return int(json.loads(raw)["old"])
    raise RoutingError("the call kept moving; giving up")


async def _read(
    router: Router, call_sid: str, priority: int, by: str
) -> tuple[list[str], list[str]]:
    redis: aioredis.Redis = router.redis
    raw = await redis.hget(router.keys.routing_calls(), call_sid)
    if raw is None:
        raise RoutingError(f"call {call_sid} is not queued")
    call = json.loads(raw)
    layout = await router.layout()
    if call["queue"] not in layout.queues:
        raise RoutingError(f"call {call_sid} is in an unknown queue")
    bucket = layout.call_bucket(call["queue"], int(call["step"]), call["lang"])
    keys = [
        router.keys.routing_calls(),
        router.keys.queue_calls(call["queue"]),
        layout.waiting_key(bucket),
        router.keys.events(),
    ]
    score = pack_score(priority, int(call["orig"]))
    now = str(_ms(router.clock.now()))
    args = [call_sid, call["queue"], str(call["step"]), call["lang"], str(priority), str(score)]
    return keys, [*args, now, by]
