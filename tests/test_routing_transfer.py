"""Transfers in routing against a real Valkey: cold to a queue, to a named agent and to a
number, warm (consult, then complete or cancel), their events, and their races."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import redis.asyncio as aioredis

from ivr.core.clock import ManualClock
from ivr.core.errors import InvalidTransition, RoutingError, TransferRefused, UnknownQueue
from queues.events import EventType
from queues.invariants import problems, snapshot
from queues.router import Router
from tests.test_routing import (  # noqa: F401 (fixtures)
    KEYS,
    Setup,
    events,
    fixture_anyio_backend,
    fixture_aredis,
    fixture_clock,
    fixture_setup,
)

pytestmark = pytest.mark.anyio

QUEUES: dict[str, Any] = {
    "billing": {"required_skills": {"billing": 1}, "wrap_up_s": 30},
    "support": {"required_skills": {"support": 1}, "wrap_up_s": 0, "priority": 0},
}
AGENTS: dict[str, Any] = {
    "ann": {"billing": 1, "en": 1},
    "bob": {"support": 1, "en": 1},
    "cy": {"support": 1, "billing": 1, "fr": 1},
}


async def connected(router: Router, sid: str, queue: str, agent: str, **enter: Any) -> None:
    """`agent` (alone available) takes `sid` from `queue`."""
    await router.set_available(agent)
    entry = await router.enter(sid, queue, **enter)
    assert entry.reservation is not None and entry.reservation.agent == agent
    await router.accept(entry.reservation.id, agent)


async def healthy(aredis: aioredis.Redis, router: Router) -> None:
    """Every routing invariant holds."""
    layout = await router.layout()
    assert problems(await snapshot(aredis, layout), layout) == []


async def state(router: Router, agent: str) -> str:
    return (await router.agent_state(agent)).state


# -- cold, to a queue ----------------------------------------------------------------


async def test_transfer_to_queue_keeps_arrival_and_priority(
    setup: Setup, aredis: aioredis.Redis, clock: ManualClock
) -> None:
    """A caller moved from billing to support goes ahead of a support caller who queued
    after them at the same priority, and the agent who moved them wraps up."""
    router = await setup(QUEUES, AGENTS)
    first = clock.now()
    await connected(router, "c1", "billing", "ann", priority=3, language="en")
    clock.advance(5)
    await router.enter("c2", "support", priority=3)
    clock.advance(60)
    moved = await router.transfer_to_queue("c1", "ann", "support")
    assert (moved.status, moved.queue, moved.position) == ("queued", "support", 1)
    assert await state(router, "ann") == "wrap_up"
    assert [p.call_sid for p in await router.queue_snapshot("support")] == ["c1", "c2"]
    call = await router.call("c1")
    assert call is not None
    assert (call.queue, call.state, call.priority, call.transfers) == ("support", "waiting", 3, 1)
    await healthy(aredis, router)
    (offer,) = await router.set_available("bob")
    assert offer.call_sid == "c1"
    await router.accept(offer.id, "bob")
    (transfer,) = await events(aredis, EventType.TRANSFER)
    assert {k: transfer[k] for k in ("call", "agent", "queue", "kind", "target", "warm")} == {
        "call": "c1",
        "agent": "ann",
        "queue": "billing",
        "kind": "queue",
        "target": "support",
        "warm": "0",
    }
    assert transfer["talk_ms"] == "65000"
    entries = await events(aredis, EventType.ENTERQUEUE)
    assert [(e["call"], e["queue"], e.get("transfer")) for e in entries] == [
        ("c1", "billing", None),
        ("c2", "support", None),
        ("c1", "support", "1"),
    ]
    assert entries[-1]["wait_ms"] == str(int((clock.now() - first) * 1000))
    connects = await events(aredis, EventType.CONNECT)
    assert [(c["agent"], c.get("transfer")) for c in connects] == [("ann", None), ("bob", "1")]
    assert connects[-1]["original_wait_ms"] == "65000"
    assert await events(aredis, EventType.ABANDON) == []
    assert await events(aredis, EventType.COMPLETEAGENT) == []


async def test_transfer_to_queue_offers_at_once_but_not_back(
    setup: Setup, aredis: aioredis.Redis
) -> None:
    """A call put back into its own queue rings another available agent at once, never the
    agent who transferred it (even with no wrap-up)."""
    queues = {"support": {"required_skills": {"support": 1}, "wrap_up_s": 0}}
    router = await setup(queues, AGENTS)
    await connected(router, "c1", "support", "bob")
    await router.set_available("cy")
    moved = await router.transfer_to_queue("c1", "bob", "support")
    assert moved.status == "offered"
    assert [(o.call_sid, o.agent) for o in moved.offers] == [("c1", "cy")]
    assert await state(router, "bob") == "available"
    await healthy(aredis, router)


@pytest.mark.parametrize(
    ("queues", "target", "error", "message"),
    [
        pytest.param(
            {"support": {"required_skills": {"support": 1}, "max_size": 1}},
            "support",
            TransferRefused,
            "queue support is full",
            id="full",
        ),
        pytest.param(
            {"support": {"required_skills": {"support": 1}, "when_no_agents": "divert"}},
            "support",
            TransferRefused,
            "nobody is taking calls in queue support",
            id="nobody-staffed",
        ),
        pytest.param(
            {"support": {"required_skills": {"support": 1, "fr": 1}}},
            "support",
            TransferRefused,
            "queue support has no agents speaking en",
            id="no-agent-for-language",
        ),
        pytest.param({}, "sales", UnknownQueue, "sales", id="unknown-queue"),
    ],
)
async def test_transfer_to_queue_refused(
    setup: Setup,
    aredis: aioredis.Redis,
    queues: dict[str, Any],
    target: str,
    error: type[Exception],
    message: str,
) -> None:
    """A transfer the target queue cannot take is refused with a reason, and the caller
    stays with their agent."""
    agents = AGENTS | {"dee": {"support": 1, "fr": 1}}
    router = await setup({"billing": QUEUES["billing"], **queues}, agents)
    await connected(router, "c1", "billing", "ann", language="en")
    if "max_size" in queues.get("support", {}):
        await router.enter("c2", "support")
    with pytest.raises(error, match=message):
        await router.transfer_to_queue("c1", "ann", target)
    call = await router.call("c1")
    assert call is not None and (call.state, call.agent) == ("connected", "ann")
    assert await events(aredis, EventType.TRANSFER) == []


async def test_only_the_connected_agent_can_transfer(setup: Setup) -> None:
    """Another agent, or a call not connected, cannot be transferred."""
    router = await setup(QUEUES, AGENTS)
    await router.enter("c0", "billing")
    with pytest.raises(RoutingError, match="not connected to ann"):
        await router.transfer_to_queue("c0", "ann", "support")
    await router.hangup("c0")
    await connected(router, "c1", "billing", "ann")
    with pytest.raises(RoutingError, match="not connected to cy"):
        await router.transfer_to_queue("c1", "cy", "support")


# -- cold, to an agent ---------------------------------------------------------------


async def test_transfer_to_available_agent_rings_them_at_once(
    setup: Setup, aredis: aioredis.Redis
) -> None:
    """A call transferred to an available agent by name rings them, whatever their queues."""
    router = await setup(QUEUES, AGENTS)
    await connected(router, "c1", "billing", "ann")
    await router.set_available("bob")
    moved = await router.transfer_to_agent("c1", "ann", "bob")
    assert moved.status == "offered"
    assert [(o.call_sid, o.agent) for o in moved.offers] == [("c1", "bob")]
    await healthy(aredis, router)
    await router.accept(moved.offers[0].id, "bob")
    call = await router.call("c1")
    assert call is not None and (call.agent, call.queue, call.pinned) == ("bob", "billing", "")
    (transfer,) = await events(aredis, EventType.TRANSFER)
    assert (transfer["kind"], transfer["target"]) == ("agent", "bob")


async def test_pinned_call_waits_for_its_agent_before_the_queue(
    setup: Setup, aredis: aioredis.Redis, clock: ManualClock
) -> None:
    """A call transferred to a busy agent waits for them only, and is theirs before any
    older call of their queue once they are free."""
    router = await setup(QUEUES, AGENTS)
    await connected(router, "s1", "support", "bob")
    await router.enter("s2", "support", priority=9)
    await router.enter("s3", "support", priority=9)
    await connected(router, "c1", "billing", "ann")
    moved = await router.transfer_to_agent("c1", "ann", "bob")
    assert (moved.status, moved.offers) == ("queued", [])
    call = await router.call("c1")
    assert call is not None and (call.state, call.pinned) == ("waiting", "bob")
    assert (await router.position("c1")) is not None
    await router.set_available("cy")  # serves billing, but the call waits for bob
    assert await state(router, "cy") == "reserved"
    assert (await router.agent_state("cy")).call_sid == "s2"
    await healthy(aredis, router)
    (offer,) = await router.complete("s1")  # support has no wrap-up
    assert (offer.call_sid, offer.agent) == ("c1", "bob")
    await healthy(aredis, router)


async def test_pinned_call_falls_back_to_its_queue_after_the_timeout(
    setup: Setup, aredis: aioredis.Redis, clock: ManualClock
) -> None:
    """Not taken by its agent within transfer_agent_timeout_s, the call goes back to its
    queue at its original place and rings an available agent of that queue."""
    queues = {**QUEUES, "billing": QUEUES["billing"] | {"transfer_agent_timeout_s": 20}}
    router = await setup(queues, AGENTS)
    await connected(router, "s1", "support", "bob")
    await connected(router, "c1", "billing", "ann")
    clock.advance(1)
    await router.enter("c2", "billing")
    moved = await router.transfer_to_agent("c1", "ann", "bob")
    assert moved.status == "queued"
    clock.advance(19)
    await router.run_due()
    call = await router.call("c1")
    assert call is not None and call.pinned == "bob"
    clock.advance(1)
    await router.run_due()
    assert [p.call_sid for p in await router.queue_snapshot("billing")] == ["c1", "c2"]
    (offer,) = await router.set_available("cy")
    assert offer.call_sid == "c1"  # back in billing, ahead of c2 who queued after it
    call = await router.call("c1")
    assert call is not None and call.pinned == ""
    await healthy(aredis, router)


async def test_pinned_timeout_offers_to_an_available_queue_agent(
    setup: Setup, aredis: aioredis.Redis, clock: ManualClock
) -> None:
    """The fall-back itself offers the call to the queue's available agent."""
    router = await setup(QUEUES, AGENTS)
    await connected(router, "s1", "support", "bob")
    await connected(router, "c1", "billing", "ann")
    await router.transfer_to_agent("c1", "ann", "bob")
    await router.set_available("cy")
    clock.advance(60)
    fired = await router.run_due()
    assert [(o.call_sid, o.agent) for o in fired.offers] == [("c1", "cy")]
    await healthy(aredis, router)


