"""The account's conferences: joining, leaving, starting, ending, speaking and announcing.

Everything here runs on the emulator's loop thread. A change that a
participant's leg must act on (the conference started or ended, it was put on
hold or kicked, an announcement is waiting) wakes that leg with a `conference`
wake; the leg (`conference_leg`) then looks at its participant's state again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from ivr.core.clock import Clock
from ivr.core.errors import EmulatorError
from ivr.devtools.emulator import twiml
from ivr.devtools.emulator.calls import Call, ConferencePair, Utterance
from ivr.devtools.emulator.conference import (
    MAX_PARTICIPANTS,
    Announcement,
    Conference,
    Participant,
    beeps_on,
    hears,
)
from ivr.devtools.emulator.conference_events import DEFAULT_EVENTS, ConferenceNotifier
from ivr.devtools.emulator.webhooks import Reply, Webhooks, require_twiml

CONFERENCE_WAKE = "conference"


class Host(Protocol):
    """What conferences need of the switchboard."""

    @property
    def webhooks(self) -> Webhooks: ...

    @property
    def clock(self) -> Clock: ...

    @property
    def account_sid(self) -> str: ...

    def now(self) -> float: ...

    def say_seconds(self, text: str, loop: int) -> float: ...

    def send(self, url: str, method: str, params: dict[str, str], call: Call | None) -> Reply: ...

    def post_later(self, url: str, method: str, params: dict[str, str]) -> None: ...

    def record_error(self, exc: EmulatorError) -> None: ...

    def wake(self, call: Call, kind: str, value: object = None) -> bool: ...

    def hangup(self, call: Call, status: str = "completed") -> None: ...


@dataclass
class JoinSpec:
    """A `<Conference>` noun's attributes, as the joining leg uses them."""

    name: str
    label: str | None = None
    muted: bool = False
    beep: str = "true"
    start_on_enter: bool = True
    end_on_exit: bool = False
    wait_url: str | None = None
    wait_method: str = "POST"
    max_participants: int = MAX_PARTICIPANTS
    coach: str | None = None
    status_callback: str | None = None
    status_callback_method: str = "POST"
    events: frozenset[str] = field(default_factory=lambda: DEFAULT_EVENTS)


