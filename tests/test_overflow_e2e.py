"""Overflow at every trigger (entry, max wait, closing time, estimated wait) to every target
(another queue, voicemail, callback, a message and hang-up), through the emulator."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import redis

from callbacks import callback as callbacks
from ivr.core.clock import ManualClock
from ivr.devtools.emulator import Emulator
from ivr.devtools.emulator.calls import Call
from ivr.devtools.liveserver import LiveServer
from ivr.voice import exits, offers
from tests.agents import go_available, on_break, services_of
from tests.callbacks_helpers import edit_yaml
from tests.conftest import BUSINESS
from tests.test_connect_e2e import billing_caller, events, support_caller

KL = ZoneInfo("Asia/Kuala_Lumpur")
APP_ERROR = "application error"
CHAI = "+66811111111"
ALICE_ONLY = {"required_skills": {"billing": 3}, "escalation": [], "language_required": False}
"""Billing as only Alice can answer it (in any language), so Chai (billing 2) stays free
for the queue the caller overflows into."""


def configure(server: LiveServer, config_dir: Path, change: Callable[[Any], None]) -> None:
    """Edit the queues of the running service's config and load it."""
    edit_yaml(config_dir / "queues.yaml", lambda data: change(data["queues"]))
    svc = services_of(server)
    svc.registry.reload()
    svc.run(svc.sync_routing())


def answered_by(tw: Emulator, device: str, call: Call, words: str = "Connecting you now") -> None:
    """The agent's device rings for this caller; they accept, and the caller is bridged."""
    tw.advance(1)
    agent = tw.device(device)
    assert agent.ringing is not None, call.transcript()
    agent.answer().press("1")
    call.hears(words)
    tw.advance(2)
    assert call.bridge is not None, call.transcript()


def no_error(tw: Emulator, call: Call) -> None:
    assert not any(APP_ERROR in u.text for u in call.heard), call.transcript()
    assert not any(u.kind == "say" and not u.text.strip() for u in call.heard), call.transcript()
    tw.assert_no_errors()


def test_max_wait_into_another_queue_keeps_the_arrival_time(
    tw: Emulator, server: LiveServer, config_dir: Path, r: redis.Redis
) -> None:
    """After billing's max wait the caller is put through to support, told so, and answered."""
    configure(
        server,
        config_dir,
        lambda q: q["billing"].update(
            max_wait_s=60, when_max_wait={"queue": "support"}, **ALICE_ONLY
        ),
    )
    go_available(server, "chai")
    on_break(server, "alice")  # billing is staffed, just busy
    call = billing_caller(tw)
    call.hears("You are next in line.")
    tw.advance(62)
    call.hears("Please hold while we put you through to Technical support.")
    answered_by(tw, CHAI, call)
    no_error(tw, call)
    (billing, support) = events(r, "ENTERQUEUE")
    assert (billing["queue"], support["queue"]) == ("billing", "support")
    assert support["priority"] == billing["priority"]
    assert int(support["wait_ms"]) >= 60_000, "the arrival time in billing is kept"


def test_closing_time_into_another_queue(
    tw: Emulator, server: LiveServer, config_dir: Path, clock: ManualClock, r: redis.Redis
) -> None:
    """At billing's closing time a waiting caller is put through to support, not cut off."""

    def change(queues: Any) -> None:
        queues["billing"].update(ALICE_ONLY)
        hold = queues["billing"]["hold"]
        hold.pop("closing_message")
        hold["when_closed"] = {"queue": "support"}

    configure(server, config_dir, change)
    clock.set(datetime(2026, 11, 23, 19, 58, tzinfo=KL))
    go_available(server, "chai")
    on_break(server, "alice")
    call = billing_caller(tw)
    call.hears("You are next in line.")
    tw.advance(150)
    call.hears("Please hold while we put you through to Technical support.")
    answered_by(tw, CHAI, call)
    no_error(tw, call)
    assert len(events(r, "EXITCLOSED")) == 1


def test_long_estimate_into_another_queue(
    tw: Emulator, server: LiveServer, config_dir: Path
) -> None:
    """When support's estimate is over its limit a new caller is put through to sales."""
    configure(
        server,
        config_dir,
        lambda q: q["support"]["hold"].update(when_estimated_wait={"queue": "sales"}),
    )
    svc = services_of(server)
    go_available(server, "chai")
    for index in range(6):
        svc.run(svc.router.enter(f"CA{index:032d}", "support", language="en"))
    go_available(server, "budi")
    call = support_caller(tw)
    call.hears("Please hold while we put you through to Sales.")
    answered_by(tw, "client:budi", call)
    assert not any("after the tone" in u.text for u in call.heard), call.transcript()
    no_error(tw, call)