async def test_pinned_offer_let_go_falls_back(setup: Setup, aredis: aioredis.Redis) -> None:
    """An agent who declines a call transferred to them sends it back to its queue."""
    router = await setup(QUEUES, AGENTS)
    await connected(router, "c1", "billing", "ann")
    await router.set_available("bob")
    moved = await router.transfer_to_agent("c1", "ann", "bob")
    offers = await router.reject(moved.offers[0].id, "bob")
    assert offers == []
    call = await router.call("c1")
    assert call is not None and (call.state, call.pinned, call.queue) == ("waiting", "", "billing")
    (offer,) = await router.set_available("cy")
    assert offer.call_sid == "c1"
    await healthy(aredis, router)


@pytest.mark.parametrize(
    ("target", "message"),
    [
        pytest.param("dee", "dee is not logged in", id="offline"),
        pytest.param("cy", "cy does not speak en", id="language"),
        pytest.param("ann", "you cannot transfer a call to yourself", id="self"),
    ],
)
async def test_transfer_to_agent_refused(
    setup: Setup, aredis: aioredis.Redis, target: str, message: str
) -> None:
    """A transfer to an agent who is not logged in, does not speak the caller's language,
    or is the agent themself is refused with a reason; the call stays connected."""
    router = await setup(QUEUES, AGENTS | {"dee": {"billing": 1, "en": 1}})
    await router.set_available("cy")
    await router.set_break("cy")
    await connected(router, "c1", "billing", "ann", language="en")
    with pytest.raises(TransferRefused, match=message):
        await router.transfer_to_agent("c1", "ann", target)
    call = await router.call("c1")
    assert call is not None and call.state == "connected"
    assert await events(aredis, EventType.TRANSFER) == []


