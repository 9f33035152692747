"""Transfers on the voice side: moving the customer's leg, and what the next agent hears.

    cold, to a queue or agent:  routing moves the call; the agent's leg is redirected out of
                                the conference ("Transferred to Technical support. Goodbye."),
                                then the customer's, to /voice/transfer/wait: "Please hold
                                while we put you through to Technical support", then
                                `<Enqueue>` with the hold loop, until routing's next agent
                                bridges them (the conference ends with them).
    cold, to a number:          the number joins the conference (label `external`), then
                                the agent's leg leaves it the same way.
    warm:                       routing reserves the target; the customer is held (hold
                                music) and the target's device is rung with a whisper into
                                the conference (label `consult`). Complete: the conference
                                becomes the target's, the customer is resumed, the first
                                agent's leg leaves. Cancel: the consult leg is dropped, the
                                customer resumed. The first agent hanging up mid-consult
                                completes it once the target is in (`agent_left`).

Routing decides first in each case (`queues.router.Router.transfer_to_*`, `consult_*`),
atomically, so a refused transfer changes nothing on the line. What the agent who
transferred the call wrote goes with it (`ivr.voice.handoff`).
"""

from __future__ import annotations

import contextlib

from starlette.requests import Request
from starlette.responses import Response
from twilio.twiml.voice_response import VoiceResponse

from ivr.config import phrases
from ivr.core import logs, numbers
from ivr.core.errors import CallControlError, RoutingError, TransferRefused
from ivr.core.security import require
from ivr.core.session import CallSession
from ivr.core.telephony import REST_ERRORS
from ivr.service import Services, services
from ivr.voice import callback as callback_voice
from ivr.voice import conference, offers, twiml
from ivr.voice.handoff import Handoff, hand_over, spoken, withdraw
from ivr.voice.queue import wait_in_queue
from ivr.voice.twiml import xml
from queues.reservation import Reservation

log = logs.get(__name__)

CONSULT_RING_S = 20
"""How long the consulted agent's device rings before the consultation is given up."""
LEG_OVER = frozenset({"completed", "busy", "no-answer", "failed", "canceled"})
"""A consult leg's final statuses."""
CONSULT_FIELDS = ("consult", "consult_agent", "consult_res")
"""What `Keys.conference` holds about a consultation under way: the consulted agent's leg,
who they are, and the connection the call will have with them if it is completed."""


# -- cold: to a queue, an agent, a number -------------------------------------------------
async def cold(
    svc: Services, call_sid: str, agent: str, kind: str, target: str, notes: str
) -> None:
    """Move `agent`'s connected call on, cold (see the module's docstring)."""
    conf = await conference.live(svc, call_sid, agent)
    if conf.state == conference.CONSULTING:
        raise TransferRefused("finish or cancel the consultation first")
    offered = await routed(svc, call_sid, agent, kind, target)
    await hand_over(svc, call_sid, agent, notes, kind, target)
    # Over for this agent before either move, so their leg's end hangs nobody up; a hold
    # in progress ends here (UNHOLD), counted in their handle.
    await conference.close(svc, call_sid)
    await conference.update(svc, call_sid, todo="")
    if kind == "number":
        await ring_external(svc, conf, call_sid, target)
    await release(svc, conf, target_name(svc, kind, target))
    if kind != "number":
        url = svc.urls.to("transfer_wait", call=call_sid)
        await conference.rest(svc, lambda c: c.calls(conf.customer).update(url=url, method="POST"))
    log.info("transferred", call=call_sid, agent=agent, kind=kind, target=target)
    await offers.dispatch_offers(svc, offered)


async def routed(
    svc: Services, call_sid: str, agent: str, kind: str, target: str
) -> list[Reservation]:
    """Routing's side of a cold transfer; the offers it made, for the web layer to ring."""
    if kind == "queue":
        return (await svc.router.transfer_to_queue(call_sid, agent, target)).offers
    if kind == "agent":
        return (await svc.router.transfer_to_agent(call_sid, agent, target)).offers
    return await svc.router.transfer_to_number(call_sid, agent, target)


async def caller_id(svc: Services, call_sid: str) -> str:
    """The number a leg the service places for this call shows: the number the customer
    called (one of ours), else the service's client identity."""
    session = await svc.calls.get(call_sid)
    return session.called if session and session.called.startswith("+") else "client:ivr"


