"""Ringing agents: turning routing reservations into phone calls, and ending them.

When routing reserves an agent for a call, the service rings the agent's
device (a Twilio Client identity or a phone number) through the REST API.
The agent hears a whisper and presses 1 (`ivr.voice.agent`). If the offer ends
unanswered (ring timeout, or the caller hung up) the agent's phone is hung up
here. The caller never notices any of it: they stay in the hold loop.

Ringing never runs on a webhook's critical path. `dispatch_offers` records the
intent to ring (reservation -> pending leg, `Keys.offers`), makes it due
(`Keys.ring_due`) and starts a task that makes the REST request once the webhook
has answered; `pump`, run by the background loop of any web process, makes the
retries (and any ring whose task a process did not get to). A process takes a due
ring with a lease (`take`): it stays due, later, until its request is over, so a ring
whose process died before its request is made by another within `RING_LEASE_S`.
Because the intent is recorded first, a leg created by a request whose answer
was lost (a crash, a timeout) still reports itself: its status callback names
the reservation, and a leg nobody can adopt is hung up. A transient API error
(5xx, 429, a timeout or a dropped connection) is retried with backoff and
jitter within the ring window; only an error Twilio gives for a destination
that cannot be rung puts the agent on break, for a cool-down.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable, Coroutine
from typing import Any

import redis.asyncio as aioredis
from twilio.base.exceptions import TwilioRestException

from callbacks import dial as callback_dial
from callbacks.callback import is_callback
from ivr.core import lease, logs, outbound
from ivr.core.errors import RoutingError
from ivr.core.outbound import queue_wait_s
from ivr.core.telephony import REST_ERRORS, REST_TIMEOUT_S, transient
from ivr.service import Services
from ivr.voice import exits, presence
from queues.agent import DEVICE_UNREACHABLE, ON_CALL, RESERVED
from queues.reservation import Fired, Offer, Reservation
from queues.router import CONNECT_LOST

log = logs.get(__name__)
RING_GRACE_S = 5
"""The REST call rings a little longer than the reservation, so routing's timer decides."""
UNREACHABLE_BREAK = DEVICE_UNREACHABLE
"""The break an agent is put on when Twilio says their device cannot be rung."""
DEVICE_ERRORS = frozenset({13224, 21211, 21214, 21215, 21216, 21217})
"""Twilio error codes that say the destination itself cannot be called: invalid or
unreachable number or client (21211, 21214, 21217, 13224), or not allowed (21215, 21216)."""
RETRY_BASE_S = 0.5
"""The first retry of a transient API error waits about this long; each next one doubles."""
RETRY_MAX_S = 4.0
RING_LEASE_S = REST_TIMEOUT_S + 1.0
"""How long a process's claim on a due ring lasts: longer than its REST request can take,
so a live process's ring is never requested twice; a dead one's is made this long after."""
MIN_RING_LEFT_S = 3.0
"""A ring that could start with less of its window left than this is given up."""
STRAYS_LISTED = 20
"""How many of a device's latest calls are looked through for a lost leg."""
LEG_EVENTS = ["initiated", "ringing", "answered", "completed"]
"""`initiated` tells us a leg's sid even when the answer to its REST request was lost;
`ringing` starts the offer's ring timeout (Twilio may hold the leg `queued` a while first)."""
WAITING_TO_RING = frozenset({"", "queued", "initiated"})
"""Leg statuses before its phone rings."""
HELD = frozenset({"adopted", "same"})
"""`adopt` outcomes for the offer's own leg."""
PUT_BACK_FIELD = "put_back"
"""Set in the caller's hold hash when an apology is owed; the hold loop takes it once."""
PUT_BACK = {
    "en": "Sorry, the agent could not take your call. You keep your place in line.",
    "ms": "Maaf, ejen tidak dapat menjawab panggilan anda. Anda kekal di tempat anda.",
    "th": "ขออภัย เจ้าหน้าที่ไม่สามารถรับสายได้ คุณยังคงอยู่ในลำดับเดิม",
}
"""What a caller hears on hold when an agent's leg failed before the bridge."""


def device_error(exc: Exception) -> bool:
    """Twilio says the device itself cannot be rung (a permanent, per-agent error)."""
    return isinstance(exc, TwilioRestException) and exc.code in DEVICE_ERRORS


