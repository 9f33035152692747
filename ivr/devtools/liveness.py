"""What callers and agents notice, checked while a simulation runs and at its end.

`queues.invariants` checks that routing's own keys agree with each other;
this module checks the promises the service makes to people, from the
emulator's side of the line (what each leg heard, what is bridged, which
device rings) set against routing's state:

- every caller reaches a defined outcome (connected, voicemail, callback
  booked, an announced exit, or hanging up themselves), and none waits past
  the queue's limit;
- no caller on hold hears more than `SILENCE_MAX_S` of silence, and no call
  routing counts as connected lacks its bridge for more than `CONNECT_GRACE_S`;
- nobody is left alone in a conference (a customer whose agent left, an agent whose
  caller never came or went back) for more than `ALONE_MAX_S`, not counting time while
  Twilio's API refuses every request;
- no agent stays reserved or on a call without a live leg for more than
  `AGENT_GRACE_S`, not counting time while Twilio's API refuses every request (the
  service then retries the ring within the ring window, as the issue asks; it cannot
  make a leg, and the agent could not be rung for another call either) nor while
  the status callback saying the agent's leg ended (busy, failed) is held back (the
  service cannot know before it arrives; the ring timer bounds the wait);
- work conservation: no agent who is on shift and could take a waiting call
  sits idle (available, offline, or on a break the simulation did not cause)
  for more than `IDLE_MAX_S` while that call waits;
- a call is put back for its agent's leg failing (REJECTED noanswer, busy, failed or
  dropped) only when that agent's accepted leg is not still up (from routing's events, at
  the end): the late end of an older leg never takes the call from an agent on the line,
  unless Twilio's API refused requests in the `BRIDGE_S` before (the caller could not be
  moved to them);
- FIFO within priority (from routing's events, at the end): a call is offered
  to an agent only when no call of the same queue, priority and language that
  came earlier waits without having been offered to that agent;
- callbacks are dialled once per attempt, and surveys sent once per call;
- no Twilio Queue resource is left for a call that ended over `QUEUE_GRACE_S` before the
  end (each caller's own queue is deleted once they are out of it);
- routing's own invariants (`queues.invariants.problems`) hold;
- no webhook fails (a failed one is Twilio's "application error").

Each breach is recorded once per (invariant, subject).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from ivr.devtools.emulator.calls import Call, Utterance
from ivr.devtools.emulator.conference import Conference
from ivr.devtools.emulator.devices import Device
from ivr.devtools.emulator.interpreter import APP_ERROR_TEXT
from ivr.voice.queue import queue_name
from queues import invariants
from queues.events import Event
from queues.layout import Layout

SILENCE_MAX_S = 10.0
CONNECT_GRACE_S = 5.0
"""From routing's connect to the bridge: the caller's "connecting you" and the dequeue."""
AGENT_GRACE_S = 5.0
IDLE_MAX_S = 2.0
WAIT_BOUND_S = 600.0
"""The longest wait allowed in a queue that sets no `max_wait_s`."""
MAX_WAIT_GRACE_S = 30.0
"""How long past a queue's `max_wait_s` a caller may still be found waiting."""
ROUTING_GRACE_S = 2.0
QUEUE_GRACE_S = 180.0
"""How long after its call ends a caller's Twilio queue may still exist: the deletes of a
REST outage (a 5xx or 429 window) are retried with backoff."""
ALONE_MAX_S = 60.0
"""How long one leg may be alone in a conference: an agent waiting while the caller is
moved in (its retries, then routing's connect deadline) or a called-back customer rings,
a customer until the service hangs up the call their agent left."""
LEG_FAILED = frozenset({"noanswer", "busy", "failed", "dropped"})
"""REJECTED reasons that say the agent's leg failed before the bridge."""
BRIDGE_S = 10.0
"""How long after an accept the caller may still be put back for not being moved in."""
ON_THE_LINE_S = 2.0
"""How long an accepted leg must stay up past a put-back for it to have been taken from it."""
SURVEY_WORDS = "made it easy"
"""In the English survey question (surveys.yaml `texts.en.question`)."""


@dataclass(frozen=True)
class Breach:
    at: float
    """Seconds into the run."""
    invariant: str
    subject: str
    detail: str

    def __str__(self) -> str:
        return f"{self.at:8.1f} s  {self.invariant}: {self.subject}: {self.detail}"


@dataclass
class Shift:
    """What the simulation knows about one agent: are they meant to be working?"""

    agent: str
    device: Device
    on_shift: bool = True
    excused: str = ""
    """A break reason the simulation's own faults justify (missed calls, unreachable)."""

    @property
    def live_leg(self) -> bool:
        return self.device.ringing is not None or self.device.call is not None


@dataclass
class State:
    """Routing's state at one instant, with the layout it was read under."""

    layout: Layout
    snap: invariants.Snapshot
    max_wait: dict[str, float]


