"""The agent console: what an agent sees (`agent_view`) and does (accept, wrap up, ...).

Every action here is called by the JSON API (`ivr.web.api`); the page at `/agent`
only renders the view and calls the API. Offers reach a console agent through
`ivr.voice.offers.ring`, which shows them here instead of ringing the device while
the page is open; accepting then rings the agent's device (the softphone, or
the phone) straight into the caller's Twilio queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
from typing import Any

from starlette.exceptions import HTTPException
from twilio.jwt.access_token import AccessToken
from twilio.jwt.access_token.grants import VoiceGrant
from twilio.twiml.voice_response import VoiceResponse

from callbacks import callback
from callbacks import dial as callback_dial
from callbacks.callback import is_callback
from ivr.core import logs, sentinel
from ivr.core.errors import InvalidTransition, ReservationError, RoutingError
from ivr.core.outbound import queue_wait_s
from ivr.core.session import CallSession
from ivr.core.telephony import REST_ERRORS, transient
from ivr.service import Services
from ivr.voice import agent as agent_voice
from ivr.voice import callback as callback_voice
from ivr.voice import conference, offers, presence, twiml
from ivr.web import controls, labels, today, transfer
from queues.agent import (
    AVAILABLE,
    BREAK,
    DEVICE_UNREACHABLE,
    OFFLINE,
    ON_CALL,
    RESERVED,
    WRAP_UP,
    AgentState,
)
from queues.reservation import Offer

log = logs.get(__name__)
DISPOSITIONS = {
    "resolved": "Resolved",
    "follow_up": "Follow-up needed",
    "transferred": "Transferred",
    "other": "Other",
}
STATUSES = ("available", "break", "offline")
HISTORY_SHOWN = 10
HISTORY_KEPT = 50
"""Previous contacts kept per caller number."""
NOTES_MAX = 4000
REASON_MAX = 60
SOFTPHONE_TTL_S = 3600
"""Softphone access tokens live an hour; the page asks for a new one before then."""
CLIENT_PREFIX = "client:"
TOO_LATE = (
    "your device took too long to ring, so the call was not put through: it went back to"
    " the queue in its place for the next agent (or the caller hung up meanwhile)"
)
"""The 410 of an accept whose device rang only after routing gave up waiting for it."""
DEVICE_RING_S = 15
"""How long the device rings when the offer's queue is gone from the config."""
DEVICE_DEADLINE_GRACE_S = 10
"""A console accept is put back if not bridged within the ring timeout plus this."""
DEVICE_TRIES = 3
"""How often a console accept asks Twilio to ring the device when its API errs."""
DEVICE_RETRY_S = 0.25
"""The first pause between those tries; each next one doubles (with jitter)."""


# -- the view -------------------------------------------------------------------
async def agent_view(svc: Services, agent: str) -> dict[str, Any]:
    """Everything the console shows for `agent`, with durations from the service clock."""
    state = await svc.router.agent_state(agent)
    config = svc.registry.current.agents[agent]
    call = await current_call(svc, agent, state)
    day = today.agent_days(svc, await today.events_today(svc)).get(agent, today.AgentDay())
    return {
        "agent": {
            "id": agent,
            "name": config.name,
            "device": config.device,
            "state": state.state,
            "state_label": labels.state_label(state.state),
            "reason": state.reason,
            "held": state.held,
            "in_state_s": round(svc.clock.now() - state.since, 1) if state.since else None,
        },
        "offer": await offer_view(svc, agent, state.reservation)
        if state.state == RESERVED
        else None,
        "call": call,
        "wrap_up": await wrap_view(svc, agent) if state.state == WRAP_UP else None,
        "stats": await today.agent_stats(svc, day),
        "softphone": softphone_view(svc, config.device),
        "dispositions": DISPOSITIONS,
    }