async def ring_external(
    svc: Services, conf: conference.ConferenceState, call_sid: str, number: str
) -> None:
    """Add `number` to the call's conference (label `external`): the customer hears it
    ring (early media), and the call ends when it hangs up."""
    sid = await conference.conference_sid(svc, conf)
    from_ = await caller_id(svc, call_sid)
    await conference.rest(
        svc,
        lambda c: c.conferences(sid).participants.create(
            from_=from_,
            to=number,
            label=conference.EXTERNAL,
            early_media=True,
            end_conference_on_exit=True,
            beep="false",
        ),
    )


async def release(svc: Services, conf: conference.ConferenceState, target: str) -> None:
    """Take the agent's leg out of the conference: they hear whom the call went to, and
    their leg ends (its `<Dial>` is cut short by the redirect, so no action follows). The
    offer's record of that leg goes first: its end, reported later, must not be taken for
    the end of a new connection of the same call (transferred back to the same agent)."""
    await svc.redis.hdel(svc.keys.offers(), conf.res)
    leg = conf.agent
    if not leg:
        return
    response = VoiceResponse()
    callback_voice.say_to_agent(svc, response, "agent.transferred", target=target)
    response.hangup()
    document = twiml.render(response)
    try:
        await conference.rest(svc, lambda c: c.calls(leg).update(twiml=document))
    except REST_ERRORS as exc:  # gone already; else the conference's end takes it out
        log.warning("could not take the agent's leg out", leg=leg, error=str(exc))


def target_name(svc: Services, kind: str, target: str) -> str:
    """What the agent who transferred hears the call went to: a queue's display name, an
    agent's name, or the number, spelled."""
    config = svc.registry.current
    if kind == "queue":
        shown = config.queues.get(target)
        return shown.display_name if shown and shown.display_name else target
    if kind == "agent" and target in config.agents:
        return config.agents[target].name
    return numbers.spell(target, plus=True)


async def transfer_wait(request: Request) -> Response:
    """The customer, moved out of the conference by a cold transfer: told where they are
    going, then waiting in their own queue with the hold loop until routing's next agent
    takes them (at their place: original arrival and priority)."""
    svc = services(request)
    form = await svc.verifier.form(request)
    (sid,) = require(form, "CallSid")
    session = await svc.calls.get(sid)
    call = await svc.router.call(sid)
    response = VoiceResponse()
    if session is None or call is None:
        response.hangup()
        return xml(response)
    config = svc.config_for(session.config_version)
    where = going_to(svc, call.queue, call.pinned)
    text = phrases.text(config, session.language, "queue.transferring", queue=where)
    twiml.say(response, text, config.languages.of(session.language))
    wait_in_queue(svc, response, sid)
    return xml(response)


def going_to(svc: Services, queue: str, pinned: str) -> str:
    """What the customer is told they are put through to: the agent's first name for a
    transfer to an agent, else the queue's display name."""
    config = svc.registry.current
    if pinned and pinned in config.agents:
        return config.agents[pinned].name.split()[0]
    shown = config.queues.get(queue)
    return shown.display_name if shown and shown.display_name else queue


# -- warm: consult, then complete or cancel ----------------------------------------------
async def consult(svc: Services, call_sid: str, agent: str, target: str, notes: str) -> None:
    """Warm transfer: `target` is reserved in routing, the customer is put on hold (hold
    music), and `target`'s device is rung with a whisper (the IVR data and this agent's
    notes) into the conference (label `consult`). Should any of it fail, the consultation
    is undone and the customer resumed."""
    conf = await conference.live(svc, call_sid, agent)
    if conf.state == conference.CONSULTING:
        raise TransferRefused("you are already consulting")
    conn = await svc.router.consult_start(call_sid, agent, target)
    handoff = await hand_over(svc, call_sid, agent, notes, "consult", target)
    try:
        await conference.hold(svc, call_sid, True)
        leg = await ring_consult(svc, call_sid, target, conn, handoff)
    except BaseException:
        await back_to_customer(svc, call_sid, agent)
        raise
    fields = {"consult": leg, "consult_agent": target, "consult_res": conn}
    await conference.update(svc, call_sid, state=conference.CONSULTING, **fields)
    log.info("consulting", call=call_sid, agent=agent, target=target, leg=leg)


