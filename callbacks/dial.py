"""Calling customers back: joining the queue, dialling, attempt outcomes, retries, expiry.

A callback joins routing under its own id with its original enqueue time, so
it is served in the order its caller would have been. When routing reserves
an agent for it:

* agent-first (default): the agent is rung as for any caller and hears a
  whisper marked as a callback; accepting puts the agent in the callback's
  conference (`conf-<callback id>`) and rings the customer through the REST API
  (`dial_from_agent`); answered, they join it; not reached, the agent is taken out;
* customer-first (`callbacks.customer_first` queues): the reservation is
  handed back, the customer is rung through the REST API (with answering-
  machine detection when configured) and, once they answer, joins the queue
  as a call of their own with the callback's original time and priority.

Timed work (a scheduled slot, a retry after the minimum gap, expiry) runs as
`callbacks.jobs` jobs of kind `callback`; each is idempotent because every
step is a compare-and-set move of the callback's state (`callbacks.callback`).
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

from callbacks import jobs, slots
from callbacks.callback import Callback, get, is_callback, leave_queue, move
from callbacks.context import Context
from ivr.config import phrases
from ivr.config.callbacks import TextKind
from ivr.config.hours import Hours
from ivr.core import logs, outbound
from ivr.core.errors import RoutingError, UnknownSkill
from ivr.core.telephony import REST_ERRORS, transient
from queues.metrics import sms_costs
from queues.reservation import Reservation
from queues.router import UNREACHABLE

log = logs.get(__name__)

JOB_KIND = "callback"
"""Listed in `callbacks.jobs.KINDS`, so a worker runs these jobs without importing us first."""
NO_ANSWER = frozenset({"no-answer", "busy", "failed", "canceled"})
"""Twilio call outcomes that mean the customer was not reached."""
LEG_TTL_S = 86400
DIAL_GRACE_S = 30
"""A dial still unresolved this long after its ring timeout is taken as lost (a crash)."""
DIAL_TRIES = 3
"""How often the customer's dial is asked of Twilio when its API errs transiently."""
DIAL_RETRY_S = 0.5
"""The first pause between those tries; each next one doubles (with jitter)."""
CUSTOMER_LEG_EVENTS = ["ringing", "completed"]
"""`ringing` starts the dial's watchdog (Twilio may hold the leg `queued` a while first)."""


# -- joining the queue -------------------------------------------------------------
async def activate(svc: Context, cb_id: str) -> str:
    """Due (a slot, or a retry after the gap): join the queue; the state it ends in."""
    cb = await get(svc, cb_id)
    if cb is None or not cb.live:
        return cb.state if cb else "unknown"
    config = svc.registry.current
    if cb.state in ("scheduled", "no_answer"):
        if not slots.is_open(config, svc.clock.now()):
            await expire(svc, cb, "outside calling hours")
            return "expired"
        await move(svc, cb, ("scheduled", "no_answer"), "queued", "CALLBACKQUEUED")
        cb = await get(svc, cb_id)
    if cb is not None and cb.state == "queued":
        await enter_queue(svc, cb)
    return cb.state if cb else "unknown"


async def enter_queue(svc: Context, cb: Callback, prefer: str = "") -> Reservation | None:
    """Put a queued callback in routing at its original place (once: retries find it there).

    `prefer` names an agent it is offered to first when they are free (an agent calling a
    voicemail back from the console): a reservation made for them is returned, for them to
    take, instead of rung; one for anyone else is rung as usual. A customer-first queue
    always rings the customer first.
    """
    if await svc.router.has_call(cb.id):
        return None
    language = cb.language or None
    orig = cb.orig_ms / 1000 or None
    try:
        try:
            entry = await svc.router.enter(
                cb.id, cb.queue, cb.priority, language, cb.data, orig, prefer
            )
        except UnknownSkill:
            entry = await svc.router.enter(
                cb.id, cb.queue, cb.priority, None, cb.data, orig, prefer
            )
    except RoutingError as exc:  # a second worker put it there first
        log.info("callback not entered", callback=cb.id, reason=str(exc))
        return None
    if entry.action is not None:  # full, or nobody logged in: try again after the gap
        log.info("callback queue refused it; retrying later", callback=cb.id, status=entry.status)
        await schedule(svc, cb, "activate", svc.clock.now() + _gap(svc), tag=f"q{cb.attempts}")
        return None
    offer = entry.reservation
    if offer is None:
        return None
    if (
        prefer
        and offer.agent == prefer
        and cb.queue not in svc.registry.current.callbacks.customer_first
    ):
        return offer
    await svc.legs.ring(offer)
    return None