async def offer_view(svc: Services, agent: str, reservation_id: str) -> dict[str, Any] | None:
    """The screen pop of a pending offer: who is calling, about what, and their history."""
    offer = await offers.offer_for(svc, reservation_id)
    if offer is None or offer.agent != agent:
        return None
    marked = await callback_mark(svc, offer.call_sid)
    original = marked.pop("call", "") if marked else ""
    session = await svc.calls.get(original or offer.call_sid)
    position = await svc.router.position(offer.call_sid)
    queue = svc.registry.current.queues.get(offer.queue)
    return {
        "id": reservation_id,
        "queue": offer.queue,
        "queue_name": labels.queue_name(svc.registry.current, offer.queue),
        **caller_view(svc, session, offer.call_sid, offer.queue),
        "callback": marked,
        "wait_s": round(position.waited_s, 1) if position else None,
        "remaining_s": round(max(0.0, offer.expires_at - svc.clock.now()), 1),
        "ring_timeout_s": queue.ring_timeout_s if queue else None,
        "history": await history(svc, session.caller) if session else [],
        "handoff": await transfer.handoff_view(svc, offer.call_sid),
    }


async def callback_mark(svc: Services, call_id: str) -> dict[str, Any] | None:
    """For an offer that is a callback: whom to call, when it was asked for, the original call."""
    cb = await callback.get(svc, call_id)
    if cb is None:
        return None
    return {
        "number": cb.number,
        "number_label": labels.mask_number(cb.number),
        "requested_ms": cb.created_ms,
        "kind": cb.kind,
        "call": cb.call,
    }


def caller_view(
    svc: Services, session: CallSession | None, call_sid: str, queue: str = ""
) -> dict[str, Any]:
    """Who is calling and what they told the IVR; the `*_label` fields and `menu_path` are
    what the pages show (a name or masked number, the menu choices the caller made)."""
    if session is None:
        return {
            "call": call_sid,
            "caller": None,
            "caller_name": None,
            "caller_label": labels.UNKNOWN_CALLER,
            "language": None,
        }
    config = svc.registry.current
    language = config.languages.available.get(session.language)
    return {
        "call": call_sid,
        "caller": session.caller,
        "caller_name": session.caller_name,
        "caller_label": labels.caller_label(session.caller_name, session.caller),
        "language": session.language,
        "language_name": language.name if language else session.language,
        "path": list(session.path),
        "menu_path": labels.menu_path(config, session.path, session.language, queue),
        "data": dict(session.data),
    }


async def current_call(svc: Services, agent: str, state: AgentState) -> dict[str, Any] | None:
    """The call the agent is on or still has to wrap up (a disposition not yet given)."""
    key = svc.keys.console_call(agent)
    record: dict[str, str] = await svc.redis.hgetall(key)  # type: ignore[assignment]
    if state.state == ON_CALL and record.get("call") != state.call_sid:
        record = await remember_call(svc, agent, state.call_sid)  # accepted on the phone
    if not record or record.get("disposition") or state.state in (RESERVED, OFFLINE):
        return None
    if await transfer.consulted_only(svc, agent, record, state):
        return None  # consulted about it, never handed it: nothing to wrap up
    session = await svc.calls.get(record["call"])
    talk_end = svc.clock.now() if state.state == ON_CALL else state.since  # wrap-up began
    queue = record.get("queue", "")
    return {
        **caller_view(svc, session, record["call"], queue),
        "queue": queue,
        "queue_name": labels.queue_name(svc.registry.current, queue),
        "talk_s": round(max(0.0, talk_end - float(record["accepted_at"])), 1),
        "connected": state.state == ON_CALL,
        "phase": await call_phase(svc, state),
        "notes": record.get("notes", ""),
        **await live_state(svc, record["call"], state),
        "transfer": await transfer.call_view(svc, agent, record["call"]),
    }


async def live_state(svc: Services, call_sid: str, state: AgentState) -> dict[str, Any]:
    """The conference's state (connecting, connected, on_hold, consulting, ended), whether
    the agent is muted and the customer on hold: the header and the call controls."""
    view = controls.call_view(await conference.state(svc, call_sid))
    if state.state != ON_CALL or view["state"] is None:
        view["state"] = "ended" if state.state != ON_CALL else "connecting"
    view["state_label"] = labels.call_state_label(view["state"])
    return view


async def call_phase(svc: Services, state: AgentState) -> str:
    """Where the call is: `connecting` (accepted, the agent's device still ringing),
    `connected`, or `wrapping_up` (the caller is gone)."""
    if state.state != ON_CALL:
        return "wrapping_up"
    routed = await svc.router.call(state.call_sid)
    return "connecting" if routed is not None and routed.pending else "connected"


