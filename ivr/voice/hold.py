"""What a waiting caller hears: the waitUrl loop of `<Enqueue>`.

Twilio fetches `/voice/hold` when the caller joins and again whenever the
returned TwiML runs out, so each fetch decides what is due: the
acknowledgement, position and wait (never more often than the queue's
floor, and never a position higher than the last one told), periodic
messages, an apology once the wait is long, then a stretch of music inside a
`<Gather>` listening for the exit keys.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response
from twilio.twiml import TwiML
from twilio.twiml.voice_response import Gather, Say, VoiceResponse

from callbacks import callback as callbacks
from ivr.config import phrases
from ivr.config.menu import Language
from ivr.config.prompts import Localized
from ivr.config.queues import HoldConfig, MusicClip, QueueConfig
from ivr.core.security import require
from ivr.core.session import CallSession
from ivr.service import Services, services
from ivr.voice import exits, offers, queue_resources, twiml
from ivr.voice.callback import hold_offer
from ivr.voice.queue import estimate_for, wait_range_for
from queues import ewt

GATHER_TIMEOUT_S = 1
"""How long the hold loop's `<Gather>` listens after its music before Twilio fetches the loop
again (Twilio's default, 5 s, would make every stretch of music 5 s longer than planned)."""
LATE_MAX_S = 10
SPEECH_S_PER_WORD = 0.4
"""About how long text-to-speech takes per word (about 150 words a minute)."""
"""When the time left before an announcement is shorter than the next clip, the clip still
plays if that makes the announcement at most this late; otherwise the rest is a pause."""


@dataclass
class HoldState:
    """What this caller has been told so far (one small hash per waiting call)."""

    announced_at: float = 0.0
    position: int = 0
    apologised: bool = False
    messages: str = "{}"
    clip: int = 0
    """The next of the queue's `music_clips` to play, so the music carries on across fetches."""

    @classmethod
    def parse(cls, raw: dict[str, str]) -> HoldState:
        return cls(
            announced_at=float(raw.get("announced_at", 0)),
            position=int(raw.get("position", 0)),
            apologised=raw.get("apologised") == "1",
            messages=raw.get("messages", "{}"),
            clip=int(raw.get("clip", 0)),
        )

    def dump(self) -> dict[str, str]:
        return {
            "announced_at": str(self.announced_at),
            "position": str(self.position),
            "apologised": "1" if self.apologised else "0",
            "messages": self.messages,
            "clip": str(self.clip),
        }

    def next_due(self, hold: HoldConfig) -> float:
        """When the next announcement is due (0: now, nothing said yet)."""
        if self.announced_at == 0:
            return 0.0
        return self.announced_at + hold.announce_every_s

    def is_due(self, hold: HoldConfig, now: float) -> bool:
        """Whether to announce now: on schedule, and never sooner than `announce_min_s`."""
        if self.announced_at == 0:
            return True
        return now >= self.next_due(hold) and now - self.announced_at >= hold.announce_min_s

    def announced(self, now: float) -> None:
        """Record an announcement at `now`: the next is due `announce_every_s` later."""
        self.announced_at = now


@dataclass
class Waiting:
    """One hold-loop fetch: the caller, their queue, and the TwiML being built."""

    svc: Services
    session: CallSession
    queue: QueueConfig
    language: Language
    response: VoiceResponse
    name: str = ""
    """The queue the caller waits in now (an overflow may have moved them since the menu)."""

    @property
    def hold(self) -> HoldConfig:
        return self.queue.hold

    def say(self, text: str) -> None:
        twiml.say(self.response, text, self.language)

    def phrase(self, name: str, **values: object) -> str:
        """A built-in hold phrase (`hold.<name>`) in the caller's language."""
        config = self.svc.config_for(self.session.config_version)
        return phrases.text(config, self.session.language, f"hold.{name}", **values)

    def say_localized(self, localized: Localized | None) -> None:
        config = self.svc.config_for(self.session.config_version)
        name = self.session.caller_name or ""
        code = self.session.language
        twiml.speak_localized(self.response, config.languages, localized, code, name)


async def announce(w: Waiting, state: HoldState, position: int, waited: float) -> None:
    """Position and wait range, when due; a position higher than the last one told is not said.

    A caller no logged-in agent can ever answer is promised neither a place nor a wait,
    only asked to stay on the line: the queue's no-agents action moves them on shortly
    (`Router.unserved`). While no agent who can answer them is staffed (all on break),
    they hear their place but no time."""
    now = w.svc.clock.now()
    if not state.is_due(w.hold, now):
        return
    state.announced(now)
    if await w.svc.router.unserved(w.session.sid):
        w.say(w.phrase("stay"))
        return
    if w.hold.announce_position and (state.position == 0 or position <= state.position):
        w.say(w.phrase("next") if position == 1 else w.phrase("position", n=position))
        state.position = position
    if w.hold.announce_wait:
        found = await wait_range_for(w.svc, w.session.sid, w.name, position, w.hold)
        if found is not None:
            told = ewt.spoken(found)
            w.say(say_range(w, told))
            await log_range(w, found, told, position, waited)


def say_range(w: Waiting, told: ewt.Spoken) -> str:
    """The range in the caller's language: `hold.soon`, `less`, `between` or `more`."""
    if told.kind == "soon":
        return w.phrase("soon")
    if told.kind == "less":
        return w.phrase("less", m=told.high_m)
    if told.kind == "more":
        return w.phrase("more", m=told.low_m)
    return w.phrase("between", low=told.low_m, high=told.high_m)


async def log_range(
    w: Waiting, found: ewt.WaitRange, told: ewt.Spoken, position: int, waited: float
) -> None:
    """Keep the range told (and the model's, unrounded, and its mean) with the caller's
    position, to measure calibration (bench/ewt.py)."""
    await w.svc.redis.xadd(
        w.svc.keys.announcements(),
        {
            "call": w.session.sid,
            "at": str(w.svc.clock.now()),
            "estimate_s": f"{found.mean_s:.0f}",
            "low_s": f"{told.low_s:.0f}",
            "high_s": "inf" if told.high_s == math.inf else f"{told.high_s:.0f}",
            "model_low_s": f"{found.low_s:.0f}",
            "model_high_s": f"{found.high_s:.0f}",
            "waited_s": f"{waited:.0f}",
            "position": str(position),
        },
        maxlen=100_000,
        approximate=True,
    )


def periodic(w: Waiting, state: HoldState, waited: float) -> None:
    """Periodic messages and the one-time apology."""
    last: dict[str, float] = json.loads(state.messages)
    now = w.svc.clock.now()
    for index, message in enumerate(w.hold.messages):
        at = last.get(str(index), now - waited)
        if now - at >= message.every_s:
            w.say_localized(message.text)
            last[str(index)] = now
    state.messages = json.dumps(last)
    if w.hold.apology_after_s and waited >= w.hold.apology_after_s and not state.apologised:
        if w.hold.apology:
            w.say_localized(w.hold.apology)
        else:
            w.say(w.phrase("apology"))
        state.apologised = True


def music(w: Waiting, state: HoldState, waited: float, callback: str = "") -> None:
    """Music until the next announcement or message is due, interruptible by the exit keys
    when any is offered. Twilio fetches the loop again only when this TwiML runs out, so
    with `music_clips` the stretch is filled with whole clips to end when it is due."""
    key = w.hold.voicemail_key
    listening = key is not None or bool(callback)
    seconds = hold_until(w, state, waited) - w.svc.clock.now()
    target: VoiceResponse | Gather = w.response
    if listening:
        target = twiml.gather(
            w.svc.urls.to("hold_key"), num_digits=1, input="dtmf", timeout=GATHER_TIMEOUT_S
        )
        seconds -= GATHER_TIMEOUT_S
        if callback:
            twiml.say(target, callback, w.language)
        if key is not None:
            twiml.say(target, w.phrase("voicemail", key=key), w.language)
        seconds -= speech_s(target)
    play(w.hold, state, target, seconds - speech_s(w.response))
    if isinstance(target, Gather):
        w.response.append(target)


def speech_s(node: TwiML) -> float:
    """About how long the `<Say>`s in `node` take to speak, so the music after them ends
    when the next announcement is due rather than a sentence or two later."""
    total = 0.0
    for verb in node.verbs:
        if isinstance(verb, Say):
            total += len(str(verb.value).split()) * SPEECH_S_PER_WORD
        total += speech_s(verb)
    return total


def play(
    hold: HoldConfig, state: HoldState, target: VoiceResponse | Gather, seconds: float
) -> None:
    """Fill `seconds` with whole music clips in turn, and a pause for what no clip fits;
    without `music_clips`, one play of `music` (its length unknown)."""
    if not hold.music_clips:
        target.play(hold.music)
        return
    clips, state.clip, rest = fill(hold.music_clips, state.clip, seconds)
    for clip in clips:
        target.play(clip.url)
    if rest >= 1 or not clips:
        target.pause(length=max(1, round(rest)))


def fill(clips: list[MusicClip], start: int, seconds: float) -> tuple[list[MusicClip], int, float]:
    """Whole clips from `start` (in turn, round the list) for about `seconds`, ending at most
    `LATE_MAX_S` late: the clips, the index of the clip to play next, and the seconds left
    to pause for."""
    chosen: list[MusicClip] = []
    index, left = start % len(clips), seconds
    while left > 0 and clips[index].seconds <= left + LATE_MAX_S:
        chosen.append(clips[index])
        left -= clips[index].seconds
        index = (index + 1) % len(clips)
    return chosen, index, max(left, 0.0)


def hold_until(w: Waiting, state: HoldState, waited: float) -> float:
    """When the next announcement, periodic message or the apology is due (Unix seconds)."""
    entered = w.svc.clock.now() - waited
    last: dict[str, float] = json.loads(state.messages)
    due = [state.next_due(w.hold)]
    due += [last.get(str(i), entered) + m.every_s for i, m in enumerate(w.hold.messages)]
    if w.hold.apology_after_s and not state.apologised:
        due.append(entered + w.hold.apology_after_s)
    return min(due)


async def callback_offer(w: Waiting, position: int) -> str:
    """The "press 1 to be called back" line, when the queue offers it and the wait is long.

    Asked on every fetch of the loop, so the offer comes at entry and again with each
    announcement while the estimate stays over the threshold. The first offer to a call
    is recorded (CALLBACKOFFER), so abandoned callers offered one first can be counted.
    """
    config = w.svc.config_for(w.session.config_version)
    key = w.hold.callback_key
    if key is None or not config.callbacks.enabled:
        return ""
    seconds = await estimate_for(w.svc, w.name, position, w.hold)
    # No estimate means nobody is staffed: the wait is unknown, so the offer stands.
    if seconds is not None and seconds <= w.hold.callback_offer_after_estimate_s:
        return ""
    await callbacks.offered(w.svc, w.session.sid, w.name, position, seconds)
    return hold_offer(config, w.session, w.hold, w.svc.clock.now(), seconds)


def closed(svc: Services, queue: QueueConfig) -> bool:
    hours = svc.registry.current.hours.get(queue.hold.hours or "")
    return hours is not None and not hours.is_open(svc.now())


async def close(w: Waiting) -> VoiceResponse:
    """Closing time: tell the caller, and leave the queue for the closing action."""

    await exits.mark_exit(w.svc, w.session.sid, w.hold.when_closed, "EXITCLOSED", w.name)
    if w.hold.closing_message is not None:
        w.say_localized(w.hold.closing_message)
    w.response.leave()
    return w.response


async def hold(request: Request) -> Response:
    svc = services(request)
    form = await svc.verifier.form(request)
    (sid,) = require(form, "CallSid")
    response = VoiceResponse()
    await queue_resources.note(svc, sid, form)
    session = await svc.calls.get(sid)
    position = await svc.router.position(sid)
    if session is None or position is None:
        if await exits.moved_on(svc, sid):  # its redirect was lost: go now
            response.leave()
            return Response(twiml.render(response), media_type="application/xml")
        return Response(twiml.render(await connecting(svc, session)), media_type="application/xml")
    config = svc.config_for(session.config_version)
    queue = config.queues.get(position.queue) or QueueConfig()
    language = (
        config.languages.available.get(session.language)
        or config.languages.available[config.languages.default]
    )
    w = Waiting(svc, session, queue, language, response, position.queue)
    if closed(svc, queue):
        return Response(twiml.render(await close(w)), media_type="application/xml")
    state, owed = await take_state(svc, sid)
    if owed:  # an agent's leg failed before the bridge: the caller kept their place
        w.say(offers.put_back_apology(session.language))
    await announce(w, state, position.position, position.waited_s)
    periodic(w, state, position.waited_s)
    # Not while an agent's phone rings for the caller: pressing 1 would drop a call about to
    # be answered. If the ring goes unanswered, the next fetch offers again.
    ringing = position.state == "ringing"
    offer = "" if ringing else await callback_offer(w, position.position)
    music(w, state, position.waited_s, offer)
    await keep_state(svc, sid, state)
    return Response(twiml.render(response), media_type="application/xml")


async def take_state(svc: Services, sid: str) -> tuple[HoldState, bool]:
    """What the waiting caller was told so far, and whether the put-back apology is owed
    (taken: it is said once). The caller is back in routing, so a later spell out of it
    counts from its own start (`exits.UNROUTED`). One round trip."""
    key = svc.keys.hold(sid)
    async with svc.redis.pipeline(transaction=False) as pipe:
        pipe.hgetall(key)
        pipe.hdel(key, exits.UNROUTED)
        pipe.hdel(key, offers.PUT_BACK_FIELD)
        raw, _, owed = await pipe.execute()
    return HoldState.parse(raw), bool(owed)


async def keep_state(svc: Services, sid: str, state: HoldState) -> None:
    """Store what the caller has now been told, for as long as a call's session lives."""
    key = svc.keys.hold(sid)
    async with svc.redis.pipeline(transaction=False) as pipe:
        pipe.hset(key, mapping=state.dump())  # type: ignore[arg-type]
        pipe.expire(key, svc.settings.session_ttl_s)
        await pipe.execute()


CONNECTING_PAUSE_S = 3
"""While the caller is being put through, the hold loop says so, then looks again soon."""


async def connecting(svc: Services, session: CallSession | None) -> VoiceResponse:
    """For a caller an agent has accepted but not yet bridged (or whose state is catching
    up): a short word, never only silence, and a prompt look again (the bridge interrupts
    it; a leg that failed meanwhile leaves the next fetch to apologise)."""

    response = VoiceResponse()
    config = svc.config_for(session.config_version) if session is not None else svc.registry.current
    code = session.language if session is not None else config.languages.default
    text = phrases.text(config, code, "queue.putting_through")
    twiml.say(response, text, config.languages.of(code))
    response.pause(length=CONNECTING_PAUSE_S)
    return response
