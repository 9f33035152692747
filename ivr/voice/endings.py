"""How a call ends in routing: completed with an agent, or abandoned while waiting.

Each ending happens once (routing refuses a second), records what the call teaches
(handle time, the agent this caller talked to), and rings whoever is next.
"""

from __future__ import annotations

import json

from ivr.core.errors import RoutingError
from ivr.service import Services
from ivr.voice import offers
from queues import ewt


async def finish(svc: Services, call_sid: str) -> None:
    """End the connected call in routing (once), and ring whoever is next for the agent."""
    raw = await svc.redis.hget(svc.keys.routing_calls(), call_sid)
    try:
        offered = await svc.router.complete(call_sid)
    except RoutingError:
        return  # already completed by the other leg's webhook or a status callback
    if raw is not None:
        await after_call(svc, call_sid, json.loads(raw))
    await offers.dispatch_offers(svc, offered)


async def after_call(svc: Services, call_sid: str, call: dict[str, object]) -> None:
    """What a finished call teaches: the queue's handle time, and who this caller talked to."""
    await record_handle_time(svc, call)
    await remember_agent(svc, call_sid, call)


async def remember_agent(svc: Services, call_sid: str, call: dict[str, object]) -> None:
    """Keep who handled this caller, so their next call can go to the same person."""
    session = await svc.calls.get(call_sid)
    queue = svc.registry.current.queues.get(str(call["queue"]))
    if session is None or queue is None or not queue.sticky_days or not call.get("agent"):
        return
    ttl = queue.sticky_days * 86400
    await svc.redis.set(svc.keys.last_agent(session.caller), str(call["agent"]), ex=ttl)


async def record_handle_time(svc: Services, call: dict[str, object]) -> None:
    """Talk time plus the queue's wrap-up feeds the wait estimates of later callers."""
    queue = svc.registry.current.queues.get(str(call["queue"]))
    if queue is None or "connected" not in call:
        return
    talk_s = svc.clock.now() - float(call["connected"]) / 1000  # type: ignore[arg-type]
    await ewt.record_handle_time(
        svc.redis, svc.keys, str(call["queue"]), talk_s + queue.wrap_up_s, queue.hold.handle_time_s
    )


async def abandon(svc: Services, call_sid: str, exit: str = "") -> None:
    """The caller left the queue without an agent: record it and stop any ringing agent.

    `exit` names a deliberate exit (an event type such as EXITWITHKEY); empty is a hang-up.
    """
    pending = await pending_offer(svc, call_sid)
    raw = await svc.redis.hget(svc.keys.routing_calls(), call_sid)
    departure = await svc.router.leave(call_sid, exit)
    if departure.status == "abandoned" and pending is not None:
        await offers.stop_ringing(svc, pending)
    if departure.status == "completed" and raw is not None:
        await after_call(svc, call_sid, json.loads(raw))  # ended by the caller's hang-up
    await offers.dispatch_offers(svc, departure.offers)


async def pending_offer(svc: Services, call_sid: str) -> str | None:
    raw = await svc.redis.hget(svc.keys.routing_calls(), call_sid)
    reservation = json.loads(raw).get("res") if raw else None
    return str(reservation) if reservation else None