async def remember_call(svc: Services, agent: str, call_sid: str) -> dict[str, str]:
    call = await svc.router.call(call_sid)
    queue = call.queue if call else ""
    record = {"call": call_sid, "queue": queue, "accepted_at": str(svc.clock.now())}
    key = svc.keys.console_call(agent)
    async with svc.redis.pipeline(transaction=True) as pipe:
        pipe.delete(key)
        pipe.hset(key, mapping=record)  # type: ignore[arg-type]
        await pipe.execute()
    return record


async def wrap_view(svc: Services, agent: str) -> dict[str, Any]:
    due = await svc.router.wrap_end(agent)
    remaining = None if due is None else round(max(0.0, due - svc.clock.now()), 1)
    return {"remaining_s": remaining}


def softphone_view(svc: Services, device: str) -> dict[str, Any]:
    identity = device.removeprefix(CLIENT_PREFIX) if device.startswith(CLIENT_PREFIX) else None
    configured = bool(svc.settings.twilio_api_key and svc.settings.twilio_api_secret)
    return {"identity": identity, "configured": configured and identity is not None}


async def history(svc: Services, number: str) -> list[dict[str, Any]]:
    """A caller's previous contacts, newest first, with the survey score when there is one."""
    raws: list[str] = await svc.redis.lrange(svc.keys.contact_history(number), 0, HISTORY_SHOWN - 1)  # type: ignore[assignment]
    contacts = [json.loads(raw) for raw in raws]
    agents = svc.registry.current.agents
    for contact in contacts:
        known = agents.get(contact.get("agent", ""))
        contact["agent_name"] = known.name if known else contact.get("agent")
    if contacts:
        scores = await svc.redis.hmget(svc.keys.survey_scores(), [c["call"] for c in contacts])
        for contact, score in zip(contacts, scores, strict=True):
            contact["ces"] = float(score) if score else None
    return contacts


# -- actions ----------------------------------------------------------------------
async def set_status(svc: Services, agent: str, status: str, reason: str = "") -> None:
    """available / break (with a reason) / offline; 409 when not allowed now."""
    if status not in STATUSES:
        raise HTTPException(422, f"status must be one of {', '.join(STATUSES)}")
    await presence.mark_present(svc, agent)  # asked from the console: offers ring there
    try:
        if status == AVAILABLE:
            await offers.dispatch_offers(svc, await svc.router.set_available(agent))
        elif status == BREAK:
            await svc.router.set_break(agent, reason.strip()[:REASON_MAX] or "break")
        else:
            await svc.router.set_offline(agent)
    except InvalidTransition:
        current = (await svc.router.agent_state(agent)).state
        raise HTTPException(409, labels.status_refusal(current, status)) from None


async def own_offer(svc: Services, agent: str, reservation_id: str) -> Offer:
    """The pending offer if it is this agent's: 403 another's, 410 ended, 404 unknown."""
    offer = await offers.offer_for(svc, reservation_id)
    if offer is not None:
        if offer.agent != agent:
            raise HTTPException(403, "that offer is for another agent")
        return offer
    shown_to = await svc.redis.get(svc.keys.console_offer(reservation_id))
    if shown_to == agent:
        raise HTTPException(410, "the offer has expired or was withdrawn")
    if shown_to:
        raise HTTPException(403, "that offer is for another agent")
    raise HTTPException(404, "no such offer")


