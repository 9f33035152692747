"""The routing engine against a real Valkey: order, strategies, escalation, offers, limits."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import redis.asyncio as aioredis

from ivr.config.queues import AgentConfig, QueueConfig
from ivr.core.clock import ManualClock
from ivr.core.errors import (
    InvalidTransition,
    ReservationError,
    RoutingError,
    UnknownQueue,
    UnknownSkill,
)
from ivr.core.keys import Keys
from ivr.core.store import async_client
from queues.events import EventType, read_events
from queues.invariants import problems, snapshot
from queues.router import (
    PENDING_CONNECT_TIMEOUT_S,
    Router,
    agent_record,
    parse_stored,
    queue_record,
    stored_record,
)

pytestmark = pytest.mark.anyio
KEYS = Keys("test")
Setup = Callable[..., Awaitable[Router]]


@pytest.fixture(name="anyio_backend")
def fixture_anyio_backend() -> str:
    """Run async tests on asyncio only."""
    return "asyncio"


@pytest.fixture(name="clock")
def fixture_clock() -> ManualClock:
    """A clock the test moves by hand."""
    return ManualClock(1_790_000_000.0)


@pytest.fixture(name="aredis")
async def fixture_aredis(r: Any, redis_url: str) -> AsyncIterator[aioredis.Redis]:
    """An asyncio client on the flushed test database."""
    client = async_client(redis_url)
    yield client
    await client.aclose()


@pytest.fixture(name="setup")
def fixture_setup(aredis: aioredis.Redis, clock: ManualClock) -> Setup:
    """A factory: sync queues and agents (agents given as skill maps or configs) into a Router."""

    async def make(queues: dict[str, Any], agents: dict[str, Any]) -> Router:
        router = Router(aredis, KEYS, clock)
        await router.sync_config(
            {name: QueueConfig.model_validate(q) for name, q in queues.items()},
            {name: agent_config(name, a) for name, a in agents.items()},
        )
        return router

    return make


def agent_config(name: str, spec: dict[str, Any]) -> AgentConfig:
    """An agent config from a skill map, or from a full spec with a `skills` key."""
    if "skills" in spec:
        return AgentConfig(name=name, device=f"client:{name}", **spec)
    return AgentConfig(name=name, device=f"client:{name}", skills=spec)


BILLING = {"billing": {"required_skills": {"billing": 1}}}


async def events(aredis: aioredis.Redis, kind: EventType) -> list[dict[str, str]]:
    """The fields of every event of one type, in order."""
    return [e.fields for e in await read_events(aredis, KEYS) if e.type == kind]


# -- caller order -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("calls", "expected"),
    [
        pytest.param([("a", 0, 0), ("b", 0, 1), ("c", 0, 2)], "abc", id="fifo"),
        pytest.param([("a", 0, 0), ("b", 5, 1), ("c", 0, 2)], "bac", id="priority-jumps-ahead"),
        pytest.param([("a", 1, 0), ("b", 5, 1), ("c", 9, 2)], "cba", id="all-priorities"),
        pytest.param([("a", 0, 0), ("b", 0, 1), ("c", 0, -5)], "cab", id="original-time-kept"),
        pytest.param([("a", 3, 0), ("b", 3, 1), ("c", 3, 0.5)], "acb", id="callback-between"),
        pytest.param([("a", 0, 0), ("b", 2, 1), ("c", 2, -1)], "cba", id="priority-then-time"),
    ],
)
async def test_queue_order_by_priority_then_original_time(
    setup: Setup, clock: ManualClock, calls: list[tuple[str, int, float]], expected: str
) -> None:
    """Calls are served higher priority first, then by original enqueue time."""
    router = await setup(BILLING, {"ann": {"billing": 1}})
    start = clock.now()
    for sid, priority, offset in calls:
        clock.advance(1)
        entry = await router.enter(sid, "billing", priority, original_enqueued_at=start + offset)
        assert entry.status == "queued"
    snapshot = await router.queue_snapshot("billing")
    assert "".join(p.call_sid for p in snapshot) == expected
    assert [p.position for p in snapshot] == [1, 2, 3]
    served = ""
    for _ in calls:
        (offer,) = await router.set_available("ann")
        await router.accept(offer.id, "ann")
        await router.complete(offer.call_sid)
        served += offer.call_sid
        await router.set_break("ann")
    assert served == expected


async def test_enter_offers_at_once_to_an_available_agent(setup: Setup) -> None:
    """A call entering a queue with an eligible agent available is reserved to it atomically."""
    router = await setup(BILLING, {"ann": {"billing": 2}})
    assert await router.set_available("ann") == []
    entry = await router.enter("c1", "billing")
    assert entry.status == "offered"
    assert entry.reservation is not None
    assert (entry.reservation.agent, entry.reservation.device) == ("ann", "client:ann")
    assert (await router.agent_state("ann")).state == "reserved"
    assert (await router.position("c1")) is not None


async def test_agent_takes_heavier_queue_then_priority_then_oldest(
    setup: Setup, clock: ManualClock
) -> None:
    """An agent freed takes the heavier queue's head first, then priority, then the oldest."""
    queues = {
        "light": {"required_skills": {"x": 1}},
        "heavy": {"required_skills": {"x": 1}, "weight": 5},
    }
    router = await setup(queues, {"ann": {"x": 1}})
    await router.enter("old-light", "light", 9)
    clock.advance(1)
    await router.enter("new-heavy", "heavy", 0)
    clock.advance(1)
    await router.enter("newer-heavy-urgent", "heavy", 3)
    order = []
    for _ in range(3):
        (offer,) = await router.set_available("ann")
        order.append(offer.call_sid)
        await router.reject(offer.id, "ann")
        await router.hangup(offer.call_sid)
        await router.set_break("ann")
    assert order == ["newer-heavy-urgent", "new-heavy", "old-light"]


# -- strategies ---------------------------------------------------------------------


async def _serve(router: Router, clock: ManualClock, agent: str, sid: str, talk_s: float) -> None:
    """`agent` alone takes one call, talks `talk_s` and goes on break."""
    await router.set_available(agent)
    entry = await router.enter(sid, "q")
    assert entry.reservation is not None and entry.reservation.agent == agent
    await router.accept(entry.reservation.id, agent)
    clock.advance(talk_s)
    await router.complete(sid)
    await router.set_break(agent)