def _gap(svc: Context) -> float:
    return float(max(svc.registry.current.callbacks.min_gap_s, 1))


# -- agent-first -----------------------------------------------------------------
async def start_attempt(svc: Context, cb: Callback, agent: str) -> int | None:
    """queued -> dialling(attempt k+1); the attempt number, or None if not queued."""
    moved = await move(
        svc,
        cb,
        ("queued",),
        "dialling",
        "CALLBACKDIAL",
        bump=True,
        fields={"agent": agent},
        data={"agent": agent, "queue": cb.queue},
    )
    if not moved.ok:
        return None
    await schedule(svc, cb, "check", svc.clock.now() + _dial_deadline(svc), tag=f"a{moved.attempt}")
    return moved.attempt


async def hand_back(svc: Context, cb_id: str, outcome: str = UNREACHABLE) -> None:
    """dialling(k) -> queued: the agent's device could not be rung, so no one dialled.

    For an agent-first attempt accepted in the console (`ivr.web.console.accept`); the
    routing entry goes back to its place (`Router.requeue`, or the pending connection's
    timer, `outcome` CONNECT_LOST) and attempt k's watchdog then finds nothing to do.
    The attempt still counts.
    """
    cb = await get(svc, cb_id)
    if cb is None or cb.state != "dialling":
        return
    data = {"outcome": outcome, "queue": cb.queue}
    await move(svc, cb, ("dialling",), "queued", "CALLBACKQUEUED", attempt=cb.attempts, data=data)


def _dial_deadline(svc: Context) -> float:
    return svc.registry.current.callbacks.ring_timeout_s + DIAL_GRACE_S


async def customer_reached(svc: Context, cb: Callback, attempt: int, agent: str) -> bool:
    """dialling(k) -> connected: the customer answered (FRT ends when they meet the agent)."""
    moved = await move(
        svc,
        cb,
        ("dialling",),
        "connected",
        "CALLBACKCONNECT" if agent else "CALLBACKANSWER",
        attempt=attempt,
        fields={"outcome": "answered"},
        data=connect_fields(svc, cb, agent),
    )
    return moved.ok


def connect_fields(svc: Context, cb: Callback, agent: str) -> dict[str, str]:
    """What the metrics need of a callback's connection: FRT from the original call."""
    now_ms = int(svc.clock.now() * 1000)
    return {
        "call": cb.call,
        "queue": cb.queue,
        "agent": agent,
        "original_started_ms": str(cb.started_ms),
        "original_wait_ms": str(now_ms - cb.orig_ms) if cb.orig_ms else "",
        "frt_ms": str(now_ms - cb.started_ms) if cb.started_ms else "",
    }


async def on_connect(svc: Context, call_sid: str, agent: str) -> None:
    """A customer-first callback's leg was accepted by an agent: record FRT's end."""
    cb_id = await svc.redis.get(svc.keys.callback_leg(call_sid))
    cb = await get(svc, str(cb_id)) if cb_id else None
    if cb is None:
        return
    fields = {"type": "CALLBACKCONNECT", "ts": str(int(svc.clock.now() * 1000))}
    fields |= {"callback": cb.id, "leg": call_sid, "attempt": str(cb.attempts)}
    fields |= connect_fields(svc, cb, agent)
    await svc.redis.xadd(svc.keys.events(), fields)  # type: ignore[arg-type]