# -- ringing ------------------------------------------------------------------------
async def ring(svc: Services, offer: Reservation) -> None:
    """Have the agent's device rung for `offer` (soon, off the caller's webhook)."""
    if await record_ring(svc, offer):
        start_ring(svc, offer.id)


async def record_ring(svc: Services, offer: Reservation) -> bool:
    """Record the ring of `offer` as due (in the store: a process that dies before it
    rings leaves it to the next pump); False if it is rung otherwise, and was."""
    if is_callback(offer.call_sid) and offer.queue in svc.registry.current.callbacks.customer_first:
        await callback_dial.dial_customer_first(svc, offer)  # the customer is rung first
        return False
    if await presence.is_present(svc, offer.agent):
        # The agent has the console open: it rings there; accept connects the device.
        await presence.deliver(svc, offer.id, offer.agent)
        return False
    intent = {
        "call": offer.call_sid,
        "agent": offer.agent,
        "queue": offer.queue,
        "device": offer.device,
        "expires": offer.expires_at,
        "leg": "",
        "tries": 0,
    }
    async with svc.redis.pipeline(transaction=True) as pipe:
        pipe.hset(svc.keys.offers(), offer.id, json.dumps(intent))
        pipe.zadd(svc.keys.ring_due(), {offer.id: svc.clock.now()})
        await pipe.execute()
    return True


def start_ring(svc: Services, reservation_id: str) -> None:
    """Make the REST request of a recorded ring now, in a task of this process."""
    spawn(svc, claim(svc, reservation_id))


def spawn(svc: Services, work: Coroutine[Any, Any, None]) -> None:
    """Run REST work in a task of this process, after the webhook has answered; `settle`
    waits for it (a ring, or moving a caller into their conference)."""
    task = asyncio.create_task(work)
    tasks = _IN_FLIGHT.setdefault(id(svc), set())
    tasks.add(task)
    task.add_done_callback(tasks.discard)


_IN_FLIGHT: dict[int, set[asyncio.Task[None]]] = {}
"""Per `Services`: the ring tasks started and not yet done in this process."""


def in_flight(svc: Services) -> bool:
    """Whether this process has ring requests under way (safe to ask from any thread)."""
    return bool(_IN_FLIGHT.get(id(svc)))


async def settle(svc: Services) -> bool:
    """Wait for this process's ring requests under way; whether there were any. The
    emulator's settle hook uses it, so a ring lands at the simulated instant it began."""
    tasks = list(_IN_FLIGHT.get(id(svc), ()))
    if tasks:
        await asyncio.gather(*tasks, return_exceptions=True)
    if not _IN_FLIGHT.get(id(svc), True):
        del _IN_FLIGHT[id(svc)]  # a job's short-lived Services leaves nothing behind
    return bool(tasks)


def settle_hook(svc: Services) -> Callable[[], bool]:
    """For `Emulator.on_settle`: wait for the app's rings under way before time moves."""
    return lambda: in_flight(svc) and svc.run(settle(svc))


async def claim(svc: Services, reservation_id: str) -> None:
    """Ring one offer now, unless another process (or the pump) claimed it first."""
    try:
        if await take(svc, reservation_id):
            await attempt(svc, reservation_id)
    except Exception:  # a task nobody awaits: log it; the ring timer still ends the offer
        log.exception("ringing an agent failed", reservation=reservation_id)


async def pump(svc: Services) -> int:
    """Make the REST requests of every ring due now; each is claimed by one process."""
    await settle(svc)
    due: list[str] = await svc.redis.zrangebyscore(svc.keys.ring_due(), "-inf", svc.clock.now())  # type: ignore[assignment]
    claimed = [res for res in due if await take(svc, res)]
    await asyncio.gather(*(attempt(svc, res) for res in claimed))
    return len(claimed)


async def take(svc: Services, reservation_id: str) -> bool:
    """Claim a due ring for this process, for `RING_LEASE_S`: it stays due, that much later,
    until its request is over (`done`), so that if this process dies first, another makes
    it then. False when it is not due (rung, ended, or another process's claim holds)."""
    key, now = svc.keys.ring_due(), svc.clock.now()
    return await lease.take(svc.redis, key, reservation_id, now, RING_LEASE_S)


