"""Supervisor monitoring of a connected call: listen, whisper (coach the agent), barge, stop.

The supervisor's `device` (config/supervisors.yaml) is dialled into the call's conference
(`conf-{CallSid}`, `ivr.voice.conference`) as a participant labelled `supervisor`, through
Twilio's Participants REST resource:

    listen   muted: hears the customer and the agent; nobody hears the supervisor
    whisper  coaching the agent's leg: only the agent hears the supervisor
    barge    unmuted, not coaching: everyone hears everyone

Changing mode updates that participant; stop removes it. The participant's status
callback (`ivr.voice.supervisor`) clears the monitor when the supervisor's leg ends on
its own: never answered, busy, failed, or hung up. One supervisor monitors a call
at a time (`Keys.monitor`, claimed with HSETNX): another gets 409 until they stop. Every
start, change and stop is a `SUPERVISOR` event (`ivr.web.audit`). A REST error worth
retrying (5xx, 429, a timeout) is retried as the agent's controls retry it
(`conference.rest`), then the request fails with 502.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from starlette.exceptions import HTTPException
from twilio.base.exceptions import TwilioRestException

from ivr.core import logs
from ivr.core.errors import CallControlError
from ivr.core.telephony import REST_ERRORS, transient
from ivr.service import Services
from ivr.voice import conference
from ivr.voice import supervisor as supervisor_leg
from ivr.web import console
from ivr.web.audit import record

log = logs.get(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class Mode:
    """How the supervisor's participant is set for one monitoring mode."""

    muted: bool
    coaching: bool


MODES = {
    "listen": Mode(muted=True, coaching=False),
    "whisper": Mode(muted=False, coaching=True),
    "barge": Mode(muted=False, coaching=False),
}
LEG_EVENTS = ["completed"]
"""The supervisor leg's status events asked for: its end (any final status)."""
MONITOR_TTL_S = 4 * 3600
"""A monitor left behind (the call ended, the supervisor hung up) is forgotten after this."""
DIAL_GUARD_S = 30
"""A dial under way for longer than this was left by a request that died: dial again."""
NOT_FOUND = 404
UNAVAILABLE = "Twilio's API did not take the request; try again in a moment"


@dataclass(frozen=True)
class Target:
    """A connected call as monitoring sees it: its agent and its conference."""

    call: str
    agent: str
    conference: str
    """The conference's CF sid."""
    agent_leg: str
    """The agent participant's CallSid (the one a whisper coaches)."""


async def start(svc: Services, supervisor: str, call_sid: str, mode: str) -> dict[str, Any]:
    """Listen, whisper or barge on a connected call, or switch to that mode if already on it."""
    if mode not in MODES:
        raise HTTPException(400, "`mode` must be listen, whisper or barge")
    device = supervisor_device(svc, supervisor)
    agent = await connected_agent(svc, call_sid)
    not_own_call(svc, supervisor, device, agent)
    key = svc.keys.monitor(call_sid)
    fresh = await claim(svc, key, supervisor)
    try:
        await apply(svc, key, call_sid, agent, device, mode, supervisor)
    except BaseException:
        if fresh:
            await svc.redis.delete(key)
        raise
    await record(
        svc, f"supervisor:{supervisor}", action=f"monitor_{mode}", call=call_sid, agent=agent
    )
    log.info("monitoring", supervisor=supervisor, call=call_sid, mode=mode)
    leg = (await read(svc, call_sid)).get("leg", "")
    if leg:
        await supervisor_leg.settle(svc, call_sid, leg)
    return {"call": call_sid, "agent": agent, "mode": mode}


async def stop(svc: Services, supervisor: str, call_sid: str) -> None:
    """Take the supervisor out of the call (a participant already gone counts as stopped);
    `monitor_stop` is recorded with the reason "stopped"."""
    current = await read(svc, call_sid)
    if not current and await svc.router.call(call_sid) is None:
        raise HTTPException(NOT_FOUND, "no such call")
    if current.get("by") != supervisor:
        raise HTTPException(409, "you are not monitoring this call")
    leg = current.get("leg", "")
    if leg:
        await remove(svc, current["conference"], leg)
    # Recorded once: the leg's own end (its status callback) may have got there first.
    if await supervisor_leg.end(svc, call_sid, leg, supervisor_leg.STOPPED):
        log.info("monitoring stopped", supervisor=supervisor, call=call_sid)


