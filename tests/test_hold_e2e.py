"""What a waiting caller hears, and the ways out of a queue, through the emulator."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import redis

from ivr.core.clock import ManualClock
from ivr.core.keys import Keys
from ivr.devtools.emulator import Emulator
from ivr.devtools.emulator.calls import Call
from ivr.devtools.liveserver import LiveServer
from tests.agents import go_available, on_break, services_of
from tests.conftest import BUSINESS
from tests.streams import entries
from tests.test_connect_e2e import billing_caller, events

KL = ZoneInfo("Asia/Kuala_Lumpur")


def times_heard(call: Call, text: str) -> list[float]:
    return [u.at for u in call.heard if text in u.text]


def busy_alice(tw: Emulator, server: LiveServer) -> Call:
    """Alice is logged in and talking to a first caller, so the next caller has to wait."""
    go_available(server, "alice")
    first = billing_caller(tw, "+60111111111")
    tw.advance(1)
    tw.device("client:alice").answer().press("1")
    first.hears("Connecting you now")
    return first


def test_announcements_follow_the_schedule_with_an_estimate(
    tw: Emulator, server: LiveServer
) -> None:
    """On entry the caller hears their place and wait; then again every 45 s, never sooner."""
    busy_alice(tw, server)
    call = billing_caller(tw)
    call.hears("You are next in line.")
    call.hears("Your wait is less than 7 minutes.")
    tw.advance(200)
    told = times_heard(call, "You are next in line.")
    assert len(told) >= 4
    gaps = [b - a for a, b in zip(told, told[1:], strict=False)]
    assert all(45 <= gap <= 65 for gap in gaps), gaps


def test_no_estimate_is_spoken_when_nobody_is_staffed(tw: Emulator, server: LiveServer) -> None:
    """With the only billing agent on break the caller hears their place but no made-up wait."""
    on_break(server, "alice")
    call = billing_caller(tw)
    call.hears("You are next in line.")
    tw.advance(100)
    assert times_heard(call, "Your wait is") == []


def test_nothing_is_promised_when_nobody_is_logged_in(tw: Emulator) -> None:
    """With nobody logged in the caller is promised neither a place nor a wait, and is taken
    to voicemail after about a minute (leave when empty)."""
    call = billing_caller(tw)
    call.hears("Please stay on the line.")
    call.hears("Please leave a message after the tone", within=70)
    assert times_heard(call, "next in line") == [] and times_heard(call, "Your wait") == []


def test_position_is_never_announced_higher(
    tw: Emulator, server: LiveServer, clock: ManualClock
) -> None:
    """A higher-priority caller pushes this caller back, and the rise is not announced."""
    busy_alice(tw, server)
    call = billing_caller(tw)
    call.hears("You are next in line.")
    svc = services_of(server)
    svc.run(svc.router.enter("CA" + "f" * 32, "billing", priority=9, language="en"))
    tw.advance(180)
    assert times_heard(call, "caller number 2") == []
    assert len(times_heard(call, "Your wait is")) >= 3, "the wait is still told"


def test_apology_once_the_wait_is_long(tw: Emulator, server: LiveServer) -> None:
    """After two minutes on hold the caller hears an apology, once."""
    busy_alice(tw, server)
    call = billing_caller(tw)
    tw.advance(100)
    assert times_heard(call, "We are sorry you have had to wait so long") == []
    tw.advance(200)
    assert len(times_heard(call, "We are sorry you have had to wait so long")) == 1


def test_periodic_message_plays_every_minute(tw: Emulator, server: LiveServer) -> None:
    """The billing queue's message about paying online plays about every 60 s."""
    on_break(server, "alice")
    call = billing_caller(tw)
    tw.advance(200)
    told = times_heard(call, "pay your bill online")
    assert len(told) >= 2
    gaps = [b - a for a, b in zip(told, told[1:], strict=False)]
    assert all(60 <= gap <= 80 for gap in gaps), gaps


def test_exit_key_leaves_a_voicemail_and_is_not_an_abandon(tw: Emulator, r: redis.Redis) -> None:
    """Pressing 2 on hold takes the caller to voicemail; it is recorded as an exit by key."""
    call = billing_caller(tw)
    call.hears("To leave a message instead, press 2.")
    call.press("2")
    call.hears("Please leave a message after the tone")
    tw.advance(3)
    call.press("#")
    tw.advance(5)
    assert len(entries(r, Keys().voicemails())) == 1
    assert events(r, "ABANDON") == []
    assert len(events(r, "EXITWITHKEY")) == 1
    tw.assert_no_errors()


def test_max_wait_moves_the_caller_to_voicemail(
    tw: Emulator, server: LiveServer, r: redis.Redis
) -> None:
    """After support's 15-minute max wait the caller is taken to voicemail."""
    on_break(server, "chai")
    call = tw.dial(from_="+60199999999", to=BUSINESS)
    call.press("1")
    call.hears("For billing, press 1")
    call.press("2")
    tw.advance(899)
    assert not any("leave a message after the tone" in u.text for u in call.heard)
    tw.advance(15)
    call.hears("Please leave a message after the tone")
    assert len(events(r, "EXITWITHTIMEOUT")) == 1


def test_a_full_queue_plays_its_overflow_message(tw: Emulator, server: LiveServer) -> None:
    """Sales holds 20 callers; the 21st hears the overflow message and the call ends."""
    svc = services_of(server)
    for index in range(20):
        svc.run(svc.router.enter(f"CA{index:032d}", "sales", language="en"))
    call = tw.dial(from_="+60199999999", to=BUSINESS)
    call.press("1")
    call.hears("For billing, press 1")
    call.press("3")
    call.hears("Sorry, all our sales staff are busy")
    tw.advance(5)
    assert call.ended


def test_a_long_estimated_wait_diverts_at_entry(tw: Emulator, server: LiveServer) -> None:
    """When support's estimate is over 20 minutes, a new caller goes to voicemail at once."""
    svc = services_of(server)
    go_available(server, "chai")
    for index in range(6):
        svc.run(svc.router.enter(f"CA{index:032d}", "support", language="en"))
    call = tw.dial(from_="+60199999999", to=BUSINESS)
    call.press("1")
    call.hears("For billing, press 1")
    call.press("2")
    call.hears("Please leave a message after the tone")


def test_closing_time_moves_waiting_callers_on(
    tw: Emulator, server: LiveServer, clock: ManualClock, r: redis.Redis
) -> None:
    """A caller still waiting in billing at 20:00 hears the closing message and can leave one."""
    on_break(server, "alice")
    clock.set(datetime(2026, 11, 23, 19, 58, tzinfo=KL))
    call = billing_caller(tw)
    call.hears("You are next in line.")
    tw.advance(150)
    call.hears("We are now closed for the day.")
    call.hears("Please leave a message after the tone")
    assert len(events(r, "EXITCLOSED")) == 1