async def ring_consult(
    svc: Services, call_sid: str, target: str, conn: str, handoff: Handoff
) -> str:
    """Ring `target`'s device: the whisper, then the call's conference. Its `<Dial>` action
    names the connection they will have if the transfer completes (`conn`), so their leg's
    end ends the call only then. Its status callback cancels a consultation whose leg ends
    while it is under way (`consult_status`)."""
    document = twiml.render(await consult_leg(svc, call_sid, conn, handoff))
    device = svc.registry.current.agents[target].device
    status = svc.urls.to("transfer_consult", call=call_sid, res=conn)
    from_ = await caller_id(svc, call_sid)
    leg = await conference.rest(
        svc,
        lambda c: c.calls.create(
            to=device, from_=from_, twiml=document, status_callback=status, timeout=CONSULT_RING_S
        ),
    )
    return str(leg.sid)


async def consult_leg(svc: Services, call_sid: str, conn: str, handoff: Handoff) -> VoiceResponse:
    """The consulted agent's TwiML: who asks and about what, then the conference."""
    response = VoiceResponse()
    response.say(await consult_whisper(svc, call_sid, handoff))
    dial = response.dial(action=svc.urls.to("agent_done", call=call_sid, res=conn))
    conf = await conference.state(svc, call_sid)
    opened = conf.opened if conf is not None else ""
    conference.conference_noun(svc, dial, call_sid, conference.CONSULT, False, opened)
    return response


async def consult_whisper(svc: Services, call_sid: str, handoff: Handoff) -> str:
    """ "Consultation from Alice Tan. Notes: …. Billing call from …, in English, account
    number …": the handoff, then what the IVR collected."""
    session = await svc.calls.get(call_sid)
    call = await svc.router.call(call_sid)
    notes = spoken(handoff).removeprefix(f"Transferred by {handoff.name}")
    about = context(svc, session, call.queue if call else "")
    return f"Consultation from {handoff.name}{notes}. {about}."


def context(svc: Services, session: CallSession | None, queue: str) -> str:
    """The call's context in words: the queue, the caller, their language and IVR data."""
    config = svc.registry.current
    shown = config.queues.get(queue)
    parts = [f"{shown.display_name if shown and shown.display_name else queue} call"]
    if session is not None:
        parts.append(f"from {session.caller_name or numbers.spell(session.caller, plus=True)}")
        language = config.languages.available.get(session.language)
        parts.append(f"in {language.name if language else session.language}")
        parts += [
            f"{k.replace('_', ' ')} {numbers.spell(v, plus=True)}" for k, v in session.data.items()
        ]
    return ", ".join(parts)


async def consult_complete(svc: Services, call_sid: str, agent: str) -> None:
    """The consulted agent takes the call: routing hands it over, the customer comes off
    hold (the hold counted as the first agent's), the conference's agent becomes the
    consulted one, and the first agent's participant is removed."""
    conf, consulted = await consulting(svc, call_sid, agent)
    offered = await svc.router.consult_complete(call_sid, agent)
    await hand_conference(svc, call_sid, consulted)
    await release(svc, conf, target_name(svc, "agent", consulted["consult_agent"]))
    log.info("consult completed", call=call_sid, agent=agent, to=consulted["consult_agent"])
    await offers.dispatch_offers(svc, offered)


async def agent_left(svc: Services, call_sid: str, reservation_id: str) -> bool:
    """The consulting agent's leg left the call (they hung up) mid-consultation: once the
    consulted agent is in the conference, the call is theirs (as Complete; True: nothing
    else to do for the leg's end). While their phone still rings, the consultation is
    cancelled (False), and the call ends with the agent's leg as any other."""
    conf = await conference.state(svc, call_sid)
    if conf is None or conf.state != conference.CONSULTING or conf.res != reservation_id:
        return False
    consulted = await consultation(svc, call_sid)
    if not await in_conference(svc, conf, consulted["consult"]):
        await back_to_customer(svc, call_sid, conf.agent_name)
        await hang_up_leg(svc, consulted["consult"])
        return False
    offered = await svc.router.consult_complete(call_sid, conf.agent_name)
    await hand_conference(svc, call_sid, consulted)
    log.info("consulting agent left: transfer completed", call=call_sid, agent=conf.agent_name)
    await offers.dispatch_offers(svc, offered)
    return True