async def test_caller_hangs_up_while_pinned(
    setup: Setup, aredis: aioredis.Redis, clock: ManualClock
) -> None:
    """A caller who hangs up while waiting for the agent they were transferred to leaves
    no trace: the agent, once free, is not offered them; ABANDON says it was transferred."""
    router = await setup(QUEUES, AGENTS)
    await connected(router, "s1", "support", "bob")
    await connected(router, "c1", "billing", "ann")
    await router.transfer_to_agent("c1", "ann", "bob")
    assert await router.hangup("c1") == "abandoned"
    (abandon,) = await events(aredis, EventType.ABANDON)
    assert abandon.get("transfer") == "1"
    assert await router.complete("s1") == []
    assert await state(router, "bob") == "available"
    clock.advance(60)
    await router.run_due()
    await healthy(aredis, router)


# -- cold, to a number ---------------------------------------------------------------


async def test_transfer_to_number_leaves_routing_handled(
    setup: Setup, aredis: aioredis.Redis, clock: ManualClock
) -> None:
    """A call transferred out to a number leaves routing, handled by its agent."""
    router = await setup(QUEUES, AGENTS)
    await connected(router, "c1", "billing", "ann")
    clock.advance(42)
    assert await router.transfer_to_number("c1", "ann", "+441632960001") == []
    assert await router.call("c1") is None
    assert await state(router, "ann") == "wrap_up"
    (transfer,) = await events(aredis, EventType.TRANSFER)
    assert (transfer["kind"], transfer["target"], transfer["talk_ms"]) == (
        "number",
        "+441632960001",
        "42000",
    )
    await healthy(aredis, router)


