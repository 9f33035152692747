"""Connecting a waiting caller to an agent, and what happens when the call ends.

    caller leg:  <Enqueue waitUrl=/voice/hold action=/voice/queue/done>call-CA…</Enqueue>
    agent leg:   REST call -> /voice/agent/offer (whisper, "press 1")
                 -> /voice/agent/answer -> <Dial action=/voice/agent/done><Queue>call-CA…</Queue>

Every caller waits in a Twilio queue of their own, named after the call, so
the agent's `<Dial><Queue>` bridges exactly the caller routing chose (a
shared Twilio queue would hand over whoever is at its front). Until an agent
accepts, the caller hears the hold loop without a gap.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from twilio.twiml.voice_response import VoiceResponse

from callbacks import dial as callback_dial
from callbacks.callback import is_callback
from ivr import callback_voice, logs, numbers, offers, twiml
from ivr.attendant import Turn
from ivr.call import CallSession
from ivr.errors import RoutingError, UnknownSkill
from ivr.security import require
from ivr.service import Services, services
from queues import ewt
from queues.models import Hangup, OverflowAction, ToQueue
from queues.reservation import Entry, Reservation
from queues.router import ACTION

log = logs.get(__name__)
ACCEPT_KEY = "1"
WHISPER_TIMEOUT_S = 10
FAILED_DEVICE = frozenset({"busy", "failed"})
LEG_REASONS = {"no-answer": "noanswer", "busy": "busy", "failed": "failed"}
"""Why an agent leg that ended before the bridge missed the call (else `dropped`)."""
LEG_ENDED = frozenset({"completed", "canceled", *LEG_REASONS})
BRIDGE_DEADLINE_S = 10
"""How long after the agent presses 1 the `<Dial><Queue>` must take the caller (it runs at
once): past that the caller goes back in their place, as if the process died."""
ANSWERED_TTL_S = 600
SHORT_BRIDGE_S = 6.0
"""A bridge that ended this soon after the caller's Queue url fetch (confirm) carried no
conversation: "connecting you" alone takes most of it. The agent's leg dropped."""
UNBRIDGED = frozenset({"busy", "no-answer", "failed", "canceled"})
"""DialCallStatus of an agent's `<Dial><Queue>` that never bridged: the leg dropped while
the caller heard the Queue url ("connecting you"), after routing confirmed the call."""
"""How long a retried `/voice/agent/answer` still gets the bridge of the first."""


def queue_name(call_sid: str) -> str:
    """The Twilio queue a caller waits in: one per call (at most 64 characters)."""
    return f"call-{call_sid}"


def xml(response: VoiceResponse) -> Response:
    return Response(twiml.render(response), media_type="application/xml")


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
    return ", ".join(parts) + f". Press {ACCEPT_KEY} to accept."


def caller_gone() -> VoiceResponse:
    """For an agent whose offer ended before they answered it."""
    response = VoiceResponse()
    response.say("Sorry, that caller is no longer waiting.")
    response.hangup()
    return response


