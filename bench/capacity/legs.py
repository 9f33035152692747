"""Call legs and conferences as Twilio keeps them, and the calls' JSON of its REST API."""

from __future__ import annotations

import asyncio
import itertools
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, field

from bench.capacity.defaults import ACCOUNT

Interrupt = tuple[str, object]
"""What ended a wait: ("bridged", agent leg), ("redirect", url), ("hangup"|"gone"|"ended", None)."""


@dataclass
class Leg:
    """One phone call leg as Twilio keeps it."""

    sid: str
    from_: str
    to: str
    direction: str = "inbound"
    status_callback: str = ""
    interrupt: asyncio.Future[Interrupt] | None = None
    queue: str = ""
    queue_sid: str = ""
    enqueued_at: float = 0.0
    hung_up: bool = False
    answered_at: float = 0.0
    last: str = ""
    """The last TwiML document the leg got."""

    def form(self, status: str = "in-progress", **extra: str) -> dict[str, str]:
        """The parameters Twilio posts with every webhook of this leg."""
        form = {
            "AccountSid": ACCOUNT,
            "ApiVersion": "2010-04-01",
            "CallSid": self.sid,
            "CallStatus": status,
            "Direction": self.direction,
            "From": self.from_,
            "To": self.to,
            "Caller": self.from_,
            "Called": self.to,
        }
        form.update(extra)
        return form

    def interrupt_with(self, kind: str, value: object = None) -> None:
        """End the leg's current wait, unless something already did."""
        if self.interrupt is not None and not self.interrupt.done():
            self.interrupt.set_result((kind, value))


@dataclass
class Conf:
    """A conference as Twilio keeps it: its members (leg, label, endConferenceOnExit)."""

    name: str
    sid: str
    noun: ET.Element
    members: dict[str, tuple[Leg, str, bool]] = field(default_factory=dict)
    seq: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    talking: bool = False


def call_json(leg: Leg, status: str) -> dict[str, str]:
    """A call resource as the REST API returns it."""
    return {
        "sid": leg.sid,
        "account_sid": ACCOUNT,
        "to": leg.to,
        "from": leg.from_,
        "status": status,
        "direction": leg.direction,
    }