async def watching(svc: Services, call_sids: list[str]) -> dict[str, dict[str, str]]:
    """Who monitors each of these calls, and how: call -> {by, mode} (only those monitored)."""
    found: dict[str, dict[str, str]] = {}
    for call_sid in call_sids:
        current = await read(svc, call_sid)
        if current.get("mode"):
            found[call_sid] = {"by": current["by"], "mode": current["mode"]}
    return found


def phone(svc: Services, supervisor: str) -> dict[str, Any]:
    """Where monitoring rings the supervisor, for their page: the device, and the softphone
    identity (`client:NAME` devices) with whether this service can issue it a token."""
    known = svc.registry.current.supervisors.get(supervisor)
    device = known.device if known and known.device else ""
    return {"device": device or None, **console.softphone_view(svc, device)}


def softphone_token(svc: Services, supervisor: str) -> dict[str, Any]:
    """A Voice SDK token for the supervisor's own client identity (the page answers the
    monitoring calls ringing it)."""
    return console.device_token(svc, supervisor_device(svc, supervisor))


async def read(svc: Services, call_sid: str) -> dict[str, str]:
    """The call's monitor as stored (empty when nobody monitors it)."""
    current: dict[str, str] = await svc.redis.hgetall(svc.keys.monitor(call_sid))  # type: ignore[assignment]
    return current


# -- checks ---------------------------------------------------------------------------
def supervisor_device(svc: Services, supervisor: str) -> str:
    """Where the supervisor's monitoring call rings, or 409 when none is configured."""
    known = svc.registry.current.supervisors.get(supervisor)
    if known is None or not known.device:
        raise HTTPException(409, "no device is configured for you (device in supervisors.yaml)")
    return known.device


async def connected_agent(svc: Services, call_sid: str) -> str:
    """The agent the call is connected to; 404 for a call routing does not know (another
    workspace's among them), 409 when it is not connected to an agent now."""
    routed = await svc.router.call(call_sid)
    if routed is None:
        raise HTTPException(NOT_FOUND, "no such call")
    if routed.state != "connected" or not routed.agent or routed.pending:
        raise HTTPException(409, "the call is not connected to an agent")
    return routed.agent


def not_own_call(svc: Services, supervisor: str, device: str, agent: str) -> None:
    """403 when the supervisor is the call's agent (same id, or the same device)."""
    known = svc.registry.current.agents.get(agent)
    if supervisor == agent or (known is not None and known.device == device):
        raise HTTPException(403, "you cannot monitor your own call")


async def claim(svc: Services, key: str, supervisor: str) -> bool:
    """Hold the call's monitor for the supervisor: True when newly theirs, False when it was
    already; 409 when another supervisor holds it."""
    async with svc.redis.pipeline(transaction=True) as tx:
        tx.hsetnx(key, "by", supervisor)
        tx.hget(key, "by")
        tx.expire(key, MONITOR_TTL_S)
        fresh, holder, _ = await tx.execute()
    if holder != supervisor:
        raise HTTPException(409, f"{holder} is already monitoring this call")
    return bool(fresh)


# -- Twilio ---------------------------------------------------------------------------
async def apply(
    svc: Services, key: str, call_sid: str, agent: str, device: str, mode: str, by: str
) -> None:
    """Switch the supervisor's participant to `mode`, or dial them in when they have none
    (or it has gone: they hung up, or were never answered)."""
    current = await read(svc, call_sid)
    if current.get("leg") and await switch(svc, current, mode):
        await svc.redis.hset(key, "mode", mode)
        return
    await start_dialling(svc, key)
    try:
        target = await find(svc, call_sid, agent)
        leg = await join(svc, target, device, mode, await caller_id(svc, call_sid))
    finally:
        await svc.redis.hdel(key, "dialling")
    fields = {"mode": mode, "leg": leg, "conference": target.conference, "call": call_sid}
    fields.update(agent_leg=target.agent_leg, agent=agent, by=by)
    async with svc.redis.pipeline(transaction=True) as tx:  # the old leg's end may have
        tx.hset(key, mapping=fields)  # type: ignore[arg-type]  # cleared it meanwhile
        tx.expire(key, MONITOR_TTL_S)
        await tx.execute()


async def start_dialling(svc: Services, key: str) -> None:
    """Mark the supervisor's leg as being dialled; 409 while another request (a double
    click) is dialling it, so their phone is never rung into the call twice."""
    now = svc.clock.now()
    if await svc.redis.hsetnx(key, "dialling", str(now)):
        return
    since = float(await svc.redis.hget(key, "dialling") or 0)
    if now - since < DIAL_GUARD_S:
        raise HTTPException(409, "your phone is being dialled into this call already")
    await svc.redis.hset(key, "dialling", str(now))  # left by a request that died


