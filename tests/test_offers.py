"""Ringing agents across web processes: a ring claimed by a process that dies is made by
another (ivr/voice/offers.py)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import redis

from ivr.core.clock import ManualClock
from ivr.devtools.emulator import Emulator
from ivr.devtools.liveserver import LiveServer
from ivr.service import Services
from ivr.voice import offers
from tests.agents import go_available, services_of
from tests.test_connect_e2e import billing_caller, events


def test_a_ring_whose_process_died_before_its_request_is_made_by_another(
    tw: Emulator, server: LiveServer, r: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The process that claimed Alice's ring dies before its REST request: the ring stays
    due, and another process's pass rings her phone once the claim lapses, well inside the
    ring window; she is charged no missed ring."""
    died: list[str] = []
    create_leg = offers.create_leg

    async def dies_once(svc: Services, reservation_id: str, intent: dict[str, Any]) -> Any:
        if not died:
            died.append(reservation_id)
            raise asyncio.CancelledError  # the process is gone: nothing after this runs
        return await create_leg(svc, reservation_id, intent)

    monkeypatch.setattr(offers, "create_leg", dies_once)
    go_available(server, "alice")
    call = billing_caller(tw)
    alice = tw.device("client:alice")
    tw.advance(1)
    assert died and alice.ringing is None
    tw.advance(offers.RING_LEASE_S)
    assert alice.ringing is not None
    alice.answer().press("1")
    call.hears("Connecting you now")
    assert not events(r, "RINGNOANSWER")
    (connect,) = events(r, "CONNECT")
    assert connect["agent"] == "alice"


def test_one_process_takes_a_due_ring_and_another_only_once_its_claim_lapses(
    server: LiveServer, clock: ManualClock
) -> None:
    """Two processes taking the same due ring at once: one gets it; the other gets it only
    after `RING_LEASE_S`, if the first never reported it done."""
    svc = services_of(server)

    async def race() -> list[bool]:
        await svc.redis.zadd(svc.keys.ring_due(), {"R1": svc.clock.now()})
        return list(await asyncio.gather(offers.take(svc, "R1"), offers.take(svc, "R1")))

    assert sorted(svc.run(race())) == [False, True]
    clock.advance(offers.RING_LEASE_S - 0.5)
    assert not svc.run(offers.take(svc, "R1"))
    clock.advance(1)
    assert svc.run(offers.take(svc, "R1"))
    svc.run(offers.done(svc, "R1"))
    clock.advance(offers.RING_LEASE_S + 1)
    assert not svc.run(offers.take(svc, "R1"))