# -- warm ----------------------------------------------------------------------------


async def test_consulted_agent_gets_no_offer(setup: Setup, aredis: aioredis.Redis) -> None:
    """The agent consulted is out of routing while consulted: no offer, no break."""
    router = await setup(QUEUES, AGENTS)
    await connected(router, "c1", "billing", "ann")
    await router.set_available("bob")
    await router.consult_start("c1", "ann", "bob")
    bob = await router.agent_state("bob")
    assert (bob.state, bob.reason, bob.call_sid) == ("on_call", "consult", "c1")
    call = await router.call("c1")
    assert call is not None and (call.agent, call.consult) == ("ann", "bob")
    entry = await router.enter("s1", "support")
    assert entry.status == "queued"
    with pytest.raises(InvalidTransition):
        await router.set_break("bob")
    await healthy(aredis, router)


async def test_consult_cancel_frees_the_target(
    setup: Setup, aredis: aioredis.Redis, clock: ManualClock
) -> None:
    """Cancelled, the consulted agent is free (and takes a waiting call); the customer
    stays with the first agent."""
    router = await setup(QUEUES, AGENTS)
    await connected(router, "c1", "billing", "ann")
    await router.set_available("bob")
    await router.consult_start("c1", "ann", "bob")
    await router.enter("s1", "support")
    clock.advance(7)
    (offer,) = await router.consult_cancel("c1", "ann")
    assert (offer.call_sid, offer.agent) == ("s1", "bob")
    call = await router.call("c1")
    assert call is not None and (call.agent, call.consult, call.state) == ("ann", "", "connected")
    (consult,) = await events(aredis, EventType.CONSULT)
    assert consult == consult | {
        "call": "c1",
        "agent": "ann",
        "target": "bob",
        "outcome": "cancelled",
        "consult_ms": "7000",
    }
    assert await events(aredis, EventType.TRANSFER) == []
    await healthy(aredis, router)


