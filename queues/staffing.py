"""Who could answer a waiting caller, counted at most once per `TTL_S` for each bucket.

Every hold announcement asks it: is anyone logged in who can ever answer me (if not, the
caller is only asked to stay on the line), and how many are staffed and free (the wait
range). A big queue's answerers are hundreds of agents, and reading each one's state for
every announcement was most of the hold loop's cost with 2,000 callers on hold
(docs/benchmarks.md, "Capacity"). Each process keeps the count for `TTL_S` per queue,
step and language, so what a caller is told lags an agent's change by at most that.
Routing itself never reads these counts: offers always see the agents' live state.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from ivr.core.clock import Clock
from queues.agent import AVAILABLE, BREAK, OFFLINE, AgentState
from queues.ewt import Servers
from queues.layout import Layout

TTL_S = 1.0
"""How long one count of a bucket's answerers is used before it is read again."""

Key = tuple[str, int, str]
"""A caller's queue, escalation step and language ("" for none)."""
Read = Callable[[list[str]], Awaitable[dict[str, AgentState]]]
"""Reads the named agents' live states (`Router._states`)."""


@dataclass(frozen=True)
class Staffing:
    """The agents who can answer one caller now or after escalation, counted by state."""

    answerers: int
    logged_in: int
    """Not offline (on break counts: they come back)."""
    staffed: int
    """Logged in and not on break."""
    idle: int
    """Available and listed for offers."""

    @classmethod
    def of(cls, states: dict[str, AgentState]) -> Staffing:
        logged_in = [s for s in states.values() if s.state != OFFLINE]
        staffed = [s for s in logged_in if s.state != BREAK]
        idle = [s for s in staffed if s.state == AVAILABLE and not s.held]
        return cls(len(states), len(logged_in), len(staffed), len(idle))

    @property
    def servers(self) -> Servers:
        """As the wait-time model takes them (`queues.ewt`)."""
        return Servers(staffed=self.staffed, idle=self.idle)


class StaffingCache:
    """Counts per bucket, each kept `ttl_s` (by `clock`) and dropped when the layout changes."""

    def __init__(self, clock: Clock, ttl_s: float = TTL_S) -> None:
        self.clock = clock
        self.ttl_s = ttl_s
        self._layout: Layout | None = None
        self._counts: dict[Key, tuple[float, Staffing]] = {}

    async def get(
        self,
        layout: Layout,
        key: Key,
        read: Callable[[list[str]], Awaitable[dict[str, AgentState]]],
    ) -> Staffing:
        """The count for `key`, from `read` (the answerers' states) when none is fresh."""
        if layout is not self._layout:
            self._layout, self._counts = layout, {}
        now = self.clock.now()
        kept = self._counts.get(key)
        if kept is not None and now - kept[0] < self.ttl_s:
            return kept[1]
        queue, step, language = key
        names = sorted(layout.answerers(queue, step, language or None))
        staffing = Staffing.of(await read(names))
        self._counts[key] = (now, staffing)
        return staffing