@pytest.mark.parametrize(
    ("strategy", "expected"),
    [
        pytest.param("longest_idle", "ann", id="longest-idle"),
        pytest.param("round_robin", "cy", id="round-robin"),
        pytest.param("fewest_calls", "ann", id="fewest-calls-tie-on-id"),
        pytest.param("least_talk_time", "cy", id="least-talk-time"),
        pytest.param("most_skilled", "bob", id="most-skilled"),
    ],
)
async def test_strategy_choice(
    setup: Setup, clock: ManualClock, strategy: str, expected: str
) -> None:
    """Each strategy picks its documented agent from the same history."""
    queues = {"q": {"required_skills": {"x": 1}, "strategy": strategy, "wrap_up_s": 0}}
    agents = {"ann": {"x": 2}, "bob": {"x": 5}, "cy": {"x": 1}}
    router = await setup(queues, agents)
    # One call each, offered in the order cy, bob, ann, with talk times 1, 20 and 10 s;
    # then they log in again in the order ann, bob, cy.
    await _serve(router, clock, "cy", "h1", 1)
    await _serve(router, clock, "bob", "h2", 20)
    await _serve(router, clock, "ann", "h3", 10)
    for agent in ("ann", "bob", "cy"):
        clock.advance(1)
        await router.set_available(agent)
    entry = await router.enter("next", "q")
    assert entry.reservation is not None
    assert entry.reservation.agent == expected


@pytest.mark.parametrize(
    "strategy",
    [
        pytest.param("longest_idle", id="longest-idle"),
        pytest.param("round_robin", id="round-robin"),
        pytest.param("fewest_calls", id="fewest-calls"),
        pytest.param("least_talk_time", id="least-talk-time"),
        pytest.param("most_skilled", id="most-skilled"),
    ],
)
async def test_strategy_tie_breaks_on_agent_id(setup: Setup, strategy: str) -> None:
    """Agents equal on the strategy's measure are chosen by agent id."""
    queues = {"q": {"required_skills": {"x": 1}, "strategy": strategy}}
    router = await setup(queues, {"zed": {"x": 3}, "amy": {"x": 3}})
    await router.set_available("zed")
    await router.set_available("amy")
    entry = await router.enter("c", "q")
    assert entry.reservation is not None and entry.reservation.agent == "amy"


async def test_random_strategy_offers_someone_eligible(setup: Setup) -> None:
    """The random strategy still offers only an available eligible agent."""
    queues = {"q": {"required_skills": {"x": 2}, "strategy": "random"}}
    router = await setup(queues, {"a": {"x": 3}, "b": {"x": 3}, "c": {"x": 1}})
    await router.set_available("a")
    await router.set_available("b")
    await router.set_available("c")
    entry = await router.enter("call", "q")
    assert entry.reservation is not None and entry.reservation.agent in {"a", "b"}


# -- skills, languages, escalation ----------------------------------------------------


async def test_language_is_a_required_skill(setup: Setup) -> None:
    """A caller with a language waits for an agent with that language; others are not offered."""
    router = await setup(
        BILLING, {"en_only": {"billing": 5, "en": 5}, "ms": {"billing": 1, "ms": 3}}
    )
    await router.set_available("en_only")
    entry = await router.enter("c", "billing", language="ms")
    assert entry.status == "queued"
    (offer,) = await router.set_available("ms")
    assert offer.call_sid == "c"


async def test_language_not_required_when_queue_says_so(setup: Setup) -> None:
    """With language_required false, the caller's language does not restrict agents."""
    queues = {"q": {"required_skills": {"x": 1}, "language_required": False}}
    router = await setup(queues, {"a": {"x": 1}})
    await router.set_available("a")
    entry = await router.enter("c", "q", language="th")
    assert entry.reservation is not None


async def test_unknown_language_and_queue_are_refused(setup: Setup) -> None:
    """A language nobody speaks and an unknown queue are refused and change nothing."""
    router = await setup(BILLING, {"a": {"billing": 1}})
    with pytest.raises(UnknownSkill):
        await router.enter("c", "billing", language="xx")
    with pytest.raises(UnknownQueue):
        await router.enter("c", "nope")
    assert await router.queue_snapshot("billing") == []


ESCALATING = {
    "billing": {
        "required_skills": {"billing": 1},
        "escalation": [
            {"after_s": 30, "required_skills": {"billing": 4}},
            {"after_s": 60, "required_skills": {"billing": 2}},
        ],
    }
}


async def test_escalation_steps_widen_eligibility_on_time(setup: Setup, clock: ManualClock) -> None:
    """A call is offered only to billing>=4 for 30 s, then >=2 for 60 s, then to anyone."""
    router = await setup(
        ESCALATING, {"hi": {"billing": 4}, "mid": {"billing": 2}, "lo": {"billing": 1}}
    )
    await router.set_available("mid")
    await router.set_available("lo")
    assert (await router.enter("c", "billing")).status == "queued"
    clock.advance(29.9)
    assert (await router.run_due()).offers == []
    clock.advance(0.1)
    (offer,) = (await router.run_due()).offers
    assert offer.agent == "mid"
    await router.reject(offer.id, "mid")
    await router.set_break("mid")
    clock.advance(60)
    fired = await router.run_due()
    assert [o.agent for o in fired.offers] == ["lo"]


async def test_escalation_never_costs_the_caller_their_place(
    setup: Setup, clock: ManualClock
) -> None:
    """After an escalation step the call keeps its position ahead of later callers."""
    router = await setup(ESCALATING, {"lo": {"billing": 1}})
    await router.set_available("lo")
    await router.set_break("lo")  # logged in, so nobody is moved on for want of agents
    await router.enter("first", "billing")
    clock.advance(35)
    await router.run_due()  # "first" is now at step 1
    await router.enter("second", "billing", priority=0)
    assert [p.call_sid for p in await router.queue_snapshot("billing")] == ["first", "second"]
    clock.advance(60)
    await router.run_due()  # "first" reaches the any-agent step
    (offer,) = await router.set_available("lo")
    assert offer.call_sid == "first"


# -- offers -----------------------------------------------------------------------------

MULTILINGUAL = {"ann": {"billing": 1, "en": 3, "ms": 3}, "bob": {"billing": 1, "en": 3}}
"""Agents listed in several buckets of one queue: `-`, and one per skill (no languages are
declared, so every skill counts as one)."""


async def listed_in(router: Router, agent: str) -> list[str]:
    """The available sets of the agent's buckets that hold it."""
    layout = await router.layout()
    keys = [layout.available_key(b) for b in layout.agent_buckets(agent)]
    return [k for k in keys if await router.redis.zscore(k, agent) is not None]


