"""An agent's runtime state, as the routing scripts keep it.

States and the moves an agent may ask for (anything else is `InvalidTransition`):

    offline ──available──▶ available ◀──ready / wrap-up end── wrap_up
    available ──offer──▶ reserved ──accept──▶ on_call ──complete──▶ wrap_up
    on_call (pending, device not reachable) ──requeue──▶ break "device unreachable"
    on_call (pending, never confirmed) ──connect timer──▶ break "connection lost"
    reserved ──reject / busy / ring timeout──▶ available (held back) or break "missed calls"
    offline, available, wrap_up, break ──break──▶ break ──available──▶ available
    offline, available, wrap_up, break ──offline──▶ offline

A held-back agent is `available` but not yet listed for offers (`held` is true).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

OFFLINE = "offline"
AVAILABLE = "available"
RESERVED = "reserved"
ON_CALL = "on_call"
WRAP_UP = "wrap_up"
BREAK = "break"
STATES = (OFFLINE, AVAILABLE, RESERVED, ON_CALL, WRAP_UP, BREAK)
MISSED_CALLS = "missed calls"
"""The break reason given after `max_no_answer` consecutive no-answers."""
DEVICE_UNREACHABLE = "device unreachable"
"""The break reason given when an accepted call could not ring the agent's device."""
CONNECTION_LOST = "connection lost"
"""The break reason given when an accepted call was never put through to the agent's
device because the service died in between (the device itself may be fine)."""


@dataclass(frozen=True)
class AgentState:
    """Where an agent is now, with the counters the strategies use (`calls`, `talk_s`:
    since the agent's login; a break keeps them)."""

    agent: str
    state: str
    reason: str = ""
    held: bool = False
    since: float = 0.0
    idle_since: float = 0.0
    calls: int = 0
    talk_s: float = 0.0
    missed: int = 0
    call_sid: str = ""
    reservation: str = ""

    @classmethod
    def from_stored(cls, agent: str, raw: dict[str, Any] | None) -> AgentState:
        """Build from the JSON the scripts store (None: never logged in)."""
        if raw is None:
            return cls(agent=agent, state=OFFLINE)
        return cls(
            agent=agent,
            state=raw["state"],
            reason=raw["reason"],
            held=raw["state"] == AVAILABLE and raw["listed"] != 1,
            since=raw["since"] / 1000,
            idle_since=raw["idle"] / 1000,
            calls=int(raw["calls"]),
            talk_s=raw["talk"] / 1000,
            missed=int(raw["missed"]),
            call_sid=raw["call"],
            reservation=raw["res"],
        )