async def done(svc: Services, reservation_id: str) -> None:
    """This process's request for a ring is over: it is no longer due."""
    await svc.redis.zrem(svc.keys.ring_due(), reservation_id)


async def attempt(svc: Services, reservation_id: str) -> None:
    """One try at ringing the device of a recorded intent (claimed by `take`). A try that
    raised leaves its claim to lapse: the ring is tried again then, as if this process
    had died."""
    if not await _attempt(svc, reservation_id):  # a retry is due at its own time instead
        await done(svc, reservation_id)


async def _attempt(svc: Services, reservation_id: str) -> bool:
    """Whether a retry is due."""
    raw = await svc.redis.hget(svc.keys.offers(), reservation_id)
    if raw is None or await offer_for(svc, reservation_id) is None:
        await svc.redis.hdel(svc.keys.offers(), reservation_id)
        return False  # answered, timed out or withdrawn before we got to it
    intent = json.loads(raw)
    if intent.get("leg"):
        return False  # a process that died after its request: the leg reported itself
    if not intent.get("asked"):  # a request may now reach Twilio: a lost leg is looked for
        intent["asked"] = True
        await svc.redis.hset(svc.keys.offers(), reservation_id, json.dumps(intent))
    requested_at = svc.clock.now()
    try:
        leg = await create_leg(svc, reservation_id, intent)
    except REST_ERRORS as exc:
        return await failed(svc, reservation_id, intent, exc)
    if await adopt_or_hang_up(svc, reservation_id, str(leg.sid)) in HELD:
        await paced(svc, reservation_id, str(leg.sid), requested_at, queue_wait_s(leg))
    log.info(
        "ringing agent", agent=intent["agent"], call=intent["call"], reservation=reservation_id
    )
    return False


async def paced(
    svc: Services, reservation_id: str, leg: str, requested_at: float, wait_s: float
) -> None:
    """Twilio queued the leg, to place it at the account's calls per second in about
    `wait_s`: the offer's ring timeout counts from then (until its `ringing` event sets
    it), and the leg is in the outbound backlog until it rings. Recorded before the ring
    timeout moves: a `ringing` event handled meanwhile finds it, or makes the move a no-op."""
    await outbound.requested(svc.redis, svc.keys, leg, requested_at)
    if await svc.router.ring_from(reservation_id, requested_at + wait_s, rang=False) is None:
        # rang already, or over
        await outbound.progressed(svc.redis, svc.keys, leg, svc.clock.now())


async def leg_progress(svc: Services, reservation_id: str, leg: str, status: str) -> None:
    """A status event of an agent leg: once it rings, the ring timeout (or, for a device
    rung after a console accept, the pending connection's wait) counts from now; ringing or
    past it, the leg has left the outbound backlog."""
    if status in WAITING_TO_RING:
        return
    await outbound.progressed(svc.redis, svc.keys, leg, svc.clock.now())
    if status != "ringing":
        return
    if await svc.router.ring_from(reservation_id, svc.clock.now(), rang=True) is None:
        intent = await intent_for(svc, reservation_id)
        if intent is not None and intent.get("window_s"):  # a console accept's device
            due = svc.clock.now() + float(intent["window_s"])
            await svc.router.connect_from(intent["call"], due)


async def device_paced(
    svc: Services, call_sid: str, leg: str, requested_at: float, wait_s: float, window_s: float
) -> None:
    """The device rung after a console accept waits about `wait_s` in Twilio's outbound
    queue: the pending connection waits `window_s` from then (its `ringing` event moves
    it again), and the leg is in the outbound backlog until it rings."""
    await outbound.requested(svc.redis, svc.keys, leg, requested_at)
    await svc.router.connect_from(call_sid, requested_at + wait_s + window_s)


async def create_leg(svc: Services, reservation_id: str, intent: dict[str, Any]) -> Any:
    session = await svc.calls.get(intent["call"])
    caller_id = session.called if session and session.called.startswith("+") else None
    timeout = max(1, int(intent["expires"] - svc.clock.now())) + RING_GRACE_S
    return await svc.rest(
        lambda c: c.calls.create(
            to=intent["device"],
            from_=caller_id or "client:ivr",
            url=svc.urls.to("agent_offer", res=reservation_id),
            status_callback=svc.urls.to("agent_status", res=reservation_id),
            status_callback_event=LEG_EVENTS,
            timeout=timeout,
        )
    )


