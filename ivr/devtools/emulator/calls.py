"""Call legs, what their callers hear, and the phone-like API tests drive them with."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from ivr.core.errors import EmulatorError
from ivr.devtools.emulator.ids import new_sid
from ivr.devtools.emulator.process import Runner

API_VERSION = "2010-04-01"
INPUT_WAIT_S = 120.0
"""How long press()/say() let the call play on until something listens for the input."""
HEARS_WAIT_S = 120.0
"""How long hears() lets the call play on until the words are heard."""
FINAL_STATUSES = frozenset({"completed", "busy", "no-answer", "failed", "canceled"})


class Controller(Protocol):
    """What a Call needs from the emulator to move time and end legs."""

    def advance(self, seconds: float) -> None: ...

    def advance_until(self, done: Callable[[], bool], max_seconds: float) -> bool: ...

    def hangup(self, call: Call) -> None: ...

    def deliver(self, call: Call, kind: str, value: object) -> None: ...


class Notifier(Protocol):
    """Where a leg reports its status events (callbacks.StatusNotifier sends them as webhooks)."""

    def notify(self, call: Call, event: str) -> None: ...


@dataclass(frozen=True)
class Utterance:
    """One thing the caller heard: spoken text or a played URL, with voice and time."""

    kind: str
    text: str = ""
    url: str = ""
    language: str = ""
    voice: str = ""
    at: float = 0.0

    def matches(self, needle: str) -> bool:
        needle = needle.lower()
        return bool(needle) and (needle in self.text.lower() or needle in self.url.lower())


@dataclass
class Start:
    """What a leg runs once answered: a URL to fetch or inline TwiML."""

    url: str | None = None
    method: str = "POST"
    twiml: str | None = None


@dataclass
class Bridge:
    """Two legs talking to each other."""

    a: Call
    b: Call
    started_at: float

    def other(self, call: Call) -> Call:
        return self.b if call is self.a else self.a


@dataclass
class ConferencePair(Bridge):
    """Two legs talking in a conference with nobody else in it (`Call.bridge`, for tests
    and tools that ask who a leg talks to; Twilio has no such resource)."""


@dataclass(eq=False)
class Call:
    """One call leg, as Twilio's Call resource sees it, plus what its caller heard."""

    controller: Controller
    from_: str
    to: str
    direction: str
    account_sid: str
    created_at: float
    sid: str = field(default_factory=lambda: new_sid("CA"))
    status: str = "queued"
    parent: Call | None = None
    caller_name: str = ""
    answered_by: str = ""
    start: Start = field(default_factory=Start)
    timeout_s: float = 60.0
    machine_detection: bool = False
    replay: bool | None = None
    answered_at: float | None = None
    ended_at: float | None = None
    queue: str | None = None
    bridge: Bridge | None = None
    heard: list[Utterance] = field(default_factory=list)
    runner: Runner | None = None
    notifier: Notifier | None = None
    queue_time_ms: int = 0
    """A REST-created call's estimated wait to be placed, at the account's CPS."""
    _cursor: int = 0

    @property
    def ended(self) -> bool:
        return self.status in FINAL_STATUSES

    @property
    def duration(self) -> int:
        """Seconds from answer to end (or to now while still up), as CallDuration counts."""
        if self.answered_at is None:
            return 0
        end = self.ended_at if self.ended_at is not None else self.answered_at
        return int(end - self.answered_at)

    def params(self) -> dict[str, str]:
        """The standard parameters Twilio sends with every request about this leg."""
        params = {
            "CallSid": self.sid,
            "AccountSid": self.account_sid,
            "From": self.from_,
            "To": self.to,
            "Caller": self.from_,
            "Called": self.to,
            "CallStatus": self.status,
            "Direction": self.direction,
            "ApiVersion": API_VERSION,
        }
        if self.caller_name:
            params["CallerName"] = self.caller_name
        if self.parent is not None:
            params["ParentCallSid"] = self.parent.sid
        if self.answered_by:
            params["AnsweredBy"] = self.answered_by
        return params

    def hears(self, text: str, within: float = HEARS_WAIT_S) -> Utterance:
        """Assert `text` was heard since the last hears() (letting the call play on if needed)."""
        found: list[Utterance] = []

        def heard_it() -> bool:
            found.extend(self._take(text))
            return bool(found) or self.ended

        self.controller.advance_until(heard_it, within)
        if not found:
            found.extend(self._take(text))
        if not found:
            recent = [u.text or u.url for u in self.heard[self._cursor :]]
            raise AssertionError(f"{text!r} was not heard on {self.sid}; heard since: {recent}")
        return found[0]

    def _take(self, text: str) -> list[Utterance]:
        for index in range(self._cursor, len(self.heard)):
            if self.heard[index].matches(text):
                self._cursor = index + 1
                return [self.heard[index]]
        return []

    def transcript(self) -> list[str]:
        """Every text or URL heard so far, in order."""
        return [u.text or u.url for u in self.heard if u.kind != "pause"]

    def press(self, digits: str) -> None:
        """Press DTMF keys once something (a Gather or Record) is listening for them."""
        self._give("dtmf", digits)

    def say(self, text: str, confidence: float = 0.9) -> None:
        """Speak to a speech Gather once one is listening."""
        self._give("speech", (text, confidence))

    def _give(self, kind: str, value: object) -> None:
        def listening() -> bool:
            return self.ended or (self.runner is not None and self.runner.accepts(kind))

        self.controller.advance_until(listening, INPUT_WAIT_S)
        if self.ended or self.runner is None or not self.runner.accepts(kind):
            raise EmulatorError(f"nothing on {self.sid} is listening for {kind} input")
        self.controller.deliver(self, kind, value)

    def wait(self, seconds: float) -> None:
        """Let `seconds` pass on the emulator clock."""
        self.controller.advance(seconds)

    def hangup(self) -> None:
        """Hang up this leg, like the person on it putting the phone down."""
        self.controller.hangup(self)

    def __repr__(self) -> str:
        return (
            f"Call(sid={self.sid!r}, from={self.from_!r}, to={self.to!r}, status={self.status!r})"
        )
