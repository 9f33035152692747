"""Callbacks on the floor: supervisors see and cancel them; a console offer says it is one."""

from __future__ import annotations

from pathlib import Path

import pytest

from callbacks import callback as callbacks
from ivr.devtools.emulator import Emulator
from ivr.devtools.liveserver import LiveServer
from tests.agents import services_of
from tests.callbacks_helpers import JobRunner, callback_config
from tests.consoles import Console
from tests.test_callbacks_e2e import CUSTOMER, busy_alice, take_callback


@pytest.fixture(name="config_dir")
def fixture_config_dir(tmp_path: Path) -> Path:
    """The sample config with keep-my-place callbacks offered on billing."""
    return callback_config(tmp_path / "config")


@pytest.fixture(name="jobs")
def fixture_jobs(jobs: JobRunner, tw: Emulator) -> JobRunner:
    """Due callback jobs run as the emulator's clock moves."""
    tw.on_tick(lambda now: jobs.tick())
    return jobs


def test_supervisor_sees_a_pending_callback_and_cancels_it(
    tw: Emulator, server: LiveServer, jobs: JobRunner, sam: Console
) -> None:
    """A keep-my-place callback is listed on the floor; cancelling it takes it off."""
    busy_alice(tw, server)
    take_callback(tw)
    (listed,) = sam.get("/api/supervisor/floor").json()["callbacks"]
    assert listed["number"] == CUSTOMER and listed["queue"] == "billing"
    assert listed["kind"] == "keep" and listed["state"] == "queued"
    cancelled = sam.post(f"/api/supervisor/callbacks/{listed['id']}/cancel")
    assert cancelled.status_code == 204
    assert sam.get("/api/supervisor/floor").json()["callbacks"] == []
    again = sam.post(f"/api/supervisor/callbacks/{listed['id']}/cancel")
    assert again.status_code == 409


def test_a_callback_offer_is_marked_in_the_console(
    tw: Emulator, server: LiveServer, jobs: JobRunner
) -> None:
    """Budi's screen pop says the offer is a callback, to whom, with the caller's IVR data."""
    busy_alice(tw, server)
    take_callback(tw)
    budi = Console(server, "agent", "budi")
    try:
        assert budi.post("/api/agent/status", {"status": "available"}).status_code == 204
        tw.advance(40)  # billing's first 30 s need billing 4; then Budi (billing 2) may answer
        offer = budi.view()["offer"]
        assert offer is not None
        assert offer["callback"]["number"] == CUSTOMER
        assert offer["data"] == {"account_number": "20261124"}
    finally:
        budi.close()


def test_a_callback_accepted_on_a_device_that_cannot_be_rung_stays_queued(
    tw: Emulator, server: LiveServer, jobs: JobRunner
) -> None:
    """Budi's device cannot be rung: the callback is queued again in its place, nobody dialled
    the customer, and the next agent who takes it dials them."""
    first = busy_alice(tw, server)
    take_callback(tw)
    tw.device("client:budi").unreachable = True
    budi = Console(server, "agent", "budi")
    try:
        assert budi.post("/api/agent/status", {"status": "available"}).status_code == 204
        tw.advance(40)
        offer = budi.view()["offer"]
        refused = budi.post(f"/api/agent/offers/{offer['id']}/accept")
        assert refused.status_code == 502
        assert "went back to the queue" in refused.json()["error"]
        svc = services_of(server)
        (pending,) = svc.run(callbacks.pending(svc))
        assert (pending.state, pending.attempts) == ("queued", 1)
        place = svc.run(svc.router.position(pending.id))
        assert place is not None and place.position == 1
        assert budi.view()["agent"]["reason"] == "device unreachable"
        assert tw.device(CUSTOMER).calls == []
        first.hangup()
        tw.advance(17)  # Alice's wrap-up ends: the callback is offered on her phone
        leg = tw.device("client:alice").answer()
        leg.hears("Callback for Billing")
        leg.press("1")
        tw.advance(3)
        assert tw.device(CUSTOMER).ringing is not None
        tw.assert_no_errors()
    finally:
        budi.close()
