"""The conference that bridges a routed call to its agent, and the agent's controls on it.

    agent leg:  <Dial action=/voice/agent/done><Conference participantLabel=agent
                 endConferenceOnExit=false statusCallback=/voice/conference/status>conf-CA…
    caller leg: redirected by REST (`ivr.voice.bridge`) to /voice/conference/join ->
                <Dial action=/voice/conference/left><Conference participantLabel=customer
                 endConferenceOnExit=true>conf-CA…

One conference per routed call, named after the customer's CallSid (`name`). Its state
lives in `Keys.conference` (`ConferenceState`): connecting until the caller fetches the
join (routing's CONNECT), connected, on_hold, ended. The controls (`hold`, `mute`,
`hang_up`, `send_digits`) are Twilio's documented REST on the Participant and Call
resources, each retried on a transient error; a hold is recorded with its HOLD / UNHOLD
event in one step (`lua/conference_hold.lua`), and a call that ends on hold closes it.
Conference status callbacks (`conference_status`) are each taken once
(`lua/conference_event.lua`): they tell the conference's sid, who joined, and its end.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from twilio.twiml.voice_response import VoiceResponse

from ivr.config import phrases
from ivr.config.queues import DEFAULT_HOLD_MUSIC, QueueConfig
from ivr.core import logs, lua
from ivr.core.errors import CallControlError
from ivr.core.telephony import REST_ERRORS, transient
from ivr.service import Services, services
from ivr.voice import twiml
from ivr.voice.twiml import xml

log = logs.get(__name__)

CUSTOMER, AGENT, CONSULT, EXTERNAL, SUPERVISOR = (
    "customer",
    "agent",
    "consult",
    "external",
    "supervisor",
)
"""Participant labels."""
CONNECTING, CONNECTED, ON_HOLD, CONSULTING, ENDED = (
    "connecting",
    "connected",
    "on_hold",
    "consulting",
    "ended",
)
"""The states of a call's conference (`ConferenceState.state`)."""
LIVE = frozenset({CONNECTED, ON_HOLD, CONSULTING})
"""States in which the agent's controls act."""
LEFT_ALONE = frozenset({CONNECTING, CONNECTED, ON_HOLD})
"""States in which the agent leaving the conference leaves the customer alone in it (so
their call is ended): not after its end, nor while the agent consults (a transfer)."""
EVENTS = "start end join leave hold mute"
"""The conference status callbacks asked for (Twilio's `statusCallbackEvent` words: `hold`
brings participant-hold and -unhold, `mute` -mute and -unmute)."""
TTL_S = 12 * 3600
"""How long a conference's state is kept after its last change."""
DIGITS = re.compile(r"[0-9*#w]{1,32}")
"""What `send_digits` accepts: DTMF keys, and `w` for a half-second pause."""
CONTROL_TRIES = 3
"""Tries of a control's REST request (the agent waits for the answer)."""
CONTROL_RETRY_S = 0.2
"""The wait before a control's second try; each next one doubles."""


@dataclass(frozen=True)
class ConferenceState:
    """What `Keys.conference` holds about one call's conference."""

    call: str
    sid: str = ""
    customer: str = ""
    agent: str = ""
    agent_name: str = ""
    res: str = ""
    opened: str = ""
    """The accept that opened this conference (`res` moves on with a warm transfer)."""
    state: str = CONNECTING
    muted: bool = False
    hold_since_ms: int | None = None
    hold_ms: int = 0
    joined: bool = False

    @classmethod
    def parse(cls, call: str, raw: dict[str, str]) -> ConferenceState:
        since = raw.get("hold_since_ms", "")
        return cls(
            call=call,
            sid=raw.get("sid", ""),
            customer=raw.get("customer", "") or call,
            agent=raw.get("agent", ""),
            agent_name=raw.get("agent_name", ""),
            res=raw.get("res", ""),
            opened=raw.get("opened") or raw.get("res", ""),
            state=raw.get("state", CONNECTING),
            muted=raw.get("muted") == "1",
            hold_since_ms=int(since) if since else None,
            hold_ms=int(raw.get("hold_ms") or 0),
            joined=raw.get("joined") == "1",
        )


