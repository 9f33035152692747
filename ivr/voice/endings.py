"""How a call ends in routing: completed with an agent, or abandoned while waiting.

Each ending happens once (routing refuses a second), records what the call teaches
(handle time, the agent this caller talked to), and rings whoever is next.
"""

from __future__ import annotations

from ivr.core.errors import RoutingError
from ivr.service import Services
from ivr.voice import offers
from queues import ewt
from queues.queue import RoutedCall


async def finish(svc: Services, call_sid: str, conn: str = "") -> None:
    """End the connected call in routing (once), and ring whoever is next for the agent.
    With `conn`, only that connection of the call (the reservation its agent's leg
    accepted): an old leg's late end leaves a newer connection alone."""
    call = await svc.router.call(call_sid)
    try:
        offered = await svc.router.complete(call_sid, conn=conn)
    except RoutingError:
        return  # already completed by the other leg's webhook or a status callback
    if call is not None:
        await after_call(svc, call_sid, call)
    await offers.dispatch_offers(svc, offered)


async def after_call(svc: Services, call_sid: str, call: RoutedCall) -> None:
    """What a finished call teaches: the queue's handle time, and who this caller talked to."""
    await record_handle_time(svc, call)
    await remember_agent(svc, call_sid, call)


async def remember_agent(svc: Services, call_sid: str, call: RoutedCall) -> None:
    """Keep who handled this caller, so their next call can go to the same person."""
    session = await svc.calls.get(call_sid)
    queue = svc.registry.current.queues.get(call.queue)
    if session is None or queue is None or not queue.sticky_days or not call.agent:
        return
    ttl = queue.sticky_days * 86400
    await svc.redis.set(svc.keys.last_agent(session.caller), call.agent, ex=ttl)


async def record_handle_time(svc: Services, call: RoutedCall) -> None:
    """Talk time plus the queue's wrap-up feeds the wait estimates of later callers."""
    queue = svc.registry.current.queues.get(call.queue)
    if queue is None or call.connected_at is None:
        return
    talk_s = svc.clock.now() - call.connected_at
    await ewt.record_handle_time(
        svc.redis, svc.keys, call.queue, talk_s + queue.wrap_up_s, queue.hold.handle_time_s
    )


async def abandon(svc: Services, call_sid: str, exit: str = "") -> None:
    """The caller left the queue without an agent: record it and stop any ringing agent.

    `exit` names a deliberate exit (an event type such as EXITWITHKEY); empty is a hang-up.
    """
    pending = await pending_offer(svc, call_sid)
    call = await svc.router.call(call_sid)
    departure = await svc.router.leave(call_sid, exit)
    if departure.status == "abandoned" and pending is not None:
        await offers.stop_ringing(svc, pending)
    if departure.status == "completed" and call is not None:
        await after_call(svc, call_sid, call)  # ended by the caller's hang-up
    await offers.dispatch_offers(svc, departure.offers)


async def pending_offer(svc: Services, call_sid: str) -> str | None:
    call = await svc.router.call(call_sid)
    return call.reservation if call and call.reservation else None
