"""A caller who phones in while a callback is pending: keep it, or cancel it and wait."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

from callbacks import callback as callbacks
from ivr.devtools.emulator import Emulator
from ivr.devtools.emulator.calls import Call
from ivr.devtools.liveserver import LiveServer
from tests.agents import go_available, services_of
from tests.callbacks_helpers import JobRunner, callback_state, menu_callback_config
from tests.conftest import BUSINESS
from tests.test_connect_e2e import events

CUSTOMER = "+60176543210"


@pytest.fixture(name="config_dir")
def fixture_config_dir(tmp_path: Path) -> Path:
    """Callbacks configured, and "press 5 to be called back" in the main menu."""
    return menu_callback_config(tmp_path / "config")


def schedule_evening(tw: Emulator, language_key: str) -> None:
    """The customer books a billing callback for 18:00 from the menu."""
    call = tw.dial(from_=CUSTOMER, to=BUSINESS)
    call.press(language_key)
    call.wait(25)
    call.press("5")
    call.press("1")
    call.press("2")
    tw.advance(30)
    assert call.ended, call.transcript()


def call_billing(tw: Emulator, language_key: str) -> Call:
    """The same customer phones again and picks billing."""
    call = tw.dial(from_=CUSTOMER, to=BUSINESS)
    call.press(language_key)
    call.wait(25)
    call.press("1")
    call.wait(10)
    call.press("20261124#")
    return call


@pytest.mark.parametrize(
    ("language_key", "question", "kept"),
    [
        pytest.param("1", "You already have a callback at about 18:00", "stays booked", id="en"),
        pytest.param("2", "panggilan balik kira-kira pukul 18:00", "dikekalkan", id="ms"),
        pytest.param("3", "คุณมีนัดโทรกลับอยู่แล้วประมาณ 18:00", "นัดโทรกลับไว้ให้คุณ", id="th"),
    ],
)
def test_pressing_1_keeps_the_callback_and_ends_the_call(
    tw: Emulator,
    server: LiveServer,
    r: redis.Redis,
    jobs: JobRunner,
    language_key: str,
    question: str,
    kept: str,
) -> None:
    """The caller hears their callback's time in their language; 1 keeps it, goodbye."""
    schedule_evening(tw, language_key)
    call = call_billing(tw, language_key)
    call.hears(question)
    call.press("1")
    call.hears(kept)
    tw.advance(5)
    assert call.ended
    svc = services_of(server)
    (pending,) = svc.run(callbacks.pending(svc))
    assert pending.state == "scheduled"
    assert events(r, "ENTERQUEUE") == []
    tw.assert_no_errors()


def test_pressing_2_cancels_the_callback_and_the_caller_waits(
    tw: Emulator, server: LiveServer, r: redis.Redis, jobs: JobRunner
) -> None:
    """2 cancels the callback atomically; the caller joins billing and is answered."""
    schedule_evening(tw, "1")
    svc = services_of(server)
    (booked,) = svc.run(callbacks.pending(svc))
    call = call_billing(tw, "1")
    call.hears("To cancel it, press 2")
    call.press("2")
    tw.advance(2)
    assert not call.ended
    assert svc.run(callbacks.pending(svc)) == []
    assert callback_state(svc, booked.id) == "cancelled"
    (cancelled,) = events(r, "CALLBACKCANCELED")
    assert cancelled["callback"] == booked.id
    (entered,) = events(r, "ENTERQUEUE")
    assert entered["call"] == call.sid and entered["queue"] == "billing"
    go_available(server, "alice")
    tw.advance(2)
    leg = tw.device("client:alice").answer()
    leg.hears("Billing call")
    leg.press("1")
    call.hears("Connecting you now")
    tw.assert_no_errors()


def test_no_callback_pending_joins_the_queue_without_asking(
    tw: Emulator, server: LiveServer, r: redis.Redis
) -> None:
    """A caller with no pending callback is not asked anything."""
    call = call_billing(tw, "1")
    tw.advance(2)
    assert not any("already have a callback" in u.text for u in call.heard)
    assert len(events(r, "ENTERQUEUE")) == 1