async def failed(
    svc: Services, reservation_id: str, intent: dict[str, Any], exc: Exception
) -> bool:
    """A ring request failed: retry a transient error, or end the offer. Whether a retry
    is due."""
    code = getattr(exc, "code", None)
    offer = reservation(reservation_id, intent)
    if transient(exc):
        now = await intent_for(svc, reservation_id)
        if now is None or now.get("leg"):
            return False  # the leg was made after all (its status callback said so), or it ended
        delay = min(RETRY_MAX_S, RETRY_BASE_S * 2 ** int(intent["tries"]))
        at = svc.clock.now() + delay * (0.5 + svc.rng.random() / 2)
        if at <= intent["expires"] - MIN_RING_LEFT_S:
            log.info(
                "ring failed; retrying",
                agent=offer.agent,
                code=code,
                in_s=round(at - svc.clock.now(), 2),
            )
            now["tries"] = int(now["tries"]) + 1
            await svc.redis.hset(svc.keys.offers(), reservation_id, json.dumps(now))
            await svc.redis.zadd(svc.keys.ring_due(), {reservation_id: at})
            return True
        log.warning("ring window over with the API failing", agent=offer.agent, code=code)
        await dispatch_offers(svc, await release(svc, offer, reason="unreached"))
    elif device_error(exc):
        log.warning("device cannot be rung", agent=offer.agent, code=code)
        await unreachable(svc, offer)
    else:
        log.error("ring request refused", agent=offer.agent, code=code, error=str(exc))
        await dispatch_offers(svc, await release(svc, offer, reason="busy"))
    await svc.redis.hdel(svc.keys.offers(), reservation_id)
    return False


def reservation(reservation_id: str, intent: dict[str, Any]) -> Reservation:
    return Reservation(
        id=reservation_id,
        call_sid=intent["call"],
        agent=intent["agent"],
        queue=intent.get("queue", ""),
        device=intent.get("device", ""),
        expires_at=float(intent.get("expires", 0.0)),
    )


async def adopt_or_hang_up(
    svc: Services, reservation_id: str, leg: str, to: str | None = None
) -> str:
    """Record `leg` as the offer's leg; a leg the offer cannot take is hung up at once.

    `to`: where a status callback says the leg goes (None: a leg this process just created).
    A leg that is not to the offer's device (nor, the offer gone, to any agent's) is not
    one the service rang: it is `foreign`, and left alone."""
    outcome = await adopt(svc, reservation_id, leg, to)
    if outcome == "gone" and to is not None and not await rung_by_us(svc, leg, to):
        outcome = "foreign"
    if outcome in ("gone", "duplicate"):
        log.info(
            "hanging up a leg no offer holds", leg=leg, reservation=reservation_id, why=outcome
        )
        await hang_up(svc, leg)
    return outcome


async def rung_by_us(svc: Services, leg: str, to: str) -> bool:
    """Whether a leg no offer holds can be one the service rang: to an agent's device, and
    not a caller's call."""
    devices = {agent.device for agent in svc.registry.current.agents.values()}
    return to in devices and not await svc.router.has_call(leg)


def ours(intent: dict[str, Any], leg: str, to: str | None) -> bool:
    """Whether `leg` is the intent's leg: the one recorded, or while none is, a leg to its
    device (`to` None: a leg this process created for it)."""
    if intent.get("leg"):
        return bool(intent["leg"] == leg)
    return to is None or to == intent.get("device")


async def adopt(svc: Services, reservation_id: str, leg: str, to: str | None = None) -> str:
    """`adopted` / `same` / `duplicate` (the offer has another leg to its device) / `gone`
    (no intent) / `foreign` (not to the offer's device: a call the service did not ring)."""
    key = svc.keys.offers()
    async with svc.redis.pipeline(transaction=True) as pipe:
        while True:
            try:
                await pipe.watch(key)
                raw = await pipe.hget(key, reservation_id)
                if raw is None:
                    return "gone"
                intent = json.loads(raw)
                if to is not None and to != intent.get("device"):
                    return "same" if intent.get("leg") == leg else "foreign"
                if intent.get("leg"):
                    return "same" if intent["leg"] == leg else "duplicate"
                intent["leg"] = leg
                pipe.multi()  # type: ignore[no-untyped-call]
                pipe.hset(key, reservation_id, json.dumps(intent))
                await pipe.execute()
                return "adopted"
            except aioredis.WatchError:
                continue


