"""The caller's queue leg: joining a queue, waiting in a Twilio queue of their own, leaving it.

`hand_to_queue` joins routing and renders the `<Enqueue>` (`wait_in_queue`); the hold loop
(`ivr.voice.hold`) plays while the caller waits; `queue_done` handles the Enqueue's end
(bridged, hung up, or `<Leave>` for an exit marked in `ivr.voice.exits`), and the overflow
treatments (a message, voicemail, the callback offer, another queue) are rendered here.
"""

from __future__ import annotations

import json

from starlette.requests import Request
from starlette.responses import Response
from twilio.twiml.voice_response import VoiceResponse

from ivr.config import phrases
from ivr.config.queues import Hangup, HoldConfig, OverflowAction, ToQueue
from ivr.core import logs, sentinel
from ivr.core.errors import RoutingError, UnknownSkill
from ivr.core.security import require
from ivr.core.session import CallSession
from ivr.service import Services, services
from ivr.voice import attendant, offers, queue_resources, twiml
from ivr.voice.attendant import Turn
from ivr.voice.endings import abandon, finish, pending_offer
from ivr.voice.exits import mark_exit
from ivr.voice.twiml import xml
from queues import ewt
from queues.reservation import Entry, Reservation
from queues.router import ACTION

log = logs.get(__name__)


SHORT_BRIDGE_S = 6.0
"""A bridge that ended this soon after the caller's Queue url fetch (confirm) carried no
conversation: "connecting you" alone takes most of it. The agent's leg dropped."""


def queue_name(call_sid: str) -> str:
    """The Twilio queue a caller waits in: one per call (at most 64 characters)."""
    return f"call-{call_sid}"


async def confirm_bridge(svc: Services, call_sid: str) -> None:
    """The caller is being bridged: the pending connection is confirmed (CONNECT)."""
    call = await svc.router.call(call_sid)
    if call is not None and call.pending and call.agent:
        await svc.router.confirm(call_sid, call.agent)


async def queue_connect(request: Request) -> Response:
    """Played to the caller just before the bridge."""
    svc = services(request)
    form = await svc.verifier.form(request)
    (sid,) = require(form, "CallSid")
    await confirm_bridge(svc, sid)
    await queue_resources.note(svc, sid, form)
    session = await svc.calls.get(sid)
    response = VoiceResponse()
    if session is not None:
        config = svc.config_for(session.config_version)
        text = phrases.text(config, session.language, "queue.connecting")
        twiml.say(response, text, config.languages.of(session.language))
    return xml(response)


async def queue_done(request: Request) -> Response:
    """The caller's Enqueue ended: bridged and over, hung up while waiting, or left."""
    svc = services(request)
    form = await svc.verifier.form(request)
    (sid,) = require(form, "CallSid")
    result = form.get("QueueResult", "")
    response = VoiceResponse()
    await queue_resources.left(svc, sid, form)  # whatever the result: that queue is spent
    if result == "bridged" and await fell_through(svc, sid):
        return xml(await rejoin(svc, sid))  # the agent's leg dropped before the bridge
    if result == "bridged":
        await finish(svc, sid)
    elif result == "leave":
        return xml(await leave_for_exit(svc, sid))
    elif result in ("hangup", "error", "system-error", "queue-full"):
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
    call = await svc.router.call(sid)
    if call is None or not call.bridging:
        return False
    since_s = svc.clock.now() - (call.connected_at or 0)
    if since_s > SHORT_BRIDGE_S:
        return False
    try:
        offered = await svc.router.put_back(
            sid, call.agent, "dropped", bridging=True, conn=call.connection
        )
    except RoutingError:
        return False
    log.info("bridge fell through", call=sid, agent=call.agent, after_s=round(since_s, 1))
    await offers.mark_put_back(svc, sid)
    await offers.dispatch_offers(svc, offered)
    return True


def overflow(
    svc: Services, session: CallSession, action: OverflowAction, queue: str = ""
) -> VoiceResponse:
    """The TwiML for a caller moved out of `queue` (or refused by it): a message and
    goodbye, a voicemail, the callback offer, or another queue the call already joined
    in routing (`Router.move`)."""
    config = svc.config_for(session.config_version)
    language = config.languages.of(session.language)
    response = VoiceResponse()
    if isinstance(action, Hangup):
        twiml.say(response, action.hangup, language)
        response.hangup()
        return response
    if isinstance(action, ToQueue):
        shown = config.queues.get(action.queue)
        name = shown.display_name if shown and shown.display_name else action.queue
        text = phrases.text(config, session.language, "queue.transferring", queue=name)
        twiml.say(response, text, language)
        wait_in_queue(svc, response, session.sid)
        return response
    if action == "callback" and config.callbacks.enabled:
        target = queue or session.queue or ""
        response.redirect(svc.urls.callback("menu", mode="menu", queue=target))
        return response
    twiml.say(response, phrases.text(config, session.language, "queue.voicemail"), language)
    response.record(
        action=svc.urls.voicemail(session.step),
        max_length=120,
        finish_on_key="#",
        play_beep=True,
    )
    return response


