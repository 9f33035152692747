"""An offer's ring timeout counts from when its phone rings (`Router.ring_from`): Twilio
places REST-created calls at the account's calls per second, so a ring may start late."""

from __future__ import annotations

import pytest
import redis.asyncio as aioredis

from ivr.config.queues import RING_TIMEOUT_S
from ivr.core.clock import ManualClock
from queues.events import EventType
from tests.test_routing import (  # noqa: F401
    BILLING,
    Setup,
    events,
    fixture_anyio_backend,
    fixture_aredis,
    fixture_clock,
    fixture_setup,
)

pytestmark = pytest.mark.anyio
RING_S = RING_TIMEOUT_S
"""The billing queue's ring timeout (the default)."""


async def test_the_ring_timeout_counts_from_the_estimated_then_the_real_ring(
    setup: Setup, clock: ManualClock
) -> None:
    """A leg queued 8 s moves the ring timeout to count from 8 s; its ringing event at 6 s
    makes it count from 6 s, and an estimate after that moves nothing."""
    router = await setup(BILLING, {"ann": {"billing": 1}})
    await router.set_available("ann")
    offer = (await router.enter("c1", "billing")).reservation
    assert offer is not None
    start = clock.now()
    assert await router.ring_from(offer.id, start + 8, rang=False) == start + 8 + RING_S
    clock.advance(6)
    assert await router.ring_from(offer.id, clock.now(), rang=True) == start + 6 + RING_S
    assert await router.ring_from(offer.id, start + 9, rang=False) is None
    clock.advance(RING_S - 0.5)
    assert (await router.run_due()).expired == []
    clock.advance(0.5)
    assert (await router.run_due()).expired == [offer.id]


async def test_a_paced_ring_that_never_rang_is_no_miss(
    setup: Setup, clock: ManualClock, aredis: aioredis.Redis
) -> None:
    """The ring timer of a paced leg that never reported ringing ends the offer without a
    miss: RINGCANCELED `unrung`, no RINGNOANSWER, and the agent is available at once."""
    router = await setup(BILLING, {"ann": {"billing": 1}})
    await router.set_available("ann")
    offer = (await router.enter("c1", "billing")).reservation
    assert offer is not None
    await router.ring_from(offer.id, clock.now() + 3, rang=False)
    clock.advance(3 + RING_S)
    assert (await router.run_due()).expired == [offer.id]
    assert await events(aredis, EventType.RINGNOANSWER) == []
    (canceled,) = await events(aredis, EventType.RINGCANCELED)
    assert canceled["reason"] == "unrung" and canceled["agent"] == "ann"
    assert (await router.agent_state("ann")).state == "reserved"  # offered c1 again at once


async def test_a_ring_that_rang_and_timed_out_is_a_miss(
    setup: Setup, clock: ManualClock, aredis: aioredis.Redis
) -> None:
    """A phone that rang out its timeout is a missed call, as before."""
    router = await setup(BILLING, {"ann": {"billing": 1}})
    await router.set_available("ann")
    offer = (await router.enter("c1", "billing")).reservation
    assert offer is not None
    await router.ring_from(offer.id, clock.now() + 3, rang=False)
    clock.advance(2)
    await router.ring_from(offer.id, clock.now(), rang=True)
    clock.advance(RING_S)
    assert (await router.run_due()).expired == [offer.id]
    assert len(await events(aredis, EventType.RINGNOANSWER)) == 1


async def test_ring_from_an_offer_no_longer_pending_is_none(setup: Setup) -> None:
    """An answered offer's ring timeout is not moved."""
    router = await setup(BILLING, {"ann": {"billing": 1}})
    await router.set_available("ann")
    offer = (await router.enter("c1", "billing")).reservation
    assert offer is not None
    await router.accept(offer.id, "ann")
    assert await router.ring_from(offer.id, 0.0, rang=True) is None
