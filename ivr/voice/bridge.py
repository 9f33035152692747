"""Bridging an accepted call: the caller moved from their wait into the call's conference.

Once the agent is on their leg (they pressed 1, or the console's device answered), the
caller is redirected by REST out of their `<Enqueue>` (whose action then says
`QueueResult=redirected`: not an abandon) to `/voice/conference/join`. That fetch is
the confirm point (routing's CONNECT, as the old `<Dial><Queue>` url was): the caller
hears "connecting you" and joins the conference the agent waits in (`ivr.voice.conference`).

The redirect is due work (`Keys.conference_due`), made at once in a task of this process
and retried with backoff on a transient API error by the background loop (`pump`) until
`GIVE_UP_S` after the accept. Past that, or when Twilio says the caller's call is gone,
the caller goes back to their place and the agent's leg is taken out of the conference
to `/voice/agent/done`, which gives the agent the missed-call treatment, as for a leg
that drops before the bridge. When the agent leaves a bridged call, the customer's call
is ended the same way (the customer alone in a conference hears nothing).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from twilio.base.exceptions import TwilioRestException
from twilio.twiml.voice_response import VoiceResponse

from ivr.config import phrases
from ivr.core import logs
from ivr.core.errors import RoutingError
from ivr.core.security import require
from ivr.core.telephony import REST_ERRORS, transient
from ivr.service import Services, services
from ivr.voice import conference, offers, twiml
from ivr.voice.conference import CONNECTED, CONNECTING, CUSTOMER
from ivr.voice.endings import finish
from ivr.voice.queue import confirm_bridge, rejoin
from ivr.voice.twiml import xml

log = logs.get(__name__)

GIVE_UP_S = 9.0
"""How long after the accept the caller's redirect may take: just under
`ivr.voice.agent.BRIDGE_DEADLINE_S`, so the agent's missed call is counted here (as
`dropped`) rather than by routing's own deadline (`connect_lost`, for a dead process)."""
RETRY_BASE_S = 0.5
"""The first retry of a transient API error waits about this long; each next one doubles."""
RETRY_MAX_S = 2.0
LEG_TRIES = 16
"""Tries at ending a leg the bridge left alone in the conference (about a minute of
backoff): the customer's call once the agent has left, or the agent's leg (moved to
`/voice/agent/done`) once the caller could not be moved in."""
RETRY_LEG_MAX_S = 5.0
REDIRECT, HANGUP, EJECT = "redirect", "hangup", "eject"
"""What a conference's due REST request does (`todo`)."""


async def begin(svc: Services, call_sid: str, agent: str, reservation_id: str, leg: str) -> None:
    """The agent is on their leg: move the caller into the conference now (retried)."""
    opened = await conference.open_for(svc, call_sid, agent, reservation_id, leg)
    if not opened:
        return  # a retried request: the redirect is under way
    deadline = svc.clock.now() + GIVE_UP_S
    await conference.update(svc, call_sid, todo=REDIRECT, deadline=str(deadline), tries="0")
    await svc.redis.zadd(svc.keys.conference_due(), {call_sid: svc.clock.now()})
    offers.spawn(svc, claim(svc, call_sid))


async def pump(svc: Services) -> int:
    """Make every due conference request (each claimed by one process); how many."""
    due: list[str] = await svc.redis.zrangebyscore(  # type: ignore[assignment]
        svc.keys.conference_due(), "-inf", svc.clock.now()
    )
    claimed = [c for c in due if await svc.redis.zrem(svc.keys.conference_due(), c)]
    for call_sid in claimed:
        await attempt(svc, call_sid)
    return len(claimed)


async def claim(svc: Services, call_sid: str) -> None:
    """Make this call's due request now, unless another process took it."""
    if await svc.redis.zrem(svc.keys.conference_due(), call_sid):
        await attempt(svc, call_sid)


async def attempt(svc: Services, call_sid: str) -> None:
    """One try at the call's due request: the caller's redirect, their hang-up, or taking
    the agent's leg out of an empty conference."""
    raw: dict[str, str] = await svc.redis.hgetall(svc.keys.conference(call_sid))  # type: ignore[assignment]
    todo = raw.get("todo")
    if todo == HANGUP:
        customer = raw.get("customer") or call_sid  # a callback's customer leg is its own
        await _end_leg(svc, call_sid, raw, customer, {"status": "completed"})
    elif todo == EJECT and raw.get("agent"):
        url = raw.get("out") or svc.urls.to("agent_done", call=call_sid, res=raw.get("res") or None)
        await _end_leg(svc, call_sid, raw, raw["agent"], {"url": url, "method": "POST"})
    elif todo == REDIRECT and raw.get("state") == CONNECTING:
        await _redirect(svc, call_sid, raw)


