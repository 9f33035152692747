"""Conferences and their participants, and who in a conference hears whom.

A conference is `init` while its participants wait (they hear the waitUrl),
`in-progress` once at least two are in and one of them has
startConferenceOnEnter, and `completed` when the last participant leaves or
one with endConferenceOnExit does. While it is in progress every talking
participant hears every other one except: a held participant neither hears nor
is heard (it hears its holdUrl), a muted one is not heard, and a coach is heard
only by the participant it coaches.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ivr.devtools.emulator.calls import Call
from ivr.devtools.emulator.ids import new_sid
from ivr.devtools.emulator.twiml import Node

MAX_PARTICIPANTS = 250
"""Twilio's default and largest conference size."""
WAIT_MUSIC_URL = "http://com.twilio.sounds.music.s3.amazonaws.com/ClockworkWaltz.mp3"
"""Stands in for Twilio's default hold music (a twimlet the emulator cannot fetch)."""
LEFT, HELD, WAITING, TALKING = "left", "held", "waiting", "talking"


@dataclass(eq=False)
class Announcement:
    """A parsed announceUrl document and the participants still to hear it."""

    document: Node
    url: str
    listeners: set[str] = field(default_factory=set)
    """Call SIDs that have not finished playing it."""
    participant: str | None = None
    """The call SID it was made to, or None for the whole conference."""


@dataclass(eq=False)
class Participant:
    """One call in a conference, with the flags the Participant resource shows."""

    call: Call
    conference: Conference
    joined_at: float
    label: str | None = None
    muted: bool = False
    hold: bool = False
    coaching: bool = False
    call_sid_to_coach: str | None = None
    start_on_enter: bool = True
    end_on_exit: bool = False
    beep: str = "true"
    wait_url: str | None = None
    """None: Twilio's default music; "": silence."""
    wait_method: str = "POST"
    hold_url: str | None = None
    hold_method: str = "GET"
    updated_at: float = 0.0
    joined: bool = False
    """False while a participant created over REST is still being dialled."""
    left: bool = False
    talked: bool = False
    """Whether it was ever in the conference while it was in progress (DialBridged)."""
    kicked: bool = False
    announcements: list[Announcement] = field(default_factory=list)

    @property
    def present(self) -> bool:
        """In the room, or still being dialled into it (a dialled call that failed is not)."""
        return not self.left and (self.joined or not self.call.ended)

    @property
    def state(self) -> str:
        """What this participant is doing: left, held, waiting or talking."""
        if self.left or self.conference.status == "completed":
            return LEFT
        if self.hold:
            return HELD
        return WAITING if self.conference.status == "init" else TALKING

    @property
    def status(self) -> str:
        """The Participant resource's status."""
        if self.joined:
            return "connected"
        return {"queued": "queued", "ringing": "ringing", "in-progress": "connecting"}.get(
            self.call.status, "failed"
        )


@dataclass(eq=False)
class Conference:
    """A named room: its participants in joining order and its life so far."""

    name: str
    account_sid: str
    created_at: float
    sid: str = field(default_factory=lambda: new_sid("CF"))
    status: str = "init"
    max_participants: int = MAX_PARTICIPANTS
    participants: list[Participant] = field(default_factory=list)
    updated_at: float = 0.0
    reason_ended: str | None = None
    call_sid_ending: str | None = None

    @property
    def active(self) -> list[Participant]:
        """The participants in the room now (dialled ones not yet answered excluded)."""
        return [p for p in self.participants if p.joined and not p.left]

    def find(self, key: str) -> Participant | None:
        """A current participant by call SID or label, as the REST API addresses them."""
        for participant in self.participants:
            if participant.present and key in (participant.call.sid, participant.label):
                return participant
        return None

    def should_start(self) -> bool:
        active = self.active
        return len(active) >= 2 and any(p.start_on_enter for p in active)


def hears(listener: Participant, speaker: Participant) -> bool:
    """Whether `listener` hears what `speaker` says right now."""
    if listener is speaker or listener.state != TALKING or speaker.state != TALKING:
        return False
    if speaker.muted:
        return False
    return not speaker.coaching or speaker.call_sid_to_coach == listener.call.sid


def beeps_on(participant: Participant, moment: str) -> bool:
    """Whether joining (`onEnter`) or leaving (`onExit`) plays the conference beep."""
    return participant.beep in ("true", moment)
