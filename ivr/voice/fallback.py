"""Degraded mode: what Twilio is answered when the store cannot be reached.

Twilio plays "an application error has occurred" and hangs up on any 5xx, so a
webhook whose store is down (refused, reset, timed out, still loading) answers
TwiML that suits the leg it is for, built from the config in memory alone:

    caller     the `fallback` of the config: an apology, then a <Dial> to a backup
               number or a hang-up
    waiting    (an <Enqueue> waitUrl, where <Dial> is not allowed) an apology and
               music; the caller keeps their place for `HOLD_ROUNDS` rounds, then
               <Leave/>s and the Enqueue action answers with the caller fallback
    bridging   (the <Dial><Queue> url, a callback's <Number> url) nothing: the
               bridge to the agent goes ahead
    agent      an agent's own leg: a short notice and a hang-up
    dequeued   the Enqueue action: a caller bridged or gone hangs up; any other
               result gets the caller fallback
    status     status callbacks: an empty answer (Twilio ignores the body)
    sms        an SMS apology

`/voice/fallback` is for Twilio's Fallback URL (fetched when the primary URL
fails or times out): it answers the caller fallback and never touches the store.
A store that answers but cannot serve now (a read-only replica, NOREPLICAS, MASTERDOWN,
a cluster shard down: `ivr.core.outage.is_outage`) is an outage too. Any other error in
the store's client is not; it stays a 500, so bugs are seen, and Twilio's Fallback URL
covers the caller.
"""

from __future__ import annotations

from typing import Literal

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from twilio.twiml.messaging_response import MessagingResponse
from twilio.twiml.voice_response import VoiceResponse

from ivr.config import phrases
from ivr.config.model import Config
from ivr.config.prompts import Localized, pick
from ivr.config.queues import DEFAULT_HOLD_MUSIC
from ivr.core import logs, numbers
from ivr.core.outage import is_outage
from ivr.core.security import query_int, verified_form
from ivr.core.urls import Urls, route_path
from ivr.service import services
from ivr.voice import twiml

log = logs.get(__name__)
XML = "application/xml"
WEBHOOK_PREFIXES = ("/voice/", "/sms/")
"""Paths Twilio requests, each signature-checked."""
HOLD_ROUNDS = 3
"""Rounds of hold music a waiting caller keeps their place for while the store is down."""
ROUND = "degraded"
"""The query value that counts those rounds (`/voice/hold?degraded=N`)."""

Leg = Literal["caller", "waiting", "bridging", "music", "agent", "dequeued", "status", "sms"]
LEGS: dict[str, Leg] = {
    "/voice/incoming": "caller",
    "/voice/menu": "caller",
    "/voice/voicemail": "caller",
    "/voice/transfer": "caller",
    "/voice/fallback": "caller",
    "/voice/queue/exit": "caller",
    "/voice/queue/rejoin": "caller",
    "/voice/callback/keep": "caller",
    "/voice/callback/menu": "caller",
    "/voice/callback/number": "caller",
    "/voice/callback/entered": "caller",
    "/voice/callback/slot": "caller",
    "/voice/callback/existing": "caller",
    "/voice/callback/customer": "caller",
    "/voice/callback/answered": "caller",
    "/voice/conference/join": "caller",
    "/voice/transfer/wait": "caller",
    "/voice/hold": "waiting",
    "/voice/hold/key": "waiting",
    "/voice/queue/connect": "bridging",
    "/voice/conference/hold": "music",
    "/voice/conference/music": "music",
    "/voice/conference/announce": "music",
    "/voice/agent/offer": "agent",
    "/voice/agent/answer": "agent",
    "/voice/agent/done": "agent",
    "/voice/agent/conference": "agent",
    "/voice/callback/agent": "agent",
    "/voice/callback/dialed": "agent",
    "/voice/queue/done": "dequeued",
    "/voice/conference/left": "status",
    "/voice/callback/left": "status",
    "/voice/status": "status",
    "/voice/agent/status": "status",
    "/voice/callback/status": "status",
    "/voice/supervisor/status": "status",
    "/voice/conference/status": "status",
    "/voice/transfer/consult": "status",
    "/sms/incoming": "sms",
    "/sms/status": "status",
}
"""Who hears each webhook's answer. A webhook not listed is treated as a caller's.
`music` is a conference's hold, wait or announcement document (hold music, nothing else);
`status` answers nobody hears: a status callback, or the customer's `<Dial>` action after
their conference, when the call is over (an empty document hangs up)."""

