"""Calls in a queue: their order, and where one stands.

Calls are ordered by priority (higher first), then by original enqueue time
(earlier first), then by call sid. Both are packed into one sorted-set score,
`(PRIORITY_MAX - priority) * 10**13 + original_ms`, exact in a double until the
year 2286, so the head of a sorted set is always the next call to serve. A call
keeps its score for as long as it is in the queue, whatever happens to it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ivr.config.queues import PRIORITY_MAX
from ivr.core.errors import RoutingError

PRIORITY_SPAN = 10**13
"""Milliseconds per priority level in the packed score (more than any Unix time in ms)."""


def pack_score(priority: int, original_ms: int) -> int:
    """The sorted-set score of a call: smaller is served first."""
    if not 0 <= priority <= PRIORITY_MAX:
        raise RoutingError(f"priority {priority} is outside 0..{PRIORITY_MAX}")
    return (PRIORITY_MAX - priority) * PRIORITY_SPAN + original_ms


@dataclass(frozen=True)
class Position:
    """One call's place in its queue (1 is next)."""

    call_sid: str
    queue: str
    position: int
    state: str
    priority: int
    waited_s: float


@dataclass(frozen=True)
class RoutedCall:
    """A call as routing holds it, waiting, ringing or connected (`Router.call`)."""

    call_sid: str
    queue: str
    state: str
    """waiting | ringing | connected"""
    language: str = ""
    step: int = 0
    priority: int = 0
    agent: str = ""
    """The agent it rings or is connected to ("" while waiting)."""
    reservation: str = ""
    """The offer ringing an agent now ("" when none)."""
    connection: str = ""
    """The offer last accepted for it ("" before any)."""
    connected_at: float | None = None
    """When it was connected (Unix seconds); None when it is not."""
    pending: bool = False
    """Accepted, but the agent's device is not yet rung (`Router.confirm` or `requeue`)."""
    bridging: bool = False
    """Confirmed and being bridged (`Router.put_back` with `bridging` can still undo it)."""
    consult: str = ""
    """The agent consulted about the call (warm transfer under way), "" when none."""
    pinned: str = ""
    """The agent a call transferred by name waits for (or rings), "" when none."""
    transfers: int = 0
    """How many times the call was transferred (cold or warm)."""

    @classmethod
    def from_stored(cls, call_sid: str, raw: dict[str, Any]) -> RoutedCall:
        """Build from the JSON the scripts store in `Keys.routing_calls`."""
        connected = raw.get("connected")
        return cls(
            call_sid=call_sid,
            queue=raw["queue"],
            state=raw["state"],
            language=raw.get("lang") or "",
            step=int(raw.get("step") or 0),
            priority=int(raw.get("prio") or 0),
            agent=raw.get("agent") or "",
            reservation=raw.get("res") or "",
            connection=raw.get("conn") or "",
            connected_at=None if connected is None else float(connected) / 1000,
            pending=bool(raw.get("pending")),
            bridging=bool(raw.get("bridging")),
            consult=(raw.get("consult") or {}).get("agent", ""),
            pinned=raw.get("pin") or "",
            transfers=int(raw.get("xfer") or 0),
        )