def wait_in_queue(svc: Services, response: VoiceResponse, call_sid: str) -> None:
    """Hold the caller in their own Twilio queue, with the hold loop, until an agent bridges."""
    response.enqueue(
        queue_name(call_sid),
        wait_url=svc.urls.to("hold"),
        wait_url_method="POST",
        action=svc.urls.to("queue_done"),
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
            response.redirect(svc.urls.callback("keep"))  # ivr/voice/callback.py
            return xml(response)
    response.redirect(svc.urls.to("hold"))  # any other key: back to the music
    return xml(response)


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


async def enqueue(svc: Services, turn: Turn) -> Reservation | None:
    """Join the call to its queue in routing and put it in its own Twilio queue.

    Returns the offer to ring when an agent was reserved at once. A retried
    webhook finds the call already in routing and only renders the TwiML.
    """
    target, call = turn.handoff, turn.call
    assert target is not None
    entry: Entry | None = None
    if not await svc.router.has_call(call.sid):
        entry = await enter(svc, call, target.name, target.priority)
        if entry.action is not None:
            turn.response = overflow(svc, call, entry.action, entry.queue)
            return None
        call.queue = entry.queue
        if await diverted_by_estimate(svc, call, turn, entry):
            return None
        await sentinel.confirm(svc, "caller queued")  # on a replica before they hear the wait
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


async def estimate_for(
    svc: Services, queue: str, position: int, hold: HoldConfig, call: str = ""
) -> float | None:
    """The mean wait (seconds) at `position`, None when nobody can answer. With `call`, only
    the agents who can answer that caller count (`servers_for`); else the queue's staffed."""
    servers = await servers_for(svc, call) if call else ewt.Servers(await svc.router.staffed(queue))
    handle = await ewt.handle_time(svc.redis, svc.keys, queue, hold.handle_time_s)
    return ewt.estimate(ewt.departures(position, servers), servers.staffed, handle)


async def wait_range_for(
    svc: Services, call: str, queue: str, position: int, hold: HoldConfig
) -> ewt.WaitRange | None:
    """The range of the remaining wait told to `call` at `position` (`queues.ewt.wait_range`),
    None when no agent who can answer this caller is staffed."""
    servers = await servers_for(svc, call)
    handle = await ewt.handle_stats(svc.redis, svc.keys, queue, hold.handle_time_s)
    return ewt.wait_range(position, servers, handle)


async def servers_for(svc: Services, call: str) -> ewt.Servers:
    """The agents who can answer this waiting caller (language, escalation step), counted
    at most once a second (`queues.staffing`)."""
    routed = await svc.router.call(call)
    if routed is None:
        return ewt.Servers(0)
    return (await svc.router.staffing(routed)).servers


async def hand_to_queue(svc: Services, turn: Turn) -> Reservation | None:
    """Join the queue the caller chose, if they chose one. Routing may refuse a queue it
    no longer has (removed by a hot reload while the caller was in the menu): the caller
    then hears an apology and their question again, from the live config."""
    if turn.handoff is None:
        return None
    try:
        return await enqueue(svc, turn)
    except RoutingError as exc:
        log.warning(
            "queue refused the caller",
            call=turn.call.sid,
            queue=turn.handoff.name,
            reason=repr(exc),
        )
    ask_again_live(svc, turn)
    return None


def ask_again_live(svc: Services, turn: Turn) -> None:
    """Move the call to the live config, apologise, and ask its current question again."""
    config, call = svc.registry.current, turn.call
    call.config_version, call.queue, call.outcome = config.version, None, None
    turn.config, turn.response, turn.handoff = config, VoiceResponse(), None
    turn.say(config.menu.sorry)
    node = config.nodes.get(call.node)
    if node is not None and node.kind in ("menu", "collect"):
        attendant.ask(turn, node, first=True)
    else:  # the queue came straight from an hours or message node: no question to repeat
        attendant.hang_up(turn, config.menu.goodbye)
