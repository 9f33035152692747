"""Due timers: ring timeouts, hold-backs, wrap-up ends, escalation steps, max waits,
callers nobody logged in can answer, pending connections never confirmed, cool-downs of
unreachable devices, and calls transferred to an agent who did not take them in time.

Timers are members `kind:id` of one sorted set scored by due time in ms. Any
number of processes may run `run_timers`: each firing script claims its timer
(ZREM, or a state check) in the same atomic step as its effect, so exactly one
process acts on it. The loop sleeps until the next due timer, at most
`TIMER_POLL_S`, so a timer fires well within 250 ms of its due time.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, Protocol

from ivr.core.clock import Clock

RING = "ring"
"""A reservation's ring timeout (`ring:<reservation id>`)."""
HOLD = "hold"
"""The end of an agent's hold-back after a reject, busy or no-answer (`hold:<agent>`)."""
WRAP = "wrap"
"""The end of an agent's wrap-up (`wrap:<agent>`)."""
ESCALATE = "esc"
"""A call's next escalation step (`esc:<call sid>`)."""
MAX_WAIT = "wait"
"""A call's maximum wait (`wait:<call sid>`)."""
NO_AGENTS = "empty"
"""A waiting call no logged-in agent can ever answer (`empty:<call sid>`): leave when empty."""
BACK = "back"
"""The end of the cool-down of an agent's "device unreachable" break (`back:<agent>`)."""
CONNECT = "connect"
"""A pending connection (a console accept) not yet confirmed or put back (`connect:<call sid>`)."""
PIN = "pin"
"""A call transferred to a named agent falls back to its queue (`pin:<call sid>`)."""

TIMER_POLL_S = 0.1
"""The longest the timer loop sleeps before looking again."""
TIMER_BATCH = 200
"""How many due timers one pass reads."""
TIMER_MIN_PAUSE_S = 0.005
"""A floor on the pause, so a timer that cannot fire yet does not spin the loop."""


def parse(member: str) -> tuple[str, str]:
    """Split a timer member into its kind and id."""
    kind, _, ident = member.partition(":")
    return kind, ident


class Firing(Protocol):
    """What fires timers: `queues.router.Router`."""

    async def run_due(self, now: float) -> Any: ...

    async def next_due(self) -> float | None: ...


async def run_timers(router: Firing, stop: asyncio.Event, clock: Clock) -> None:
    """Fire due timers until `stop` is set; safe to run in many processes at once."""
    while not stop.is_set():
        await router.run_due(clock.now())
        next_due = await router.next_due()
        pause = TIMER_POLL_S
        if next_due is not None:
            pause = min(TIMER_POLL_S, max(TIMER_MIN_PAUSE_S, next_due - clock.now()))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=pause)