async def in_conference(svc: Services, conf: conference.ConferenceState, leg: str) -> bool:
    """Whether `leg` is a participant of the call's conference now (Twilio's Participant)."""
    if not leg:
        return False
    try:
        sid = await conference.conference_sid(svc, conf)
        await conference.rest(svc, lambda c: c.conferences(sid).participants(leg).fetch())
    except (CallControlError, *REST_ERRORS):
        return False
    return True


async def hand_conference(svc: Services, call_sid: str, consulted: dict[str, str]) -> None:
    """Routing has handed the call to the consulted agent: the customer comes off hold (the
    hold counted as the first agent's), and the conference's agent becomes theirs."""
    await resume(svc, call_sid)
    await conference.update(
        svc,
        call_sid,
        agent=consulted["consult"],
        agent_name=consulted["consult_agent"],
        res=consulted["consult_res"],
        muted="0",
        **dict.fromkeys(CONSULT_FIELDS, ""),
    )


async def consult_cancel(svc: Services, call_sid: str, agent: str) -> None:
    """The consultation ends: the consulted agent's leg is dropped (ringing or in the
    conference) and freed in routing, and the customer comes off hold with this agent."""
    _, consulted = await consulting(svc, call_sid, agent)
    await back_to_customer(svc, call_sid, agent)
    await hang_up_leg(svc, consulted["consult"])


async def back_to_customer(svc: Services, call_sid: str, agent: str) -> None:
    """Routing frees the consulted agent; the customer is resumed with `agent`; the notes
    handed over for the consultation are withdrawn (the call was not handed on)."""
    with contextlib.suppress(RoutingError):  # the consultation ended meanwhile
        await offers.dispatch_offers(svc, await svc.router.consult_cancel(call_sid, agent))
    await withdraw(svc, call_sid)
    await resume(svc, call_sid)
    await conference.update(svc, call_sid, **dict.fromkeys(CONSULT_FIELDS, ""))


async def resume(svc: Services, call_sid: str) -> None:
    """Out of the consultation: the customer off hold (UNHOLD), the state connected."""
    conf = await conference.state(svc, call_sid)
    if conf is None:
        return
    if conf.hold_since_ms is None:
        await conference.update(svc, call_sid, state=conference.CONNECTED)
        return
    await conference.update(svc, call_sid, state=conference.ON_HOLD)
    await conference.hold(svc, call_sid, False)


async def consulting(
    svc: Services, call_sid: str, agent: str
) -> tuple[conference.ConferenceState, dict[str, str]]:
    """The conference of `agent`'s call while they consult, and the consultation's fields;
    CallControlError (409) when they are not consulting."""
    conf = await conference.live(svc, call_sid, agent)
    consulted = await consultation(svc, call_sid)
    if conf.state != conference.CONSULTING or not consulted["consult_res"]:
        raise CallControlError(409, "you are not consulting anyone on this call")
    return conf, consulted


async def consultation(svc: Services, call_sid: str) -> dict[str, str]:
    """The consultation fields of the call's conference ("" each when none)."""
    values = await svc.redis.hmget(svc.keys.conference(call_sid), list(CONSULT_FIELDS))
    return {name: str(value or "") for name, value in zip(CONSULT_FIELDS, values, strict=True)}


async def hang_up_leg(svc: Services, leg: str) -> None:
    """End a consult leg, ringing or answered (best effort: it may have ended itself)."""
    if not leg:
        return
    try:
        await conference.rest(svc, lambda c: c.calls(leg).update(status="completed"))
    except REST_ERRORS as exc:
        log.info("could not end the consult leg", leg=leg, error=str(exc))


async def consult_status(request: Request) -> Response:
    """The consult leg's status callback: a leg that ended while its consultation is still
    under way (not answered, busy, failed, or hung up mid-consult) cancels it, so the
    customer is never left on hold for nobody."""
    svc = services(request)
    form = await svc.verifier.form(request)
    call_sid = request.query_params.get("call", "")
    conf = await conference.state(svc, call_sid)
    if form.get("CallStatus", "") not in LEG_OVER or conf is None:
        return Response(status_code=204)
    consulted = await consultation(svc, call_sid)
    if conf.state != conference.CONSULTING or consulted["consult_res"] != request.query_params.get(
        "res"
    ):
        return Response(status_code=204)  # over, or an earlier consultation's leg
    log.info("consult leg ended", call=call_sid, status=form.get("CallStatus"))
    await back_to_customer(svc, call_sid, conf.agent_name)
    return Response(status_code=204)
