"""The agent's leg: the whisper, accepting or declining, the bridge to the caller, its end.

    caller leg:  <Enqueue waitUrl=/voice/hold action=/voice/queue/done>call-CA…</Enqueue>
    agent leg:   REST call -> /voice/agent/offer (whisper, "press 1")
                 -> /voice/agent/answer -> <Dial action=/voice/agent/done><Conference>conf-CA…
    caller leg:  redirected by REST -> /voice/conference/join -> <Dial><Conference>conf-CA…

Every caller waits in a Twilio queue of their own, named after the call, until routing
gives them an agent. Once the agent is on their leg, the caller is moved into the call's
conference (`ivr.voice.bridge`, `ivr.voice.conference`), where the agent's controls
(hold, mute, hang-up, digits) act. Until then the caller hears the hold loop without a
gap (`ivr.voice.queue`); how the call ends in routing is `ivr.voice.endings`.
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
from ivr.voice import bridge as bridge_voice
from ivr.voice import callback as callback_voice
from ivr.voice import conference, handoff, offers, queue_resources, twiml
from ivr.voice import transfer as transfer_voice
from ivr.voice.endings import finish
from ivr.voice.queue import SHORT_BRIDGE_S
from ivr.voice.twiml import xml
from queues.reservation import Offer, Reservation

log = logs.get(__name__)
WHISPER_TIMEOUT_S = 10
FAILED_DEVICE = frozenset({"busy", "failed"})
LEG_REASONS = {"no-answer": "noanswer", "busy": "busy", "failed": "failed"}
"""Why an agent leg that ended before the bridge missed the call (else `dropped`)."""
LEG_ENDED = frozenset({"completed", "canceled", *LEG_REASONS})
BRIDGE_DEADLINE_S = 10
"""How long after the agent presses 1 the caller must fetch the conference join (they are
redirected at once, `ivr.voice.bridge`): past that they go back in their place, as if the
process died."""
ANSWERED_TTL_S = 600
UNBRIDGED = frozenset({"busy", "no-answer", "failed", "canceled"})
"""DialCallStatus of an agent's `<Dial>` that never bridged (a conference's says `answered`
and `DialBridged`: whether it ever had someone to talk to)."""
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
    text = await handoff.whisper(svc, offer.call_sid, text)  # a transferred call's notes
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
    """Connect the call pending its bridge: confirmed when the caller, moved by REST,
    fetches the conference join (`ivr.voice.bridge`); a leg that ends first, or no bridge
    by `BRIDGE_DEADLINE_S`, puts the caller back in their place."""
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
    """The agent leg's TwiML once accepted: fetch the conference (`agent_conference`). That
    fetch, not this answer, moves the caller: an answer lost on its way (a crash) moves
    nobody, and routing's deadline puts the caller back."""
    response = VoiceResponse()
    url = svc.urls.to("agent_conference", call=call_sid, res=reservation_id or None)
    response.redirect(url, method="POST")
    return response


async def agent_conference(request: Request) -> Response:
    """The agent's leg is on the line with the call accepted: the caller is moved in
    (`ivr.voice.bridge.begin`) and the agent joins the call's conference. A call no
    longer theirs (put back meanwhile) is gone for them."""
    svc = services(request)
    form = await svc.verifier.form(request)
    call_sid = request.query_params.get("call", "")
    reservation_id = request.query_params.get("res", "")
    call = await svc.router.call(call_sid)
    if call is None or not call.agent or call.connection != reservation_id:
        return xml(caller_gone(svc))
    conf = await conference.state(svc, call_sid)
    leg = form.get("CallSid", "")
    if call.pending:
        await bridge_voice.begin(svc, call_sid, call.agent, reservation_id, leg)
    elif conf is None or conf.res != reservation_id or conf.state == conference.ENDED:
        return xml(caller_gone(svc))
    return xml(conference.agent_dial(svc, call_sid, reservation_id))


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
        offered = await svc.router.put_back(
            intent["call"], intent["agent"], reason, conn=reservation_id
        )
    except RoutingError:  # confirmed already: the leg's end is the call's end, or else
        await agent_gone(svc, intent["call"], reservation_id)  # the caller goes back
        return
    log.info("leg ended before the bridge", call=intent["call"], agent=intent["agent"], why=reason)
    if is_callback(intent["call"]):
        await callback_dial.hand_back(svc, intent["call"], reason)
    await offers.dispatch_offers(svc, offered)
    await offers.return_caller(svc, intent["call"])