async def _redirect(svc: Services, call_sid: str, raw: dict[str, str]) -> None:
    """Move the caller; once moved, look again at the deadline that they arrived."""
    routed = await svc.router.call(call_sid)
    agent = raw.get("agent_name", "")
    if routed is None or not routed.pending or routed.agent != agent:
        await _stranded(svc, call_sid, raw)
        return  # put back or ended meanwhile: the agent waits for nobody
    deadline = float(raw.get("deadline") or 0)
    if svc.clock.now() >= deadline or raw.get("moved") == "1":
        await give_up(svc, call_sid, agent, raw)
        return
    url = svc.urls.to("conference_join", call=call_sid)
    try:
        await svc.rest(lambda c: c.calls(call_sid).update(url=url, method="POST"))
    except REST_ERRORS as exc:
        if not transient(exc):  # the caller's call is over (or Twilio refuses it)
            log.info("caller could not be moved to the agent", call=call_sid, error=str(exc))
            await give_up(svc, call_sid, agent, raw)
            return
        await _retry(svc, call_sid, raw, deadline, exc)
        return
    await conference.update(svc, call_sid, moved="1")
    await svc.redis.zadd(svc.keys.conference_due(), {call_sid: deadline})
    log.info("caller moved to the conference", call=call_sid, agent=agent)


async def _stranded(svc: Services, call_sid: str, raw: dict[str, str]) -> None:
    """Routing no longer holds the call for this agent and the caller never joined (put
    back by its own deadline, or hung up): take the agent out of the empty conference."""
    await conference.update(svc, call_sid, todo="", state=conference.ENDED)
    await take_agent_out(svc, call_sid, raw)


async def take_out_lost(svc: Services, lost: dict[str, str]) -> None:
    """Routing's deadline put back these calls (call -> the connection lost): nothing
    moved the caller in (every process died after the accept, or the one that claimed the
    redirect did). An agent's leg still waiting in that connection's conference is taken
    out (`/voice/agent/done`, retried on a transient API error)."""
    for call_sid, conn in lost.items():
        raw: dict[str, str] = await svc.redis.hgetall(svc.keys.conference(call_sid))  # type: ignore[assignment]
        if conn and raw.get("res") == conn and raw.get("state") == CONNECTING:
            log.info("taking the agent out of a lost connection", call=call_sid, res=conn)
            await _stranded(svc, call_sid, raw)


async def _retry(
    svc: Services,
    call_sid: str,
    raw: dict[str, str],
    latest: float,
    exc: Exception,
    longest_s: float = RETRY_MAX_S,
) -> None:
    """A transient API error: try again with backoff (not later than `latest`)."""
    tries = int(raw.get("tries") or 0) + 1
    delay = min(longest_s, RETRY_BASE_S * 2 ** (tries - 1)) * (0.5 + svc.rng.random() / 2)
    at = min(svc.clock.now() + delay, latest) if latest else svc.clock.now() + delay
    await conference.update(svc, call_sid, tries=str(tries))
    await svc.redis.zadd(svc.keys.conference_due(), {call_sid: at})
    log.info("conference request failed; retrying", call=call_sid, error=str(exc), tries=tries)


async def _done(svc: Services, call_sid: str) -> None:
    await conference.update(svc, call_sid, todo="")


async def give_up(svc: Services, call_sid: str, agent: str, raw: dict[str, str]) -> None:
    """The caller could not be moved in time: back to their place, the agent's missed call
    counted (`dropped`), and the agent's leg taken out of the empty conference."""
    await conference.update(svc, call_sid, todo="", state=conference.ENDED)
    try:
        offered = await svc.router.put_back(call_sid, agent, "dropped", conn=raw.get("res", ""))
    except RoutingError:
        offered = None  # confirmed or over meanwhile
    if offered is not None:
        log.info("caller not moved to the agent in time", call=call_sid, agent=agent)
        await offers.dispatch_offers(svc, offered)
        await offers.return_caller(svc, call_sid)
    await take_agent_out(svc, call_sid, raw)