# -- outcomes ----------------------------------------------------------------------
async def not_reached(svc: Context, cb: Callback, attempt: int, outcome: str) -> str:
    """dialling(k) -> no_answer, then a retry after the gap or, attempts used up, failed."""
    config = svc.registry.current.callbacks
    at = svc.clock.now() + config.min_gap_s
    moved = await move(
        svc,
        cb,
        ("dialling",),
        "no_answer",
        "CALLBACKNOANSWER",
        attempt=attempt,
        expected=at,
        fields={"outcome": outcome},
        data={"outcome": outcome, "queue": cb.queue},
    )
    if not moved.ok:
        return "ignored"  # a replayed webhook, or a watchdog after the real outcome
    if moved.attempt >= config.max_attempts:
        await move(svc, cb, ("no_answer",), "failed", "CALLBACKFAILED")
        await notify(svc, cb, "sms_failed")
        return "failed"
    await schedule(svc, cb, "activate", at, tag=f"r{moved.attempt}")
    return "retry"


async def machine(svc: Context, cb: Callback, attempt: int) -> bool:
    """An answering machine took the call: done with a message, or not reached, per config."""
    if svc.registry.current.callbacks.on_machine == "no_answer":
        await not_reached(svc, cb, attempt, "machine")
        return False
    moved = await move(
        svc,
        cb,
        ("dialling",),
        "done",
        "CALLBACKDONE",
        attempt=attempt,
        fields={"outcome": "machine"},
    )
    return moved.ok


async def check(svc: Context, cb_id: str, attempt: int) -> None:
    """Watchdog: a dial whose outcome never came (the dialler died) counts as not reached."""
    cb = await get(svc, cb_id)
    if cb is not None and cb.state == "dialling" and cb.attempts == attempt:
        log.warning("callback dial lost; counting it unanswered", callback=cb_id, attempt=attempt)
        await not_reached(svc, cb, attempt, "lost")
        # No dial result will come (e.g. the agent hung up while the customer's phone
        # rang): without this the agent would stay on the call in routing for good.
        await svc.legs.end_unanswered(cb_id, cb.agent)


# -- customer-first --------------------------------------------------------------
async def dial_customer_first(svc: Context, offer: Reservation) -> None:
    """Hand the agent back and ring the customer; they join the queue when they answer."""
    cb = await get(svc, offer.call_sid)
    if cb is None:
        return
    attempt = await start_attempt(svc, cb, "")
    await leave_queue(svc, cb.id)  # frees the agent; any next offer for them is rung there
    if attempt is None:
        return
    await ring_customer(svc, cb, attempt)


async def ring_customer(
    svc: Context, cb: Callback, attempt: int, answer: str = "customer", detect: bool = True
) -> bool:
    """Dial the customer, watched by its status callback and the attempt's `check` job; a
    transient API error is retried a few times before the attempt counts as failed (False).

    `answer` names the attempt URL their answered call fetches: `customer` (customer-first,
    with answering-machine detection when configured) or `answered` (agent-first: the agent
    waits in the call's conference, `detect` False)."""
    config = svc.registry.current.callbacks
    detecting = detect and config.machine_detection
    extra: dict[str, Any] = {"machine_detection": "Enable"} if detecting else {}
    for tried in range(1, DIAL_TRIES + 1):
        requested_at = svc.clock.now()
        try:
            leg = await svc.rest(
                lambda c: c.calls.create(
                    to=cb.number,
                    from_=cb.called,
                    url=svc.urls.attempt(answer, cb.id, attempt),
                    status_callback=svc.urls.attempt("status", cb.id, attempt),
                    status_callback_event=CUSTOMER_LEG_EVENTS,
                    timeout=config.ring_timeout_s,
                    **extra,
                )
            )
            break
        except REST_ERRORS as exc:
            code = getattr(exc, "code", None)
            if tried < DIAL_TRIES and transient(exc):
                log.info("customer dial failed; retrying", callback=cb.id, code=code)
                await asyncio.sleep(DIAL_RETRY_S * 2 ** (tried - 1) * (0.5 + random.random() / 2))
                continue
            log.warning("could not dial the customer", callback=cb.id, code=code)
            await not_reached(svc, cb, attempt, "failed")
            return False
    await svc.redis.set(svc.keys.callback_leg(leg.sid), cb.id, ex=LEG_TTL_S)
    await svc.redis.hset(svc.keys.callback(cb.id), "leg", leg.sid)
    await paced(svc, cb.id, attempt, str(leg.sid), requested_at, outbound.queue_wait_s(leg))
    return True