def count_deregisters(router: Router) -> list[str]:
    """The agents the router deregisters from now on, in order."""
    seen: list[str] = []
    original = router.scripts.deregister

    async def counting(agent: str, available: list[str]) -> bool:
        seen.append(agent)
        return await original(agent, available)

    # A spy on this one router's script wrapper: mypy forbids assigning to a method.
    router.scripts.deregister = counting  # type: ignore[method-assign]
    return seen


async def test_agent_offered_through_one_bucket_leaves_all_its_available_sets(
    setup: Setup,
) -> None:
    """A call-side offer takes the agent out of every bucket it was listed in, not just one."""
    router = await setup(BILLING, MULTILINGUAL)
    await router.set_available("ann")
    assert len(await listed_in(router, "ann")) == 4
    deregistered = count_deregisters(router)
    entry = await router.enter("c", "billing", language="ms")
    assert entry.reservation is not None and entry.reservation.agent == "ann"
    assert await listed_in(router, "ann") == []
    assert deregistered == ["ann"]


async def test_agent_who_takes_a_call_on_becoming_available_is_never_listed(
    setup: Setup, aredis: aioredis.Redis
) -> None:
    """An agent-side offer needs no deregistering: the agent took the call before being listed."""
    router = await setup(BILLING, MULTILINGUAL)
    await router.enter("c", "billing", language="en")
    deregistered = count_deregisters(router)
    (offer,) = await router.set_available("bob")
    assert offer.call_sid == "c"
    assert await listed_in(router, "bob") == []
    assert deregistered == []
    assert await problems_now(router) == []


async def test_agent_ending_a_call_with_nothing_waiting_is_listed_everywhere(
    setup: Setup,
) -> None:
    """An agent freed with no eligible call waiting is listed in each of its buckets."""
    queues = {"billing": {"required_skills": {"billing": 1}, "wrap_up_s": 0}}
    router = await setup(queues, MULTILINGUAL)
    await router.enter("c", "billing", language="ms")
    (offer,) = await router.set_available("ann")
    await router.accept(offer.id, "ann")
    assert await router.complete("c") == []
    assert len(await listed_in(router, "ann")) == 4
    assert await problems_now(router) == []


async def test_entry_of_an_agent_no_longer_listed_is_skipped_and_dropped(
    setup: Setup, aredis: aioredis.Redis
) -> None:
    """An available-set entry left behind (a deregister that never ran) is never offered a call,
    and going offline no longer clears it: the next call-side decision drops it."""
    router = await setup(BILLING, MULTILINGUAL)
    await router.set_available("ann")
    layout = await router.layout()
    (ms,) = [b for b in layout.agent_buckets("ann") if b.language == "ms"]
    await router.set_offline("ann")
    await aredis.zadd(layout.available_key(ms), {"ann": 0})  # as if a deregister was lost
    entry = await router.enter("c", "billing", language="ms")
    assert entry.status == "queued"
    assert await aredis.zscore(layout.available_key(ms), "ann") is None


async def problems_now(router: Router) -> list[str]:
    """The invariants broken in the router's state right now."""
    layout = await router.layout()
    return problems(await snapshot(router.redis, layout), layout)


async def test_rejected_call_goes_to_another_agent_not_back(setup: Setup) -> None:
    """A rejected call is offered to another eligible available agent, not the one who rejected."""
    agents = {"ann": {"skills": {"billing": 1}, "reject_delay_s": 0}, "bob": {"billing": 1}}
    router = await setup(BILLING, agents)
    await router.set_available("ann")
    await router.set_available("bob")
    entry = await router.enter("c", "billing")
    assert entry.reservation is not None and entry.reservation.agent == "ann"
    (again,) = await router.reject(entry.reservation.id, "ann")
    assert again.agent == "bob"
    state = await router.agent_state("ann")
    assert (state.state, state.held) == ("available", False)
    assert [p.position for p in await router.queue_snapshot("billing")] == [1]


async def test_rejecting_agent_gets_the_call_back_only_when_alone(setup: Setup) -> None:
    """With nobody else eligible, the rejecting agent is offered the call again after its delay."""
    router = await setup(BILLING, {"ann": {"skills": {"billing": 1}, "reject_delay_s": 0}})
    await router.set_available("ann")
    entry = await router.enter("c", "billing")
    assert entry.reservation is not None
    (again,) = await router.reject(entry.reservation.id, "ann")
    assert (again.agent, again.call_sid) == ("ann", "c")


async def test_no_answer_limit_puts_agent_on_break(setup: Setup, clock: ManualClock) -> None:
    """The agent's consecutive no-answers up to max_no_answer put it on break, "missed calls"."""
    agents = {"ann": {"skills": {"billing": 1}, "max_no_answer": 2, "no_answer_delay_s": 0}}
    router = await setup(BILLING, agents)
    await router.set_available("ann")
    await router.enter("c", "billing")
    clock.advance(15)
    fired = await router.run_due()
    assert [o.agent for o in fired.offers] == ["ann"]  # alone: offered again
    assert (await router.agent_state("ann")).missed == 1
    clock.advance(15)
    fired = await router.run_due()
    assert fired.offers == []
    state = await router.agent_state("ann")
    assert (state.state, state.reason) == ("break", "missed calls")
    assert [p.position for p in await router.queue_snapshot("billing")] == [1]
    assert len(await events(router.redis, EventType.RINGNOANSWER)) == 2


@pytest.mark.parametrize(
    ("how", "field"),
    [
        pytest.param("reject", "reject_delay_s", id="reject"),
        pytest.param("busy", "busy_delay_s", id="busy"),
        pytest.param("noanswer", "no_answer_delay_s", id="no-answer"),
    ],
)
async def test_agent_is_held_back_for_its_delay(
    setup: Setup, clock: ManualClock, how: str, field: str
) -> None:
    """After a reject, busy or no-answer the agent is offered nothing until its own delay ends."""
    delays = {"reject_delay_s": 1, "busy_delay_s": 1, "no_answer_delay_s": 1, field: 7}
    router = await setup(BILLING, {"ann": {"skills": {"billing": 1}, **delays}})
    await router.set_available("ann")
    entry = await router.enter("c", "billing")
    assert entry.reservation is not None
    if how == "noanswer":
        clock.advance(15)
        await router.run_due()
    else:
        await router.reject(entry.reservation.id, "ann", busy=how == "busy")
    assert (await router.agent_state("ann")).held
    clock.advance(6.9)
    assert (await router.run_due()).offers == []
    clock.advance(0.1)
    (offer,) = (await router.run_due()).offers
    assert offer.call_sid == "c"