async def take_agent_out(svc: Services, call_sid: str, raw: dict[str, str], url: str = "") -> None:
    """Move the agent's leg out of the empty conference (retried): to `url`, by default
    `/voice/agent/done` (a callback's agent goes to its attempt's `dialed`)."""
    if not raw.get("agent"):
        return
    if url:
        await conference.update(svc, call_sid, out=url)
    await _due_now(svc, call_sid, EJECT)


async def end_customer(svc: Services, call_sid: str) -> None:
    """The agent left a bridged call: end the customer's call too (retried)."""
    await _due_now(svc, call_sid, HANGUP)


async def _due_now(svc: Services, call_sid: str, todo: str) -> None:
    await conference.update(svc, call_sid, todo=todo, tries="0")
    await svc.redis.zadd(svc.keys.conference_due(), {call_sid: svc.clock.now()})
    offers.spawn(svc, claim(svc, call_sid))


async def _end_leg(
    svc: Services, call_sid: str, raw: dict[str, str], leg: str, change: dict[str, str]
) -> None:
    """One try at ending (or moving) a leg left alone: `calls(leg).update(**change)`. A
    leg already over (Twilio refuses the request) needs nothing more."""
    try:
        await svc.rest(lambda c: c.calls(leg).update(**change))
    except REST_ERRORS as exc:
        tries = int(raw.get("tries") or 0)
        if transient(exc) and tries + 1 < LEG_TRIES:
            await _retry(svc, call_sid, raw, 0.0, exc, RETRY_LEG_MAX_S)
            return
        if not isinstance(exc, TwilioRestException) or transient(exc):
            log.warning("could not end a leg left in the conference", leg=leg, error=str(exc))
    await _done(svc, call_sid)


async def caller_gone(svc: Services, call_sid: str) -> None:
    """The customer's call is over. Had they joined, the conference ended with them; if
    they hung up on the way in (during "connecting you"), the agent waits alone: they are
    taken out. A hold still open is closed."""
    conf = await conference.state(svc, call_sid)
    if conf is None or conf.state == conference.ENDED:
        return
    await conference.close(svc, call_sid)
    if not conf.joined:
        raw: dict[str, str] = await svc.redis.hgetall(svc.keys.conference(call_sid))  # type: ignore[assignment]
        await take_agent_out(svc, call_sid, raw)


# -- the caller's leg --------------------------------------------------------------------
async def conference_join(request: Request) -> Response:
    """The caller, redirected out of their wait: confirm the connection (CONNECT) and join
    the agent's conference; a caller whose agent is gone meanwhile waits again."""
    svc = services(request)
    form = await svc.verifier.form(request)
    (sid,) = require(form, "CallSid")
    conf = await conference.state(svc, sid)
    routed = await svc.router.call(sid)
    if routed is None or conf is None or routed.agent != conf.agent_name:
        return xml(await rejoin(svc, sid))
    if not routed.pending and (routed.state != "connected" or conf.state != CONNECTED):
        return xml(await rejoin(svc, sid))
    await conference.update(svc, sid, state=CONNECTED, todo="")  # before: `pump` reads it
    await confirm_bridge(svc, sid)
    return xml(await customer_dial(svc, sid, conf.opened))


async def customer_dial(svc: Services, call_sid: str, opened: str) -> VoiceResponse:
    """ "Connecting you", then the conference (opened by the accept `opened`): its end is
    the call's end."""
    response = VoiceResponse()
    session = await svc.calls.get(call_sid)
    if session is not None:
        config = svc.config_for(session.config_version)
        text = phrases.text(config, session.language, "queue.connecting")
        twiml.say(response, text, config.languages.of(session.language))
    dial = response.dial(action=svc.urls.to("conference_left", call=call_sid))
    conference.conference_noun(svc, dial, call_sid, CUSTOMER, True, opened)
    return response


async def conference_left(request: Request) -> Response:
    """The customer's `<Dial><Conference>` ended: the call is over (or, when the agent's
    leg dropped before the bridge and routing has put the call back, waiting again)."""
    svc = services(request)
    form = await svc.verifier.form(request)
    (sid,) = require(form, "CallSid")
    if await svc.router.unbridged(sid):
        return xml(await rejoin(svc, sid))
    await conference.close(svc, sid)
    await finish(svc, sid)
    response = VoiceResponse()
    response.hangup()
    return xml(response)
