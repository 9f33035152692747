"""The voice side of callbacks: asking for one, and the calls that return it.

Asking (the caller is on hold, `mode=keep`, or came from a menu `callback`
action, `mode=menu`):

    /voice/callback/keep or /voice/callback/menu?queue=q
      -> "we will call you back on <caller ID>: 1 confirms, 2 gives another number"
      -> /voice/callback/number (1 or 2) -> /voice/callback/entered (keypad number,
         validated; refused with a reason and asked again)
      -> keep: the callback takes the caller's place in the same atomic step; goodbye
      -> menu: /voice/callback/slot (1 within the hour, 2 this evening, ...); goodbye

The keep flow runs inside the hold loop (waitUrl documents), so the caller
keeps their place, and can still be answered, until the callback takes over.

Returning the call:
    agent-first:    /voice/agent/answer -> `dial_from_agent` -> /voice/callback/agent
                    (`agent_joins`): the customer rung by REST
                    (-> /voice/callback/answered: greeting, then <Dial><Conference> as
                    `customer`, action /voice/callback/left; /voice/callback/status), the
                    agent in <Dial action=/voice/callback/dialed><Conference> as `agent`
    customer-first: REST call -> /voice/callback/customer (AMD) -> "connecting you
                    now" and <Enqueue> as a call of its own; /voice/callback/status
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response
from twilio.twiml.voice_response import VoiceResponse

from callbacks import callback as callbacks
from callbacks import dial, slots
from callbacks.callback import Callback
from ivr.config import phrases
from ivr.config.callbacks import CallbacksConfig, Slot, TextKind
from ivr.config.menu import Language, QueueTarget
from ivr.config.model import Config
from ivr.config.queues import HoldConfig, QueueConfig
from ivr.core import logs, numbers
from ivr.core.errors import RoutingError
from ivr.core.security import query_int, require
from ivr.core.session import CallSession
from ivr.core.telephony import REST_ERRORS
from ivr.service import Services, services
from ivr.voice import bridge, conference, endings, offers, queue_resources, twiml
from ivr.voice.attendant import Turn
from ivr.voice.queue import estimate_for, hand_to_queue, wait_in_queue
from ivr.voice.twiml import xml
from queues.reservation import Reservation

log = logs.get(__name__)
MAX_TRIES = 3
"""Number entries refused before the caller goes back to hold (or is let go)."""
NUMBER_DIGITS = 15
"""The longest E.164 number."""
KEYPAD_TIMEOUT_S = 10
REFUSED: dict[str, TextKind] = {
    "invalid": "invalid_number",
    "premium": "premium_number",
    "foreign": "foreign_number",
}
ON_HOLD = ("keep", "closing")
"""Modes asked from the hold loop: the caller is still in the queue, and goes back to hold."""


# -- numbers ----------------------------------------------------------------------
def check_number(config: CallbacksConfig, text: str) -> tuple[str | None, str]:
    """The E.164 number for a caller ID or keypad entry, or None and why (`REFUSED` keys).

    Keypad entries: `00` or a country code starts an international number, a
    leading `0` a national one in `default_region`.
    """
    number = numbers.e164(numbers.keyed(text), config.default_region, valid=True)
    if number is None:
        return None, "invalid"
    if numbers.is_premium(number):
        return None, "premium"
    if numbers.region(number) not in config.allowed_countries:
        return None, "foreign"
    return number, ""


# -- one request of the asking flow -----------------------------------------------
@dataclass
class Asking:
    svc: Services
    session: CallSession
    config: Config
    mode: str
    queue: str
    response: VoiceResponse

    @property
    def language(self) -> Language:
        return self.config.languages.of(self.session.language)

    def text(self, kind: TextKind, **values: object) -> str:
        callbacks_config = self.config.callbacks
        default = self.config.languages.default
        return callbacks_config.text(kind, self.session.language, default, **values)

    def spell(self, number: str) -> str:
        """`number` read back as the caller writes it: nationally when in their country."""
        home = numbers.region(self.session.caller) or self.config.callbacks.default_region
        return numbers.spell(numbers.national(number, home))

    def say(self, text: str, parent: object | None = None) -> None:
        twiml.say(parent if parent is not None else self.response, text, self.language)

    def when(self, at: float, number: str) -> str:
        """`at` as the caller hears a time: on the clock of the `number` to be called back
        (zone named when not the business's), with the weekday if not today, in their language."""
        now, language = self.svc.clock.now(), self.session.language
        return slots.spoken_time(self.config, at, now, language, number=number)

    def url(self, path: str, **params: object) -> str:
        values = {"mode": self.mode, "queue": self.queue, **params}
        return self.svc.urls.callback(path, **{k: str(v) for k, v in values.items()})

    def back(self) -> Response:
        """Back to the hold music (keep), or goodbye (menu)."""
        if self.mode in ON_HOLD:
            self.response.redirect(self.svc.urls.to("hold"))
        else:
            self.response.hangup()
        return xml(self.response)


async def asking(request: Request) -> Asking | None:
    svc = services(request)
    form = await svc.verifier.form(request)
    (sid,) = require(form, "CallSid")
    session = await svc.calls.get(sid)
    if session is None:
        return None
    mode = request.query_params.get("mode", "keep")
    queue = request.query_params.get("queue") or session.queue or ""
    if mode in ON_HOLD:
        position = await svc.router.position(sid)
        queue = position.queue if position else queue
    config = svc.config_for(session.config_version)
    request.state.form = form
    return Asking(svc, session, config, mode, queue, VoiceResponse())


def _gone() -> Response:
    response = VoiceResponse()
    response.hangup()
    return xml(response)


async def keep(request: Request) -> Response:
    """Pressed the callback key on hold: confirm the number (or ask for one)."""
    a = await asking(request)
    if a is None:
        return _gone()
    existing = await callbacks.live_for(a.svc, a.session.caller, a.queue)
    if existing is not None:
        a.say(a.text("already", time=a.when(existing.due, existing.number)))
        return a.back()
    if await closing_soon(a):  # no place to keep: the caller picks a slot instead
        if not slots.offered(a.config, a.svc.clock.now()):
            a.say(a.text("too_late"))
            return a.back()
        a.mode = "closing"
    return offer_number(a)


async def menu(request: Request) -> Response:
    """The menu's `callback` action: the same, then a slot."""
    a = await asking(request)
    if a is None:
        return _gone()
    if not slots.offered(a.config, a.svc.clock.now()):
        a.say(a.text("too_late"))
        return a.back()
    return offer_number(a)


def offer_number(a: Asking) -> Response:
    number, _ = check_number(a.config.callbacks, a.session.caller)
    if number is None:
        return ask_keypad(a, tries=0)
    gather = twiml.gather(a.url("number"), num_digits=1, input="dtmf", timeout=KEYPAD_TIMEOUT_S)
    a.say(a.text("confirm_number", number=a.spell(number)), gather)
    a.response.append(gather)
    return a.back()


def ask_keypad(a: Asking, tries: int, before: str = "") -> Response:
    if tries >= MAX_TRIES:
        return a.back()
    gather = twiml.gather(
        a.url("entered", tries=tries),
        input="dtmf",
        finish_on_key="#",
        num_digits=NUMBER_DIGITS,
        timeout=KEYPAD_TIMEOUT_S,
    )
    if before:
        a.say(before, gather)
    a.say(a.text("enter_number"), gather)
    a.response.append(gather)
    return a.back()


async def number(request: Request) -> Response:
    """1 confirms the caller ID; 2 asks for another number; anything else goes back."""
    a = await asking(request)
    if a is None:
        return _gone()
    digits = request.state.form.get("Digits", "")
    if digits == "2":
        return ask_keypad(a, tries=0)
    if digits != "1":
        return a.back()
    confirmed, _ = check_number(a.config.callbacks, a.session.caller)
    return await chosen(a, confirmed) if confirmed else ask_keypad(a, tries=0)


async def entered(request: Request) -> Response:
    """A keypad number: refused with its reason and asked again, or taken."""
    a = await asking(request)
    if a is None:
        return _gone()
    tries = (query_int(request, "tries") or 0) + 1
    checked, why = check_number(a.config.callbacks, request.state.form.get("Digits", ""))
    if checked is None:
        log.info("callback number refused", call=a.session.sid, reason=why)
        return ask_keypad(a, tries, before=a.text(REFUSED[why]))
    return await chosen(a, checked)


async def chosen(a: Asking, number: str) -> Response:
    if a.mode == "keep":
        return await take_place(a, number)
    return ask_slot(a, number)


# -- keep my place ----------------------------------------------------------------
async def take_place(a: Asking, number: str) -> Response:
    svc, session = a.svc, a.session
    now = svc.clock.now()
    position = await svc.router.position(session.sid)
    expected = now + await _estimate(svc, a.config, a.queue, position.position if position else 1)
    cb = _new(a, number, "keep", expected)
    created = await callbacks.create(svc, cb, take_over=session.sid)
    if created.status == "exists":
        a.say(a.text("already", time=a.when(created.expected, number)))
        return a.back()
    if created.status != "created":
        return a.back()  # being connected right now, or not in the queue any more
    await _after_create(svc, cb)
    await dial.watch_closing(svc, cb)
    a.say(a.text("kept", number=a.spell(number)))
    a.response.hangup()
    return xml(a.response)


# -- closing time: the hold offer leads to a scheduled slot -------------------------
def closing_before(config: Config, hold: HoldConfig, now: float, estimate: float | None) -> bool:
    """Whether the queue's hours close before the caller's turn (unknown wait: the offer's
    threshold stands in for it)."""
    hours = config.hours.get(hold.hours or "")
    if hours is None:
        return False
    wait = estimate if estimate is not None else float(hold.callback_offer_after_estimate_s)
    return slots.closes_within(hours, now, now + wait)


def hold_offer(
    config: Config, session: CallSession, hold: HoldConfig, now: float, estimate: float | None
) -> str:
    """The hold loop's callback line: keep my place, or (closing first) choose a time."""
    kind: TextKind = "offer_closing" if closing_before(config, hold, now, estimate) else "offer"
    language, default = session.language, config.languages.default
    return config.callbacks.text(kind, language, default, key=hold.callback_key)


async def closing_soon(a: Asking) -> bool:
    """Whether the caller's queue closes before their estimated turn."""

    queue = a.config.queues.get(a.queue)
    position = await a.svc.router.position(a.session.sid)
    if queue is None or position is None:
        return False
    estimate = await estimate_for(a.svc, a.queue, position.position, queue.hold)
    return closing_before(a.config, queue.hold, a.svc.clock.now(), estimate)


async def _leave_for_slot(a: Asking) -> None:
    """The waiting caller leaves the queue for their scheduled callback (CALLBACK, not ABANDON)."""

    await endings.abandon(a.svc, a.session.sid, exit="CALLBACK")


async def _estimate(svc: Services, config: Config, queue: str, position: int) -> float:

    shown = config.queues.get(queue)
    if shown is None:
        return 0.0
    seconds = await estimate_for(svc, queue, position, shown.hold)
    return seconds or 0.0


def _new(a: Asking, number: str, kind: str, due: float) -> Callback:
    session = a.session
    data = {"caller": session.caller, "name": session.caller_name, "data": session.data}
    queue = a.config.queues.get(a.queue)
    return Callback(
        id=callbacks.new_id(),
        number=number,
        queue=a.queue,
        state="scheduled",
        kind=kind,
        called=session.called,
        language=session.language,
        priority=_set_time_priority(a.config, queue),
        started_ms=int(session.started_at * 1000),
        call=session.sid,
        data=json.dumps(data, ensure_ascii=False),
        created_ms=int(a.svc.clock.now() * 1000),
        due=due,
    )


def _set_time_priority(config: Config, queue: QueueConfig | None) -> int:
    """A callback at a set time joins at `callbacks.priority` (unset: the queue's own)."""
    if config.callbacks.priority is not None:
        return config.callbacks.priority
    return queue.priority if queue is not None else 0


async def _after_create(svc: Services, cb: Callback) -> None:
    """Expiry, and the confirmation text with the expected time and how to cancel."""
    config = svc.registry.current
    now = svc.clock.now()
    # The age counts from when the callback is due: a slot tomorrow is not stale tonight.
    start = max(now, cb.due) if cb.kind == "scheduled" else now
    await dial.schedule(svc, cb, "expire", start + config.callbacks.expire_after_s)
    when = slots.spoken_time(config, cb.due, now, cb.language, number=cb.number)
    await dial.notify(svc, cb, "sms_confirm", time=when)


# -- scheduled --------------------------------------------------------------------
def ask_slot(a: Asking, number: str) -> Response:
    offered = slots.offered(a.config, a.svc.clock.now())
    if not offered:
        a.say(a.text("too_late"))
        return a.back()
    gather = twiml.gather(
        a.url("slot", number=number), num_digits=1, input="dtmf", timeout=KEYPAD_TIMEOUT_S
    )
    a.say(a.text("choose_slot"), gather)
    languages, code = a.config.languages, a.session.language
    for found in offered:
        label = found.slot.label  # said in the default language's voice when not written in ours
        written = code if label.get(code) else languages.default
        # `{time}` in a label is the slot's time on the customer's clock, as in the confirmation.
        text = label.get(written, "").replace("{time}", a.when(found.at, number))
        twiml.say(gather, text, languages.of(written))
    a.response.append(gather)
    return a.back()


async def slot(request: Request) -> Response:
    """A slot key: schedule the callback for that time."""
    a = await asking(request)
    if a is None:
        return _gone()
    number = request.query_params.get("number", "")
    if check_number(a.config.callbacks, number)[0] != number:
        return a.back()
    now = a.svc.clock.now()
    digits = request.state.form.get("Digits", "")
    chosen_slot = next((s for s in slots.offered(a.config, now) if s.slot.key == digits), None)
    if chosen_slot is None:  # no key, a wrong one, or a slot that passed meanwhile
        return ask_slot(a, number)
    cb = _new(a, number, "scheduled", chosen_slot.at)
    await _place_in_line(a, cb, chosen_slot.slot)
    created = await callbacks.create(a.svc, cb)
    due = created.expected if created.status == "exists" else cb.due
    when = a.when(due, number)
    if created.status == "exists":
        a.say(a.text("already", time=when))
        if a.mode in ON_HOLD:
            return a.back()
        a.response.hangup()
        return xml(a.response)
    if a.mode in ON_HOLD:
        await _leave_for_slot(a)
    await dial.schedule(a.svc, cb, "activate", cb.due)
    await _after_create(a.svc, cb)
    a.say(a.text("scheduled", number=a.spell(number), time=when))
    a.response.hangup()
    return xml(a.response)


async def _place_in_line(a: Asking, cb: Callback, chosen: Slot) -> None:
    """Where the callback joins the queue when it falls due.

    Within the hour: at the time it was asked for and at the priority a caller who stayed on
    the line would have had (their own, when asked from hold), so it never overtakes earlier
    callers. At a set time: `callbacks.priority`, or the slot's own.
    """
    if chosen.within_s is None:
        cb.priority = cb.priority if chosen.priority is None else chosen.priority
        return
    cb.orig_ms = cb.created_ms
    position = await a.svc.router.position(a.session.sid) if a.mode in ON_HOLD else None
    queue = a.config.queues.get(a.queue)
    if position is not None:
        cb.priority = position.priority
    elif queue is not None:
        cb.priority = queue.priority


# -- agent-first: the agent accepted, now the customer is dialled -------------------
async def dial_from_agent(svc: Services, cb_id: str, agent: str) -> VoiceResponse:
    """The agent's TwiML after accepting a callback: the attempt starts (once), and the
    agent's leg, once live, fetches `/voice/callback/agent` (`agent_joins`), which rings
    the customer. A device that is never answered has dialled nobody."""
    response = VoiceResponse()
    cb = await callbacks.get(svc, cb_id)
    attempt = await dial.start_attempt(svc, cb, agent) if cb is not None else None
    if cb is None or attempt is None:
        await endings.finish(svc, cb_id)
        say_to_agent(svc, response, "agent.callback_not_needed")
        response.hangup()
        return response
    say_to_agent(svc, response, "agent.calling_customer")
    response.redirect(svc.urls.attempt("agent", cb.id, attempt), method="POST")
    return response


async def agent_joins(request: Request) -> Response:
    """The agent's leg is live: the customer is rung through the REST API (once per
    attempt, `dial.ring_customer`) and the agent waits in the callback's conference
    (`conf-<callback id>`), which the customer joins when they answer."""
    svc = services(request)
    form = await svc.verifier.form(request)
    cb_id, attempt = _params(request)
    cb = await callbacks.get(svc, cb_id)
    response = VoiceResponse()
    if cb is None or cb.attempts != attempt or cb.state not in ("dialling", "connected"):
        return xml(await _not_reached_told(svc, cb_id, response))
    opened = f"{cb_id}:{attempt}"
    await conference.open_for(svc, cb_id, cb.agent, opened, form.get("CallSid", ""))
    if await svc.redis.hsetnx(svc.keys.conference(cb_id), "dialled", "1"):
        await dial.ring_customer(svc, cb, attempt, answer="answered", detect=False)
    now = await callbacks.get(svc, cb_id)
    if now is None or now.attempts != attempt or now.state not in ("dialling", "connected"):
        return xml(await _not_reached_told(svc, cb_id, response))  # failed, or busy at once
    dial_verb = response.dial(action=svc.urls.attempt("dialed", cb.id, attempt))
    conference.conference_noun(svc, dial_verb, cb_id, conference.AGENT, False, opened, wait_url="")
    return xml(response)


async def _not_reached_told(svc: Services, cb_id: str, response: VoiceResponse) -> VoiceResponse:
    """The agent hears that the customer was not reached (retried later, or given up), and
    is offered the next call at once: nobody was talked to."""
    await conference.update(svc, cb_id, state=conference.ENDED)
    cb = await callbacks.get(svc, cb_id)
    result = "failed" if cb is not None and cb.state == "failed" else "retry"
    say_to_agent(svc, response, "agent.customer_not_reached", result=result)
    await end_unanswered(svc, cb_id, cb.agent if cb is not None else "")
    response.hangup()
    return response


def say_to_agent(svc: Services, response: VoiceResponse, name: str, **values: object) -> None:
    """A phrase said to an agent: in the default language and its voice."""
    config = svc.registry.current
    text = phrases.agent_text(config, name, **values)
    twiml.say(response, text, config.languages.of(config.languages.default))


def whisper(svc: Services, cb: Callback, queue_name: str) -> str:
    """What the agent hears before accepting a callback: marked, with time and IVR data."""
    config = svc.registry.current
    requested = slots.spoken_time(config, cb.created_ms / 1000, svc.clock.now())
    default = config.languages.default
    parts = [config.callbacks.text("whisper", default, default, queue=queue_name, time=requested)]
    parts.append(f"to {numbers.spell(cb.number)}")
    if cb.attempts:
        parts.append(f"attempt {cb.attempts + 1}")
    data = cb.ivr_data.items()
    parts += [f"{k.replace('_', ' ')} {numbers.spell(v)}" for k, v in data]
    return ", ".join(parts)


async def mark_whisper(svc: Services, call_sid: str, queue: str, text: str) -> str:
    """The agent's whisper, marked when the offer is a callback (either kind of dial)."""

    shown = svc.registry.current.queues.get(queue)
    queue_name = shown.display_name if shown and shown.display_name else queue
    if callbacks.is_callback(call_sid):
        cb = await callbacks.get(svc, call_sid)
        if cb is not None:
            accept = offers.ACCEPT_KEY
            return f"{whisper(svc, cb, queue_name)}. Press {accept} to accept and call them."
        return text
    cb_id = await svc.redis.get(svc.keys.callback_leg(call_sid))
    cb = await callbacks.get(svc, str(cb_id)) if cb_id else None
    return f"{whisper(svc, cb, queue_name)}, on the line now. {text}" if cb else text


STALE_ATTEMPT = -1
"""A garbled `attempt` matches no attempt, so the request is treated as a stale replay."""


def _params(request: Request) -> tuple[str, int]:
    attempt = query_int(request, "attempt", STALE_ATTEMPT)
    return request.query_params.get("cb", ""), STALE_ATTEMPT if attempt is None else attempt


async def answered(request: Request) -> Response:
    """The customer picked up an agent-first callback: greet them, then the conference
    the agent waits in (the customer's leaving ends it)."""
    svc = services(request)
    form = await svc.verifier.form(request)
    cb_id, attempt = _params(request)
    cb = await callbacks.get(svc, cb_id)
    response = VoiceResponse()
    if cb is None or not await dial.customer_reached(svc, cb, attempt, cb.agent):
        response.hangup()  # cancelled, or a replay after the outcome: no bridge
        return xml(response)
    leg = form.get("CallSid", "")
    await conference.update(svc, cb_id, state=conference.CONNECTED, customer=leg, joined="1")
    _greet(svc, cb, response)
    dial_verb = response.dial(action=svc.urls.callback("left", cb=cb_id))
    conference.conference_noun(
        svc, dial_verb, cb_id, conference.CUSTOMER, True, f"{cb_id}:{attempt}"
    )
    return xml(response)


async def left(request: Request) -> Response:
    """The called-back customer's conference ended: the callback's call is over."""
    svc = services(request)
    await svc.verifier.form(request)
    cb_id = request.query_params.get("cb", "")
    await conference.close(svc, cb_id)
    await endings.finish(svc, cb_id)
    response = VoiceResponse()
    response.hangup()
    return xml(response)


def _greet(svc: Services, cb: Callback, response: VoiceResponse) -> None:
    config = svc.registry.current
    language = config.languages.of(cb.language)
    shown = config.queues.get(cb.queue)
    queue_name = shown.display_name if shown and shown.display_name else cb.queue
    text = config.callbacks.text(
        "greeting",
        cb.language,
        config.languages.default,
        company=config.company.name,
        queue=queue_name,
    )
    twiml.say(response, text, language)


async def dialed(request: Request) -> Response:
    """The agent's leg left the callback's conference: after talking, the call is over (a
    customer left alone in it is hung up); while the customer's phone rang, their ringing
    is stopped and the attempt counts as not reached; not reached, the agent is told."""
    svc = services(request)
    await svc.verifier.form(request)
    cb_id, attempt = _params(request)
    cb = await callbacks.get(svc, cb_id)
    response = VoiceResponse()
    if cb is not None and cb.state == "dialling" and cb.attempts == attempt:
        await dial.not_reached(svc, cb, attempt, "hung-up")  # the agent gave up first
        await _stop_ringing(svc, cb)
    reached = cb is not None and cb.attempts == attempt and cb.outcome == "answered"
    if not (reached or cb is None):
        return xml(await _not_reached_told(svc, cb_id, response))
    conf = await conference.state(svc, cb_id)
    await conference.close(svc, cb_id)
    await endings.finish(svc, cb_id)
    if reached and conf is not None and conf.state in conference.LEFT_ALONE:
        await bridge.end_customer(svc, cb_id)  # the agent hung up first
    response.hangup()
    return xml(response)


async def _stop_ringing(svc: Services, cb: Callback) -> None:
    """Cancel the customer's leg still queued or ringing (one already over needs nothing)."""
    leg = await svc.redis.hget(svc.keys.callback(cb.id), "leg")
    if not leg:
        return
    try:
        await conference.rest(svc, lambda c: c.calls(str(leg)).update(status="canceled"))
    except REST_ERRORS as exc:
        log.info("could not cancel the customer's ringing", callback=cb.id, error=str(exc))


async def agent_out(svc: Services, cb: Callback, attempt: int) -> None:
    """The customer was not reached: the agent's leg is moved out of the callback's
    conference to `dialed`, which tells them and frees them."""
    conf = await conference.state(svc, cb.id)
    if conf is None or conf.state == conference.ENDED or not conf.agent:
        return
    await conference.update(svc, cb.id, state=conference.ENDED)
    url = svc.urls.attempt("dialed", cb.id, attempt)
    try:
        await conference.rest(svc, lambda c: c.calls(conf.agent).update(url=url, method="POST"))
    except REST_ERRORS as exc:
        log.warning("could not take the agent out of the callback", callback=cb.id, error=str(exc))


async def end_unanswered(svc: Services, cb_id: str, agent: str) -> None:
    """End the agent's side of a callback dial nobody answered: no wrap-up, next call now.
    An agent's leg still waiting in the conference (the customer's status callback was
    lost, and the dial's watchdog ends it) is taken out, to be told (retried)."""
    await take_out_waiting(svc, cb_id)
    await endings.finish(svc, cb_id)
    if agent:
        await _skip_wrap_up(svc, agent)


async def take_out_waiting(svc: Services, cb_id: str) -> None:
    """Move the agent's leg, waiting alone in the callback's conference, to its attempt's
    `dialed` (which tells them the customer was not reached); nothing once it has left."""
    raw: dict[str, str] = await svc.redis.hgetall(svc.keys.conference(cb_id))  # type: ignore[assignment]
    if not raw.get("agent") or raw.get("state") != conference.CONNECTING:
        return
    cb = await callbacks.get(svc, cb_id)
    if cb is None:
        return
    await conference.update(svc, cb_id, state=conference.ENDED)
    url = svc.urls.attempt("dialed", cb_id, cb.attempts)
    await bridge.take_agent_out(svc, cb_id, raw, url)


async def _skip_wrap_up(svc: Services, agent: str) -> None:
    # Nobody was talked to: no after-call work, so the agent is offered the next call now.
    try:
        await offers.dispatch_offers(svc, await svc.router.set_ready(agent))
    except RoutingError:
        return


# -- customer-first ---------------------------------------------------------------
async def customer(request: Request) -> Response:
    """The customer answered our call: a machine gets the message; a person joins the queue."""
    svc = services(request)
    form = await svc.verifier.form(request)
    cb_id, attempt = _params(request)
    cb = await callbacks.get(svc, cb_id)
    response = VoiceResponse()
    if cb is None:
        response.hangup()
        return xml(response)
    if form.get("AnsweredBy", "").startswith(("machine", "fax")):
        return xml(await _machine(svc, cb, attempt, response))
    if not await dial.customer_reached(svc, cb, attempt, ""):
        response.hangup()
        return xml(response)
    return xml(await _join(svc, cb, form, response))


async def _machine(
    svc: Services, cb: Callback, attempt: int, response: VoiceResponse
) -> VoiceResponse:
    if await dial.machine(svc, cb, attempt):
        config = svc.registry.current
        default, company = config.languages.default, config.company.name
        text = config.callbacks.text("machine", cb.language, default, company=company)
        twiml.say(response, text, config.languages.of(cb.language))
    response.hangup()
    return response


async def _join(
    svc: Services, cb: Callback, form: dict[str, str], response: VoiceResponse
) -> VoiceResponse:
    """Greet, then the customer waits as an inbound caller would, in the callback's place."""
    sid = form["CallSid"]
    config = svc.registry.current
    session = CallSession(
        sid=sid,
        caller=cb.number,
        called=cb.called,
        started_at=cb.started_ms / 1000,
        config_version=config.version,
        language=cb.language or config.languages.default,
        queue=cb.queue,
        data=dict(cb.ivr_data),
    )
    await svc.redis.set(svc.keys.call(sid), session.to_json(), ex=svc.settings.session_ttl_s)
    await svc.redis.set(svc.keys.callback_leg(sid), cb.id, ex=dial.LEG_TTL_S)
    entry = None
    if not await svc.router.has_call(sid):
        orig = cb.orig_ms / 1000 or None
        entry = await svc.router.enter(
            sid, cb.queue, cb.priority, None, cb.data, original_enqueued_at=orig
        )
    _greet(svc, cb, response)
    connecting = phrases.text(config, cb.language, "queue.connecting")
    twiml.say(response, connecting, config.languages.of(cb.language))
    wait_in_queue(svc, response, sid)
    if entry is not None and entry.reservation is not None:
        await offers.ring(svc, entry.reservation)
    return response


async def status(request: Request) -> Response:
    """The customer-first call rang (its watchdog counts from now) or ended: unanswered,
    busy or failed counts as not reached."""
    svc = services(request)
    form = await svc.verifier.form(request)
    cb_id, attempt = _params(request)
    await dial.leg_progress(
        svc, cb_id, attempt, form.get("CallSid", ""), form.get("CallStatus", "")
    )
    cb = await callbacks.get(svc, cb_id)
    await queue_resources.call_over(svc, form.get("CallSid", ""))  # the leg may have waited
    if cb is not None and form.get("CallStatus", "") in dial.NO_ANSWER:
        result = await dial.not_reached(svc, cb, attempt, form["CallStatus"])
        if cb.agent and result != "ignored":  # agent-first: they wait in the conference
            await agent_out(svc, cb, attempt)
    return Response(status_code=204)


# -- a caller who phones in while a callback is pending ------------------------------
KEEP_KEY = "1"
CANCEL_KEY = "2"


async def ask_existing(svc: Services, turn: Turn) -> bool:
    """Before the turn's caller joins its queue: ask about their pending callback for it.

    "You already have a callback at about 15:30: 1 keeps it, 2 cancels it and
    waits on the line" (answered at `/voice/callback/existing`). False, and
    nothing added to the TwiML, when there is no cancellable callback to ask about.
    """
    target, session = turn.handoff, turn.call
    assert target is not None
    cb = await callbacks.live_for(svc, session.caller, target.name)
    if cb is None or cb.state not in callbacks.CANCELLABLE:
        return False
    a = Asking(svc, session, turn.config, "existing", target.name, turn.response)
    when = a.when(cb.due, cb.number)
    priority = "" if target.priority is None else str(target.priority)
    url = a.url("existing", cb=cb.id, priority=priority)
    gather = twiml.gather(url, num_digits=1, input="dtmf", timeout=KEYPAD_TIMEOUT_S)
    a.say(a.text("keep_existing", time=when), gather)
    a.response.append(gather)
    log.info("caller has a pending callback", call=session.sid, callback=cb.id, queue=target.name)
    return True


async def existing(request: Request) -> Response:
    """1 (or no key) keeps the pending callback and ends the call; 2 cancels it and queues."""
    a = await asking(request)
    if a is None:
        return _gone()
    params = request.query_params
    digits = request.state.form.get("Digits", "")
    priority = query_int(request, "priority")
    if digits == CANCEL_KEY:
        await callbacks.cancel(a.svc, params.get("cb", ""), by="caller")
        return await _queue_instead(a, priority)
    if digits in (KEEP_KEY, ""):
        a.say(a.text("kept_existing"))
        a.response.hangup()
        return xml(a.response)
    return await _queue_instead(a, priority)  # asks again while it is pending


async def _queue_instead(a: Asking, priority: int | None) -> Response:
    """The caller gave up their callback: they join the queue as the menu would have."""
    target = QueueTarget(name=a.queue, priority=priority)
    turn = Turn(a.config, a.session, a.svc.now(), a.svc.urls, a.response, handoff=target)
    offer = await join_queue(a.svc, turn)
    ttl = a.svc.settings.session_ttl_s
    await a.svc.redis.set(a.svc.keys.call(a.session.sid), a.session.to_json(), ex=ttl)
    if offer is not None:
        await offers.ring(a.svc, offer)
    return xml(turn.response)


async def join_queue(svc: Services, turn: Turn) -> Reservation | None:
    """Hand the caller to the queue they chose (`queue.hand_to_queue`), but first ask a
    caller who already has a callback pending whether to keep it (`ask_existing`)."""
    if turn.handoff is None:
        return None
    if not await svc.router.has_call(turn.call.sid) and await ask_existing(svc, turn):
        return None
    return await hand_to_queue(svc, turn)