@pytest.mark.parametrize(
    "late", [pytest.param(True, id="after-timeout"), pytest.param(False, id="twice")]
)
async def test_late_or_double_accept_is_refused(
    setup: Setup, clock: ManualClock, late: bool
) -> None:
    """Accepting after the ring timeout, or twice, is a ReservationError and changes nothing."""
    router = await setup(BILLING, {"ann": {"billing": 1}})
    await router.set_available("ann")
    entry = await router.enter("c", "billing")
    assert entry.reservation is not None
    if late:
        clock.advance(15)
    else:
        await router.accept(entry.reservation.id, "ann")
    before = (await router.agent_state("ann"), await router.position("c"))
    count = len(await read_events(router.redis, KEYS))
    with pytest.raises(ReservationError):
        await router.accept(entry.reservation.id, "ann")
    assert (await router.agent_state("ann"), await router.position("c")) == before
    assert len(await read_events(router.redis, KEYS)) == count


async def test_reject_by_the_wrong_agent_is_refused(setup: Setup) -> None:
    """Only the agent who was offered the call may answer or reject it."""
    router = await setup(BILLING, {"ann": {"billing": 1}, "bob": {"billing": 1}})
    await router.set_available("ann")
    entry = await router.enter("c", "billing")
    assert entry.reservation is not None
    with pytest.raises(ReservationError):
        await router.reject(entry.reservation.id, "bob")
    with pytest.raises(ReservationError):
        await router.accept(entry.reservation.id, "bob")


async def test_abandon_records_positions_and_releases_ringing_agent(
    setup: Setup, clock: ManualClock
) -> None:
    """A caller hanging up while ringing frees the agent at once and logs ABANDON with positions."""
    router = await setup(BILLING, {"ann": {"billing": 1}})
    await router.enter("a", "billing")
    await router.enter("b", "billing", priority=5)
    clock.advance(4)
    (offer,) = await router.set_available("ann")
    assert offer.call_sid == "b"
    clock.advance(2)
    assert await router.hangup("a") == "abandoned"
    (abandon,) = await events(router.redis, EventType.ABANDON)
    assert (abandon["position"], abandon["original_position"], abandon["wait_ms"]) == (
        "2",
        "1",
        "6000",
    )
    assert await router.hangup("b") == "abandoned"
    state = await router.agent_state("ann")
    assert (state.state, state.held) == ("available", False)
    assert await router.queue_snapshot("billing") == []
    assert await router.hangup("b") == "unknown"


async def test_complete_wrap_up_then_ready(setup: Setup, clock: ManualClock) -> None:
    """After a call the agent wraps up for the queue's wrap_up_s, or until set_ready."""
    router = await setup({"q": {"required_skills": {"x": 1}, "wrap_up_s": 10}}, {"ann": {"x": 1}})
    await router.set_available("ann")
    entry = await router.enter("c1", "q")
    assert entry.reservation is not None
    connection = await router.accept(entry.reservation.id, "ann")
    assert connection.call_sid == "c1"
    clock.advance(30)
    await router.complete("c1")
    assert (await router.agent_state("ann")).state == "wrap_up"
    await router.enter("c2", "q")
    clock.advance(9.9)
    assert (await router.run_due()).offers == []
    clock.advance(0.1)
    (offer,) = (await router.run_due()).offers
    assert offer.call_sid == "c2"
    await router.accept(offer.id, "ann")
    await router.hangup("c2")  # the caller ends it: COMPLETECALLER
    assert (await router.agent_state("ann")).state == "wrap_up"
    await router.set_ready("ann")
    assert (await router.agent_state("ann")).state == "available"
    (done,) = await events(router.redis, EventType.COMPLETEAGENT)
    assert done["talk_ms"] == "30000"
    assert len(await events(router.redis, EventType.COMPLETECALLER)) == 1


@pytest.mark.parametrize(
    ("state", "move"),
    [
        pytest.param("reserved", "set_available", id="reserved-to-available"),
        pytest.param("reserved", "set_break", id="reserved-to-break"),
        pytest.param("on_call", "set_available", id="on-call-to-available"),
        pytest.param("on_call", "set_offline", id="on-call-to-offline"),
        pytest.param("available", "set_ready", id="available-to-ready"),
    ],
)
async def test_invalid_transitions_change_nothing(setup: Setup, state: str, move: str) -> None:
    """A move the state machine forbids raises InvalidTransition and leaves the agent as it was."""
    router = await setup(BILLING, {"ann": {"billing": 1}})
    await router.set_available("ann")
    if state != "available":
        entry = await router.enter("c", "billing")
        assert entry.reservation is not None
        if state == "on_call":
            await router.accept(entry.reservation.id, "ann")
    before = await router.agent_state("ann")
    with pytest.raises(InvalidTransition):
        await getattr(router, move)("ann")
    assert await router.agent_state("ann") == before
    assert before.state == state


# -- limits and overflow ------------------------------------------------------------------


async def test_full_queue_overflows_to_another_queue(setup: Setup) -> None:
    """A full queue answers with its action; a queue action moves the caller there."""
    queues = {
        "small": {"required_skills": {"x": 1}, "max_size": 1, "when_full": {"queue": "big"}},
        "big": {"required_skills": {"x": 1}},
        "vm": {"required_skills": {"x": 1}, "max_size": 1},
    }
    router = await setup(queues, {"a": {"x": 1}})
    assert (await router.enter("c1", "small")).status == "queued"
    entry = await router.enter("c2", "small")
    assert (entry.status, entry.queue) == ("queued", "big")
    await router.enter("c3", "vm")
    entry = await router.enter("c4", "vm")
    assert (entry.status, entry.action) == ("full", "voicemail")


async def test_max_wait_moves_caller_keeping_original_time(
    setup: Setup, clock: ManualClock
) -> None:
    """After max_wait_s the caller leaves (EXITWITHTIMEOUT) and keeps its time in the next queue."""
    queues = {
        "first": {
            "required_skills": {"x": 1},
            "max_wait_s": 60,
            "when_max_wait": {"queue": "next"},
        },
        "next": {"required_skills": {"y": 1}},
    }
    router = await setup(queues, {"a": {"y": 1}})
    await router.enter("old", "first")
    clock.advance(30)
    await router.enter("newer", "next")
    clock.advance(30)
    fired = await router.run_due()
    (exit_,) = fired.exits
    assert exit_.entry is not None and exit_.entry.queue == "next"
    assert [p.call_sid for p in await router.queue_snapshot("next")] == ["old", "newer"]
    assert len(await events(router.redis, EventType.EXITWITHTIMEOUT)) == 1


