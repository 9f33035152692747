"""Ringing agents: turning routing reservations into phone calls, and ending them.

When routing reserves an agent for a call, the service rings the agent's
device (a Twilio Client identity or a phone number) through the REST API.
The agent hears a whisper and presses 1 (`ivr.connect`). If the offer ends
unanswered (ring timeout, or the caller hung up) the agent's phone is hung up
here. The caller never notices any of it: they stay in the hold loop.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

from twilio.base.exceptions import TwilioRestException

from callbacks import dial as callback_dial
from callbacks.callback import is_callback
from ivr import live, logs
from ivr.errors import RoutingError
from ivr.service import Services
from queues.models import OverflowAction
from queues.reservation import Fired, Reservation
from queues.router import CONNECT_LOST

log = logs.get(__name__)
RING_GRACE_S = 5
"""The REST call rings a little longer than the reservation, so routing's timer decides."""
UNREACHABLE_BREAK = "device unreachable"
"""The break an agent is put on when Twilio refuses to ring their device (as the console)."""


async def ring(svc: Services, offer: Reservation) -> None:
    """Call the agent's device for `offer` (see `unreachable` when Twilio refuses)."""
    if is_callback(offer.call_sid) and offer.queue in svc.registry.current.callbacks.customer_first:
        await callback_dial.dial_customer_first(svc, offer)  # the customer is rung first
        return
    if await live.is_present(svc, offer.agent):
        # The agent has the console open: it rings there; accept connects the device.
        await live.deliver(svc, offer.id, offer.agent)
        return
    session = await svc.calls.get(offer.call_sid)
    queue = svc.registry.current.queues.get(offer.queue)
    timeout = (queue.ring_timeout_s if queue else 15) + RING_GRACE_S
    base = svc.urls.base
    caller_id = session.called if session and session.called.startswith("+") else None
    try:
        leg = await svc.rest(
            lambda c: c.calls.create(
                to=offer.device,
                from_=caller_id or "client:ivr",
                url=f"{base}/voice/agent/offer?res={offer.id}",
                status_callback=f"{base}/voice/agent/status?res={offer.id}",
                status_callback_event=["answered", "completed"],
                timeout=timeout,
            )
        )
    except TwilioRestException as exc:
        log.warning("could not ring agent", agent=offer.agent, code=exc.code)
        await unreachable(svc, offer)
        return
    record = {"call": offer.call_sid, "agent": offer.agent, "leg": leg.sid}
    await svc.redis.hset(svc.keys.offers(), offer.id, json.dumps(record))
    log.info("ringing agent", agent=offer.agent, call=offer.call_sid, reservation=offer.id)


async def unreachable(svc: Services, offer: Reservation) -> None:
    """Twilio refused to ring the agent's device: the call goes back to its place, and the
    agent goes on break until they come back, instead of being offered call after call."""
    released = await release(svc, offer, busy=True)
    with contextlib.suppress(RoutingError):  # reserved or logged off meanwhile: leave them
        await svc.router.set_break(offer.agent, UNREACHABLE_BREAK)
    await dispatch_offers(svc, released)


async def release(svc: Services, offer: Reservation, busy: bool) -> list[Reservation]:
    try:
        return await svc.router.reject(offer.id, offer.agent, busy=busy)
    except RoutingError:
        return []  # already answered, timed out or withdrawn: nothing left to release


async def stop_ringing(svc: Services, reservation_id: str) -> None:
    """Hang up the agent's phone for an offer that ended without being accepted."""
    raw = await svc.redis.hget(svc.keys.offers(), reservation_id)
    await svc.redis.hdel(svc.keys.offers(), reservation_id)
    if raw is None:
        return
    leg = json.loads(raw)["leg"]
    try:
        await svc.rest(lambda c: c.calls(leg).update(status="completed"))
    except TwilioRestException as exc:  # already ended: that is what we wanted
        log.info("agent leg already ended", leg=leg, code=exc.code)


async def offer_for(svc: Services, reservation_id: str) -> dict[str, Any] | None:
    """The offer as routing holds it (call, agent, queue, ...) while it is still pending."""
    raw = await svc.redis.hget(svc.keys.routing_reservations(), reservation_id)
    return None if raw is None else dict(json.loads(raw))


async def dispatch_offers(svc: Services, offers: list[Reservation]) -> None:
    for offer in offers:
        await ring(svc, offer)


async def dispatch(svc: Services, fired: Fired) -> None:
    """Act on what routing's timers did: stop rings that timed out, ring the new offers."""
    for reservation_id in fired.expired:
        await stop_ringing(svc, reservation_id)
    for call_sid in fired.requeued:  # before the offers: a next agent may accept at once
        if is_callback(call_sid):
            await callback_dial.hand_back(svc, call_sid, CONNECT_LOST)
    await dispatch_offers(svc, fired.offers)
    for exit_ in fired.exits:
        await redirect_exit(svc, exit_.call_sid, exit_.action)


async def redirect_exit(svc: Services, call_sid: str, action: OverflowAction) -> None:
    """Move a caller who left the queue on a timer to the queue's overflow treatment (for
    another queue: routing has already moved the call there; the caller is told so and
    waits again)."""
    from ivr.connect import mark_exit  # connect imports this module

    await mark_exit(svc, call_sid, action, "EXITWITHTIMEOUT")
    url = f"{svc.urls.base}/voice/queue/exit"
    try:
        await svc.rest(lambda c: c.calls(call_sid).update(url=url, method="POST"))
    except TwilioRestException as exc:
        log.info("caller gone before overflow", call=call_sid, code=exc.code)