async def paced(
    svc: Context, cb_id: str, attempt: int, leg: str, requested_at: float, wait_s: float
) -> None:
    """Twilio queued the customer's leg, to place it at the account's calls per second in
    about `wait_s`: the attempt's watchdog counts from then (its `ringing` event moves it
    again), and the leg is in the outbound backlog until it rings."""
    await outbound.requested(svc.redis, svc.keys, leg, requested_at)
    await _watch_from(svc, cb_id, attempt, requested_at + wait_s)


async def leg_progress(svc: Context, cb_id: str, attempt: int, leg: str, status: str) -> None:
    """A status event of the customer's leg: ringing or past it, it has left the outbound
    backlog; once it rings, the attempt's watchdog counts from now."""
    await outbound.progressed(svc.redis, svc.keys, leg, svc.clock.now())
    if status == "ringing":
        await _watch_from(svc, cb_id, attempt, svc.clock.now())


async def _watch_from(svc: Context, cb_id: str, attempt: int, rings_at: float) -> None:
    job_id = _job_id(cb_id, "check", f"a{attempt}")  # as `start_attempt` scheduled it
    await jobs.postpone(svc.redis, svc.keys, job_id, rings_at + _dial_deadline(svc))


# -- closing time ------------------------------------------------------------------
WAITING_AT_CLOSING = ("queued", "no_answer")
"""A keep-my-place callback in these states at closing time is expired or moved on."""


def queue_hours(svc: Context, queue: str) -> Hours | None:
    """The queue's opening hours (`hold.hours`), if it has any."""
    config = svc.registry.current
    shown = config.queues.get(queue)
    return config.hours.get(shown.hold.hours or "") if shown is not None else None


async def watch_closing(svc: Context, cb: Callback, after: float | None = None) -> None:
    """Run `closing` for a keep-my-place callback when its queue next closes."""
    hours = queue_hours(svc, cb.queue)
    start = svc.clock.now() if after is None else after
    if hours is None:
        return
    at = slots.next_moment(lambda t: not slots.hours_open(hours, t), start)
    if at is not None:
        await schedule(svc, cb, "closing", at, tag=f"c{int(at)}")


async def at_closing(svc: Context, cb_id: str) -> str:
    """The queue closed with the callback still waiting: expire it, or move it to the next
    opening (`callbacks.at_closing`), with an SMS; the state it ends in."""
    cb = await get(svc, cb_id)
    hours = queue_hours(svc, cb.queue) if cb is not None else None
    if cb is None or hours is None or cb.state not in WAITING_AT_CLOSING:
        return cb.state if cb else "unknown"
    config, now = svc.registry.current, svc.clock.now()
    if slots.hours_open(hours, now):  # the hours changed since: watch the next closing
        await watch_closing(svc, cb)
        return cb.state
    opens = slots.next_moment(
        lambda t: slots.hours_open(hours, t) and slots.is_open(config, t), now
    )
    if config.callbacks.at_closing == "expire" or opens is None:
        await expire(svc, cb, "closed")
        return "expired"
    return await _reopen(svc, cb, opens)