async def agent_offer(request: Request) -> Response:
    """The agent picked up: whisper the call's context and ask for the accept key."""
    svc = services(request)
    form = await svc.verifier.form(request)
    reservation_id = request.query_params.get("res", "")
    offer = await offers.offer_for(svc, reservation_id)
    if offer is None or not await rung_leg(svc, reservation_id, form):
        return xml(caller_gone())
    response = VoiceResponse()
    session = await svc.calls.get(offer["call"])
    position = await svc.router.position(offer["call"])
    text = describe(session, svc, offer["queue"], position.waited_s if position else 0.0)
    text = await callback_voice.mark_whisper(svc, offer["call"], offer["queue"], text)
    gather = twiml.gather(
        f"{svc.urls.base}/voice/agent/answer?res={reservation_id}",
        num_digits=1,
        timeout=WHISPER_TIMEOUT_S,
        input="dtmf",
    )
    gather.say(text)
    response.append(gather)
    response.say("No key was pressed. Goodbye.")
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
        return xml(caller_gone())  # not the leg rung for this offer: nothing changes
    offer = await offers.offer_for(svc, reservation_id)
    if offer is None:
        return xml(await answered_again(svc, reservation_id))
    response = VoiceResponse()
    if form.get("Digits", "") != ACCEPT_KEY:
        await offers.dispatch_offers(
            svc, await offers.release(svc, _res(offer, reservation_id), False)
        )
        await svc.redis.hdel(svc.keys.offers(), reservation_id)
        response.say("Call declined.")
        response.hangup()
        return xml(response)
    return xml(await accept(svc, reservation_id, offer["agent"], offer["call"]))


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
    raw = await svc.redis.hget(svc.keys.routing_calls(), call_sid) if call_sid else None
    intent = await offers.intent_for(svc, reservation_id)
    if raw is None or intent is None or json.loads(raw).get("agent") != intent["agent"]:
        return caller_gone()
    return bridge(svc, str(call_sid), reservation_id)


