"""The agent's leg: the whisper, accepting or declining, the bridge to the caller, its end.

    caller leg:  <Enqueue waitUrl=/voice/hold action=/voice/queue/done>call-CA…</Enqueue>
    agent leg:   REST call -> /voice/agent/offer (whisper, "press 1")
                 -> /voice/agent/answer -> <Dial action=/voice/agent/done><Queue>call-CA…</Queue>

Every caller waits in a Twilio queue of their own, named after the call, so
the agent's `<Dial><Queue>` bridges exactly the caller routing chose (a
shared Twilio queue would hand over whoever is at its front). Until an agent
accepts, the caller hears the hold loop without a gap (`ivr.voice.queue`); how the
call ends in routing is `ivr.voice.endings`.
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.requests import Request
from starlette.responses import Response
from twilio.twiml.voice_response import VoiceResponse

from callbacks import dial as callback_dial
from callbacks.callback import is_callback
from ivr.core import logs, numbers, sentinel
from ivr.core.errors import RoutingError
from ivr.core.session import CallSession
from ivr.service import Services, services
from ivr.voice import callback as callback_voice
from ivr.voice import offers, queue_resources, twiml
from ivr.voice import transfer as transfer_voice
from ivr.voice.endings import finish
from ivr.voice.queue import queue_name
from ivr.voice.twiml import xml
from queues.reservation import Offer, Reservation

log = logs.get(__name__)
WHISPER_TIMEOUT_S = 10
FAILED_DEVICE = frozenset({"busy", "failed"})
LEG_REASONS = {"no-answer": "noanswer", "busy": "busy", "failed": "failed"}
"""Why an agent leg that ended before the bridge missed the call (else `dropped`)."""
LEG_ENDED = frozenset({"completed", "canceled", *LEG_REASONS})
BRIDGE_DEADLINE_S = 10
"""How long after the agent presses 1 the `<Dial><Queue>` must take the caller (it runs at
once): past that the caller goes back in their place, as if the process died."""
ANSWERED_TTL_S = 600
UNBRIDGED = frozenset({"busy", "no-answer", "failed", "canceled"})
"""DialCallStatus of an agent's `<Dial><Queue>` that never bridged: the leg dropped while
the caller heard the Queue url ("connecting you"), after routing confirmed the call."""
"""How long a retried `/voice/agent/answer` still gets the bridge of the first."""


def describe(session: CallSession | None, svc: Services, queue: str, waited_s: float) -> str:
    """The whisper: who is calling, about what, and what they already told the IVR."""
    config = svc.registry.current
    shown = config.queues.get(queue)
    parts = [f"{shown.display_name if shown and shown.display_name else queue} call"]
    if session is not None:
        parts.append(f"from {session.caller_name or numbers.spell(session.caller, plus=True)}")
        language = config.languages.available.get(session.language)
        parts.append(f"in {language.name if language else session.language}")
        parts.append(f"waited {int(waited_s // 60)} minutes {int(waited_s % 60)} seconds")
        parts += [
            f"{k.replace('_', ' ')} {numbers.spell(v, plus=True)}" for k, v in session.data.items()
        ]
    return ", ".join(parts) + f". Press {offers.ACCEPT_KEY} to accept."


def caller_gone(svc: Services) -> VoiceResponse:
    """For an agent whose offer ended before they answered it."""
    response = VoiceResponse()
    callback_voice.say_to_agent(svc, response, "agent.caller_gone")
    response.hangup()
    return response


async def agent_offer(request: Request) -> Response:
    """The agent picked up: whisper the call's context and ask for the accept key."""
    svc = services(request)
    form = await svc.verifier.form(request)
    reservation_id = request.query_params.get("res", "")
    offer = await offers.offer_for(svc, reservation_id)
    if offer is None or not await rung_leg(svc, reservation_id, form):
        return xml(caller_gone(svc))
    response = VoiceResponse()
    session = await svc.calls.get(offer.call_sid)
    position = await svc.router.position(offer.call_sid)
    text = describe(session, svc, offer.queue, position.waited_s if position else 0.0)
    text = await callback_voice.mark_whisper(svc, offer.call_sid, offer.queue, text)
    text = await transfer_voice.whisper(svc, offer.call_sid, text)  # a transferred call's notes
    gather = twiml.gather(
        svc.urls.to("agent_answer", res=reservation_id),
        num_digits=1,
        timeout=WHISPER_TIMEOUT_S,
        input="dtmf",
    )
    gather.say(text)
    response.append(gather)
    callback_voice.say_to_agent(svc, response, "agent.no_key")
    response.hangup()
    return xml(response)