async def hang_up(svc: Services, leg: str) -> None:
    """End a leg (queued, ringing or answered); one that already ended is what we wanted.
    A leg canceled while queued sends no status event: it leaves the backlog here."""
    await outbound.progressed(svc.redis, svc.keys, leg, svc.clock.now())
    try:
        await svc.rest(lambda c: c.calls(leg).update(status="completed"))
    except TwilioRestException as exc:
        log.info("agent leg already ended", leg=leg, code=exc.code)
    except REST_ERRORS as exc:  # its status callback or ring timer will try again
        log.warning("could not hang up an agent leg", leg=leg, error=str(exc))


async def unreachable(svc: Services, offer: Reservation) -> None:
    """Twilio says the agent's device cannot be rung: the call goes back to its place, and
    the agent goes on break for the device's cool-down (or until they come back)."""
    released = await release(svc, offer, reason="busy")
    config = svc.registry.current.agents.get(offer.agent)
    back_s = config.device_retry_s if config is not None else None
    with contextlib.suppress(RoutingError):  # reserved or logged off meanwhile: leave them
        await svc.router.set_break(offer.agent, UNREACHABLE_BREAK, back_after_s=back_s)
    await dispatch_offers(svc, released)


async def release(
    svc: Services, offer: Reservation, busy: bool = False, reason: str = ""
) -> list[Reservation]:
    try:
        return await svc.router.reject(offer.id, offer.agent, busy=busy, reason=reason)
    except RoutingError:
        return []  # already answered, timed out or withdrawn: nothing left to release


async def stop_ringing(svc: Services, reservation_id: str) -> None:
    """Hang up the agent's phone for an offer that ended without being accepted.

    An intent whose leg is not known (the answer to its request was lost, and so were its
    status callbacks) is dropped, and the device's ringing legs that no offer holds are
    looked up and hung up; a leg created later finds no offer to adopt it and hangs up."""
    raw = await svc.redis.hget(svc.keys.offers(), reservation_id)
    await svc.redis.hdel(svc.keys.offers(), reservation_id)
    await svc.redis.zrem(svc.keys.ring_due(), reservation_id)
    if raw is None:
        return
    intent = json.loads(raw)
    if intent.get("leg"):
        await hang_up(svc, intent["leg"])
    elif intent.get("asked"):
        await hang_up_strays(svc, intent["device"])


async def hang_up_strays(svc: Services, device: str) -> None:
    """Hang up the legs ringing `device` that no recorded offer holds (`calls.list`)."""
    try:
        legs = await svc.rest(lambda c: c.calls.list(to=device, limit=STRAYS_LISTED))
    except REST_ERRORS as exc:
        log.warning("could not look for a lost agent leg", device=device, error=str(exc))
        return
    raws: list[str] = await svc.redis.hvals(svc.keys.offers())  # type: ignore[assignment]
    held = {json.loads(raw).get("leg") for raw in raws}
    for leg in legs:
        if leg.status in ("queued", "ringing") and leg.sid not in held:
            log.info("hanging up a lost agent leg", leg=leg.sid, device=device)
            await hang_up(svc, str(leg.sid))


async def offer_for(svc: Services, reservation_id: str) -> Offer | None:
    """The offer as routing holds it (call, agent, queue, ...) while it is still pending."""
    return await svc.router.offer(reservation_id)


async def intent_for(svc: Services, reservation_id: str) -> dict[str, Any] | None:
    """The recorded ring of an offer (call, agent, leg, ...), kept until its leg ends."""
    raw = await svc.redis.hget(svc.keys.offers(), reservation_id)
    return None if raw is None else dict(json.loads(raw))


async def dispatch_offers(svc: Services, offers: list[Reservation]) -> None:
    for offer in offers:
        await ring(svc, offer)


