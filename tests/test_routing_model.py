"""The router against a simple in-memory model, driven by hypothesis."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from ivr.config.queues import AgentConfig, QueueConfig
from ivr.core.clock import ManualClock
from ivr.core.errors import RoutingError
from ivr.core.keys import Keys
from ivr.core.store import async_client
from queues.invariants import problems, snapshot
from queues.queue import pack_score
from queues.router import PENDING_CONNECT_TIMEOUT_S, Router

KEYS = Keys("model")
AGENTS = ("a", "b", "c")
START = 1_790_000_000


@dataclass
class Model:
    """The reference: one queue, longest-idle, no delays, no wrap-up, no ring timeouts."""

    now: int = START
    state: dict[str, str] = field(default_factory=lambda: dict.fromkeys(AGENTS, "offline"))
    idle: dict[str, int] = field(default_factory=lambda: dict.fromkeys(AGENTS, 0))
    holding: dict[str, str] = field(default_factory=dict)  # agent -> call (reserved/on call)
    queued: dict[str, tuple[int, str]] = field(default_factory=dict)  # call -> (score, sid)
    connected: set[str] = field(default_factory=set)

    def waiting(self) -> list[str]:
        ringing = {c for a, c in self.holding.items() if self.state[a] == "reserved"}
        return sorted((s for s in self.queued if s not in ringing), key=self.queued.__getitem__)

    def free(self, exclude: str = "") -> list[str]:
        ready = [a for a in AGENTS if self.state[a] == "available" and a != exclude]
        return sorted(ready, key=lambda a: (self.idle[a], a))

    def reserve(self, agent: str, call: str) -> None:
        self.state[agent], self.holding[agent] = "reserved", call

    def take(self, agent: str) -> None:
        if self.state[agent] == "available" and self.waiting():
            self.reserve(agent, self.waiting()[0])

    def enter(self, sid: str, priority: int) -> None:
        self.queued[sid] = (pack_score(priority, self.now * 1000), sid)
        if self.free():
            self.reserve(self.free()[0], sid)

    def release(self, agent: str) -> None:
        call = self.holding.pop(agent)
        self.state[agent] = "available"
        if self.free(exclude=agent):
            self.reserve(self.free(exclude=agent)[0], call)
        self.take(agent)

    def unreachable(self, agent: str) -> None:
        """Accepted, but the device could not be rung: the call goes back, the agent on break."""
        call = self.holding.pop(agent)
        self.state[agent] = "break"
        if self.free():
            self.reserve(self.free()[0], call)

    def finish(self, agent: str) -> None:
        self.connected.discard(self.holding.pop(agent))
        self.state[agent], self.idle[agent] = "available", self.now
        self.take(agent)


class RoutingMachine(RuleBasedStateMachine):
    """Random agent and caller actions; the router must match the model after each."""

    url = ""

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.redis = async_client(self.url)
        self.clock = ManualClock(START)
        self.router = Router(self.redis, KEYS, self.clock)
        self.model = Model()
        self.calls = 0
        queue = QueueConfig(required_skills={"x": 1}, wrap_up_s=0, ring_timeout_s=3600)
        agents = {
            a: AgentConfig(name=a, device=f"client:{a}", skills={"x": 1}, reject_delay_s=0)
            for a in AGENTS
        }
        self.run(self.redis.flushdb())
        self.run(self.router.sync_config({"q": queue}, agents))

    def run(self, work: Any) -> Any:
        return self.loop.run_until_complete(work)

    def tick(self) -> None:
        self.clock.advance(1)
        self.model.now += 1

    def teardown(self) -> None:
        self.run(self.redis.aclose())
        self.loop.close()

    @rule(priority=st.sampled_from([0, 0, 3]))
    def enter(self, priority: int) -> None:
        self.tick()
        self.calls += 1
        sid = f"c{self.calls}"
        self.run(self.router.enter(sid, "q", priority))
        self.model.enter(sid, priority)

    @rule(agent=st.sampled_from(AGENTS))
    def available(self, agent: str) -> None:
        self.tick()
        try:
            self.run(self.router.set_available(agent))
        except RoutingError:
            assert self.model.state[agent] in ("reserved", "on_call")
            return
        if self.model.state[agent] in ("offline", "break"):
            self.model.state[agent], self.model.idle[agent] = "available", self.model.now
            self.model.take(agent)

    @rule(agent=st.sampled_from(AGENTS))
    def take_break(self, agent: str) -> None:
        self.tick()
        try:
            self.run(self.router.set_break(agent))
        except RoutingError:
            assert self.model.state[agent] in ("reserved", "on_call")
            return
        self.model.state[agent] = "break"

    @rule(agent=st.sampled_from(AGENTS), accept=st.booleans())
    def answer(self, agent: str, accept: bool) -> None:
        self.tick()
        state = self.run(self.router.agent_state(agent))
        if state.state != "reserved":
            return
        if accept:
            self.run(self.router.accept(state.reservation, agent))
            self.model.state[agent] = "on_call"
            self.model.connected.add(self.model.holding[agent])
            del self.model.queued[self.model.holding[agent]]
        else:
            self.run(self.router.reject(state.reservation, agent))
            self.model.release(agent)

    @rule(agent=st.sampled_from(AGENTS))
    def device_unreachable(self, agent: str) -> None:
        self.tick()
        state = self.run(self.router.agent_state(agent))
        if state.state != "reserved":
            return
        self.run(self.router.accept(state.reservation, agent, pending=True))
        self.run(self.router.requeue(state.call_sid, agent))
        self.model.unreachable(agent)

    @rule(agent=st.sampled_from(AGENTS))
    def connect_lost(self, agent: str) -> None:
        """Accepted in the console, then the process died: the timer puts the call back."""
        self.tick()
        state = self.run(self.router.agent_state(agent))
        if state.state != "reserved":
            return
        self.run(self.router.accept(state.reservation, agent, pending=True))
        self.clock.advance(PENDING_CONNECT_TIMEOUT_S)
        self.model.now += PENDING_CONNECT_TIMEOUT_S
        assert self.run(self.router.run_due()).requeued == [state.call_sid]
        assert not self.run(self.router.confirm(state.call_sid, agent))
        self.model.unreachable(agent)

    @rule(agent=st.sampled_from(AGENTS))
    def complete(self, agent: str) -> None:
        self.tick()
        if self.model.state[agent] == "on_call":
            self.run(self.router.complete(self.model.holding[agent]))
            self.model.finish(agent)

    @rule(pick=st.integers(min_value=0, max_value=50))
    def hangup(self, pick: int) -> None:
        self.tick()
        live = sorted(self.model.queued) + sorted(self.model.connected)
        if not live:
            return
        sid = live[pick % len(live)]
        self.run(self.router.hangup(sid))
        holder = next((a for a, c in self.model.holding.items() if c == sid), None)
        self.model.queued.pop(sid, None)
        if holder is None:
            return
        if self.model.state[holder] == "on_call":
            self.model.finish(holder)
        else:
            del self.model.holding[holder]
            self.model.state[holder] = "available"
            self.model.take(holder)

    @invariant()
    def matches_model(self) -> None:
        for agent in AGENTS:
            state = self.run(self.router.agent_state(agent))
            assert state.state == self.model.state[agent], agent
            assert state.call_sid == self.model.holding.get(agent, ""), agent
        snapshot_order = [p.call_sid for p in self.run(self.router.queue_snapshot("q"))]
        assert snapshot_order == sorted(self.model.queued, key=self.model.queued.__getitem__)
        layout = self.run(self.router.layout())
        assert problems(self.run(snapshot(self.redis, layout)), layout) == []


def test_router_matches_reference_model(redis_url: str, r: object) -> None:
    """Any sequence of caller and agent actions leaves the router in the model's state."""
    RoutingMachine.url = redis_url
    run_state_machine_as_test(
        RoutingMachine,
        settings=settings(max_examples=40, stateful_step_count=30, deadline=None),
    )


pytestmark = pytest.mark.filterwarnings("error")
