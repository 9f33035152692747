"""Agent-choice strategies over many calls, against a real Valkey: shares, runs, windows."""

from __future__ import annotations

import math
from collections import Counter

import pytest

from ivr.core.clock import ManualClock
from queues.router import Router
from tests.test_routing import (  # noqa: F401 (fixtures)
    Setup,
    fixture_anyio_backend,
    fixture_aredis,
    fixture_clock,
    fixture_setup,
)

pytestmark = pytest.mark.anyio
DAY_S = 86_400
RANDOM_CALLS = 400
RANDOM_AGENTS = ("a1", "a2", "a3", "a4")
LONGEST_SKIP = 60
"""No idle agent may be passed over this many calls in a row under `random`: with four
agents a given run has probability 0.75**60 (3e-8), so the check never flakes."""


async def serve(router: Router, clock: ManualClock, sid: str, talk_s: float) -> str:
    """Call `sid` enters queue q, is answered at once, talks `talk_s`; returns the agent."""
    entry = await router.enter(sid, "q")
    assert entry.reservation is not None, f"{sid} was not offered at once"
    agent = entry.reservation.agent
    await router.accept(entry.reservation.id, agent)
    clock.advance(talk_s)
    await router.complete(sid)
    return agent


def longest_skip(winners: list[str], agent: str) -> int:
    """The most calls in a row that went to someone other than `agent`."""
    longest = run = 0
    for winner in winners:
        run = 0 if winner == agent else run + 1
        longest = max(longest, run)
    return longest


# -- random -----------------------------------------------------------------------------


async def test_random_shares_calls_evenly_among_idle_agents(
    setup: Setup, clock: ManualClock
) -> None:
    """Under `random`, 400 calls to four always-idle agents split binomially, with no long skips."""
    queues = {"q": {"required_skills": {"x": 1}, "strategy": "random", "wrap_up_s": 0}}
    router = await setup(queues, {name: {"skills": {"x": 1}} for name in RANDOM_AGENTS})
    for name in RANDOM_AGENTS:
        await router.set_available(name)
    winners = [await serve(router, clock, f"c{i}", 1) for i in range(RANDOM_CALLS)]
    shares = Counter(winners)
    p = 1 / len(RANDOM_AGENTS)
    mean = RANDOM_CALLS * p
    band = 4 * math.sqrt(RANDOM_CALLS * p * (1 - p))
    for name in RANDOM_AGENTS:
        assert abs(shares[name] - mean) <= band, (name, dict(shares))
        assert longest_skip(winners, name) <= LONGEST_SKIP, (name, dict(shares))


async def test_random_gives_a_rejected_call_to_another_agent(
    setup: Setup, clock: ManualClock
) -> None:
    """Under `random`, a call an agent rejects goes to another idle agent, never back to them."""
    queues = {"q": {"required_skills": {"x": 1}, "strategy": "random", "wrap_up_s": 0}}
    agents = {name: {"skills": {"x": 1}, "reject_delay_s": 0} for name in ("a", "b", "c")}
    router = await setup(queues, agents)
    for name in agents:
        await router.set_available(name)
    for i in range(30):
        entry = await router.enter(f"c{i}", "q")
        assert entry.reservation is not None
        first = entry.reservation.agent
        (offer,) = await router.reject(entry.reservation.id, first)
        assert offer.agent != first
        await router.accept(offer.id, offer.agent)
        clock.advance(1)
        await router.complete(f"c{i}")


async def test_random_offers_only_listed_agents(setup: Setup, clock: ManualClock) -> None:
    """Under `random`, an agent on a call or on break is never offered a call."""
    queues = {"q": {"required_skills": {"x": 1}, "strategy": "random", "wrap_up_s": 0}}
    router = await setup(queues, {name: {"skills": {"x": 1}} for name in ("a", "b", "c")})
    for name in ("a", "b", "c"):
        await router.set_available(name)
    await router.set_break("c")
    first = await router.enter("busy", "q")
    assert first.reservation is not None
    await router.accept(first.reservation.id, first.reservation.agent)
    other = ({"a", "b"} - {first.reservation.agent}).pop()
    for i in range(20):
        assert await serve(router, clock, f"c{i}", 1) == other


# -- fewest calls, least talk time -------------------------------------------------------


@pytest.mark.parametrize(
    "strategy",
    [
        pytest.param("fewest_calls", id="fewest-calls"),
        pytest.param("least_talk_time", id="least-talk-time"),
    ],
)
async def test_counts_start_at_each_login(setup: Setup, clock: ManualClock, strategy: str) -> None:
    """Yesterday's 20 calls do not leave a veteran idle today: counts run from each login."""
    queues = {"q": {"required_skills": {"x": 1}, "strategy": strategy, "wrap_up_s": 0}}
    router = await setup(queues, {"vet": {"skills": {"x": 1}}, "new": {"skills": {"x": 1}}})
    await router.set_available("vet")
    for i in range(20):
        assert await serve(router, clock, f"y{i}", 60) == "vet"
    await router.set_offline("vet")
    clock.advance(DAY_S)
    await router.set_available("vet")
    await router.set_available("new")
    assert (await router.agent_state("vet")).calls == 0
    today = Counter([await serve(router, clock, f"t{i}", 60) for i in range(20)])
    assert today == {"vet": 10, "new": 10}


async def test_a_break_keeps_the_counts(setup: Setup, clock: ManualClock) -> None:
    """A break is not a logout: calls taken before it still count under `fewest_calls`."""
    queues = {"q": {"required_skills": {"x": 1}, "strategy": "fewest_calls", "wrap_up_s": 0}}
    router = await setup(queues, {"ann": {"skills": {"x": 1}}, "bob": {"skills": {"x": 1}}})
    await router.set_available("ann")
    for i in range(3):
        await serve(router, clock, f"m{i}", 60)
    await router.set_break("ann", "lunch")
    clock.advance(3600)
    await router.set_available("ann")
    await router.set_available("bob")
    assert (await router.agent_state("ann")).calls == 3
    winners = [await serve(router, clock, f"a{i}", 60) for i in range(3)]
    assert winners == ["bob", "bob", "bob"]