def test_max_wait_to_a_callback(
    tw: Emulator, server: LiveServer, config_dir: Path, r: redis.Redis
) -> None:
    """After support's max wait the caller is offered a callback instead of voicemail."""
    configure(server, config_dir, lambda q: q["support"].update(when_max_wait="callback"))
    on_break(server, "alice")  # support is staffed, just busy
    call = support_caller(tw)
    tw.advance(905)
    call.hears("We will call you back on 0 1 9 9 9 9 9 9 9 9")
    call.press("1")
    call.hears("When should we call you back?")
    call.press("1")
    call.hears("Thank you. We will call you back on")
    tw.advance(15)
    assert call.ended, call.transcript()
    svc = services_of(server)
    (booked,) = svc.run(callbacks.pending(svc))
    assert booked.queue == "support" and booked.number == "+60199999999"
    assert not any("after the tone" in u.text for u in call.heard), call.transcript()
    assert len(events(r, "EXITWITHTIMEOUT")) == 1
    no_error(tw, call)


def test_a_full_queue_offers_a_callback(tw: Emulator, server: LiveServer, config_dir: Path) -> None:
    """Sales is full: the caller is offered a callback at entry instead of voicemail."""
    configure(server, config_dir, lambda q: q["sales"].update(max_size=1, when_full="callback"))
    svc = services_of(server)
    svc.run(svc.router.enter("CA" + "0" * 32, "sales", language="en"))
    call = tw.dial(from_="+60199999999", to=BUSINESS)
    call.press("1")
    call.hears("For billing, press 1")
    call.press("3")
    call.hears("We will call you back on 0 1 9 9 9 9 9 9 9 9")
    no_error(tw, call)


def test_max_wait_with_a_message_and_hang_up(
    tw: Emulator, server: LiveServer, config_dir: Path
) -> None:
    """A hang-up overflow at max wait says its message, then ends the call."""
    configure(
        server,
        config_dir,
        lambda q: q["billing"].update(
            max_wait_s=60, when_max_wait={"hangup": "Sorry, nobody can take your call today."}
        ),
    )
    on_break(server, "alice")
    call = billing_caller(tw)
    tw.advance(62)
    call.hears("Sorry, nobody can take your call today.")
    tw.advance(5)
    assert call.ended
    no_error(tw, call)


def test_max_wait_reaches_its_treatment_when_the_redirect_is_lost(
    tw: Emulator, server: LiveServer, config_dir: Path, r: redis.Redis
) -> None:
    """The caller's max wait fires, but the REST redirect that should move them on fails (an
    API error here; or the web process that fired the timer died before making it): their
    own hold loop leaves the queue for the marked treatment at its next fetch."""
    configure(
        server,
        config_dir,
        lambda q: q["billing"].update(
            max_wait_s=60, when_max_wait={"hangup": "Sorry, nobody can take your call today."}
        ),
    )
    on_break(server, "alice")
    call = billing_caller(tw)
    tw.advance(55)
    tw.fail_rest(503, count=1)  # the next REST request is the redirect at 60 s
    tw.advance(7)
    assert tw.rest_failures == 1
    call.hears("Sorry, nobody can take your call today.", within=60)
    assert len(events(r, "EXITWITHTIMEOUT")) == 1


