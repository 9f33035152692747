"""Callbacks on the floor: supervisors see and cancel them; a console offer says it is one."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ivr.emulator import Emulator
from ivr.liveserver import LiveServer
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


@pytest.fixture(name="sam")
def fixture_sam(server: LiveServer) -> Iterator[Console]:
    """Sam the supervisor, logged in through the API."""
    console = Console(server, "supervisor", "sam")
    yield console
    console.close()


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