def name(call_sid: str) -> str:
    """The conference's friendly name: one per routed call."""
    return f"conf-{call_sid}"


async def state(svc: Services, call_sid: str) -> ConferenceState | None:
    """The call's conference, None when it has none."""
    raw: dict[str, str] = await svc.redis.hgetall(svc.keys.conference(call_sid))  # type: ignore[assignment]
    return ConferenceState.parse(call_sid, raw) if raw else None


async def open_for(
    svc: Services, call_sid: str, agent_name: str, reservation_id: str, leg: str = ""
) -> bool:
    """Record the conference of an accepted call (connecting); False if this accept's
    conference is already recorded (a retried request)."""
    key = svc.keys.conference(call_sid)
    if await svc.redis.hget(key, "res") == reservation_id and reservation_id:
        return False
    fields = {
        "customer": call_sid,
        "agent": leg,
        "agent_name": agent_name,
        "res": reservation_id,
        "opened": reservation_id,
        "state": CONNECTING,
        "muted": "0",
        "hold_since_ms": "",
        "hold_ms": "0",
        "joined": "0",
    }
    async with svc.redis.pipeline(transaction=True) as pipe:
        pipe.delete(key)  # a call put back and accepted again starts a new conference
        pipe.hset(key, mapping=fields)  # type: ignore[arg-type]
        pipe.expire(key, TTL_S)
        await pipe.execute()
    return True


async def update(svc: Services, call_sid: str, **fields: str) -> None:
    """Set fields of an existing conference state (nothing when it has none)."""
    key = svc.keys.conference(call_sid)
    if fields and await svc.redis.exists(key):
        await svc.redis.hset(key, mapping=fields)  # type: ignore[arg-type]


def conference_noun(
    svc: Services,
    dial: Any,
    call_sid: str,
    label: str,
    end_on_exit: bool,
    opened: str = "",
    **attrs: Any,
) -> None:
    """The `<Conference>` of the call, for a participant labelled `label`. `opened`: the
    accept that opened this conference of the call (`ConferenceState.opened`): its status
    callbacks name it, so those of an earlier conference, late, are told apart."""
    dial.conference(
        name(call_sid),
        participant_label=label,
        end_conference_on_exit=end_on_exit,
        start_conference_on_enter=True,
        beep=False,
        status_callback=svc.urls.to("conference_status", call=call_sid, res=opened or None),
        status_callback_event=EVENTS,
        status_callback_method="POST",
        **attrs,
    )


def agent_dial(svc: Services, call_sid: str, reservation_id: str = "") -> VoiceResponse:
    """The agent leg's TwiML: into the call's conference, the caller moved in by REST.
    Its action names the reservation accepted, so a late one never ends a later
    connection of the same call (routing keeps it as the call's `conn`)."""
    response = VoiceResponse()
    dial = response.dial(
        action=svc.urls.to("agent_done", call=call_sid, res=reservation_id or None)
    )
    conference_noun(svc, dial, call_sid, AGENT, False, reservation_id)
    return response


# -- status callbacks ------------------------------------------------------------------
async def conference_status(request: Request) -> Response:
    """A conference status callback: taken once; it tells the sid, who joined, the end."""
    svc = services(request)
    form = await svc.verifier.form(request)
    call_sid = request.query_params.get("call", "")
    event = form.get("StatusCallbackEvent", "")
    opened = request.query_params.get("res", "")
    if not call_sid or not await take_event(svc, call_sid, form, opened):
        return Response(status_code=204)
    await update(svc, call_sid, sid=form.get("ConferenceSid", ""))
    if event == "participant-join":
        await joined(svc, call_sid, form.get("ParticipantLabel", ""), form.get("CallSid", ""))
    elif event == "conference-end":
        await close(svc, call_sid)
    log.info("conference event", call=call_sid, kind=event, label=form.get("ParticipantLabel"))
    return Response(status_code=204)