async def agent_done(request: Request) -> Response:
    """The agent's leg left the conference: the agent goes to wrap-up and the customer's
    call ends with it; a leg that never had the customer to talk to puts the caller back."""
    svc = services(request)
    form = await svc.verifier.form(request)
    call_sid = request.query_params.get("call", "")
    response = VoiceResponse()
    status = form.get("DialCallStatus", "")
    # an old `<Dial><Queue>` still running at an upgrade names its queue: not left behind
    await queue_resources.release(svc, form.get("QueueSid", ""))
    if status != "completed":
        callback_voice.say_to_agent(svc, response, "agent.caller_left")
    call = await svc.router.call(call_sid)
    agent = call.agent if call else ""
    conn = call.connection if call else ""
    res = request.query_params.get("res", "")  # "" from a `<Dial>` older than `res`
    mine = (res or conn) == conn  # routing checks it again, atomically (`conn=`)
    if mine and await transfer_voice.agent_left(svc, call_sid, res):
        response.hangup()  # hung up while consulting: the consulted agent has the call now
        return xml(response)
    bridged = status not in UNBRIDGED and await talked(svc, call_sid, form)
    if mine and (bridged or not await unbridged(svc, call_sid, agent, res)):
        conf = await conference.state(svc, call_sid)
        await conference.close(svc, call_sid)
        await finish(svc, call_sid, conn=res)
        if bridged and conf is not None and conf.state in conference.LEFT_ALONE:
            await bridge_voice.end_customer(svc, call_sid)  # the agent hung up first
    response.hangup()
    return xml(response)


async def talked(svc: Services, call_sid: str, form: Mapping[str, str]) -> bool:
    """Whether the agent's `<Dial>` had the customer to talk to (`DialBridged`, or the
    customer's join reported by the conference)."""
    if "DialBridged" in form:
        return form["DialBridged"] == "true"
    conf = await conference.state(svc, call_sid)
    return conf is not None and conf.joined


async def agent_gone(svc: Services, call_sid: str, reservation_id: str) -> None:
    """The agent's leg ended with the call confirmed (its `<Dial>` action may come late, or
    never): before the customer joined, within `SHORT_BRIDGE_S` of the confirm, the caller
    goes back to their place; else the call is over, and the customer's call is ended."""
    conf = await conference.state(svc, call_sid)
    call = await svc.router.call(call_sid)
    if conf is None or call is None or conf.res != reservation_id:
        return
    if call.connection != reservation_id or call.connected_at is None:
        return
    since_s = svc.clock.now() - call.connected_at
    if not conf.joined and call.bridging and since_s <= SHORT_BRIDGE_S:
        await unbridged(svc, call_sid, call.agent, reservation_id)
    elif conf.state in conference.LEFT_ALONE:
        await conference.close(svc, call_sid)
        await finish(svc, call_sid, conn=reservation_id)
        await bridge_voice.end_customer(svc, call_sid)


async def unbridged(svc: Services, call_sid: str, agent: str, conn: str) -> bool:
    """The agent's leg of connection `conn` left before the customer joined (it dropped
    during "connecting you"): the caller goes back to their place, with an apology, and
    the agent gets the missed-call treatment. False when routing has no such call (or it
    is connected anew: the leg's end is late)."""
    if not agent:
        return False
    try:
        offered = await svc.router.put_back(call_sid, agent, "dropped", bridging=True, conn=conn)
    except RoutingError:
        return False
    log.info("agent leg ended before the bridge", call=call_sid, agent=agent)
    await conference.update(svc, call_sid, state=conference.ENDED, todo="")
    await offers.dispatch_offers(svc, offered)
    await offers.return_caller(svc, call_sid)
    return True