async def _reopen(svc: Context, cb: Callback, opens: float) -> str:
    """queued | no_answer -> scheduled for `opens`: it rejoins at its original place then."""
    config, now = svc.registry.current, svc.clock.now()
    expire_at = opens + config.callbacks.expire_after_s
    moved = await move(
        svc,
        cb,
        WAITING_AT_CLOSING,
        "scheduled",
        "CALLBACKREQUEST",
        expected=opens,
        fields={"due": str(opens), "expire_at": str(expire_at), "outcome": "closed"},
        data={"queue": cb.queue, "outcome": "closed"},
    )
    if not moved.ok:
        return moved.before
    await leave_queue(svc, cb.id)
    await schedule(svc, cb, "activate", opens, tag=f"o{int(opens)}")
    await schedule(svc, cb, "expire", expire_at, tag=f"o{int(opens)}")
    await watch_closing(svc, cb, after=opens)
    when = slots.spoken_time(config, opens, now, cb.language, number=cb.number)
    await notify(svc, cb, "sms_reopen", time=when)
    log.info("callback moved to the next opening", callback=cb.id, at=opens)
    return "scheduled"


# -- expiry and messages ---------------------------------------------------------
async def expire(svc: Context, cb: Callback, reason: str) -> bool:
    """A live callback not yet being dialled expires, with an SMS to the customer."""
    moved = await move(
        svc,
        cb,
        ("scheduled", "queued", "no_answer"),
        "expired",
        "CALLBACKEXPIRED",
        fields={"outcome": reason},
        data={"queue": cb.queue, "outcome": reason},
    )
    if not moved.ok:
        return False
    await leave_queue(svc, cb.id)
    await notify(svc, cb, "sms_expired")
    return True


async def notify(svc: Context, cb: Callback, kind: TextKind, **values: object) -> None:
    """Text the customer in their language; a message Twilio refuses, or cannot be asked
    to send, is logged, not retried."""
    config = svc.registry.current
    language = cb.language or config.languages.default
    body = config.callbacks.text(
        kind,
        language,
        config.languages.default,
        company=config.company.name,
        number=cb.number,
        cancel=next(iter(phrases.keywords(config, "cancel", language)), "CANCEL"),
        **values,
    )
    if not cb.called.startswith("+"):
        log.warning("no number to text from", callback=cb.id)
        return
    try:
        await svc.rest(lambda c: c.messages.create(to=cb.number, from_=cb.called, body=body))
    except REST_ERRORS as exc:  # refused, or Twilio unreachable: the callback stands
        log.warning("callback SMS not sent", callback=cb.id, error=str(exc))
        return
    await sms_costs.sent(svc.redis, svc.keys, kind, body)


# -- jobs --------------------------------------------------------------------------
async def schedule(svc: Context, cb: Callback, action: str, at: float, tag: str = "") -> None:
    """Run `action` for the callback at `at` (once per callback, action and tag)."""
    job_id = _job_id(cb.id, action, tag)
    payload = {"action": action, "id": cb.id, "attempt": _attempt_of(tag)}
    await jobs.schedule(svc.redis, svc.keys, job_id, JOB_KIND, payload, at)


def _job_id(cb_id: str, action: str, tag: str = "") -> str:
    return f"cb-{cb_id}-{action}{'-' + tag if tag else ''}"


def _attempt_of(tag: str) -> int:
    return int(tag[1:]) if tag[1:].isdigit() else 0


async def run_action(svc: Context, payload: dict[str, Any]) -> None:
    """One callback job: `activate`, `expire`, `check` (a dial's watchdog) or `closing`.

    Any agent it has rung is rung before it returns: a job's event loop ends with it."""
    try:
        await _run_action(svc, payload)
    finally:
        await svc.legs.settle()


async def _run_action(svc: Context, payload: dict[str, Any]) -> None:
    cb_id, action = str(payload["id"]), payload["action"]
    if action == "activate":
        await activate(svc, cb_id)
    elif action == "expire":
        cb = await get(svc, cb_id)
        if cb is not None and svc.clock.now() >= cb.expire_at:  # not moved on meanwhile
            await expire(svc, cb, "too old")
    elif action == "closing":
        await at_closing(svc, cb_id)
    elif action == "check":
        await check(svc, cb_id, int(payload.get("attempt", 0)))
    else:
        log.warning("unknown callback job", action=action, callback=cb_id)


__all__ = ["activate", "dial_customer_first", "is_callback", "run_action"]