async def accept(svc: Services, agent: str, reservation_id: str) -> dict[str, Any]:
    """Take the call: routing holds it pending, then the agent's device is rung into the bridge.

    The CONNECT is recorded only when the caller, moved into the call's conference once the
    device answers, fetches its join (`ivr.voice.bridge`). A device that rings out, is busy
    or fails puts the caller back in their place (its status callback,
    `ivr.voice.agent.leg_ended`), and so does no bridge within the ring timeout and
    `DEVICE_DEADLINE_GRACE_S`. If Twilio refuses to ring it, the caller goes back at once
    and 502 says so (a break only when Twilio says the device cannot be rung). If routing
    already gave up waiting for it, the device's call is hung up before it can bridge: 410.
    """
    offer = await own_offer(svc, agent, reservation_id)
    if offer.expires_at <= svc.clock.now():
        raise HTTPException(410, "the offer has expired")
    call_sid = offer.call_sid
    queue = svc.registry.current.queues.get(offer.queue)
    ring_s = queue.ring_timeout_s if queue else DEVICE_RING_S
    try:
        deadline = ring_s + DEVICE_DEADLINE_GRACE_S
        await svc.router.accept(reservation_id, agent, pending=True, deadline_s=deadline)
    except RoutingError:  # timed out or withdrawn just now
        raise HTTPException(410, "the offer has expired or was withdrawn") from None
    await sentinel.confirm(svc, "call accepted")  # on a replica before the device rings
    await offers.stop_ringing(svc, reservation_id)  # in case the phone rang it as well
    document = twiml.render(await agent_leg(svc, agent, call_sid, reservation_id))
    if "<Dial" not in document and "<Redirect" not in document:  # a callback not needed now
        raise HTTPException(410, "the callback is no longer needed")
    device = svc.registry.current.agents[agent].device
    await record_leg(svc, reservation_id, agent, call_sid, device, ring_s)
    try:
        leg = await ring_with_retries(svc, device, call_sid, document, reservation_id, ring_s)
    except REST_ERRORS as exc:
        log.warning("could not ring the agent's device", agent=agent, error=str(exc))
        told = await not_rung(svc, agent, call_sid, device, exc, reservation_id)
        raise HTTPException(502, told) from None
    await offers.adopt_or_hang_up(svc, reservation_id, leg)
    if not await connected(svc, agent, call_sid):
        await hang_up_leg(svc, leg)
        raise HTTPException(410, TOO_LATE)
    log.info("accepted in console", agent=agent, call=call_sid, leg=leg)
    return {"call": call_sid, "device": device}


async def agent_leg(
    svc: Services, agent: str, call_sid: str, reservation_id: str = ""
) -> VoiceResponse:
    """The TwiML the agent's device runs: the bridge, or for a callback the customer's dial."""
    if is_callback(call_sid):
        return await callback_voice.dial_from_agent(svc, call_sid, agent)
    return agent_voice.bridge(svc, call_sid, reservation_id)


async def record_leg(
    svc: Services, reservation_id: str, agent: str, call_sid: str, device: str, ring_s: float
) -> None:
    """The intent to ring the device, before the request: its status callback finds it."""
    intent = {
        "call": call_sid,
        "agent": agent,
        "device": device,
        "expires": svc.clock.now() + ring_s,
        "leg": "",
        "tries": 0,
        "window_s": ring_s + DEVICE_DEADLINE_GRACE_S,  # the bridge waits this from the ring
    }
    await svc.redis.hset(svc.keys.offers(), reservation_id, json.dumps(intent))


async def ring_with_retries(
    svc: Services, device: str, call_sid: str, document: str, reservation_id: str, ring_s: float
) -> str:
    """`ring_device`, retrying a transient API error a few times within about a second."""
    for attempt in range(DEVICE_TRIES):
        try:
            return await ring_device(
                svc, device, call_sid, document, reservation_id=reservation_id, ring_s=ring_s
            )
        except REST_ERRORS as exc:
            if attempt + 1 == DEVICE_TRIES or not transient(exc):
                raise
            log.info("device ring failed; retrying", device=device, error=str(exc))
            await asyncio.sleep(DEVICE_RETRY_S * 2**attempt * (0.5 + random.random() / 2))
    raise AssertionError("unreachable")  # the loop returns or raises


async def ring_device(
    svc: Services,
    device: str,
    call_sid: str,
    document: str,
    reservation_id: str = "",
    ring_s: float = DEVICE_RING_S,
) -> str:
    """Ring the agent's device with `document`, watched by its status callback: the leg's
    sid; a TwilioRestException (or a transport error) if refused."""
    session = await svc.calls.get(call_sid)
    caller_id = session.called if session and session.called.startswith("+") else "client:ivr"
    status = svc.urls.to("agent_status", res=reservation_id)
    requested_at = svc.clock.now()
    leg = await svc.rest(
        lambda c: c.calls.create(
            to=device,
            from_=caller_id,
            twiml=document,
            status_callback=status,
            status_callback_event=offers.LEG_EVENTS,
            timeout=int(ring_s),
        )
    )
    window_s = ring_s + DEVICE_DEADLINE_GRACE_S
    wait_s = queue_wait_s(leg)
    await offers.device_paced(svc, call_sid, str(leg.sid), requested_at, wait_s, window_s)
    return str(leg.sid)