async def test_consult_complete_hands_the_call_over(
    setup: Setup, aredis: aioredis.Redis, clock: ManualClock
) -> None:
    """Completed, the consulted agent has the call and the first agent wraps up; the first
    agent's leg can no longer end it."""
    router = await setup(QUEUES, AGENTS)
    await connected(router, "c1", "billing", "ann")
    before = await router.call("c1")
    clock.advance(30)
    await router.set_available("bob")
    conn = await router.consult_start("c1", "ann", "bob")
    clock.advance(10)
    assert await router.consult_complete("c1", "ann") == []
    call = await router.call("c1")
    assert call is not None and before is not None
    assert (call.agent, call.consult, call.transfers) == ("bob", "", 1)
    assert call.connection == conn != before.connection
    assert await state(router, "ann") == "wrap_up"
    bob = await router.agent_state("bob")
    assert (bob.state, bob.reason, bob.call_sid) == ("on_call", "", "c1")
    (consult,) = await events(aredis, EventType.CONSULT)
    assert (consult["outcome"], consult["consult_ms"]) == ("completed", "10000")
    (transfer,) = await events(aredis, EventType.TRANSFER)
    assert (transfer["kind"], transfer["target"], transfer["warm"]) == ("agent", "bob", "1")
    assert transfer["talk_ms"] == "40000"
    connect = (await events(aredis, EventType.CONNECT))[-1]
    assert (connect["agent"], connect["transfer"], connect["warm"]) == ("bob", "1", "1")
    with pytest.raises(RoutingError, match="no longer connected to ann"):
        await router.complete("c1", agent="ann")
    clock.advance(5)
    await router.complete("c1", agent="bob")
    (done,) = await events(aredis, EventType.COMPLETEAGENT)
    assert (done["agent"], done["talk_ms"], done["transfer"]) == ("bob", "5000", "1")
    await healthy(aredis, router)


@pytest.mark.parametrize(
    ("prepare", "message"),
    [
        pytest.param("offline", "bob is not logged in", id="offline"),
        pytest.param("busy", "bob is busy", id="busy"),
    ],
)
async def test_consult_refused(setup: Setup, prepare: str, message: str) -> None:
    """Only an available agent can be consulted."""
    router = await setup(QUEUES, AGENTS)
    if prepare == "busy":
        await connected(router, "s1", "support", "bob")
    await connected(router, "c1", "billing", "ann")
    with pytest.raises(TransferRefused, match=message):
        await router.consult_start("c1", "ann", "bob")


async def test_no_cold_transfer_while_consulting(setup: Setup) -> None:
    """A consultation under way must be completed or cancelled before a cold transfer."""
    router = await setup(QUEUES, AGENTS)
    await connected(router, "c1", "billing", "ann")
    await router.set_available("bob")
    await router.consult_start("c1", "ann", "bob")
    with pytest.raises(TransferRefused, match="consultation"):
        await router.transfer_to_queue("c1", "ann", "support")
    await router.consult_cancel("c1", "ann")
    with pytest.raises(RoutingError, match="not in a consultation"):
        await router.consult_cancel("c1", "ann")


async def test_caller_hangs_up_while_consulting(
    setup: Setup, aredis: aioredis.Redis, clock: ManualClock
) -> None:
    """The caller hanging up during a consultation ends it: the consulted agent is free
    again within a timer pass."""
    router = await setup(QUEUES, AGENTS)
    await connected(router, "c1", "billing", "ann")
    await router.set_available("bob")
    await router.consult_start("c1", "ann", "bob")
    await router.enter("s1", "support")
    assert await router.hangup("c1") == "completed"
    (consult,) = await events(aredis, EventType.CONSULT)
    assert consult["outcome"] == "cancelled"
    clock.advance(0.01)
    fired = await router.run_due()
    assert [(o.call_sid, o.agent) for o in fired.offers] == [("s1", "bob")]
    await healthy(aredis, router)