UNAVAILABLE = "the store cannot serve now; try again shortly"
"""The console API's 503 while the store is down or refuses the work."""
SETTLED = frozenset({"bridged", "hangup"})
"""Enqueue results after which there is nobody left to apologise to."""


def language_of(config: Config, caller: str) -> str:
    """The caller's language when the config knows them (`customers`), else the default."""
    customer = config.customers.get(numbers.normalise(caller))
    known = customer.language if customer else None
    return known if known in config.languages.available else config.languages.default


def speak(
    response: VoiceResponse, config: Config, caller: str, text: Localized | None, default: str
) -> None:
    """Say `text` in the caller's language, or the built-in phrase `default` when none is set."""
    code = language_of(config, caller)
    if pick(text, code, config.languages.default):
        twiml.speak_localized(response, config.languages, text, code)
    else:
        twiml.say(response, phrases.text(config, code, default), config.languages.of(code))


def for_caller(config: Config, caller: str) -> VoiceResponse:
    """The caller fallback: the apology, then the backup number or a hang-up."""
    fallback, response = config.fallback, VoiceResponse()
    default = "fallback.dial" if fallback.dial else "fallback.hang_up"
    speak(response, config, caller, fallback.message, default)
    if fallback.dial:
        response.dial(fallback.dial, timeout=fallback.dial_timeout)
    else:
        response.hangup()
    return response


def for_waiting(config: Config, caller: str, base: str, rounds: int) -> VoiceResponse:
    """An apology and music, keeping the caller's place; after `HOLD_ROUNDS`, <Leave/>."""
    response = VoiceResponse()
    if rounds >= HOLD_ROUNDS:
        response.leave()  # the Enqueue action (/voice/queue/done) decides what follows
        return response
    if rounds == 0:
        speak(response, config, caller, config.fallback.hold_message, "fallback.hold")
    response.play(DEFAULT_HOLD_MUSIC)
    response.redirect(Urls(base).to("hold", **{ROUND: rounds + 1}), method="POST")
    return response


def degraded(request: Request, config: Config, leg: Leg) -> str:
    """The TwiML for `leg` while the store is down."""
    form = verified_form(request)
    caller = form.get("From", "")
    if leg == "caller" or leg == "dequeued" and form.get("QueueResult") not in SETTLED:
        return twiml.render(for_caller(config, caller))
    if leg == "waiting":
        rounds = query_int(request, ROUND) or 0
        return twiml.render(for_waiting(config, caller, _base(request), rounds))
    if leg == "music":
        response = VoiceResponse()
        response.play(DEFAULT_HOLD_MUSIC)
        return twiml.render(response)
    if leg == "sms":
        sms = MessagingResponse()
        if route_path(request.url.path) == "/sms/incoming":
            sms.message(phrases.text(config, config.languages.default, "fallback.sms"))
        return str(sms)
    response = VoiceResponse()
    if leg == "agent":
        text = phrases.agent_text(config, "agent.system_down")
        twiml.say(response, text, config.languages.of(config.languages.default))
    if leg in ("agent", "dequeued"):
        response.hangup()
    return twiml.render(response)


def _base(request: Request) -> str:
    return str(services(request).settings.public_base_url)


async def store_refused(request: Request, exc: Exception) -> Response:
    """The exception handler for a store's error reply: `store_down` when it means the
    store cannot serve now (`is_outage`); re-raised otherwise, a 500 that shows the bug."""
    if not is_outage(exc):
        raise exc
    return await store_down(request, exc)


async def store_down(request: Request, exc: Exception) -> Response:
    """The exception handler for `STORE_ERRORS`: degraded TwiML for Twilio, 503 for the rest."""
    path = route_path(request.url.path)
    form = verified_form(request)
    log.error(
        "store unavailable: degraded answer",
        path=path,
        call=form.get("CallSid", ""),
        recording=form.get("RecordingUrl", ""),  # a voicemail that could not be stored
        error=repr(exc),
    )
    if not path.startswith(WEBHOOK_PREFIXES):
        return JSONResponse({"error": UNAVAILABLE}, 503)
    config = services(request).registry.current
    return Response(degraded(request, config, LEGS.get(path, "caller")), media_type=XML)


async def voice_fallback(request: Request) -> Response:
    """Twilio's Fallback URL: the caller fallback, without the store."""
    svc = services(request)
    form = await svc.verifier.form(request)
    log.error(
        "Twilio used the fallback URL",
        call=form.get("CallSid", ""),
        error_code=form.get("ErrorCode", ""),
        error_url=form.get("ErrorUrl", ""),
    )
    response = for_caller(svc.registry.current, form.get("From", ""))
    return Response(twiml.render(response), media_type=XML)