async def take_event(svc: Services, call_sid: str, form: dict[str, str], opened: str = "") -> bool:
    """Whether a conference status callback is news (not a repeat, not after the end, not
    about an earlier conference of the call than the one `opened` now)."""
    event = form.get("StatusCallbackEvent", "")
    seq = form.get("SequenceNumber", "")
    mark = (
        f"{form.get('ConferenceSid', '')}:{seq}"
        if seq
        else ":".join([event, form.get("CallSid", ""), form.get("Timestamp", "")])
    )
    final = "1" if event == "conference-end" else "0"
    script = svc.redis.register_script(lua.read("ivr.voice", "conference_event"))
    keys = [svc.keys.conference(call_sid)]
    return bool(await script(keys=keys, args=[mark, final, str(TTL_S), opened]))


async def joined(svc: Services, call_sid: str, label: str, leg: str) -> None:
    """A participant joined: the customer's join is the bridge made; the agent's tells its leg."""
    if label == CUSTOMER:
        await update(svc, call_sid, joined="1", customer=leg or call_sid)
    elif label == AGENT and leg:
        await update(svc, call_sid, agent=leg)


async def close(svc: Services, call_sid: str) -> None:
    """The call's conference is over: a hold still open is closed (UNHOLD), state ended."""
    await _hold_script(svc, call_sid, "end")


# -- controls --------------------------------------------------------------------------
async def live(svc: Services, call_sid: str, agent: str) -> ConferenceState:
    """The conference of `agent`'s connected call, or CallControlError (409)."""
    conf = await state(svc, call_sid)
    if conf is None or conf.agent_name != agent:
        raise CallControlError(409, "that call is not yours")
    if conf.state not in LIVE:
        raise CallControlError(409, f"the call is {conf.state.replace('_', ' ')}, not connected")
    return conf


async def hold(svc: Services, call_sid: str, on: bool) -> ConferenceState:
    """Put the customer on hold (they hear the queue's hold music) or take them off it."""
    conf = await _current(svc, call_sid)
    if on == (conf.hold_since_ms is not None):
        return conf
    sid = await conference_sid(svc, conf)
    url = svc.urls.to("conference_hold", call=call_sid)
    await rest(
        svc,
        lambda c: (
            c.conferences(sid)
            .participants(conf.customer)
            .update(hold=on, hold_url=url, hold_method="POST")
        ),
    )
    await _hold_script(svc, call_sid, "hold" if on else "resume")
    return await _current(svc, call_sid)


async def mute(svc: Services, call_sid: str, on: bool) -> ConferenceState:
    """Mute the agent (the customer no longer hears them) or unmute them."""
    conf = await _current(svc, call_sid)
    sid = await conference_sid(svc, conf)
    who = conf.agent or AGENT
    await rest(svc, lambda c: c.conferences(sid).participants(who).update(muted=on))
    await update(svc, call_sid, muted="1" if on else "0")
    return await _current(svc, call_sid)


async def hang_up(svc: Services, call_sid: str) -> None:
    """End the customer's call: the conference ends with it, and the agent wraps up."""
    conf = await _current(svc, call_sid)
    await rest(svc, lambda c: c.calls(conf.customer).update(status="completed"))


async def send_digits(svc: Services, call_sid: str, digits: str) -> None:
    """Play DTMF tones to the customer (an IVR on their side hears them)."""
    if not DIGITS.fullmatch(digits):
        raise CallControlError(400, "digits must be 1 to 32 of 0-9 * # w")
    conf = await _current(svc, call_sid)
    sid = await conference_sid(svc, conf)
    url = svc.urls.to("conference_announce", digits=digits)
    await rest(
        svc,
        lambda c: (
            c.conferences(sid)
            .participants(conf.customer)
            .update(announce_url=url, announce_method="POST")
        ),
    )