# -- races ---------------------------------------------------------------------------


async def test_two_transfers_at_once_one_wins(setup: Setup, aredis: aioredis.Redis) -> None:
    """Two transfers of one call at once: exactly one happens, the other is refused."""
    router = await setup(QUEUES, AGENTS)
    await connected(router, "c1", "billing", "ann")
    await router.set_available("bob")
    results = await asyncio.gather(
        router.transfer_to_queue("c1", "ann", "support"),
        router.transfer_to_agent("c1", "ann", "bob"),
        router.transfer_to_number("c1", "ann", "+441632960001"),
        return_exceptions=True,
    )
    assert sum(not isinstance(r, Exception) for r in results) == 1
    assert all(isinstance(r, RoutingError) for r in results if isinstance(r, Exception))
    assert len(await events(aredis, EventType.TRANSFER)) == 1
    await healthy(aredis, router)


@pytest.mark.parametrize("kind", ["queue", "agent", "number"])
async def test_transfer_races_the_caller_hanging_up(
    setup: Setup, aredis: aioredis.Redis, kind: str
) -> None:
    """A transfer and the caller's hang-up at once: the call ends once, nothing is left
    waiting, and nobody is left reserved or on a call."""
    router = await setup(QUEUES, AGENTS)
    await connected(router, "s1", "support", "bob")
    await connected(router, "c1", "billing", "ann")
    moves: dict[str, Callable[[], Awaitable[object]]] = {
        "queue": lambda: router.transfer_to_queue("c1", "ann", "support"),
        "agent": lambda: router.transfer_to_agent("c1", "ann", "bob"),
        "number": lambda: router.transfer_to_number("c1", "ann", "+441632960001"),
    }
    _, hung = await asyncio.gather(moves[kind](), router.hangup("c1"), return_exceptions=True)
    assert await router.call("c1") is None
    assert hung in ("completed", "abandoned", "unknown")
    ends = [
        e
        for t in (EventType.COMPLETECALLER, EventType.ABANDON, EventType.TRANSFER)
        for e in await events(aredis, t)
    ]
    assert 1 <= len(ends) <= 2  # a transfer then an abandon, or one end alone
    assert await state(router, "ann") == "wrap_up"
    await healthy(aredis, router)


async def test_two_consults_of_one_agent_at_once(setup: Setup, aredis: aioredis.Redis) -> None:
    """Two agents consulting the same agent at once: one gets them, the other is told
    they are busy; the consulted agent is never on two calls."""
    router = await setup(QUEUES, AGENTS)
    await connected(router, "c1", "billing", "ann")
    await connected(router, "s1", "support", "cy")
    await router.set_available("bob")
    results = await asyncio.gather(
        router.consult_start("c1", "ann", "bob"),
        router.consult_start("s1", "cy", "bob"),
        return_exceptions=True,
    )
    refused = [r for r in results if isinstance(r, Exception)]
    assert len(refused) == 1 and isinstance(refused[0], TransferRefused)
    await healthy(aredis, router)


async def test_transfer_to_agent_races_their_login_offer(
    setup: Setup, aredis: aioredis.Redis
) -> None:
    """An agent coming available while a call is transferred to them gets one call only:
    the transferred one (pinned first) or the queue's, never both."""
    router = await setup(QUEUES, AGENTS)
    await connected(router, "c1", "billing", "ann")
    await router.set_available("bob")
    await router.set_break("bob")  # logged in, on break: the transfer waits for him
    await router.enter("s1", "support")
    results = await asyncio.gather(
        router.transfer_to_agent("c1", "ann", "bob"), router.set_available("bob")
    )
    assert isinstance(results[0].status, str)
    bob = await router.agent_state("bob")
    assert bob.state == "reserved"
    await healthy(aredis, router)
