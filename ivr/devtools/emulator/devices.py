"""Simulated phones and Voice SDK clients that outbound calls ring."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from ivr.core.errors import EmulatorError
from ivr.devtools.emulator.calls import Call, Utterance

AUTO_POLICIES = frozenset({"answer", "reject", "busy", "no-answer", "machine", "fail"})
REJECT_STATUS = "busy"
"""A declined call ends `busy`, the status Twilio gives a SIP 603 Decline."""


class Switch(Protocol):
    """What a device needs from the emulator."""

    def answer(self, call: Call, answered_by: str = "human") -> None: ...

    def refuse(self, call: Call, status: str) -> None: ...

    def settle(self) -> None: ...


@dataclass(eq=False)
class Device:
    """A phone (`+6012...`) or client (`client:alice`): rings, answers, talks, hangs up."""

    address: str
    switch: Switch
    auto: str | None = None
    answer_after: float = 0.0
    unreachable: bool = False
    """REST `calls.create` to this address is refused (400, 21214), as Twilio refuses a
    destination it cannot route; `<Dial>` is not affected."""
    calls: list[Call] = field(default_factory=list)

    @property
    def ringing(self) -> Call | None:
        """The call being offered right now, if any."""
        return next((c for c in self.calls if c.status == "ringing"), None)

    @property
    def call(self) -> Call | None:
        """The call this device is on (answered and not ended), if any."""
        return next((c for c in reversed(self.calls) if c.status == "in-progress"), None)

    def apply_auto(self, call: Call) -> None:
        """Act on an offered call the way the `auto` policy says."""
        if call.status != "ringing" or self.auto in (None, "no-answer"):
            return
        if self.auto in ("answer", "machine"):
            self.switch.answer(call, "human" if self.auto == "answer" else "machine_start")
        elif self.auto == "fail":  # e.g. a softphone that is not registered
            self.switch.refuse(call, "failed")
        else:
            self.switch.refuse(call, REJECT_STATUS if self.auto == "reject" else "busy")

    def answer(self) -> Call:
        """Pick up the ringing call and return it."""
        call = self._ringing()
        self.switch.answer(call, "human")
        self.switch.settle()
        return call

    def reject(self) -> None:
        """Decline the ringing call."""
        self.switch.refuse(self._ringing(), REJECT_STATUS)
        self.switch.settle()

    def busy(self) -> None:
        """Answer the ringing call with a busy signal."""
        self.switch.refuse(self._ringing(), "busy")
        self.switch.settle()

    def hangup(self) -> None:
        """Hang up the current call (declining it if it is still ringing)."""
        if self.call is None and self.ringing is not None:
            self.reject()
            return
        self._current().hangup()

    def press(self, digits: str) -> None:
        self._current().press(digits)

    def say(self, text: str, confidence: float = 0.9) -> None:
        self._current().say(text, confidence)

    def hears(self, text: str) -> Utterance:
        """Assert the latest call on this device heard `text` (see Call.hears)."""
        if not self.calls:
            raise EmulatorError(f"{self.address} has had no calls")
        return self.calls[-1].hears(text)

    def _ringing(self) -> Call:
        call = self.ringing
        if call is None:
            raise EmulatorError(f"{self.address} is not ringing")
        return call

    def _current(self) -> Call:
        call = self.call
        if call is None:
            raise EmulatorError(f"{self.address} is not on a call")
        return call