async def test_no_agents_logged_in_diverts(setup: Setup) -> None:
    """A queue with when_no_agents divert refuses callers while nobody is logged in."""
    queues = {
        "q": {
            "required_skills": {"x": 1},
            "when_no_agents": "divert",
            "no_agents_action": "callback",
        }
    }
    router = await setup(queues, {"a": {"x": 1}})
    entry = await router.enter("c1", "q")
    assert (entry.status, entry.action) == ("no_agents", "callback")
    await router.set_break("a")
    assert (await router.enter("c1", "q")).status == "no_agents"
    await router.set_available("a")
    await router.set_offline("a")
    await router.set_available("a")
    assert (await router.enter("c1", "q")).status == "offered"


# -- config changes ----------------------------------------------------------------------


async def test_removed_queue_keeps_its_waiting_calls(setup: Setup, aredis: aioredis.Redis) -> None:
    """A queue removed from config while calls wait keeps them, retired, until it empties."""
    router = await setup(BILLING | {"sales": {"required_skills": {"s": 1}}}, {"a": {"billing": 1}})
    await router.enter("c", "billing")
    await router.sync_config(
        {"sales": QueueConfig(required_skills={"s": 1})}, {"a": agent_config("a", {"billing": 1})}
    )
    with pytest.raises(UnknownQueue):
        await router.enter("d", "billing")
    (offer,) = await router.set_available("a")
    assert offer.call_sid == "c"
    await router.hangup("c")
    await router.sync_config(
        {"sales": QueueConfig(required_skills={"s": 1})}, {"a": agent_config("a", {"billing": 1})}
    )
    assert "billing" not in (await router.load()).queues


@pytest.mark.parametrize(
    "queue",
    [
        pytest.param(QueueConfig(), id="defaults"),
        pytest.param(
            QueueConfig.model_validate(
                {
                    "display_name": "Billing",
                    "required_skills": {"billing": 2},
                    "strategy": "most_skilled",
                    "escalation": [{"after_s": 30, "required_skills": {"billing": 4}}],
                    "max_size": 5,
                    "when_full": {"queue": "sales"},
                    "hold": {"messages": [{"every_s": 30, "text": {"en": "Still here"}}]},
                }
            ),
            id="customised",
        ),
    ],
)
def test_stored_queue_record_keeps_the_config_after_the_routing_fields(
    queue: QueueConfig,
) -> None:
    """A stored queue value is the scripts' record on one line and the config on the next, small
    enough to stay under the 1 KiB that makes a script's read slower."""
    raw = stored_record(queue_record(queue), queue)
    record, config = parse_stored(raw)
    assert record == queue_record(queue)
    assert QueueConfig.model_validate(config) == queue
    assert len(raw.encode()) < 1024


def test_stored_agent_record_leaves_out_the_login_secret() -> None:
    """The agent's stored config rebuilds the agent, less the hash of its login secret."""
    agent = AgentConfig(name="Ann", device="client:ann", skills={"b": 2}, secret_hash="x$y")
    raw = stored_record(agent_record(agent, {"q": 2}), agent, exclude=frozenset({"secret_hash"}))
    record, config = parse_stored(raw)
    assert record["device"] == "client:ann" and record["skill"] == {"q": 2}
    assert AgentConfig.model_validate(config) == agent.model_copy(update={"secret_hash": None})


async def test_records_stored_as_one_json_object_still_route(
    setup: Setup, aredis: aioredis.Redis
) -> None:
    """Config written before records and configs were split (one object, config inside) loads,
    and the scripts read it."""
    router = await setup(BILLING, {"ann": {"billing": 1}})
    layout = await router.layout()
    queue, agent = layout.queues["billing"], layout.agents["ann"]
    old_queue = queue_record(queue) | {"config": queue.model_dump(mode="json")}
    old_agent = agent_record(agent, {"billing": 1}) | {"config": agent.model_dump(mode="json")}
    await aredis.hset(KEYS.routing_queues(), "billing", json.dumps(old_queue))
    await aredis.hset(KEYS.routing_agent_config(), "ann", json.dumps(old_agent))
    assert (await router.load()).queues["billing"] == queue
    assert (await router.load()).agents["ann"] == agent
    await router.set_available("ann")
    entry = await router.enter("c", "billing")
    assert entry.reservation is not None and entry.reservation.device == "client:ann"


async def test_skill_removed_from_agent_stops_offers(setup: Setup) -> None:
    """An available agent who loses a queue's skill at a sync is no longer offered its calls."""
    router = await setup(BILLING, {"a": {"billing": 1}, "b": {"billing": 1}})
    await router.set_available("a")
    other = Router(router.redis, KEYS, router.clock)  # a second process, still on the old layout
    await other.load()
    await router.sync_config(
        {"billing": QueueConfig(required_skills={"billing": 1})},
        {"a": agent_config("a", {"sales": 1}), "b": agent_config("b", {"billing": 1})},
    )
    entry = await other.enter("c", "billing")
    assert entry.status == "queued"


async def test_every_change_is_logged_with_metric_fields(setup: Setup, clock: ManualClock) -> None:
    """Entering, offering and connecting write events with positions, waits and ring times."""
    router = await setup(BILLING, {"ann": {"billing": 1, "ms": 2}})
    await router.enter("c", "billing", priority=3, language="ms")
    clock.advance(5)
    (offer,) = await router.set_available("ann")
    clock.advance(2)
    await router.accept(offer.id, "ann")
    (enter,) = await events(router.redis, EventType.ENTERQUEUE)
    assert (enter["position"], enter["priority"], enter["language"]) == ("1", "3", "ms")
    (connect,) = await events(router.redis, EventType.CONNECT)
    assert (connect["wait_ms"], connect["ring_ms"], connect["agent"]) == ("7000", "2000", "ann")
    kinds = [e.type for e in await read_events(router.redis, KEYS)]
    assert kinds[-2:] == [EventType.CONNECT, EventType.AGENTSTATUS]