async def agent_answer(request: Request) -> Response:
    """1 accepts (bridge to the caller); anything else declines (the caller stays on hold).

    A repeated request for an offer already accepted (Twilio retrying) gets the same bridge.
    """
    svc = services(request)
    form = await svc.verifier.form(request)
    reservation_id = request.query_params.get("res", "")
    if not await rung_leg(svc, reservation_id, form):
        return xml(caller_gone(svc))  # not the leg rung for this offer: nothing changes
    offer = await offers.offer_for(svc, reservation_id)
    if offer is None:
        return xml(await answered_again(svc, reservation_id))
    response = VoiceResponse()
    if form.get("Digits", "") != offers.ACCEPT_KEY:
        await offers.dispatch_offers(
            svc, await offers.release(svc, _res(offer, reservation_id), False)
        )
        await svc.redis.hdel(svc.keys.offers(), reservation_id)
        callback_voice.say_to_agent(svc, response, "agent.declined")
        response.hangup()
        return xml(response)
    return xml(await accept(svc, reservation_id, offer.agent, offer.call_sid))


async def rung_leg(svc: Services, reservation_id: str, form: Mapping[str, str]) -> bool:
    """Whether the request comes from the agent leg rung for the reservation (`offers.ours`);
    an offer with no recorded ring (the console's) has no phone leg to check."""
    intent = await offers.intent_for(svc, reservation_id)
    if intent is None:
        return True
    return offers.ours(intent, form.get("CallSid", ""), form.get("To", ""))


async def answered_again(svc: Services, reservation_id: str) -> VoiceResponse:
    """The bridge of an offer accepted before, while its call is still this agent's."""
    call_sid = await svc.redis.get(svc.keys.answered(reservation_id))
    call = await svc.router.call(str(call_sid)) if call_sid else None
    intent = await offers.intent_for(svc, reservation_id)
    if call is None or intent is None or call.agent != intent["agent"]:
        return caller_gone(svc)
    return bridge(svc, str(call_sid), reservation_id)


def _res(offer: Offer, reservation_id: str) -> Reservation:
    return Reservation(
        id=reservation_id,
        call_sid=offer.call_sid,
        agent=offer.agent,
        queue=offer.queue,
        device="",
        expires_at=0.0,
    )


async def accept(svc: Services, reservation_id: str, agent: str, call_sid: str) -> VoiceResponse:
    """Connect the call pending its bridge: confirmed when the `<Dial><Queue>` takes the
    caller (`queue_connect`); a leg that ends first, or no bridge by `BRIDGE_DEADLINE_S`,
    puts the caller back in their place."""
    response = VoiceResponse()
    callback = is_callback(call_sid)  # agent-first: the customer is dialled, not dequeued
    try:
        connection = await svc.router.accept(
            reservation_id, agent, pending=not callback, deadline_s=BRIDGE_DEADLINE_S
        )
    except RoutingError as exc:
        log.info("late accept refused", reservation=reservation_id, reason=str(exc))
        callback_voice.say_to_agent(svc, response, "agent.call_gone")
        response.hangup()
        return response
    log.info("accepted", call=call_sid, agent=agent, wait_s=round(connection.wait_s, 1))
    await sentinel.confirm(svc, "call accepted")  # on a replica before the bridge
    if callback:  # agent-first callback: now dial the customer
        return await callback_voice.dial_from_agent(svc, call_sid, agent)
    await svc.redis.set(svc.keys.answered(reservation_id), call_sid, ex=ANSWERED_TTL_S)
    await callback_dial.on_connect(svc, call_sid, agent)  # a customer-first callback's leg?
    return bridge(svc, call_sid, reservation_id)