async def _current(svc: Services, call_sid: str) -> ConferenceState:
    conf = await state(svc, call_sid)
    if conf is None:
        raise CallControlError(409, "the call has no conference")
    return conf


async def conference_sid(svc: Services, conf: ConferenceState) -> str:
    """The conference's CF sid: from its status callbacks, else looked up by name."""
    if conf.sid:
        return conf.sid
    found = await rest(
        svc, lambda c: c.conferences.list(friendly_name=name(conf.call), status="in-progress")
    )
    if not found:
        raise CallControlError(409, "the conference is not in progress")
    sid = str(found[0].sid)
    await update(svc, conf.call, sid=sid)
    return sid


async def rest(svc: Services, operation: Callable[[Any], Any]) -> Any:
    """A control's REST request, tried again (briefly: the agent waits) on a transient error."""
    delay = CONTROL_RETRY_S
    for attempt in range(CONTROL_TRIES):
        try:
            return await svc.rest(operation)
        except REST_ERRORS as exc:
            if not transient(exc) or attempt == CONTROL_TRIES - 1:
                raise
            log.info("call control request failed; retrying", error=str(exc))
        await asyncio.sleep(delay)
        delay *= 2
    raise AssertionError("unreachable")


async def _hold_script(svc: Services, call_sid: str, action: str) -> int:
    """Open, close or end a hold (`lua/conference_hold.lua`); the hold closed (ms), or -1."""
    conf = await state(svc, call_sid)
    if conf is None:
        return -1
    routed = await svc.router.call(call_sid)
    queue = routed.queue if routed is not None else ""
    script = svc.redis.register_script(lua.read("ivr.voice", "conference_hold"))
    keys = [svc.keys.conference(call_sid), svc.keys.events()]
    now_ms = str(int(svc.clock.now() * 1000))
    args = [action, now_ms, call_sid, conf.agent_name, queue, str(TTL_S)]
    return int(await script(keys=keys, args=args))


# -- documents Twilio fetches ------------------------------------------------------------
async def conference_hold(request: Request) -> Response:
    """The holdUrl: the customer on hold hears "please stay on the line" and the queue's
    hold music, in their language, until the agent resumes."""
    svc = services(request)
    await svc.verifier.form(request)
    call_sid = request.query_params.get("call", "")
    session = await svc.calls.get(call_sid)
    config = svc.config_for(session.config_version) if session else svc.registry.current
    code = session.language if session else config.languages.default
    routed = await svc.router.call(call_sid)
    queue = config.queues.get(routed.queue if routed else (session.queue or "" if session else ""))
    response = VoiceResponse()
    twiml.say(response, phrases.text(config, code, "hold.stay"), config.languages.of(code))
    play_music(svc, response, queue, call_sid)
    return xml(response)


async def conference_music(request: Request) -> Response:
    """The hold music again, without the words (the clips played in turn, over and over)."""
    svc = services(request)
    await svc.verifier.form(request)
    call_sid = request.query_params.get("call", "")
    routed = await svc.router.call(call_sid)
    queue = svc.registry.current.queues.get(routed.queue) if routed else None
    response = VoiceResponse()
    play_music(svc, response, queue, call_sid)
    return xml(response)


def play_music(
    svc: Services, response: VoiceResponse, queue: QueueConfig | None, call_sid: str
) -> None:
    """The queue's hold music: its clips in turn, then again; or its one track, looped."""
    if queue is not None and queue.hold.music_clips:
        for clip in queue.hold.music_clips:
            response.play(clip.url)
        response.redirect(svc.urls.to("conference_music", call=call_sid))
    else:
        response.play(queue.hold.music if queue else DEFAULT_HOLD_MUSIC, loop=0)


async def conference_announce(request: Request) -> Response:
    """The announceUrl of `send_digits`: the tones."""
    svc = services(request)
    await svc.verifier.form(request)
    digits = request.query_params.get("digits", "")
    response = VoiceResponse()
    if DIGITS.fullmatch(digits):
        response.play(digits=digits)
    else:
        response.pause(length=1)
    return xml(response)