@pytest.mark.anyio
async def test_agents_are_listed_only_under_languages_the_config_declares(
    aredis: aioredis.Redis,
) -> None:
    """With declared languages, an agent's skills like 'billing' are not treated as languages."""
    router = Router(aredis, KEYS, ManualClock())
    queues = {"q": QueueConfig(required_skills={"billing": 1})}
    agents = {"ann": AgentConfig(name="Ann", device="client:ann", skills={"billing": 3, "ms": 4})}
    await router.sync_config(queues, agents, frozenset({"en", "ms", "th"}))
    await router.set_available("ann")
    buckets = {b.language for b in (await router.load()).agent_buckets("ann")}
    assert buckets == {"-", "ms"}
    entry = await router.enter("CA1", "q", language="ms")
    assert entry.reservation is not None and entry.reservation.agent == "ann"


# -- a device that cannot be rung ---------------------------------------------------------

TIMED = {
    "billing": {
        "required_skills": {"billing": 1},
        "max_wait_s": 600,
        "escalation": [{"after_s": 300, "required_skills": {"billing": 1}}],
    }
}


async def test_requeue_puts_the_call_back_in_its_place_for_the_next_agent(
    setup: Setup, clock: ManualClock, aredis: aioredis.Redis
) -> None:
    """An accepted call whose agent's device cannot be rung goes back with its time,
    priority and timers, is offered to the next agent, and the agent goes on break."""
    router = await setup(TIMED, {"ann": {"billing": 1}, "bob": {"billing": 1}})
    await router.enter("first", "billing", priority=5)
    clock.advance(5)
    await router.enter("peer", "billing", priority=5)
    await router.enter("later", "billing", priority=3)
    timers = await aredis.zrange(KEYS.routing_timers(), 0, -1, withscores=True)
    (offer,) = await router.set_available("ann")
    clock.advance(2)
    await router.accept(offer.id, "ann", pending=True)
    assert (offer.call_sid, await router.position("first")) == ("first", None)
    clock.advance(1)
    assert await router.requeue("first", "ann") == []  # nobody else is available yet
    order = [(p.call_sid, p.priority) for p in await router.queue_snapshot("billing")]
    assert order == [("first", 5), ("peer", 5), ("later", 3)]
    assert await aredis.zrange(KEYS.routing_timers(), 0, -1, withscores=True) == timers
    ann = await router.agent_state("ann")
    assert (ann.state, ann.reason, ann.calls) == ("break", "device unreachable", 0)
    assert await events(aredis, EventType.CONNECT) == []
    (missed,) = await events(aredis, EventType.REJECTED)
    assert (missed["agent"], missed["reason"], missed["ring_ms"]) == (
        "ann",
        "device_unreachable",
        "3000",
    )
    layout = await router.layout()
    assert problems(await snapshot(aredis, layout), layout) == []
    (again,) = await router.set_available("bob")
    assert again.call_sid == "first"
    clock.advance(1)
    await router.accept(again.id, "bob")
    (connect,) = await events(aredis, EventType.CONNECT)
    assert (connect["agent"], connect["original_wait_ms"]) == ("bob", "9000")


async def accepted_in_console(router: Router, call: str, agent: str) -> None:
    """`agent` goes available, `call` enters and is offered to them, and they accept it in
    the console: pending until the device is rung."""
    await router.set_available(agent)
    entry = await router.enter(call, "billing")
    assert entry.reservation is not None and entry.reservation.agent == agent
    await router.accept(entry.reservation.id, agent, pending=True)


async def test_requeue_offers_the_call_to_an_available_agent_at_once(setup: Setup) -> None:
    """With another eligible agent available, the call put back is offered to them at once."""
    router = await setup(BILLING, {"ann": {"billing": 2}, "bob": {"billing": 1}})
    await accepted_in_console(router, "c", "ann")
    await router.set_available("bob")
    (offer,) = await router.requeue("c", "ann")
    assert (offer.call_sid, offer.agent) == ("c", "bob")
    assert (await router.agent_state("bob")).state == "reserved"


async def test_pending_connect_is_recorded_once_when_confirmed(
    setup: Setup, clock: ManualClock
) -> None:
    """CONNECT waits for the device to be rung and is written once; then nobody can requeue it."""
    router = await setup(BILLING, {"ann": {"billing": 1}, "bob": {"billing": 1}})
    await router.set_available("ann")
    entry = await router.enter("c", "billing")
    assert entry.reservation is not None and entry.reservation.agent == "ann"
    clock.advance(2)
    await router.accept(entry.reservation.id, "ann", pending=True)
    assert (await router.agent_state("ann")).state == "on_call"
    assert await events(router.redis, EventType.CONNECT) == []
    count = len(await read_events(router.redis, KEYS))
    with pytest.raises(RoutingError):
        await router.requeue("c", "bob")
    assert len(await read_events(router.redis, KEYS)) == count
    clock.advance(1)
    assert await router.confirm("c", "ann")
    assert not await router.confirm("c", "ann")
    (connect,) = await events(router.redis, EventType.CONNECT)
    assert (connect["agent"], connect["wait_ms"], connect["ring_ms"]) == ("ann", "3000", "3000")
    with pytest.raises(RoutingError):
        await router.requeue("c", "ann")
    assert (await router.agent_state("ann")).state == "on_call"


async def test_pending_connection_never_confirmed_goes_back_in_its_place(
    setup: Setup, clock: ManualClock, aredis: aioredis.Redis
) -> None:
    """A console accept whose process died before ringing the device is put back by its
    timer: the caller keeps their place and timers, the agent goes on a break, and a late
    confirm is refused without a CONNECT."""
    router = await setup(TIMED, {"ann": {"billing": 1}, "bob": {"billing": 1}})
    await router.enter("first", "billing", priority=5)
    clock.advance(5)
    await router.enter("later", "billing", priority=5)
    timers = await aredis.zrange(KEYS.routing_timers(), 0, -1, withscores=True)
    (offer,) = await router.set_available("ann")
    clock.advance(2)
    await router.accept(offer.id, "ann", pending=True)
    clock.advance(PENDING_CONNECT_TIMEOUT_S - 1)
    assert (await router.run_due()).timers == 0
    clock.advance(1)
    fired = await router.run_due()
    assert (fired.timers, fired.requeued, fired.offers) == (1, ["first"], [])
    assert [p.call_sid for p in await router.queue_snapshot("billing")] == ["first", "later"]
    assert await aredis.zrange(KEYS.routing_timers(), 0, -1, withscores=True) == timers
    ann = await router.agent_state("ann")
    assert (ann.state, ann.reason, ann.calls) == ("break", "connection lost", 0)
    (missed,) = await events(aredis, EventType.REJECTED)
    assert (missed["agent"], missed["reason"]) == ("ann", "connect_lost")
    assert not await router.confirm("first", "ann")
    assert (await router.run_due()).timers == 0
    assert await events(aredis, EventType.CONNECT) == []
    layout = await router.layout()
    assert problems(await snapshot(aredis, layout), layout) == []
    (again,) = await router.set_available("bob")
    assert again.call_sid == "first"


