"""Callbacks around the queue's closing time: the hold offer leads to a scheduled slot."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import redis

from callbacks import callback as callbacks
from ivr.core.clock import ManualClock
from ivr.devtools.emulator import Emulator
from ivr.devtools.liveserver import LiveServer
from tests.agents import services_of
from tests.callbacks_helpers import JobRunner, callback_config, callback_state, edit_yaml
from tests.test_callbacks_e2e import busy_alice, take_callback
from tests.test_connect_e2e import billing_caller, events

KL = ZoneInfo("Asia/Kuala_Lumpur")
CUSTOMER = "+60176543210"


@pytest.fixture(name="config_dir")
def fixture_config_dir(tmp_path: Path) -> Path:
    """Keep-my-place callbacks offered on hold in billing (open 08:00-20:00 on weekdays)."""
    return callback_config(tmp_path / "config")


def test_near_closing_the_hold_offer_books_the_next_morning(
    tw: Emulator, server: LiveServer, clock: ManualClock, r: redis.Redis, jobs: JobRunner
) -> None:
    """At 19:58 a 3-minute wait runs past 20:00: the caller picks tomorrow 09:00 instead."""
    clock.set(datetime(2026, 11, 23, 19, 58, tzinfo=KL))
    busy_alice(tw, server)
    call = billing_caller(tw, CUSTOMER)
    call.hears("We close before your turn is likely to come")
    call.press("1")
    call.hears("We will call you back on")
    call.press("1")
    slot = call.hears("When should we call you back?")
    assert not any("within the hour" in u.text for u in call.heard), call.transcript()
    call.hears("For tomorrow morning, press 3.")
    call.press("3")
    call.hears("at about Tuesday 09:00")
    tw.advance(10)
    assert call.ended, call.transcript()
    assert slot.text
    svc = services_of(server)
    (booked,) = svc.run(callbacks.pending(svc))
    assert booked.kind == "scheduled" and booked.state == "scheduled"
    assert booked.due == datetime(2026, 11, 24, 9, 0, tzinfo=KL).timestamp()
    (left,) = events(r, "CALLBACK")
    assert left["call"] == call.sid
    assert [e for e in events(r, "ABANDON") if e["call"] == call.sid] == []
    tw.assert_no_errors()


def test_well_before_closing_the_offer_keeps_the_place(
    tw: Emulator, server: LiveServer, clock: ManualClock, jobs: JobRunner
) -> None:
    """At 10:00 the same offer is keep-my-place, as before."""
    busy_alice(tw, server)
    call = billing_caller(tw, CUSTOMER)
    call.hears("keeping your place in line, press 1")
    assert not any("We close before" in u.text for u in call.heard)


@pytest.mark.parametrize(
    ("at_closing", "state", "sms"),
    [
        pytest.param("next_open", "scheduled", "at about Tuesday 08:00", id="next-open"),
        pytest.param("expire", "expired", "could not call you back in time", id="expire"),
    ],
)
def test_a_callback_still_waiting_at_closing(
    tw: Emulator,
    server: LiveServer,
    clock: ManualClock,
    r: redis.Redis,
    jobs: JobRunner,
    config_dir: Path,
    at_closing: str,
    state: str,
    sms: str,
) -> None:
    """At 20:00 a queued keep-my-place callback is moved to the next opening, or expired."""
    edit_yaml(config_dir / "callbacks.yaml", lambda d: d["callbacks"].update(at_closing=at_closing))
    svc = services_of(server)
    svc.registry.reload()
    clock.set(datetime(2026, 11, 23, 19, 50, tzinfo=KL))
    busy_alice(tw, server)
    take_callback(tw, CUSTOMER)
    (booked,) = svc.run(callbacks.pending(svc))
    assert booked.state == "queued" and svc.run(svc.router.has_call(booked.id))
    clock.set(datetime(2026, 11, 23, 19, 59, tzinfo=KL))
    assert not any("closing" in job for job in jobs.run_due())
    clock.set(datetime(2026, 11, 23, 20, 0, 30, tzinfo=KL))
    jobs.run_due()
    after = svc.run(callbacks.get(svc, booked.id))
    assert after is not None and after.state == state
    assert not svc.run(svc.router.has_call(booked.id))
    assert sms in tw.sms_to(CUSTOMER)[-1].body
    assert [e for e in events(r, "ABANDON") if e.get("call") == booked.id] == []
    tw.assert_no_errors()


def test_a_callback_moved_to_the_next_opening_rejoins_at_its_place(
    tw: Emulator, server: LiveServer, clock: ManualClock, jobs: JobRunner
) -> None:
    """At Tuesday 08:00 it is queued again with its original time; the old expiry stands down."""
    svc = services_of(server)
    clock.set(datetime(2026, 11, 23, 19, 50, tzinfo=KL))
    busy_alice(tw, server)
    take_callback(tw, CUSTOMER)
    (booked,) = svc.run(callbacks.pending(svc))
    clock.set(datetime(2026, 11, 23, 20, 0, 30, tzinfo=KL))
    jobs.run_due()
    clock.set(datetime(2026, 11, 23, 23, 55, tzinfo=KL))  # past the request's 4-hour expiry
    jobs.run_due()
    assert callback_state(svc, booked.id) == "scheduled"
    clock.set(datetime(2026, 11, 24, 8, 0, 30, tzinfo=KL))
    jobs.run_due()
    again = svc.run(callbacks.get(svc, booked.id))
    assert again is not None and again.state == "queued"
    assert again.orig_ms == booked.orig_ms
    assert svc.run(svc.router.has_call(booked.id))