async def dispatch(svc: Services, fired: Fired) -> None:
    """Act on what routing's timers did: stop rings that timed out, ring the new offers.

    The new offers' rings and the exits are recorded before any REST request (a hang-up
    may be the last thing a dying process does), and made after the hang-ups."""
    for exit_ in fired.exits:
        await exits.mark_exit(svc, exit_.call_sid, exit_.action, "EXITWITHTIMEOUT")
    for call_sid in fired.requeued:  # before the offers: a next agent may accept at once
        if is_callback(call_sid):
            await callback_dial.hand_back(svc, call_sid, CONNECT_LOST)
    due = [offer.id for offer in fired.offers if await record_ring(svc, offer)]
    for reservation_id in fired.expired:
        await stop_ringing(svc, reservation_id)
    for reservation_id in due:
        start_ring(svc, reservation_id)
    for call_sid in fired.requeued:
        await return_caller(svc, call_sid)
    for exit_ in fired.exits:
        await redirect_exit(svc, exit_.call_sid)


# -- an agent held by a call: freed by a supervisor ----------------------------------
async def free_agent(svc: Services, agent: str) -> None:
    """End what keeps `agent` reserved or on a call, so they can be logged out: a ringing
    offer is released, a call not yet bridged goes back to its place, a bridged call is
    ended in routing (wrap-up; the phone call itself goes on until someone hangs up)."""
    state = await svc.router.agent_state(agent)
    if state.state == RESERVED:
        with contextlib.suppress(RoutingError):
            await dispatch_offers(svc, await svc.router.reject(state.reservation, agent))
        await stop_ringing(svc, state.reservation)
    elif state.state == ON_CALL:
        try:
            offered = await svc.router.put_back(state.call_sid, agent, "dropped", conn="")
        except RoutingError:  # bridged: only routing's record of the call ends
            offered = []
            with contextlib.suppress(RoutingError):
                offered = await svc.router.complete(state.call_sid)
            await dispatch_offers(svc, offered)
            return
        await hang_up_legs_of(svc, state.call_sid)
        await dispatch_offers(svc, offered)
        await return_caller(svc, state.call_sid)


async def hang_up_legs_of(svc: Services, call_sid: str) -> None:
    """Hang up the agent legs rung for `call_sid` (the recorded intents are few: one per
    offer being rung or accepted and not yet over)."""
    intents: dict[str, str] = await svc.redis.hgetall(svc.keys.offers())  # type: ignore[assignment]
    for reservation_id, raw in intents.items():
        intent = json.loads(raw)
        if intent["call"] == call_sid:
            await svc.redis.hdel(svc.keys.offers(), reservation_id)
            if intent.get("leg"):
                await hang_up(svc, intent["leg"])


# -- a caller put back after an agent's leg failed ------------------------------------
async def mark_put_back(svc: Services, call_sid: str) -> None:
    """The caller's next hold fetch apologises: their agent's leg failed before the bridge."""
    await svc.redis.hset(svc.keys.hold(call_sid), PUT_BACK_FIELD, "1")


async def return_caller(svc: Services, call_sid: str) -> None:
    """Tell a caller put back in their place why, at once: their wait is interrupted for
    the apology (`/voice/queue/rejoin`); if that fails, the next hold fetch says it."""
    await mark_put_back(svc, call_sid)
    if is_callback(call_sid):
        return  # nobody is on the line yet
    url = svc.urls.to("queue_rejoin")
    try:
        await svc.rest(lambda c: c.calls(call_sid).update(url=url, method="POST"))
    except REST_ERRORS as exc:
        log.info("could not interrupt the caller's wait", call=call_sid, error=str(exc))


def put_back_apology(language: str) -> str:
    """The apology owed to a caller put back in their place (`PUT_BACK_FIELD` was set)."""
    return PUT_BACK.get(language, PUT_BACK["en"])


async def redirect_exit(svc: Services, call_sid: str) -> None:
    """Move a caller who left the queue on a timer (their exit marked) to the queue's
    overflow treatment (for another queue: routing has already moved the call there; the
    caller is told so and waits again). Should this fail, their next hold fetch leaves."""
    url = svc.urls.to("queue_exit")
    try:
        await svc.rest(lambda c: c.calls(call_sid).update(url=url, method="POST"))
    except REST_ERRORS as exc:
        log.info("could not redirect a caller to their exit", call=call_sid, error=str(exc))


ACCEPT_KEY = "1"