def _res(offer: dict[str, str], reservation_id: str) -> Reservation:
    return Reservation(
        id=reservation_id,
        call_sid=offer["call"],
        agent=offer["agent"],
        queue=offer["queue"],
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
        response.say("Sorry, that call is no longer waiting.")
        response.hangup()
        return response
    log.info("accepted", call=call_sid, agent=agent, wait_s=round(connection.wait_s, 1))
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
    base = svc.urls.base
    who = f"&res={quote(reservation_id)}" if reservation_id else ""
    dial = response.dial(action=f"{base}/voice/agent/done?call={call_sid}{who}")
    dial.queue(queue_name(call_sid), url=f"{base}/voice/queue/connect?call={call_sid}")
    return response


async def agent_status(request: Request) -> Response:
    """Status of an agent leg (a ring, or a console accept's device): the leg's sid is
    adopted; a leg that ends before the bridge releases the offer or puts the caller back."""
    svc = services(request)
    form = await svc.verifier.form(request)
    reservation_id = request.query_params.get("res", "")
    status, leg = form.get("CallStatus", ""), form.get("CallSid", "")
    to = form.get("To", "")
    if status not in LEG_ENDED:
        await offers.adopt_or_hang_up(svc, reservation_id, leg, to)
        return Response(status_code=204)
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


async def confirm_bridge(svc: Services, call_sid: str) -> None:
    """The caller is being bridged: the pending connection is confirmed (CONNECT)."""
    raw = await svc.redis.hget(svc.keys.routing_calls(), call_sid)
    call = json.loads(raw) if raw else {}
    if call.get("pending") and call.get("agent"):
        await svc.router.confirm(call_sid, str(call["agent"]))


async def agent_done(request: Request) -> Response:
    """The bridged call ended (either side hung up): the agent goes to wrap-up."""
    svc = services(request)
    form = await svc.verifier.form(request)
    call_sid = request.query_params.get("call", "")
    response = VoiceResponse()
    status = form.get("DialCallStatus", "")
    if status != "completed":
        response.say("The caller is no longer there.")
    raw = await svc.redis.hget(svc.keys.routing_calls(), call_sid)
    call = json.loads(raw) if raw else {}
    agent = str(call.get("agent") or "")
    mine = request.query_params.get("res", call.get("conn")) == call.get("conn")
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


async def queue_connect(request: Request) -> Response:
    """Played to the caller just before the bridge."""
    svc = services(request)
    form = await svc.verifier.form(request)
    (sid,) = require(form, "CallSid")
    await confirm_bridge(svc, sid)
    session = await svc.calls.get(sid)
    response = VoiceResponse()
    if session is not None:
        config = svc.config_for(session.config_version)
        language = config.languages.available.get(session.language)
        text = CONNECTING.get(session.language, CONNECTING["en"])
        response.say(text, language=language.say_language if language else None)
    return xml(response)


CONNECTING = {
    "en": "Connecting you now.",
    "ms": "Anda sedang disambungkan sekarang.",
    "th": "กำลังโอนสายให้คุณค่ะ",
}


async def queue_done(request: Request) -> Response:
    """The caller's Enqueue ended: bridged and over, hung up while waiting, or left."""
    svc = services(request)
    form = await svc.verifier.form(request)
    (sid,) = require(form, "CallSid")
    result = form.get("QueueResult", "")
    response = VoiceResponse()
    if result == "bridged" and await fell_through(svc, sid):
        return xml(await rejoin(svc, sid))  # the agent's leg dropped before the bridge
    if result == "bridged":
        await finish(svc, sid)
    elif result == "leave":
        return xml(await leave_for_exit(svc, sid))
    elif result in ("hangup", "error", "system-error"):
        await abandon(svc, sid)
    response.hangup()
    return xml(response)


async def fell_through(svc: Services, sid: str) -> bool:
    """The caller's Enqueue ended `bridged`, but their bridge fell through: the call is back
    waiting in routing (the agent's `<Dial>` ended unbridged), or it is still connected,
    confirmed under `SHORT_BRIDGE_S` ago (that `<Dial>`'s action is late). Such a caller
    goes back to their place, the apology owed."""
    if await svc.router.unbridged(sid):
        return True
    raw = await svc.redis.hget(svc.keys.routing_calls(), sid)
    call = json.loads(raw) if raw else {}
    since_s = svc.clock.now() - float(call.get("connected") or 0) / 1000
    if not call.get("bridging") or since_s > SHORT_BRIDGE_S:
        return False
    try:
        offered = await svc.router.put_back(sid, str(call["agent"]), "dropped", bridging=True)
    except RoutingError:
        return False
    log.info("bridge fell through", call=sid, agent=call["agent"], after_s=round(since_s, 1))
    await offers.mark_put_back(svc, sid)
    await offers.dispatch_offers(svc, offered)
    return True


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


routes = [
    Route("/voice/agent/offer", agent_offer, methods=["POST"]),
    Route("/voice/agent/answer", agent_answer, methods=["POST"]),
    Route("/voice/agent/status", agent_status, methods=["POST"]),
    Route("/voice/agent/done", agent_done, methods=["POST"]),
    Route("/voice/queue/connect", queue_connect, methods=["POST"]),
    Route("/voice/queue/done", queue_done, methods=["POST"]),
]


VOICEMAIL_PROMPT = {
    "en": "Please leave a message after the tone, then press hash.",
    "ms": "Sila tinggalkan pesanan selepas nada, kemudian tekan pagar.",
    "th": "กรุณาฝากข้อความหลังเสียงสัญญาณ แล้วกดเครื่องหมายสี่เหลี่ยม",
}
TRANSFERRING = {
    "en": "Please hold while we put you through to {queue}.",
    "ms": "Sila tunggu sebentar, kami sedang menyambungkan anda ke {queue}.",
    "th": "กรุณารอสักครู่ เรากำลังโอนสายของคุณไปยัง {queue}",
}
"""Said to a caller overflowed into another queue, before its hold loop starts."""


def overflow(
    svc: Services, session: CallSession, action: OverflowAction, queue: str = ""
) -> VoiceResponse:
    """The TwiML for a caller moved out of `queue` (or refused by it): a message and
    goodbye, a voicemail, the callback offer, or another queue the call already joined
    in routing (`Router.move`)."""
    config = svc.config_for(session.config_version)
    language = (
        config.languages.available.get(session.language)
        or config.languages.available[config.languages.default]
    )
    response = VoiceResponse()
    if isinstance(action, Hangup):
        response.say(action.hangup, language=language.say_language, voice=language.voice)
        response.hangup()
        return response
    if isinstance(action, ToQueue):
        shown = config.queues.get(action.queue)
        name = shown.display_name if shown and shown.display_name else action.queue
        text = TRANSFERRING.get(session.language, TRANSFERRING["en"]).format(queue=name)
        response.say(text, language=language.say_language, voice=language.voice)
        wait_in_queue(svc, response, session.sid)
        return response
    if action == "callback" and config.callbacks.enabled:
        target = quote(queue or session.queue or "")
        response.redirect(f"{svc.urls.base}/voice/callback/menu?mode=menu&queue={target}")
        return response
    prompt = VOICEMAIL_PROMPT.get(session.language, VOICEMAIL_PROMPT["en"])
    response.say(prompt, language=language.say_language, voice=language.voice)
    response.record(
        action=svc.urls.voicemail(session.step),
        max_length=120,
        finish_on_key="#",
        play_beep=True,
    )
    return response


def wait_in_queue(svc: Services, response: VoiceResponse, call_sid: str) -> None:
    """Hold the caller in their own Twilio queue, with the hold loop, until an agent bridges."""
    base = svc.urls.base
    response.enqueue(
        queue_name(call_sid),
        wait_url=f"{base}/voice/hold",
        wait_url_method="POST",
        action=f"{base}/voice/queue/done",
        method="POST",
    )


async def hold_key(request: Request) -> Response:
    """An exit key pressed on hold: leave the queue for the voicemail box."""
    svc = services(request)
    form = await svc.verifier.form(request)
    (sid,) = require(form, "CallSid")
    session = await svc.calls.get(sid)
    position = await svc.router.position(sid)
    response = VoiceResponse()
    if session is not None and position is not None:
        queue = svc.config_for(session.config_version).queues.get(position.queue)
        if queue is not None and form.get("Digits") == queue.hold.voicemail_key:
            await mark_exit(svc, sid, "voicemail", "EXITWITHKEY")
            response.leave()
            return xml(response)
        if queue is not None and form.get("Digits") == queue.hold.callback_key:
            response.redirect(f"{svc.urls.base}/voice/callback/keep")  # ivr/callback_voice.py
            return xml(response)
    response.redirect(f"{svc.urls.base}/voice/hold")  # any other key: back to the music
    return xml(response)


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


async def queue_exit(request: Request) -> Response:
    """Where a caller is redirected when a timer (max wait, no agents) moves them on."""
    svc = services(request)
    form = await svc.verifier.form(request)
    (sid,) = require(form, "CallSid")
    return xml(await leave_treatment(svc, sid))


async def leave_for_exit(svc: Services, sid: str) -> VoiceResponse:
    """The hold loop said `<Leave>` (an exit key, closing time): leave routing as marked,
    or move into the overflow queue, then the treatment."""
    marked = await svc.redis.hmget(svc.keys.hold(sid), ["exit", "exit_event"])
    raw, why = marked[0], str(marked[1] or "EXITWITHKEY")
    action = ACTION.validate_python(json.loads(raw)) if raw else None
    if isinstance(action, ToQueue):
        await transfer(svc, sid, action.queue, why)
    else:
        await abandon(svc, sid, exit=why)
    return await leave_treatment(svc, sid)


async def transfer(svc: Services, sid: str, queue: str, exit: str) -> None:
    """Move a waiting caller into `queue` (original arrival and priority kept), ringing any
    agent it reserved; a queue that refuses the call marks its own overflow instead."""
    pending = await pending_offer(svc, sid)
    departure, entry = await svc.router.move(sid, queue, exit)
    if departure.status == "abandoned" and pending is not None:
        await offers.stop_ringing(svc, pending)
    if entry is None:  # not waiting any more: rather a voicemail than a silent queue
        await mark_exit(svc, sid, "voicemail", exit, queue)
    elif entry.action is not None:
        await mark_exit(svc, sid, entry.action, exit, queue)
    found = [entry.reservation] if entry is not None and entry.reservation else []
    await offers.dispatch_offers(svc, departure.offers + found)


async def leave_treatment(svc: Services, sid: str) -> VoiceResponse:
    session = await svc.calls.get(sid)
    marked = await svc.redis.hmget(svc.keys.hold(sid), ["exit", "exit_queue"])
    if session is None or marked[0] is None:
        response = VoiceResponse()
        response.hangup()
        return response
    action = ACTION.validate_python(json.loads(marked[0]))
    return overflow(svc, session, action, str(marked[1] or ""))


routes += [
    Route("/voice/hold/key", hold_key, methods=["POST"]),
    Route("/voice/queue/exit", queue_exit, methods=["POST"]),
]


async def enqueue(svc: Services, turn: Turn) -> Reservation | None:
    """Join the call to its queue in routing and put it in its own Twilio queue.

    Returns the offer to ring when an agent was reserved at once. A retried
    webhook finds the call already in routing and only renders the TwiML.
    """
    target, call = turn.handoff, turn.call
    assert target is not None
    entry: Entry | None = None
    if not await svc.router.has_call(call.sid):
        if await callback_voice.ask_existing(svc, turn):  # a callback is pending: ask first
            return None
        entry = await enter(svc, call, target.name, target.priority)
        if entry.action is not None:
            turn.response = overflow(svc, call, entry.action, entry.queue)
            return None
        call.queue = entry.queue
        if await diverted_by_estimate(svc, call, turn, entry):
            return None
    wait_in_queue(svc, turn.response, call.sid)
    return entry.reservation if entry is not None else None


async def queue_rejoin(request: Request) -> Response:
    """A caller whose agent's leg failed before the bridge, redirected out of their wait:
    the apology, then back to waiting (their place is routing's, so it is kept)."""
    svc = services(request)
    form = await svc.verifier.form(request)
    (sid,) = require(form, "CallSid")
    return xml(await rejoin(svc, sid))


async def rejoin(svc: Services, sid: str) -> VoiceResponse:
    """The caller's own Twilio queue again, at once: routing has already offered the call
    on, and the next agent's `<Dial><Queue>` can take only a caller in that queue. The
    apology owed is the first thing the hold loop says (`offers.put_back_apology`); a
    bridge that comes sooner cuts it short rather than keep the agent waiting for it."""
    response = VoiceResponse()
    if await svc.calls.get(sid) is None or not await svc.router.has_call(sid):
        response.hangup()
        return response
    wait_in_queue(svc, response, sid)
    return response


routes.append(Route("/voice/queue/rejoin", queue_rejoin, methods=["POST"]))


async def enter(svc: Services, call: CallSession, queue: str, priority: int | None) -> Entry:
    data = json.dumps({"caller": call.caller, "name": call.caller_name, "data": call.data})
    prefer = str(await svc.redis.get(svc.keys.last_agent(call.caller)) or "")
    try:
        return await svc.router.enter(call.sid, queue, priority, call.language, data, prefer=prefer)
    except UnknownSkill:
        # Nobody speaks the caller's language in this queue: better any agent than none.
        log.warning("no agent has the caller's language", call=call.sid, language=call.language)
        return await svc.router.enter(call.sid, queue, priority, None, data, prefer=prefer)


async def diverted_by_estimate(svc: Services, call: CallSession, turn: Turn, entry: Entry) -> bool:
    """Overflow at entry when the estimated wait is over the queue's threshold."""
    queue = turn.config.queues.get(entry.queue)
    if queue is None or queue.hold.max_estimated_wait_s is None or entry.reservation:
        return False
    from ivr.hold import estimate_for

    seconds = await estimate_for(svc, entry.queue, entry.position, queue.hold)
    if seconds is None or seconds <= queue.hold.max_estimated_wait_s:
        return False
    log.info("diverted on estimated wait", call=call.sid, estimate_s=round(seconds))
    action = queue.hold.when_estimated_wait
    if isinstance(action, ToQueue):
        await transfer(svc, call.sid, action.queue, "OVERFLOW")
        marked = await svc.redis.hget(svc.keys.hold(call.sid), "exit")
        action = ACTION.validate_python(json.loads(marked)) if marked else action
    else:
        await svc.router.hangup(call.sid, "OVERFLOW")
    turn.response = overflow(svc, call, action, entry.queue)
    return True
