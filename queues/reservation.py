"""Offers: a call and an agent reserved for each other until the ring timeout."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ivr.config.queues import OverflowAction


@dataclass(frozen=True)
class Reservation:
    """An offer to ring `device` for `call_sid`; the web layer dials it."""

    id: str
    call_sid: str
    agent: str
    queue: str
    device: str
    expires_at: float
    data: str = ""

    @classmethod
    def from_offer(cls, offer: dict[str, Any]) -> Reservation:
        """Build from one entry of a script's `offers`."""
        return cls(
            id=offer["id"],
            call_sid=offer["call"],
            agent=offer["agent"],
            queue=offer["queue"],
            device=offer["device"],
            expires_at=offer["expires"] / 1000,
            data=offer["data"],
        )


@dataclass(frozen=True)
class Offer:
    """An offer still pending as routing holds it: ringing `agent` until `expires_at`
    (`Router.offer`); gone once it is accepted, declined or timed out."""

    id: str
    call_sid: str
    agent: str
    queue: str
    offered_at: float
    expires_at: float

    @classmethod
    def from_stored(cls, reservation_id: str, raw: dict[str, Any]) -> Offer:
        """Build from the JSON the scripts store in `Keys.routing_reservations`."""
        return cls(
            id=reservation_id,
            call_sid=raw["call"],
            agent=raw["agent"],
            queue=raw["queue"],
            offered_at=raw["created"] / 1000,
            expires_at=raw["expires"] / 1000,
        )


@dataclass(frozen=True)
class Takeover:
    """The routing entry of a waiting call, for a script that takes it over in one step:
    KEYS (calls hash, queue's calls, the call's waiting bucket, timers) and the step and
    language it was read at (`Router.takeover`)."""

    keys: list[str]
    step: int
    language: str


@dataclass(frozen=True)
class Connection:
    """An accepted offer: the call is connected to the agent."""

    call_sid: str
    agent: str
    queue: str
    wait_s: float
    ring_s: float


@dataclass(frozen=True)
class Entry:
    """What happened when a call asked to join a queue."""

    status: str  # offered | queued | full | no_agents
    queue: str
    position: int = 0
    reservation: Reservation | None = None
    action: OverflowAction | None = None


@dataclass(frozen=True)
class Transfer:
    """A connected call transferred cold (`Router.transfer_to_queue`, `transfer_to_agent`):
    `offered` (ringing its next agent: the first offer), `queued` (waiting; for an agent
    transfer, waiting for that agent), or `left` (to a number: out of routing). `offers`
    are every offer the step made (the next agent's, and any call the agent who transferred
    took at once with no wrap-up), for the web layer to ring."""

    status: str
    queue: str
    position: int = 0
    offers: list[Reservation] = field(default_factory=list)


@dataclass(frozen=True)
class Departure:
    """A call that left routing: `abandoned`, `completed` or `unknown`, and any offers made."""

    status: str
    offers: list[Reservation] = field(default_factory=list)


@dataclass(frozen=True)
class Exit:
    """A call that left its queue on a timer, with the overflow action to carry out."""

    call_sid: str
    queue: str
    action: OverflowAction
    entry: Entry | None = None  # set when the action moved the call into another queue


@dataclass
class Fired:
    """What one `run_due` pass did: new offers to dial, rings to stop, calls to redirect."""

    timers: int = 0
    offers: list[Reservation] = field(default_factory=list)
    expired: list[str] = field(default_factory=list)
    """Reservations whose ring timed out: the web layer hangs up those agents' phones."""
    exits: list[Exit] = field(default_factory=list)
    requeued: list[str] = field(default_factory=list)
    """Calls put back because their pending connection was never confirmed (the process
    that was to ring the agent's device died): a callback among them goes back to queued."""
    lost: dict[str, str] = field(default_factory=dict)
    """Of those calls, the connection (reservation accepted) each lost: its agent's leg may
    wait alone in the call's conference, and the web layer takes it out."""