async def connected(svc: Services, agent: str, call_sid: str) -> bool:
    """The device is being rung into the call: the console shows the call.

    False when the call is no longer pending on the agent: ringing the device took longer
    than routing waits for it, so routing put the call back, or the caller hung up. An
    agent-first callback has no queue bridge to wait for: its CONNECT is recorded now.
    """
    call = await svc.router.call(call_sid)
    if call is None or call.agent != agent or not call.pending:
        return False
    if is_callback(call_sid) and not await svc.router.confirm(call_sid, agent):
        return False
    if not is_callback(call_sid):
        await callback_dial.on_connect(svc, call_sid, agent)  # a customer-first callback's leg?
    await remember_call(svc, agent, call_sid)
    return True


async def hang_up_leg(svc: Services, leg: str) -> None:
    """End the device's call of a connection routing no longer holds, before it bridges."""
    await offers.hang_up(svc, leg)


async def not_rung(
    svc: Services, agent: str, call_sid: str, device: str, exc: Exception, reservation_id: str
) -> str:
    """Twilio did not ring the device: the caller goes back (this connection only); what
    to tell the agent."""
    if offers.device_error(exc):
        told = await give_back(svc, agent, call_sid, device)
        back_s = svc.registry.current.agents[agent].device_retry_s
        with contextlib.suppress(RoutingError):  # arm the break's cool-down
            await svc.router.set_break(agent, DEVICE_UNREACHABLE, back_after_s=back_s)
        return told
    if is_callback(call_sid):
        await callback_dial.hand_back(svc, call_sid)
    try:
        offered = await svc.router.put_back(call_sid, agent, "unreached", conn=reservation_id)
    except RoutingError:
        return f"{device} could not be rung, and the caller has hung up"
    await forget_call(svc, agent, call_sid)
    await offers.dispatch_offers(svc, offered)
    await offers.return_caller(svc, call_sid)
    return (
        f"Twilio could not be reached to ring {device}, so the call went back to the queue"
        " in its place; you stay available"
    )


async def give_back(svc: Services, agent: str, call_sid: str, device: str) -> str:
    """The device cannot be rung: the call goes back to its place, offered to the next
    agent, and this agent goes on break "device unreachable". Returns what to tell them."""
    if is_callback(call_sid):
        await callback_dial.hand_back(svc, call_sid)  # first: a next agent may accept at once
    try:
        offered = await svc.router.requeue(call_sid, agent)
    except RoutingError:  # the caller hung up meanwhile: routing ended the call
        return f"{device} could not be rung, and the caller has hung up"
    await forget_call(svc, agent, call_sid)
    await offers.dispatch_offers(svc, offered)
    return (
        f"{device} could not be rung, so the call went back to the queue in its place"
        f" for the next agent; you are on a break ({DEVICE_UNREACHABLE}) until you go"
        " available again"
    )


async def forget_call(svc: Services, agent: str, call_sid: str) -> None:
    """Drop the console's record of a call the agent never got (shown while on call)."""
    key = svc.keys.console_call(agent)
    if await svc.redis.hget(key, "call") == call_sid:
        await svc.redis.delete(key)


async def reject(svc: Services, agent: str, reservation_id: str) -> None:
    """Decline: the call goes back to its place and is offered to someone else."""
    await own_offer(svc, agent, reservation_id)
    try:
        released = await svc.router.reject(reservation_id, agent)
    except ReservationError:
        raise HTTPException(410, "the offer has expired or was withdrawn") from None
    await offers.stop_ringing(svc, reservation_id)
    await offers.dispatch_offers(svc, released)