def bridge(svc: Services, call_sid: str, reservation_id: str = "") -> VoiceResponse:
    """The agent leg's TwiML for a caller on hold: take them out of their own Twilio queue.
    Its action names the reservation accepted, so a late one never ends a later connection
    of the same call (routing keeps it as the call's `conn`)."""
    response = VoiceResponse()
    dial = response.dial(
        action=svc.urls.to("agent_done", call=call_sid, res=reservation_id or None)
    )
    dial.queue(queue_name(call_sid), url=svc.urls.to("queue_connect", call=call_sid))
    return response


async def agent_status(request: Request) -> Response:
    """Status of an agent leg (a ring, or a console accept's device): the leg's sid is
    adopted; a leg that ends before the bridge releases the offer or puts the caller back."""
    svc = services(request)
    form = await svc.verifier.form(request)
    reservation_id = request.query_params.get("res", "")
    status, leg = form.get("CallStatus", ""), form.get("CallSid", "")
    to = form.get("To", "")
    if not await svc.calls.leg_event(leg, form):
        return Response(status_code=204)  # a repeat, or late: a `ringing` after `completed`
    if status not in LEG_ENDED:
        if await offers.adopt_or_hang_up(svc, reservation_id, leg, to) in offers.HELD:
            await offers.leg_progress(svc, reservation_id, leg, status)
        return Response(status_code=204)
    await offers.leg_progress(svc, reservation_id, leg, status)
    intent = await offers.intent_for(svc, reservation_id)
    if intent is not None and offers.ours(intent, leg, to):
        await leg_ended(svc, reservation_id, intent, status)
    return Response(status_code=204)


async def leg_ended(
    svc: Services, reservation_id: str, intent: dict[str, str], status: str
) -> None:
    """The offer's leg ended: a ringing offer is released; an accepted call not yet bridged
    goes back to its place (with an apology), the agent getting the missed-call treatment."""
    await svc.redis.hdel(svc.keys.offers(), reservation_id)
    reason = LEG_REASONS.get(status, "dropped")
    offer = await offers.offer_for(svc, reservation_id)
    if offer is not None:
        res = _res(offer, reservation_id)
        released = await offers.release(
            svc, res, status in FAILED_DEVICE, "noanswer" if reason == "noanswer" else ""
        )
        await offers.dispatch_offers(svc, released)
        return
    try:
        offered = await svc.router.put_back(intent["call"], intent["agent"], reason)
    except RoutingError:
        return  # bridged (or over) already: the leg's end is the call's end
    log.info("leg ended before the bridge", call=intent["call"], agent=intent["agent"], why=reason)
    if is_callback(intent["call"]):
        await callback_dial.hand_back(svc, intent["call"], reason)
    await offers.dispatch_offers(svc, offered)
    await offers.return_caller(svc, intent["call"])


async def agent_done(request: Request) -> Response:
    """The bridged call ended (either side hung up): the agent goes to wrap-up."""
    svc = services(request)
    form = await svc.verifier.form(request)
    call_sid = request.query_params.get("call", "")
    response = VoiceResponse()
    status = form.get("DialCallStatus", "")
    # `<Dial><Queue>` makes the queue if the caller's was already deleted: not left behind
    await queue_resources.release(svc, form.get("QueueSid", ""))
    if status != "completed":
        callback_voice.say_to_agent(svc, response, "agent.caller_left")
    call = await svc.router.call(call_sid)
    agent = call.agent if call else ""
    conn = call.connection if call else ""
    mine = request.query_params.get("res", conn) == conn
    if mine and (status not in UNBRIDGED or not await unbridged(svc, call_sid, agent)):
        await finish(svc, call_sid)
    response.hangup()
    return xml(response)


async def unbridged(svc: Services, call_sid: str, agent: str) -> bool:
    """The agent's `<Dial><Queue>` took the caller but ended without a bridge (their leg
    dropped during "connecting you"): the caller goes back to their place, with an apology,
    and the agent gets the missed-call treatment. False when routing has no such call."""
    if not agent:
        return False
    try:
        offered = await svc.router.put_back(call_sid, agent, "dropped", bridging=True)
    except RoutingError:
        return False
    log.info("agent leg ended before the bridge", call=call_sid, agent=agent)
    await offers.dispatch_offers(svc, offered)
    await offers.return_caller(svc, call_sid)
    return True
