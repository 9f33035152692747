"""The Twilio-facing endpoints.

Stable URLs that admins paste into the Twilio console:

    POST /voice/incoming   a new inbound call
    POST /voice/status     call status callbacks
    POST /sms/incoming     inbound SMS
    POST /sms/status       message status callbacks

and the menu's own action URLs (`/voice/menu`, `/voice/voicemail`,
`/voice/transfer`), each carrying `?step=N` so a retried request is answered
with the TwiML it got the first time and counted once.
"""

from __future__ import annotations

import copy
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response
from twilio.twiml.messaging_response import MessagingResponse
from twilio.twiml.voice_response import VoiceResponse

from callbacks import sms
from ivr.config.model import Config
from ivr.core import logs, numbers
from ivr.core.security import query_int, require
from ivr.core.session import FINAL_STATUSES, CallSession, Record
from ivr.service import Services, services
from ivr.voice import attendant, bridge, callback, endings, offers, queue_resources, twiml
from ivr.voice.attendant import Turn
from ivr.voice.twiml import xml
from queues.reservation import Reservation

log = logs.get(__name__)
Effects = Record | None
Handler = Callable[[Services, Turn, dict[str, str]], Awaitable[Effects]]


def new_session(svc: Services, form: dict[str, str]) -> tuple[CallSession, Config]:
    config = svc.registry.current
    session = CallSession(
        sid=form["CallSid"],
        caller=numbers.normalise(form.get("From", "")),
        called=form.get("To", ""),
        started_at=svc.clock.now(),
        config_version=config.version,
        language=config.languages.default,
    )
    return session, config


async def start_call(
    svc: Services, form: dict[str, str], apology: bool = False
) -> tuple[str, Reservation | None]:
    """Create the session and greet the caller; a retry gets the first answer back."""
    session, config = new_session(svc, form)
    session.step = 1
    turn = Turn(config, session, svc.now(), svc.urls, VoiceResponse())
    if apology:
        turn.say(config.menu.sorry)
    attendant.start(turn)
    offer = await callback.join_queue(svc, turn)
    log.debug("call started", call=session.sid, caller=session.caller, node=session.node)
    return await svc.calls.commit(session, None, twiml.render(turn.response)), offer


async def answer_with(text: str, offer: Reservation | None, svc: Services) -> Response:
    """The TwiML, after ringing the agent reserved for the call (the REST request is queued
    at Twilio, so the caller's TwiML still comes back at once)."""
    if offer is not None:
        await offers.ring(svc, offer)
    return xml(text)


async def incoming(request: Request) -> Response:
    svc = services(request)
    form = await svc.verifier.form(request)
    require(form, "CallSid")
    # A retry loses the commit in start_call and is answered with the first TwiML.
    return await answer_with(*await start_call(svc, form), svc)


async def step_endpoint(request: Request, handle: Handler) -> Response:
    """Run `handle` for the step in the URL exactly once; answer retries from the cache."""
    svc = services(request)
    form = await svc.verifier.form(request)
    (sid,) = require(form, "CallSid")
    session = await svc.calls.get(sid)
    if session is None:  # state expired or never existed: start again, politely
        return await answer_with(*await start_call(svc, form, apology=True), svc)
    step = query_int(request, "step")
    if step is not None and step < session.step:
        cached = await svc.calls.response_for(sid, step)
        if cached is not None:
            return xml(cached)
    config = svc.config_for(session.config_version)
    if step != session.step:
        return xml(reprompt(svc, config, session))
    session.step += 1
    turn = Turn(config, session, svc.now(), svc.urls, VoiceResponse())
    effects = await handle(svc, turn, form)
    offer = await callback.join_queue(svc, turn)
    text = await svc.calls.commit(session, step, twiml.render(turn.response), effects)
    return await answer_with(text, offer, svc)


def reprompt(svc: Services, config: Config, session: CallSession) -> str:
    """Ask the current question again without changing anything (a stale or forged step)."""
    turn = Turn(config, copy.deepcopy(session), svc.now(), svc.urls, VoiceResponse())
    node = config.nodes.get(session.node)
    if node is None or node.kind in ("hours", "message"):
        turn.say(config.menu.sorry)
        turn.response.hangup()
    else:
        attendant.ask(turn, node, first=False)
    return twiml.render(turn.response)


async def on_menu_input(svc: Services, turn: Turn, form: dict[str, str]) -> Effects:
    digits = form.get("Digits", "").strip()
    speech = form.get("SpeechResult", "").strip()
    attendant.answer(turn, digits, speech, speech_confidence(form))
    return None


def speech_confidence(form: dict[str, str]) -> float | None:
    """Twilio's `Confidence` (0.0-1.0) for the `SpeechResult`, or None if absent or garbled."""
    try:
        value = float(form.get("Confidence", ""))
    except ValueError:
        return None
    return value if 0.0 <= value <= 1.0 else None


async def on_recording(svc: Services, turn: Turn, form: dict[str, str]) -> Effects:
    """Store the voicemail against the call (in the same transaction as the step)."""
    turn.say(turn.config.menu.thanks)
    turn.response.hangup()
    url = form.get("RecordingUrl")
    if not url:
        return None
    call = turn.call
    record = {
        "call": call.sid,
        "from": call.caller,
        "to": call.called,  # the number we call them back from
        "url": url,
        "duration_s": form.get("RecordingDuration", "0"),
        "node": call.node,
        "queue": call.queue or "",  # whose agents see it in their console inbox
        "language": call.language,
        "at": str(turn.now.timestamp()),
        "data": ",".join(f"{k}={v}" for k, v in call.data.items()),
    }
    return svc.keys.voicemails(), record


async def on_transfer_done(svc: Services, turn: Turn, form: dict[str, str]) -> Effects:
    if form.get("DialCallStatus") != "completed":
        attendant.hang_up(turn, turn.config.menu.goodbye)
    else:
        turn.response.hangup()
    return None


async def menu(request: Request) -> Response:
    return await step_endpoint(request, on_menu_input)


async def voicemail(request: Request) -> Response:
    return await step_endpoint(request, on_recording)


async def transfer(request: Request) -> Response:
    return await step_endpoint(request, on_transfer_done)


async def voice_status(request: Request) -> Response:
    svc = services(request)
    form = await svc.verifier.form(request)
    (sid,) = require(form, "CallSid")
    first = await svc.calls.record_status(sid, form)
    if first and form.get("CallStatus") in FINAL_STATUSES:
        await queue_resources.call_over(svc, sid)
        await bridge.caller_gone(svc, sid)
    if first and form.get("CallStatus") in FINAL_STATUSES and await svc.router.has_call(sid):
        await endings.abandon(svc, sid)  # a hang-up the call flow itself did not see
    return Response(status_code=204)


async def sms_incoming(request: Request) -> Response:
    svc = services(request)
    form = await svc.verifier.form(request)
    answer = await sms.handle_incoming(svc, form)
    response = MessagingResponse()
    if answer:
        response.message(answer)
    return xml(str(response))


async def sms_status(request: Request) -> Response:
    svc = services(request)
    form = await svc.verifier.form(request)
    await sms.handle_status(svc, form, request.query_params.get("survey"))
    return Response(status_code=204)