class Conferences:
    """Every conference of the account, current and completed, oldest first."""

    def __init__(self, host: Host) -> None:
        self.host = host
        self.all: list[Conference] = []
        self._notifiers: dict[str, ConferenceNotifier] = {}

    # -- finding -------------------------------------------------------------------------

    def current(self, name: str) -> Conference | None:
        """The conference of that name that has not completed, if any."""
        return next((c for c in self.all if c.name == name and c.status != "completed"), None)

    def by_sid(self, sid: str) -> Conference | None:
        return next((c for c in self.all if c.sid == sid), None)

    def open(self, spec: JoinSpec) -> Conference:
        """The current conference of that name, or a new one set up from `spec`."""
        return self.current(spec.name) or self._create(spec, None)

    def adopt(self, participant: Participant, spec: JoinSpec) -> None:
        """Register a participant the REST API is dialling into `spec.name`."""
        conference = self.current(spec.name) or self._create(spec, participant.conference)
        participant.conference = conference
        conference.participants.append(participant)

    def _create(self, spec: JoinSpec, made: Conference | None) -> Conference:
        """A new conference (`made` by the REST API already, or now) with `spec`'s settings."""
        now = self.host.now()
        conference = made or Conference(spec.name, self.host.account_sid, now)
        conference.updated_at = now
        conference.max_participants = spec.max_participants
        self.all.append(conference)
        if spec.status_callback:
            url = self.host.webhooks.resolve(spec.status_callback)
            self._notifiers[conference.sid] = ConferenceNotifier(
                url, spec.status_callback_method, spec.events, self.host.post_later, self.host.clock
            )
        return conference

    # -- joining and leaving -------------------------------------------------------------

    def join(self, call: Call, spec: JoinSpec) -> Participant | None:
        """Put `call` in the conference; None when it is full."""
        conference = self.open(spec)
        participant = conference.find(call.sid)
        if len(conference.active) >= conference.max_participants:
            return None
        if participant is None:
            participant = Participant(call, conference, self.host.now())
            conference.participants.append(participant)
        _apply_spec(participant, spec)
        participant.joined, participant.joined_at = True, self.host.now()
        participant.updated_at = conference.updated_at = participant.joined_at
        participant.talked = conference.status == "in-progress"
        self.notify(conference, "participant-join", participant)
        if conference.status == "init" and conference.should_start():
            self.start(conference)
        self._pair(conference)
        if conference.status == "in-progress" and beeps_on(participant, "onEnter"):
            self._beep(conference, participant)
        return participant

    def leave(self, participant: Participant) -> None:
        """Take a participant out (hung up, kicked, redirected, or the conference ended)."""
        if participant.left:
            return
        participant.left = True
        _unpair(participant.call)
        conference = participant.conference
        conference.updated_at = self.host.now()
        if participant in conference.participants:
            conference.participants.remove(participant)
        for announcement in list(participant.announcements):
            self.announcement_heard(participant, announcement)
        if not participant.joined:
            return
        self.notify(conference, "participant-leave", participant)
        if conference.status == "completed":
            return
        if conference.status == "in-progress" and beeps_on(participant, "onExit"):
            self._beep(conference, participant)
        how = "kicked" if participant.kicked else "left"
        if participant.end_on_exit:
            self.end(conference, f"participant-with-end-conference-on-exit-{how}", participant)
        elif not conference.active:
            self.end(conference, f"last-participant-{how}", participant)

    def kick(self, participant: Participant) -> None:
        """REST delete: the participant leaves; a participant still being dialled is hung up."""
        participant.kicked = True
        if not participant.joined:
            self.leave(participant)
            self.host.hangup(participant.call)
            return
        self.leave(participant)
        self.poke(participant)

    def update(self, participant: Participant, change: ParticipantUpdate) -> None:
        """REST update: apply what changed and report it (mute, hold, modify events)."""
        conference = participant.conference
        participant.hold_url = _pick(change.hold_url, participant.hold_url)
        participant.hold_method = change.hold_method or participant.hold_method
        participant.end_on_exit = _pick(change.end_on_exit, participant.end_on_exit)
        if change.beep_on_exit is not None:
            participant.beep = _beep_with_exit(participant.beep, change.beep_on_exit)
        if change.muted is not None and change.muted != participant.muted:
            participant.muted = change.muted
            event = "participant-mute" if change.muted else "participant-unmute"
            self.notify(conference, event, participant)
        if change.hold is not None and change.hold != participant.hold:
            participant.hold = change.hold
            event = "participant-hold" if change.hold else "participant-unhold"
            self.notify(conference, event, participant)
            self.poke(participant)
        coach = _pick(change.call_sid_to_coach, participant.call_sid_to_coach)
        coaching = _pick(
            change.coaching, participant.coaching or change.call_sid_to_coach is not None
        )
        if (coaching, coach) != (participant.coaching, participant.call_sid_to_coach):
            participant.coaching, participant.call_sid_to_coach = coaching, coach
            self.notify(conference, "participant-modify", participant)
        participant.updated_at = self.host.now()

    def _pair(self, conference: Conference) -> None:
        """Two participants alone in a started conference talk to each other (`bridge`)."""
        active = conference.active
        if conference.status != "in-progress" or len(active) != 2:
            return
        a, b = active[0].call, active[1].call
        if a.bridge is None and b.bridge is None:
            a.bridge = b.bridge = ConferencePair(a, b, self.host.now())

    # -- the conference's life -----------------------------------------------------------

    def start(self, conference: Conference) -> None:
        conference.status, conference.updated_at = "in-progress", self.host.now()
        self.notify(conference, "conference-start")
        for participant in conference.active:
            participant.talked = True
            self.poke(participant)
        self._pair(conference)

    def end(self, conference: Conference, reason: str, by: Participant | None = None) -> None:
        """Complete the conference; everyone still in it drops out and goes on with its TwiML."""
        if conference.status == "completed":
            return
        conference.status, conference.updated_at = "completed", self.host.now()
        conference.reason_ended = reason
        conference.call_sid_ending = by.call.sid if by is not None else None
        extra = {"ReasonConferenceEnded": reason, "Reason": reason}
        if by is not None:
            extra["CallSidEndingConference"] = by.call.sid
            if by.label:
                extra["ParticipantLabelEndingConference"] = by.label
        self.notify(conference, "conference-end", extra=extra)
        for participant in list(conference.participants):
            if participant.joined:
                self.poke(participant)
            else:
                self.kick(participant)

    # -- audio ---------------------------------------------------------------------------

    def speak(self, speaker: Participant, text: str) -> None:
        """`text` said by `speaker` is heard by every participant that can hear it."""
        conference, now = speaker.conference, self.host.now()
        for listener in conference.active:
            if hears(listener, speaker):
                listener.call.heard.append(Utterance("speech", text, at=now))
        if hears_anyone(speaker):
            self.notify(conference, "participant-speech-start", speaker)
            self.notify(conference, "participant-speech-stop", speaker)

    def _beep(self, conference: Conference, mover: Participant) -> None:
        now = self.host.now()
        for listener in conference.active:
            if listener is not mover and listener.state == "talking":
                listener.call.heard.append(Utterance("beep", "beep", at=now))

    def announce(
        self, conference: Conference, target: Participant | None, url: str, method: str
    ) -> None:
        """Play an announceUrl document to the conference, or to one participant."""
        params = {"ConferenceSid": conference.sid, "FriendlyName": conference.name}
        params["AccountSid"] = conference.account_sid
        try:
            text = require_twiml(self.host.send(url, method, params, None))
            document = twiml.parse(text, "conference")
        except EmulatorError as exc:
            self.host.record_error(exc)
            self.notify(conference, "announcement-fail", target, {"AnnounceUrl": url})
            return
        listeners = [target] if target is not None else conference.active
        talking = [p for p in listeners if p.state == "talking"]
        announcement = Announcement(document, url, {p.call.sid for p in talking})
        announcement.participant = target.call.sid if target is not None else None
        for participant in talking:
            participant.announcements.append(announcement)
            self.poke(participant)
        if not talking:
            self.notify(conference, "announcement-end", target, {"AnnounceUrl": url})

    def announcement_heard(self, participant: Participant, announcement: Announcement) -> None:
        if announcement in participant.announcements:
            participant.announcements.remove(announcement)
        announcement.listeners.discard(participant.call.sid)
        if not announcement.listeners:
            target = participant if announcement.participant else None
            extra = {"AnnounceUrl": announcement.url}
            self.notify(participant.conference, "announcement-end", target, extra)

    # -- plumbing ------------------------------------------------------------------------

    def poke(self, participant: Participant) -> None:
        """Wake the participant's leg so it looks at its state again."""
        self.host.wake(participant.call, CONFERENCE_WAKE)

    def notify(
        self,
        conference: Conference,
        event: str,
        participant: Participant | None = None,
        extra: dict[str, str] | None = None,
    ) -> None:
        notifier = self._notifiers.get(conference.sid)
        if notifier is not None:
            notifier.notify(conference, event, participant, extra)


