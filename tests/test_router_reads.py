"""The router's read API for the rest of the service (calls, offers, agents, wrap-up,
staffing, take-over), against a real Valkey: what routing holds, without its keys."""

from __future__ import annotations

import pytest

from ivr.core.clock import ManualClock
from tests.test_routing import (  # noqa: F401 (fixtures)
    BILLING,
    KEYS,
    Setup,
    fixture_anyio_backend,
    fixture_aredis,
    fixture_clock,
    fixture_setup,
)

pytestmark = pytest.mark.anyio
ANN_MS = {"ann": {"billing": 1, "ms": 3}}


async def test_call_is_none_when_routing_has_no_such_call(setup: Setup) -> None:
    """A call routing never saw, or that left, reads as None."""
    router = await setup(BILLING, ANN_MS)
    assert await router.call("nope") is None
    await router.enter("c1", "billing")
    await router.hangup("c1")
    assert await router.call("c1") is None


async def test_call_follows_waiting_ringing_connected(setup: Setup, clock: ManualClock) -> None:
    """A call reads as waiting, then ringing an agent, then connected to them."""
    router = await setup(BILLING, ANN_MS)
    await router.enter("c1", "billing", priority=4, language="ms")
    waiting = await router.call("c1")
    assert waiting is not None
    assert (waiting.queue, waiting.state, waiting.language, waiting.priority) == (
        "billing",
        "waiting",
        "ms",
        4,
    )
    assert (waiting.agent, waiting.reservation, waiting.connected_at) == ("", "", None)
    (offer,) = await router.set_available("ann")
    ringing = await router.call("c1")
    assert ringing is not None
    assert (ringing.state, ringing.agent, ringing.reservation) == ("ringing", "ann", offer.id)
    clock.advance(3)
    await router.accept(offer.id, "ann")
    connected = await router.call("c1")
    assert connected is not None
    assert (connected.state, connected.agent, connected.connection) == (
        "connected",
        "ann",
        offer.id,
    )
    assert connected.connected_at == clock.now()
    assert not connected.pending and not connected.bridging


async def test_call_shows_pending_then_bridging(setup: Setup) -> None:
    """A console accept reads as pending until confirmed, then as bridging."""
    router = await setup(BILLING, ANN_MS)
    await router.set_available("ann")
    entry = await router.enter("c1", "billing")
    assert entry.reservation is not None
    await router.accept(entry.reservation.id, "ann", pending=True)
    pending = await router.call("c1")
    assert pending is not None and pending.pending and not pending.bridging
    assert await router.confirm("c1", "ann")
    bridging = await router.call("c1")
    assert bridging is not None and bridging.bridging and not bridging.pending


async def test_offer_while_ringing_only(setup: Setup, clock: ManualClock) -> None:
    """An offer reads with its call, agent, queue and ring deadline until it is accepted."""
    router = await setup(BILLING, ANN_MS)
    await router.set_available("ann")
    entry = await router.enter("c1", "billing")
    assert entry.reservation is not None
    offer = await router.offer(entry.reservation.id)
    assert offer is not None
    assert (offer.call_sid, offer.agent, offer.queue) == ("c1", "ann", "billing")
    assert offer.offered_at == clock.now()
    assert offer.expires_at == clock.now() + 15  # the default ring timeout
    await router.accept(offer.id, "ann")
    assert await router.offer(offer.id) is None
    assert await router.offer("unknown") is None


async def test_agent_states_of_several_agents(setup: Setup) -> None:
    """Each agent's state in one read; one never logged in, or unknown, is offline."""
    router = await setup(BILLING, {**ANN_MS, "bob": {"billing": 1}})
    await router.set_available("ann")
    await router.enter("c1", "billing")
    states = await router.agent_states(["ann", "bob", "ghost"])
    assert {a: s.state for a, s in states.items()} == {
        "ann": "reserved",
        "bob": "offline",
        "ghost": "offline",
    }
    assert states["ann"].call_sid == "c1"
    assert await router.agent_states([]) == {}


async def test_wrap_end_while_wrapping_up(setup: Setup, clock: ManualClock) -> None:
    """The wrap-up's end reads as the queue's wrap_up_s after the call, and None after it."""
    router = await setup({"billing": {"wrap_up_s": 10}}, {"ann": {"x": 1}})
    assert await router.wrap_end("ann") is None
    await router.set_available("ann")
    entry = await router.enter("c1", "billing")
    assert entry.reservation is not None
    await router.accept(entry.reservation.id, "ann")
    clock.advance(30)
    await router.complete("c1")
    assert await router.wrap_end("ann") == clock.now() + 10
    await router.set_ready("ann")
    assert await router.wrap_end("ann") is None


async def test_staffed_counts_logged_in_agents_not_on_break(setup: Setup) -> None:
    """Staffing counts the queue's agents logged in and not on break."""
    router = await setup(BILLING, {**ANN_MS, "bob": {"billing": 1}, "cy": {"other": 1}})
    assert await router.staffed("billing") == 0
    for agent in ("ann", "bob", "cy"):
        await router.set_available(agent)
    assert await router.staffed("billing") == 2
    await router.set_break("bob")
    assert await router.staffed("billing") == 1


async def test_calls_held_and_their_bytes(setup: Setup) -> None:
    """The calls routing holds are counted, and their store footprint grows with them."""
    router = await setup(BILLING, ANN_MS)
    assert await router.calls_held() == 0
    await router.enter("c1", "billing")
    one = await router.calls_bytes()
    for n in range(2, 40):
        await router.enter(f"c{n}", "billing")
    assert await router.calls_held() == 39
    assert 0 < one < await router.calls_bytes()


async def test_takeover_names_the_entry_of_a_waiting_call(setup: Setup, clock: ManualClock) -> None:
    """A take-over names the call's keys in routing, and the step and language read."""
    router = await setup(
        {"billing": {"escalation": [{"after_s": 5, "required_skills": {"billing": 1}}]}},
        ANN_MS,
    )
    assert await router.takeover("nope") is None
    await router.enter("c1", "billing", language="ms")
    first = await router.takeover("c1")
    assert first is not None
    assert (first.step, first.language) == (0, "ms")
    layout = await router.layout()
    waiting = layout.waiting_key(layout.call_bucket("billing", 0, "ms"))
    assert first.keys == [
        KEYS.routing_calls(),
        KEYS.queue_calls("billing"),
        waiting,
        KEYS.routing_timers(),
    ]
    clock.advance(6)
    await router.run_due()
    later = await router.takeover("c1")
    assert later is not None and later.step == 1
    assert later.keys[2] == layout.waiting_key(layout.call_bucket("billing", 1, "ms"))