async def test_pending_connection_timer_offers_the_call_to_an_available_agent(
    setup: Setup, clock: ManualClock
) -> None:
    """When the unconfirmed connection's timer fires, an available agent is offered the call."""
    router = await setup(BILLING, {"ann": {"billing": 2}, "bob": {"billing": 1}})
    await accepted_in_console(router, "c", "ann")
    await router.set_available("bob")
    clock.advance(PENDING_CONNECT_TIMEOUT_S)
    (offer,) = (await router.run_due()).offers
    assert (offer.call_sid, offer.agent) == ("c", "bob")
    assert (await router.agent_state("bob")).state == "reserved"


@pytest.mark.parametrize(
    "end",
    [
        pytest.param("confirm", id="confirmed"),
        pytest.param("hangup", id="caller-hung-up"),
        pytest.param("requeue", id="requeued"),
    ],
)
async def test_a_settled_pending_connection_is_not_put_back_later(
    setup: Setup, clock: ManualClock, aredis: aioredis.Redis, end: str
) -> None:
    """A pending connection that was confirmed, ended or requeued leaves no timer behind."""
    router = await setup(BILLING, {"ann": {"billing": 1}})
    await router.set_available("ann")
    entry = await router.enter("c", "billing")
    assert entry.reservation is not None
    await router.accept(entry.reservation.id, "ann", pending=True)
    if end == "confirm":
        assert await router.confirm("c", "ann")
    elif end == "hangup":
        assert await router.hangup("c") == "completed"
    else:
        await router.requeue("c", "ann")
    assert [m async for m in aredis.zscan_iter(KEYS.routing_timers(), match="connect:*")] == []
    clock.advance(PENDING_CONNECT_TIMEOUT_S * 3)
    await router.run_due()
    rejected = [e["reason"] for e in await events(aredis, EventType.REJECTED)]
    assert rejected == (["device_unreachable"] if end == "requeue" else [])
    assert (await router.agent_state("ann")).reason != "connection lost"


async def test_caller_hanging_up_before_the_device_rings_still_has_a_connect(
    setup: Setup,
) -> None:
    """A pending call the caller ends is completed after its CONNECT, and cannot be put back."""
    router = await setup(BILLING, {"ann": {"billing": 1}})
    await router.set_available("ann")
    entry = await router.enter("c", "billing")
    assert entry.reservation is not None
    await router.accept(entry.reservation.id, "ann", pending=True)
    assert await router.hangup("c") == "completed"
    kinds = [e.type for e in await read_events(router.redis, KEYS)]
    assert kinds[-3:-1] == [EventType.CONNECT, EventType.COMPLETECALLER]
    with pytest.raises(RoutingError):
        await router.requeue("c", "ann")
    assert not await router.confirm("c", "ann")


# -- leave when empty, relaxing the language, moving between queues -----------------------

THAI_OR_ANYONE = {
    "q": {
        "required_skills": {"x": 1},
        "language_required": False,
        "escalation": [{"after_s": 30, "language_required": True}],
    }
}


async def test_an_escalation_step_may_relax_the_language(setup: Setup, clock: ManualClock) -> None:
    """A Thai caller waits 30 s for a Thai speaker, then is offered to the English agent."""
    router = await setup(THAI_OR_ANYONE, {"en": {"x": 1, "en": 3}, "th": {"th": 3}})
    await router.set_available("en")
    assert (await router.enter("c", "q", language="th")).status == "queued"
    clock.advance(29)
    assert (await router.run_due()).offers == []
    clock.advance(2)
    (offer,) = (await router.run_due()).offers
    assert (offer.call_sid, offer.agent) == ("c", "en")


async def test_the_last_agent_logging_out_moves_the_waiting_caller_on(
    setup: Setup, clock: ManualClock, aredis: aioredis.Redis
) -> None:
    """Leave when empty: once the only agent who could answer logs out, the waiting caller
    leaves with the queue's no-agents action after `no_agents_after_s` (default 60 s)."""
    router = await setup(BILLING, {"a": {"billing": 1}})
    await router.set_available("a")
    await router.set_break("a", "lunch")
    await router.enter("c", "billing", language=None)
    clock.advance(120)
    assert (await router.run_due()).exits == [], "an agent on break is still logged in"
    await router.set_offline("a")
    clock.advance(1)
    assert (await router.run_due()).exits == []
    clock.advance(59)
    assert (await router.run_due()).exits == []
    clock.advance(1.5)
    (left,) = (await router.run_due()).exits
    assert (left.call_sid, left.queue, left.action) == ("c", "billing", "voicemail")
    (overflow,) = await events(aredis, EventType.OVERFLOW)
    assert overflow["reason"] == "no_agents"
    assert not await router.has_call("c")


async def test_a_caller_nobody_speaks_to_is_moved_on_but_one_who_returns_keeps_them(
    setup: Setup, clock: ManualClock
) -> None:
    """A Thai caller nobody logged in can answer gets the timer; a Thai agent who logs in
    (even on break) before it is due keeps the caller waiting."""
    queues = {"q": {"required_skills": {"x": 1}, "no_agents_after_s": 10}}
    router = await setup(queues, {"en": {"x": 1, "en": 3}, "th": {"x": 1, "th": 3}})
    await router.set_available("en")
    await router.enter("c", "q", language="th")
    await router.enter("d", "q", language="th")
    await router.run_due()
    assert await router.unserved("c")
    await router.set_available("th")  # Chai-like: takes "c" at once, "d" waits for them
    clock.advance(11)
    assert (await router.run_due()).exits == []
    assert await router.has_call("d") and not await router.unserved("d")


async def test_null_no_agents_after_waits_for_good(setup: Setup, clock: ManualClock) -> None:
    """`no_agents_after_s: null` keeps a caller nobody can answer waiting, as before."""
    queues = {"q": {"required_skills": {"x": 1}, "no_agents_after_s": None}}
    router = await setup(queues, {"a": {"x": 1}})
    await router.enter("c", "q")
    for _ in range(5):
        clock.advance(60)
        assert (await router.run_due()).exits == []
    assert await router.has_call("c")