@dataclass(frozen=True)
class Ends:
    """How callers' calls ended, from the simulation and routing's events."""

    gave_up: set[str]
    """Callers who hung up themselves."""
    booked: set[str]
    """Callers who left the queue for a callback."""
    queued: set[str]
    """Callers who entered a queue."""
    exited: set[str]
    """Callers the service moved out of a queue on purpose (timeout, key, closing, overflow)."""


@dataclass(frozen=True)
class Service:
    """What the service sent out over a run."""

    legs: list[Call]
    texts: list[tuple[str, str]]
    """(to, body) of every SMS."""
    customers: set[str]
    """The callers' numbers."""
    owed_surveys: set[str] = field(default_factory=set)
    """Numbers whose call qualified for a survey long enough before the end to have one."""


@dataclass
class Checker:
    start: float
    say_seconds: Callable[[str], float]
    play_seconds: Callable[[str], float]
    breaches: list[Breach] = field(default_factory=list)
    queued_since: dict[str, float] = field(default_factory=dict)
    bridged: set[str] = field(default_factory=set)
    _seen: set[tuple[str, str]] = field(default_factory=set)
    _since: dict[str, float] = field(default_factory=dict)
    outcomes: Counter[str] = field(default_factory=Counter)
    _errors: int = 0
    api_down: Callable[[float], bool] = lambda now: False
    """Whether Twilio's REST API refuses every request at `now` (a 5xx or 429 window)."""
    unheard_end: Callable[[str], bool] = lambda sid: False
    """Whether the status callback saying leg `sid` ended is held back (webhook-late)."""
    _untold: set[str] = field(default_factory=set)
    """Devices with an ended leg whose end the service has not been told of yet."""

    def breach(self, now: float, invariant: str, subject: str, detail: str) -> None:
        if (invariant, subject) not in self._seen:
            self._seen.add((invariant, subject))
            self.breaches.append(Breach(now - self.start, invariant, subject, detail))

    def lasting(self, key: str, holds: bool, now: float, limit: float) -> float | None:
        """How long `key` has held, once that is over `limit` (None before, or if it stopped)."""
        if not holds:
            self._since.pop(key, None)
            return None
        since = self._since.setdefault(key, now)
        return now - since if now - since > limit else None

    # -- continuously ----------------------------------------------------------------------

    def observe(
        self,
        now: float,
        legs: Iterable[Call],
        shifts: list[Shift],
        state: State | None,
        errors: list[Any],
        rooms: Iterable[Conference] = (),
    ) -> None:
        calls = {c.sid: c for c in legs}
        for call in calls.values():
            self._leg(now, call)
        for room in rooms:
            self._room(now, room)
        for exc in errors[self._errors :]:
            url = str(getattr(exc, "url", "?"))
            kind = "status callback failed" if "/status" in url else "webhook failed"
            self.breach(now, kind, url, str(exc)[:160])
        self._errors = len(errors)
        if state is None:
            return
        self._untold = {c.to for c in calls.values() if c.ended and self.unheard_end(c.sid)}
        self._routing(now, state, calls)
        for shift in shifts:
            self._agent(now, shift, state)

    def _leg(self, now: float, call: Call) -> None:
        if call.bridge is not None:
            self.bridged.add(call.sid)
        if any(u.text == APP_ERROR_TEXT for u in call.heard[-3:]):
            self.breach(now, "application error", call.sid, f"{call.from_} → {call.to}")
        if call.ended or call.queue is None or call.bridge is not None:
            return
        since = self.queued_since.setdefault(call.sid, now)
        silent = now - max(since, self.sound_until(call.heard))
        if silent > SILENCE_MAX_S:
            self.breach(now, "silence on hold", call.sid, f"{silent:.0f} s without audio")

    def _room(self, now: float, room: Conference) -> None:
        """One leg alone in a conference still going: nobody will join it, or the service
        has not ended it, for longer than `ALONE_MAX_S` (API outages not counted)."""
        present = [p for p in room.participants if p.present]
        alone = room.status != "completed" and len(present) == 1 and present[0].joined
        holds = alone and not present[0].call.ended and not self.api_down(now)
        held = self.lasting(f"alone {room.sid}", holds, now, ALONE_MAX_S)
        if held is not None:
            detail = f"{present[0].label} alone in {room.name} for {held:.0f} s"
            self.breach(now, "left alone in a conference", present[0].call.sid, detail)

    def sound_until(self, heard: list[Utterance]) -> float:
        """When the last sound a leg heard ends (the start of trailing pauses, if any)."""
        end = float("-inf")
        for u in reversed(heard):
            if u.kind == "pause":
                end = u.at
                continue
            if end != float("-inf"):
                return end
            length = self.play_seconds(u.url) if u.kind == "play" else self.say_seconds(u.text)
            return u.at + length
        return end

    def _routing(self, now: float, state: State, calls: dict[str, Call]) -> None:
        for problem in invariants.problems(state.snap, state.layout):
            if self.lasting(f"routing {problem}", True, now, ROUTING_GRACE_S) is not None:
                self.breach(now, "routing state", problem.split(" ")[1], problem)
        for sid, routed in state.snap.calls.items():
            leg = calls.get(sid)
            if leg is None:
                continue  # a callback: routing's id, not a leg
            waited = now - self.queued_since.get(sid, now)
            bound = state.max_wait.get(routed["queue"], WAIT_BOUND_S)
            if routed["state"] == "waiting" and not leg.ended and waited > bound:
                self.breach(now, "waits past the limit", sid, f"{waited:.0f} s > {bound:.0f} s")
            # A pending connection (its CONNECT not yet recorded) is not counted connected:
            # the caller still waits, and routing's deadline puts them back.
            counted = routed["state"] == "connected" and not routed.get("pending")
            stranded = counted and leg.bridge is None and not leg.ended
            lost = self.lasting(f"unbridged {sid}", stranded, now, CONNECT_GRACE_S)
            if lost is not None:
                self.breach(now, "connected without an agent leg", sid, f"for {lost:.0f} s")
            gone = routed["state"] in ("waiting", "ringing", "connected") and leg.ended
            if self.lasting(f"gone {sid}", gone, now, AGENT_GRACE_S) is not None:
                self.breach(now, "routing keeps a call that ended", sid, routed["state"])

    def _agent(self, now: float, shift: Shift, state: State) -> None:
        agent = state.snap.agents.get(shift.agent)
        if agent is None:
            return
        busy = agent["state"] in ("reserved", "on_call")
        untold = shift.device.address in self._untold
        legless = busy and not shift.live_leg and not untold and not self.api_down(now)
        held = self.lasting(f"legless {shift.agent}", legless, now, AGENT_GRACE_S)
        if held is not None:
            detail = f"{agent['state']} on {agent['call']} with no live leg for {held:.0f} s"
            self.breach(now, "agent without a live leg", shift.agent, detail)
        waiting = self._eligible_waiting(shift.agent, state) if self._idle(shift, agent) else []
        idle = self.lasting(f"idle {shift.agent}", bool(waiting), now, IDLE_MAX_S)
        if idle is not None:
            detail = f"{agent['state']} {agent['reason']!r} {idle:.0f} s while {waiting[0]} waits"
            self.breach(now, "idle agent while a caller waits", shift.agent, detail)

    @staticmethod
    def _idle(shift: Shift, agent: dict[str, Any]) -> bool:
        if not shift.on_shift or shift.live_leg:
            return False
        if agent["state"] == "available":
            return bool(agent["listed"] == 1)
        if agent["state"] == "break":
            return bool(agent["reason"] != shift.excused)
        return bool(agent["state"] == "offline")

    @staticmethod
    def _eligible_waiting(agent: str, state: State) -> list[str]:
        if agent not in state.layout.agents:
            return []
        buckets = set(state.layout.agent_buckets(agent))
        return [
            sid
            for sid, c in state.snap.calls.items()
            if c["state"] == "waiting"
            and c["queue"] in state.layout.queues
            and state.layout.call_bucket(c["queue"], c["step"], c["lang"]) in buckets
        ]

    # -- at the end ------------------------------------------------------------------------

    def finish(self, now: float, callers: list[Call], ends: Ends, service: Service) -> None:
        for call in callers:
            outcome = self.outcome(call, ends)
            self.outcomes[outcome] += 1
            if outcome not in OUTCOMES:
                self.breach(now, "no defined outcome", call.sid, outcome)
        sent = Counter(to for to, body in service.texts if SURVEY_WORDS in body)
        for number, count in sent.items():
            if count > 1:
                self.breach(now, "survey sent twice", number, f"{count} surveys")
        for number in sorted(service.owed_surveys - set(sent)):
            self.breach(now, "survey lost", number, "a qualifying call got no survey")
        dials = [c for c in service.legs if c.direction == "outbound-api"]
        self._doubled_dials(now, dials, service.customers)

    def queues_left(self, now: float, calls: Iterable[Call], queues: Iterable[str]) -> None:
        """No Twilio Queue resource is left for a call that ended `QUEUE_GRACE_S` ago."""
        names = set(queues)
        for call in calls:
            over = call.ended_at is not None and call.ended_at <= now - QUEUE_GRACE_S
            if over and queue_name(call.sid) in names:
                self.breach(now, "queue resource left", call.sid, "its queue was never deleted")

    def taken(
        self,
        now: float,
        events: list[Event],
        legs: Iterable[Call],
        accepted: set[str],
        devices: dict[str, str],
    ) -> None:
        """No call is put back for a failed leg of an agent (`devices`: agent -> device)
        whose accepted leg (`accepted`: the legs on which the agent pressed 1) was up then
        and stayed up `ON_THE_LINE_S` more."""
        by_device: dict[str, list[Call]] = {}
        for leg in legs:
            if leg.sid in accepted:
                by_device.setdefault(leg.to, []).append(leg)
        for e in events:
            if e.type.value != "REJECTED" or e.get("reason") not in LEG_FAILED:
                continue
            at = e.ts_ms / 1000
            if any(self.api_down(at - s) for s in range(int(BRIDGE_S) + 1)):
                continue
            for leg in by_device.get(devices.get(e.get("agent"), ""), []):
                end = leg.ended_at if leg.ended_at is not None else now
                if leg.answered_at is not None and leg.answered_at < at < end - ON_THE_LINE_S:
                    detail = f"put back ({e.get('reason')}) while {leg.sid} was on the line"
                    self.breach(now, "call taken from an agent on the line", e.get("call"), detail)

    def fifo(self, now: float, events: list[Event]) -> None:
        """FIFO within priority, replayed from routing's events in the order they happened.

        When a call is offered to an agent, no call of the same queue, priority and
        language that arrived earlier may be waiting unless it was already offered to
        that agent (routing rightly tries others first after a miss).
        """
        waiting: dict[str, tuple[str, int, str, int]] = {}
        """call -> (queue, priority, language, original arrival in ms), while it waits."""
        known: dict[str, tuple[str, int, str, int]] = {}
        offered: set[tuple[str, str]] = set()
        for e in events:
            kind, sid = e.type.value, e.get("call")
            if kind == "ENTERQUEUE":
                known[sid] = waiting[sid] = (
                    e.get("queue"),
                    int(float(e.get("priority") or 0)),
                    e.get("language"),
                    e.ts_ms - int(float(e.get("wait_ms") or 0)),
                )
            elif kind == "OFFERED" and sid in known:
                self._overtaken(now, sid, e.get("agent"), known[sid], waiting, offered)
                waiting.pop(sid, None)
                offered.add((sid, e.get("agent")))
            elif kind in ("RINGNOANSWER", "REJECTED") and sid in known:
                waiting[sid] = known[sid]
            elif kind in GONE:
                waiting.pop(sid, None)

    def _overtaken(
        self,
        now: float,
        sid: str,
        agent: str,
        mine: tuple[str, int, str, int],
        waiting: dict[str, tuple[str, int, str, int]],
        offered: set[tuple[str, str]],
    ) -> None:
        for other, theirs in waiting.items():
            same = theirs[:3] == mine[:3]
            if other != sid and same and theirs[3] < mine[3] and (other, agent) not in offered:
                detail = f"offered to {agent} while {other}, which came earlier, waited"
                self.breach(now, "FIFO within priority", sid, detail)

    def outcome(self, call: Call, ends: Ends) -> str:
        """connected, voicemail, callback, gave up, announced exit, or what went wrong."""
        if call.sid in self.bridged:
            return "connected"
        if any(u.kind == "beep" for u in call.heard):
            return "voicemail"
        if call.sid in ends.booked:
            return "callback"
        if call.sid in ends.gave_up:
            return "gave up"
        if not call.ended:
            return f"still {call.status} at the end"
        if any(u.text == APP_ERROR_TEXT for u in call.heard):
            return "application error"
        if call.sid in ends.queued and call.sid not in ends.exited:
            return "dropped from the queue without an exit"
        if any(u.kind == "say" for u in call.heard):
            return "announced exit"
        return "ended without a word"

    def _doubled_dials(self, now: float, legs: list[Call], customers: set[str]) -> None:
        by_number: dict[str, list[Call]] = {}
        for leg in legs:
            if leg.to in customers:
                by_number.setdefault(leg.to, []).append(leg)
        for number, dialled in by_number.items():
            dialled.sort(key=lambda c: c.created_at)
            for first, second in zip(dialled, dialled[1:], strict=False):
                end = first.ended_at if first.ended_at is not None else float("inf")
                if second.created_at < end:
                    self.breach(now, "callback dialled twice", number, f"{first.sid}, {second.sid}")


GONE = frozenset(
    {
        "CONNECT",
        "ABANDON",
        "EXITWITHTIMEOUT",
        "EXITWITHKEY",
        "EXITCLOSED",
        "OVERFLOW",
        "CALLBACK",
        "EXITCALLBACK",
        "RINGCANCELED",
        "COMPLETEAGENT",
        "COMPLETECALLER",
    }
)
"""Routing events after which a call no longer waits in its queue."""
OUTCOMES = frozenset({"connected", "voicemail", "callback", "gave up", "announced exit"})
