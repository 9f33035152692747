"""Conference status callbacks: the events a conference reports and their parameters.

The statusCallback of the participant that creates the conference is the one
used; later participants' statusCallbacks are ignored, as on Twilio.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ivr.core.clock import Clock
from ivr.devtools.emulator.conference import Conference, Participant
from ivr.devtools.emulator.resources import rfc2822

EVENT_GROUPS = {
    "start": ("conference-start",),
    "end": ("conference-end",),
    "join": ("participant-join",),
    "leave": ("participant-leave",),
    "mute": ("participant-mute", "participant-unmute"),
    "hold": ("participant-hold", "participant-unhold"),
    "modify": ("participant-modify",),
    "speaker": ("participant-speech-start", "participant-speech-stop"),
    "announcement": ("announcement-end", "announcement-fail"),
}
"""statusCallbackEvent keywords and the StatusCallbackEvent values each one asks for."""
DEFAULT_EVENTS = frozenset({"start", "end"})
FIRST_SEQUENCE_NUMBER = 1

Post = Callable[[str, str, dict[str, str]], None]


def _flag(value: bool) -> str:
    return "true" if value else "false"


def participant_params(participant: Participant) -> dict[str, str]:
    """What a participant event says about the participant."""
    params = {
        "CallSid": participant.call.sid,
        "Muted": _flag(participant.muted),
        "Hold": _flag(participant.hold),
        "Coaching": _flag(participant.coaching),
        "EndConferenceOnExit": _flag(participant.end_on_exit),
        "StartConferenceOnEnter": _flag(participant.start_on_enter),
    }
    if participant.coaching and participant.call_sid_to_coach:
        params["CallSidToCoach"] = participant.call_sid_to_coach
    if participant.label:
        params["ParticipantLabel"] = participant.label
    return params


@dataclass
class ConferenceNotifier:
    """Posts a conference's chosen events to its statusCallback, numbered from 1."""

    url: str
    method: str
    events: frozenset[str]
    post: Post
    clock: Clock
    _sequence: int = FIRST_SEQUENCE_NUMBER

    def wants(self, event: str) -> bool:
        return any(event in EVENT_GROUPS.get(keyword, ()) for keyword in self.events)

    def notify(
        self,
        conference: Conference,
        event: str,
        participant: Participant | None = None,
        extra: dict[str, str] | None = None,
    ) -> None:
        """Send `event` (conference-start, participant-join...) if it was asked for."""
        if not self.wants(event):
            return
        params = {
            "ConferenceSid": conference.sid,
            "FriendlyName": conference.name,
            "AccountSid": conference.account_sid,
            "StatusCallbackEvent": event,
            "SequenceNumber": str(self._sequence),
            "Timestamp": rfc2822(self.clock.now()) or "",
        }
        self._sequence += 1
        if participant is not None:
            params |= participant_params(participant)
        self.post(self.url, self.method, params | (extra or {}))


def parse_events(raw: str | list[str] | None) -> frozenset[str]:
    """statusCallbackEvent as TwiML (space-separated) or REST (a list) gives it."""
    if raw is None:
        return DEFAULT_EVENTS
    words = raw if isinstance(raw, list) else raw.split()
    return frozenset(w for word in words for w in str(word).split() if w in EVENT_GROUPS)
