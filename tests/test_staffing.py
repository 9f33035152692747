"""Counts of who could answer a waiting caller, kept for a second (`queues.staffing`)."""

from __future__ import annotations

import asyncio

from ivr.config.queues import AgentConfig, QueueConfig
from ivr.core.clock import ManualClock
from ivr.core.keys import Keys
from queues.agent import AgentState
from queues.ewt import Servers
from queues.layout import Layout
from queues.staffing import TTL_S, Staffing, StaffingCache


def layout() -> Layout:
    agents = {n: AgentConfig(name=n, device=f"client:{n}", skills={"billing": 1}) for n in "ab"}
    return Layout(Keys("t"), {"billing": QueueConfig(required_skills={"billing": 1})}, agents)


class States:
    """The agents' live states, and how often they were read."""

    def __init__(self, **states: str) -> None:
        self.states = states
        self.reads: list[list[str]] = []

    async def read(self, names: list[str]) -> dict[str, AgentState]:
        self.reads.append(names)
        return {n: AgentState(n, self.states.get(n, "offline")) for n in names}


def test_staffing_counts_logged_in_staffed_and_idle_agents() -> None:
    """On break counts as logged in but not staffed; only listed available agents are idle."""
    states = {
        "a": AgentState("a", "on_call"),
        "b": AgentState("b", "available"),
        "c": AgentState("c", "break"),
        "d": AgentState("d", "offline"),
        "e": AgentState("e", "wrap_up"),
        "f": AgentState("f", "available", held=True),
    }
    staffing = Staffing.of(states)
    assert staffing == Staffing(answerers=6, logged_in=5, staffed=4, idle=1)
    assert staffing.servers == Servers(staffed=4, idle=1)


def test_a_count_is_reused_within_a_second_and_read_again_after() -> None:
    """Callers fetching their hold loop together cost one read of the agents a second."""
    clock, states, shape = ManualClock(), States(a="available"), layout()
    cache = StaffingCache(clock)
    key = ("billing", 0, "")

    first = asyncio.run(cache.get(shape, key, states.read))
    states.states["b"] = "available"
    clock.advance(TTL_S / 2)
    again = asyncio.run(cache.get(shape, key, states.read))
    clock.advance(TTL_S / 2)
    later = asyncio.run(cache.get(shape, key, states.read))

    assert (first.idle, again.idle, later.idle) == (1, 1, 2)
    assert states.reads == [["a", "b"], ["a", "b"]]


def test_a_reloaded_layout_is_counted_afresh() -> None:
    """After a config reload the count is read again at once, not a second later."""
    clock, states = ManualClock(), States(a="available")
    cache = StaffingCache(clock)
    key = ("billing", 0, "")
    asyncio.run(cache.get(layout(), key, states.read))
    asyncio.run(cache.get(layout(), key, states.read))
    assert len(states.reads) == 2