async def save_notes(svc: Services, agent: str, call_sid: str, notes: str) -> None:
    record = await own_call(svc, agent, call_sid)
    if record.get("disposition"):
        raise HTTPException(409, "the call is already wrapped up")
    await svc.redis.hset(svc.keys.console_call(agent), "notes", notes[:NOTES_MAX])


async def own_call(svc: Services, agent: str, call_sid: str) -> dict[str, str]:
    """The agent's current call record; 403 for a call that is not theirs."""
    record: dict[str, str] = await svc.redis.hgetall(svc.keys.console_call(agent))  # type: ignore[assignment]
    if record.get("call") != call_sid:
        raise HTTPException(403, "that call is not yours")
    return record


ALREADY_FILED = "the call is already filed"


async def wrap_up(
    svc: Services, agent: str, call_sid: str, disposition: str, notes: str
) -> dict[str, Any]:
    """Record the disposition in the caller's history, then end wrap-up (ready)."""
    if disposition not in DISPOSITIONS:
        raise HTTPException(422, f"disposition must be one of {', '.join(DISPOSITIONS)}")
    record = await own_call(svc, agent, call_sid)
    state = await svc.router.agent_state(agent)
    if state.state == ON_CALL:
        raise HTTPException(409, "the call is still connected")
    if record.get("disposition"):
        raise HTTPException(409, ALREADY_FILED)
    await record_contact(svc, agent, record, disposition, notes[:NOTES_MAX])
    if state.state == WRAP_UP:
        # The wrap-up timer may have ended it a moment ago: then already available.
        with contextlib.suppress(InvalidTransition):
            await offers.dispatch_offers(svc, await svc.router.set_ready(agent))
    return {"call": call_sid, "disposition": disposition}


async def record_contact(
    svc: Services, agent: str, record: dict[str, str], disposition: str, notes: str
) -> None:
    # The claim: of two wrap-ups at once (a double click, two tabs) only one files it.
    if not await svc.redis.hsetnx(svc.keys.console_call(agent), "disposition", disposition):
        raise HTTPException(409, ALREADY_FILED)
    session = await svc.calls.get(record["call"])
    if session is None:
        return  # the call's state expired: nothing to file it under
    contact = {
        "at": svc.clock.now(),
        "call": record["call"],
        "agent": agent,
        "queue": record.get("queue", ""),
        "disposition": disposition,
        "notes": notes,
    }
    key = svc.keys.contact_history(session.caller)
    event = {
        "type": "DISPOSITION",
        "ts": str(int(svc.clock.now() * 1000)),
        "call": record["call"],
        "agent": agent,
        "queue": record.get("queue", ""),
        "disposition": disposition,
    }
    async with svc.redis.pipeline(transaction=True) as pipe:
        pipe.lpush(key, json.dumps(contact))
        pipe.ltrim(key, 0, HISTORY_KEPT - 1)
        pipe.xadd(svc.keys.events(), event)  # type: ignore[arg-type]  # ART and FCR fold it
        await pipe.execute()


def softphone_token(svc: Services, agent: str) -> dict[str, Any]:
    """A short-lived Voice SDK token for the agent's own client identity only."""
    config = svc.registry.current.agents.get(agent)
    if config is None:
        raise HTTPException(404, "unknown agent")
    return device_token(svc, config.device)


def device_token(svc: Services, device: str) -> dict[str, Any]:
    """A short-lived Voice SDK token for the client identity of `device` (an agent's, or a
    supervisor's for monitoring); 409 for a phone number, 503 without an API key."""
    view = softphone_view(svc, device)
    if view["identity"] is None:
        raise HTTPException(409, "your device is a phone number: calls ring that phone")
    if not view["configured"]:
        raise HTTPException(503, "the softphone is not configured (TWILIO_API_KEY/SECRET)")
    settings = svc.settings
    token = AccessToken(
        settings.twilio_account_sid,
        settings.twilio_api_key,
        settings.twilio_api_secret,
        identity=view["identity"],
        ttl=SOFTPHONE_TTL_S,
    )
    grant = VoiceGrant(
        incoming_allow=True, outgoing_application_sid=settings.twilio_twiml_app_sid or None
    )
    token.add_grant(grant)
    return {"token": token.to_jwt(), "identity": view["identity"], "ttl_s": SOFTPHONE_TTL_S}