async def test_move_keeps_the_arrival_time_and_priority(
    setup: Setup, clock: ManualClock, aredis: aioredis.Redis
) -> None:
    """A call moved to another queue keeps its first arrival and priority (FRT counts from
    the first queue), and is recorded as the exit it names."""
    queues = {"a": {"required_skills": {"x": 1}}, "b": {"required_skills": {"y": 1}}}
    router = await setup(queues, {"p": {"x": 1}, "q": {"y": 1}})
    await router.set_available("p")
    await router.set_break("p", "meeting")
    await router.enter("c", "a", priority=7)
    clock.advance(40)
    await router.set_available("q")
    departure, entry = await router.move("c", "b", "EXITCLOSED")
    assert departure.status == "abandoned" and entry is not None
    assert entry.reservation is not None and entry.reservation.agent == "q"
    (exit_,) = await events(aredis, EventType.EXITCLOSED)
    assert exit_["queue"] == "a"
    enters = await events(aredis, EventType.ENTERQUEUE)
    assert [e["queue"] for e in enters] == ["a", "b"]
    assert enters[1]["priority"] == "7" and int(enters[1]["wait_ms"]) == 40_000


@pytest.mark.parametrize(
    ("reason", "missed"),
    [
        pytest.param("noanswer", 1, id="rang-out-counts-as-missed"),
        pytest.param("dropped", 0, id="dropped-is-held-back"),
    ],
)
async def test_put_back_gives_the_missed_call_treatment_not_a_break(
    setup: Setup, aredis: aioredis.Redis, reason: str, missed: int
) -> None:
    """A pending accept whose leg ended before the bridge: the call goes back in its place
    and the agent is held back (available, not listed), never on break."""
    router = await setup(BILLING, {"ann": {"billing": 1}})
    await accepted_in_console(router, "c", "ann")
    assert await router.put_back("c", "ann", reason, conn="") == []
    ann = await router.agent_state("ann")
    assert (ann.state, ann.held, ann.missed, ann.calls) == ("available", True, missed, 0)
    assert [p.call_sid for p in await router.queue_snapshot("billing")] == ["c"]
    (put_back,) = await events(aredis, EventType.REJECTED)
    assert (put_back["agent"], put_back["reason"]) == ("ann", reason)
    with pytest.raises(RoutingError):
        await router.put_back("c", "ann", reason, conn="")  # no longer pending on her


async def reaccepted(router: Router, clock: ManualClock) -> tuple[str, str]:
    """Ann accepts call c (pending), her leg drops and the call goes back; once she is free
    again it is offered to her and she accepts it again. The two reservations, in order."""
    await router.set_available("ann")
    entry = await router.enter("c", "billing")
    assert entry.reservation is not None
    first = entry.reservation.id
    await router.accept(first, "ann", pending=True)
    await router.put_back("c", "ann", "dropped", conn=first)
    clock.advance(60)  # her hold-back after the dropped leg is over
    (again,) = (await router.run_due()).offers
    await router.accept(again.id, "ann", pending=True)
    return first, again.id


@pytest.mark.parametrize(
    "late",
    [
        pytest.param("put_back", id="put-back"),
        pytest.param("put_back_bridging", id="put-back-once-confirmed"),
        pytest.param("complete", id="complete"),
    ],
)
async def test_a_late_end_of_an_old_connection_leaves_the_new_one_alone(
    setup: Setup, clock: ManualClock, late: str
) -> None:
    """The end of Ann's first leg for a call, reported after the call went back and she
    accepted it again, names the first connection: routing refuses it, and the call stays
    connected to her through the new one."""
    router = await setup(BILLING, {"ann": {"billing": 1}})
    first, second = await reaccepted(router, clock)
    with pytest.raises(RoutingError):
        if late == "put_back":
            await router.put_back("c", "ann", "noanswer", conn=first)
        elif late == "put_back_bridging":
            assert await router.confirm("c", "ann")
            await router.put_back("c", "ann", "dropped", bridging=True, conn=first)
        else:
            await router.complete("c", conn=first)
    call = await router.call("c")
    assert call is not None and (call.state, call.agent, call.connection) == (
        "connected",
        "ann",
        second,
    )
    assert (await router.agent_state("ann")).state == "on_call"
    await router.put_back("c", "ann", "dropped", bridging=True, conn=second)  # its own: taken


async def test_put_back_past_the_no_answer_limit_is_a_missed_calls_break(setup: Setup) -> None:
    """A leg that rings out with the agent at their no-answer limit: break "missed calls"."""
    spec = {"skills": {"billing": 1}, "max_no_answer": 1}
    router = await setup(BILLING, {"ann": spec})
    await accepted_in_console(router, "c", "ann")
    await router.put_back("c", "ann", "noanswer", conn="")
    ann = await router.agent_state("ann")
    assert (ann.state, ann.reason) == ("break", "missed calls")


async def test_a_break_with_a_cool_down_ends_on_its_own_unless_its_reason_changed(
    setup: Setup, clock: ManualClock
) -> None:
    """set_break(reason, back_after_s) ends by its timer; a break with another reason by
    then is left alone."""
    router = await setup(BILLING, {"ann": {"billing": 1}, "bob": {"billing": 1}})
    await router.set_available("ann")
    await router.set_available("bob")
    await router.set_break("ann", "device unreachable", back_after_s=60)
    await router.set_break("bob", "device unreachable", back_after_s=60)
    await router.set_break("bob", "lunch")
    clock.advance(59)
    await router.run_due()
    assert (await router.agent_state("ann")).state == "break"
    clock.advance(1)
    await router.run_due()
    assert (await router.agent_state("ann")).state == "available"
    bob = await router.agent_state("bob")
    assert (bob.state, bob.reason) == ("break", "lunch")


async def test_an_offer_the_api_never_rang_is_released_without_holding_the_agent_back(
    setup: Setup,
) -> None:
    """reject(reason="unreached"): the call goes back and the agent may take it at once."""
    router = await setup(BILLING, {"ann": {"billing": 1}})
    await router.set_available("ann")
    entry = await router.enter("c", "billing")
    assert entry.reservation is not None
    (again,) = await router.reject(entry.reservation.id, "ann", reason="unreached")
    assert (again.call_sid, again.agent) == ("c", "ann")