def test_a_caller_whose_timer_fired_in_a_dying_process_reaches_voicemail(
    tw: Emulator,
    server: LiveServer,
    config_dir: Path,
    r: redis.Redis,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The web process that fired the caller's max wait died before acting on it (no exit
    marked, no redirect): routing no longer holds the caller, and their hold loop, after
    `exits.STRANDED_S` of saying they are being put through, takes them to voicemail."""
    configure(server, config_dir, lambda q: q["billing"].update(max_wait_s=60))

    async def dies(svc: Any, fired: Any) -> None:
        """The process is gone before it does anything with what its timers did."""

    on_break(server, "alice")
    call = billing_caller(tw)
    tw.advance(55)
    monkeypatch.setattr(offers, "dispatch", dies)
    tw.advance(7)
    call.hears("Please leave a message after the tone", within=exits.STRANDED_S + 10)
    assert len(events(r, "EXITWITHTIMEOUT")) == 1


def test_closing_time_to_voicemail_without_a_closing_message(
    tw: Emulator, server: LiveServer, config_dir: Path, clock: ManualClock
) -> None:
    """A queue with no closing message still takes the caller to voicemail, with no silence."""
    configure(server, config_dir, lambda q: q["billing"]["hold"].pop("closing_message"))
    clock.set(datetime(2026, 11, 23, 19, 58, tzinfo=KL))
    on_break(server, "alice")
    call = billing_caller(tw)
    tw.advance(150)
    call.hears("Please leave a message after the tone")
    no_error(tw, call)


# Leave when empty: no caller waits for nobody --------------------------------------------------


def thai_caller(tw: Emulator, choice: str) -> Call:
    """A Thai caller who picks billing (1, keying an account number) or support (2)."""
    call = tw.dial(from_="+66899999999", to=BUSINESS)
    call.press("3")
    call.hears("ฝ่ายบิล กด 1")
    call.press(choice)
    if choice == "1":
        call.hears("กรุณากดหมายเลขบัญชี 8 หลัก")
        call.press("20261124#")
    return call


def test_a_thai_billing_caller_is_answered(tw: Emulator, server: LiveServer) -> None:
    """Nobody has Thai and billing: the sample's billing waits 30 s for a Thai speaker,
    then offers the caller to any billing agent, instead of leaving them on hold for good."""
    go_available(server, "alice", "budi")
    call = thai_caller(tw, "1")
    tw.advance(20)
    assert tw.device("client:alice").ringing is None and tw.device("client:budi").ringing is None
    tw.advance(12)
    ringing = [d for d in ("client:alice", "client:budi") if tw.device(d).ringing is not None]
    assert len(ringing) == 1, call.transcript()
    answered_by(tw, ringing[0], call, "กำลังโอนสายให้คุณค่ะ")
    no_error(tw, call)


def test_a_caller_nobody_logged_in_can_answer_is_moved_on(
    tw: Emulator, server: LiveServer, r: redis.Redis
) -> None:
    """A Thai support caller, with only Alice (no Thai) logged in and Chai logged out, is not
    promised a place or a wait and is taken to voicemail after about a minute."""
    go_available(server, "alice")
    call = thai_caller(tw, "2")
    tw.advance(55)
    assert not any("กรุณาฝากข้อความ" in u.text for u in call.heard), call.transcript()
    tw.advance(10)
    call.hears("กรุณาฝากข้อความหลังเสียงสัญญาณ")
    assert not any("คุณเป็นสายถัดไป" in u.text for u in call.heard), "no place in line promised"
    assert not any("ระยะเวลารอ" in u.text for u in call.heard), "no wait promised"
    (left,) = events(r, "OVERFLOW")
    assert (left["queue"], left["reason"], left["language"]) == ("support", "no_agents", "th")
    no_error(tw, call)


def test_the_last_agent_logging_out_moves_waiting_callers_on(
    tw: Emulator, server: LiveServer
) -> None:
    """Alice, the only billing agent logged in, is on break and then logs out: the caller
    who was waiting for her is taken to voicemail after about a minute."""
    on_break(server, "alice")
    svc = services_of(server)
    call = billing_caller(tw)
    call.hears("You are next in line.")
    tw.advance(90)
    assert not any("after the tone" in u.text for u in call.heard), "break is still logged in"
    svc.run(svc.router.set_offline("alice"))
    tw.advance(55)
    assert not any("after the tone" in u.text for u in call.heard), call.transcript()
    tw.advance(10)
    call.hears("Please leave a message after the tone")
    no_error(tw, call)


def test_an_agent_back_in_time_keeps_the_caller_waiting(tw: Emulator, server: LiveServer) -> None:
    """Chai logs in before the minute is up: the Thai support caller is answered by him."""
    go_available(server, "alice")
    call = thai_caller(tw, "2")
    tw.advance(40)
    go_available(server, "chai")
    answered_by(tw, CHAI, call, "กำลังโอนสายให้คุณค่ะ")
    assert not any("กรุณาฝากข้อความ" in u.text for u in call.heard), call.transcript()


def test_closing_time_to_a_callback(
    tw: Emulator, server: LiveServer, config_dir: Path, clock: ManualClock
) -> None:
    """At closing time a waiting caller is offered a callback at a time the queue is open."""
    configure(server, config_dir, lambda q: q["billing"]["hold"].update(when_closed="callback"))
    on_break(server, "alice")
    clock.set(datetime(2026, 11, 23, 19, 58, tzinfo=KL))
    call = billing_caller(tw)
    call.hears("We are now closed for the day.", within=200)
    call.hears("We will call you back on 0 1 9 9 9 9 9 9 9 9")
    call.press("1")
    call.hears("When should we call you back?")
    call.hears("For tomorrow morning, press 3.")
    no_error(tw, call)


def test_nobody_to_answer_into_another_queue(
    tw: Emulator, server: LiveServer, config_dir: Path, r: redis.Redis
) -> None:
    """Leave when empty can move the caller into another queue, where Chai answers."""
    configure(
        server,
        config_dir,
        lambda q: q["billing"].update(no_agents_action={"queue": "support"}, **ALICE_ONLY),
    )
    go_available(server, "chai")
    call = billing_caller(tw)
    call.hears("Please hold while we put you through to Technical support.", within=70)
    answered_by(tw, CHAI, call)
    (left,) = events(r, "OVERFLOW")
    assert (left["queue"], left["reason"]) == ("billing", "no_agents")
    no_error(tw, call)