async def find(svc: Services, call_sid: str, agent: str) -> Target:
    """The call's conference and its agent's leg, or 409 when it is not in progress."""
    conf = await conference.state(svc, call_sid)
    if conf is None or conf.state not in conference.LIVE:
        raise HTTPException(409, "the call has no conference to join")
    try:
        sid = await rest(svc, conference.conference_sid(svc, conf))
    except CallControlError as exc:
        raise HTTPException(exc.status, exc.message) from None
    return Target(call_sid, agent, sid, conf.agent or await agent_leg(svc, sid))


async def agent_leg(svc: Services, sid: str) -> str:
    """The agent participant's CallSid, asked of Twilio by its label."""
    try:
        participant = await rest_call(
            svc, lambda c: c.conferences(sid).participants(conference.AGENT).fetch()
        )
    except HTTPException as exc:
        if exc.status_code == NOT_FOUND:
            raise HTTPException(409, "the agent is not in the call's conference") from None
        raise
    return str(participant.call_sid)


async def join(svc: Services, target: Target, device: str, mode: str, from_: str) -> str:
    """Dial the supervisor's device into the conference in `mode`: the new leg's CallSid."""
    setting = MODES[mode]
    coach = {"call_sid_to_coach": target.agent_leg} if setting.coaching else {}
    created = await rest_call(
        svc,
        lambda c: c.conferences(target.conference).participants.create(
            from_=from_,
            to=device,
            label=conference.SUPERVISOR,
            muted=setting.muted,
            coaching=setting.coaching,
            beep="false",  # nobody is told a supervisor came in
            end_conference_on_exit=False,
            status_callback=svc.urls.to("supervisor_status", call=target.call),
            status_callback_event=LEG_EVENTS,
            **coach,
        ),
    )
    return str(created.call_sid)


async def switch(svc: Services, current: dict[str, str], mode: str) -> bool:
    """Update the supervisor's participant to `mode`; False when it is no longer there."""
    setting = MODES[mode]
    coach = {"call_sid_to_coach": await coached(svc, current)} if setting.coaching else {}
    sid, leg = current["conference"], current["leg"]
    try:
        await rest_call(
            svc,
            lambda c: (
                c.conferences(sid)
                .participants(leg)
                .update(muted=setting.muted, coaching=setting.coaching, **coach)
            ),
        )
    except HTTPException as exc:
        if exc.status_code == NOT_FOUND:
            return False
        raise
    return True


async def coached(svc: Services, current: dict[str, str]) -> str:
    """The agent leg a whisper coaches: the call's agent now (a transfer may have changed
    it since the supervisor joined), else the one they joined with."""
    conf = await conference.state(svc, current.get("call", ""))
    return (conf.agent if conf is not None else "") or current["agent_leg"]


async def remove(svc: Services, sid: str, leg: str) -> None:
    """Delete the supervisor's participant; one already gone is fine."""
    try:
        await rest_call(svc, lambda c: c.conferences(sid).participants(leg).delete())
    except HTTPException as exc:
        if exc.status_code != NOT_FOUND:
            raise


async def caller_id(svc: Services, call_sid: str) -> str:
    """The number the supervisor's phone shows: the one the customer called."""
    session = await svc.calls.get(call_sid)
    return session.called if session and session.called.startswith("+") else "client:ivr"


async def rest_call(svc: Services, operation: Callable[[Any], Any]) -> Any:
    """One REST operation, retried on a transient error (`conference.rest`)."""
    return await rest(svc, conference.rest(svc, operation))


async def rest(svc: Services, request: Awaitable[T]) -> T:
    """Await a REST request made with retries: a 404 is raised as HTTP 404, any other
    failure as 502 with a plain message."""
    try:
        return await request
    except REST_ERRORS as exc:
        if isinstance(exc, TwilioRestException) and exc.status == NOT_FOUND:
            raise HTTPException(NOT_FOUND, "not found at Twilio") from None
        log.warning("monitoring request failed", error=str(exc))
        raise HTTPException(502, failure(exc)) from None


def failure(exc: Exception) -> str:
    """The 502 message for a REST error that was not retried away."""
    if isinstance(exc, TwilioRestException) and not transient(exc):
        return f"Twilio refused the request ({exc.code}): {exc.msg}"
    return UNAVAILABLE