T = TypeVar("T")


@dataclass
class ParticipantUpdate:
    """The fields of a Participant update request; None leaves a field as it is."""

    muted: bool | None = None
    hold: bool | None = None
    hold_url: str | None = None
    hold_method: str | None = None
    coaching: bool | None = None
    call_sid_to_coach: str | None = None
    end_on_exit: bool | None = None
    beep_on_exit: bool | None = None


def _unpair(call: Call) -> None:
    """A leg leaving its conference no longer talks to the one it was paired with."""
    pair = call.bridge
    if isinstance(pair, ConferencePair):
        call.bridge = None
        if pair.other(call).bridge is pair:
            pair.other(call).bridge = None


def _pick(new: T | None, old: T) -> T:
    return old if new is None else new


def _beep_with_exit(beep: str, on_exit: bool) -> str:
    on_enter = beep in ("true", "onEnter")
    return {(True, True): "true", (True, False): "onEnter", (False, True): "onExit"}.get(
        (on_enter, on_exit), "false"
    )


def hears_anyone(speaker: Participant) -> bool:
    return any(hears(listener, speaker) for listener in speaker.conference.active)


def _apply_spec(participant: Participant, spec: JoinSpec) -> None:
    participant.label = spec.label or participant.label
    participant.muted, participant.beep = spec.muted, spec.beep
    participant.start_on_enter, participant.end_on_exit = spec.start_on_enter, spec.end_on_exit
    participant.wait_url, participant.wait_method = spec.wait_url, spec.wait_method
    participant.coaching = spec.coach is not None
    participant.call_sid_to_coach = spec.coach
