"""Call status callbacks: which events a leg reports, numbered, and when they are sent."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from ivr.core.clock import Clock
from ivr.devtools.emulator.calls import Call
from ivr.devtools.emulator.resources import rfc2822

CALLBACK_SOURCE = "call-progress-events"
EVENT_STATUS = {"initiated": "initiated", "ringing": "ringing", "answered": "in-progress"}
ALL_CALL_EVENTS = frozenset({"initiated", "ringing", "answered", "completed"})
DEFAULT_EVENTS = frozenset({"completed"})
"""What Twilio sends when a request lists no StatusCallbackEvent."""

Post = Callable[[str, str, dict[str, str]], None]


def requested_events(raw: object) -> frozenset[str]:
    """The events a request asks for: a list (REST) or a space-separated string (TwiML);
    only `completed` when it names none Twilio knows."""
    if raw is None or raw == "":
        return DEFAULT_EVENTS
    events = raw if isinstance(raw, list) else str(raw).replace(",", " ").split()
    return frozenset(str(e) for e in events) & ALL_CALL_EVENTS or DEFAULT_EVENTS


@dataclass
class StatusNotifier:
    """Sends a leg's chosen status events to its status callback URL, with SequenceNumber."""

    url: str
    post: Post
    clock: Clock
    events: frozenset[str] = DEFAULT_EVENTS
    method: str = "POST"
    out_of_order: bool = False
    _sequence: int = 0
    _held: list[dict[str, str]] = field(default_factory=list)

    def notify(self, call: Call, event: str) -> None:
        """Report `event` (initiated, ringing, answered, completed) if it was asked for."""
        if event in self.events:
            params = self._params(call, event)
            if not self.out_of_order:
                self.post(self.url, self.method, params)
                return
            self._held.append(params)
        if event == "completed":
            self._flush_reversed()

    def _params(self, call: Call, event: str) -> dict[str, str]:
        params = call.params()
        params["CallStatus"] = EVENT_STATUS.get(event, call.status)
        params["Timestamp"] = rfc2822(self.clock.now()) or ""
        params["CallbackSource"] = CALLBACK_SOURCE
        params["SequenceNumber"] = str(self._sequence)
        self._sequence += 1
        if event == "completed":
            params["CallDuration"] = str(call.duration)
            params["Duration"] = str((call.duration + 59) // 60)
        return params

    def _flush_reversed(self) -> None:
        held, self._held = self._held, []
        for params in reversed(held):
            self.post(self.url, self.method, params)
