"""The outbound backlog (`ivr.core.outbound`): legs asked of Twilio and not ringing yet."""

from __future__ import annotations

import pytest
import redis.asyncio as aioredis

from ivr.core import outbound
from ivr.core.keys import Keys
from ivr.core.outbound import Backlog
from tests.test_routing import fixture_anyio_backend, fixture_aredis  # noqa: F401 (fixtures)

KEYS = Keys()
T0 = 1_795_399_200.0


@pytest.mark.anyio
async def test_legs_wait_until_they_ring(aredis: aioredis.Redis) -> None:
    """Two legs asked at 0 s and 3 s: at 5 s two wait, the oldest 5 s; once the first rings,
    one waits, 2 s; once both rang, none."""
    await outbound.requested(aredis, KEYS, "CA1", T0)
    await outbound.requested(aredis, KEYS, "CA2", T0 + 3)
    assert await outbound.backlog(aredis, KEYS, T0 + 5) == Backlog(2, 5.0)
    await outbound.progressed(aredis, KEYS, "CA1", T0 + 5)
    assert await outbound.backlog(aredis, KEYS, T0 + 5) == Backlog(1, 2.0)
    await outbound.progressed(aredis, KEYS, "CA2", T0 + 6)
    assert await outbound.backlog(aredis, KEYS, T0 + 6) == Backlog()


@pytest.mark.anyio
async def test_a_leg_that_rang_before_its_answer_was_handled_stays_out(
    aredis: aioredis.Redis,
) -> None:
    """The ringing event handled before the REST answer: the leg is not put back; what it
    leaves behind is gone a minute later."""
    await outbound.progressed(aredis, KEYS, "CA1", T0 + 1)
    await outbound.requested(aredis, KEYS, "CA1", T0)
    assert await outbound.backlog(aredis, KEYS, T0 + 2) == Backlog()
    await outbound.backlog(aredis, KEYS, T0 + 1 + outbound.RANG_KEPT_S)
    assert await aredis.zcard(KEYS.outbound_backlog()) == 0


@pytest.mark.anyio
async def test_a_leg_whose_events_were_lost_leaves_after_a_day(aredis: aioredis.Redis) -> None:
    """Twilio places or refuses a call within 24 hours: a leg older than that is dropped."""
    await outbound.requested(aredis, KEYS, "CA1", T0)
    assert await outbound.backlog(aredis, KEYS, T0 + outbound.STALE_S + 1) == Backlog()


@pytest.mark.parametrize(
    ("queue_time", "wait_s"),
    [
        pytest.param("2500", 2.5, id="ms"),
        pytest.param("0", 0.0, id="placed-at-once"),
        pytest.param(None, 0.0, id="absent"),
        pytest.param("n/a", 0.0, id="unreadable"),
    ],
)
def test_queue_wait_s(queue_time: str | None, wait_s: float) -> None:
    """Twilio's `queue_time` (ms, a string) read as seconds; 0 when absent or unreadable."""

    class Leg:
        pass

    leg = Leg()
    leg.queue_time = queue_time  # type: ignore[attr-defined]
    assert outbound.queue_wait_s(leg) == wait_s
