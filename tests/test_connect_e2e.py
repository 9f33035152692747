"""Callers chosen in the menu reach the right agent: emulator, real app, controlled clock."""

from __future__ import annotations

import redis

from ivr.core.keys import Keys
from ivr.devtools.emulator import Emulator
from ivr.devtools.emulator.calls import Call
from ivr.devtools.liveserver import LiveServer
from tests.agents import go_available, state
from tests.conftest import BUSINESS
from tests.streams import entries


def billing_caller(tw: Emulator, number: str = "+60199999999") -> Call:
    """An English caller who keys an account number and joins billing."""
    call = tw.dial(from_=number, to=BUSINESS)
    call.press("1")
    call.hears("For billing, press 1")
    call.press("1")
    call.hears("8 digit account number")
    call.press("20261124#")
    return call


def events(r: redis.Redis, kind: str) -> list[dict[str, str]]:
    return [fields for _, fields in entries(r, Keys().events()) if fields["type"] == kind]


def test_accepted_call_is_bridged_with_the_ivr_context_whispered(
    tw: Emulator, server: LiveServer, r: redis.Redis
) -> None:
    """Alice hears who is calling and the account number, presses 1, and is bridged."""
    go_available(server, "alice")
    call = billing_caller(tw)
    alice = tw.device("client:alice")
    tw.advance(1)
    assert alice.ringing is not None
    leg = alice.answer()
    whisper = leg.hears("Billing call")
    assert "in English" in whisper.text
    assert "account number 2 0 2 6 1 1 2 4" in whisper.text
    leg.press("1")
    call.hears("Connecting you now")
    tw.advance(2)
    assert call.bridge is not None
    assert state(server, "alice").state == "on_call"
    (connect,) = events(r, "CONNECT")
    assert connect["agent"] == "alice" and connect["queue"] == "billing"
    tw.advance(60)
    call.hangup()
    tw.advance(1)
    assert state(server, "alice").state == "wrap_up"
    tw.advance(15)
    assert state(server, "alice").state == "available"
    tw.assert_no_errors()


def test_language_decides_the_agent(tw: Emulator, server: LiveServer) -> None:
    """A Thai caller for support rings the Thai-speaking agent, not the idle English one."""
    go_available(server, "alice", "chai")
    call = tw.dial(from_="+60199999999", to=BUSINESS)
    call.press("3")
    call.hears("ฝ่ายบิล กด 1")
    call.press("2")
    tw.advance(1)
    assert tw.device("+66811111111").ringing is not None
    assert tw.device("client:alice").ringing is None


def support_caller(tw: Emulator) -> Call:
    """An English caller who asks for technical support."""
    call = tw.dial(from_="+60199999999", to=BUSINESS)
    call.press("1")
    call.hears("For billing, press 1")
    call.press("2")
    return call


def test_rejected_offer_goes_to_the_next_agent_and_the_caller_hears_only_hold(
    tw: Emulator, server: LiveServer, r: redis.Redis
) -> None:
    """Chai (most skilled) declines; the caller stays on hold, and Alice is offered and takes it."""
    go_available(server, "alice", "chai")
    call = support_caller(tw)
    tw.advance(1)
    chai, alice = tw.device("+66811111111"), tw.device("client:alice")
    assert chai.ringing is not None and alice.ringing is None
    leg = chai.answer()
    leg.hears("Press 1 to accept")
    leg.press("9")
    tw.advance(1)
    assert alice.ringing is not None
    alice.answer().press("1")
    call.hears("Connecting you now")
    tw.advance(2)
    assert call.bridge is not None
    assert [e["agent"] for e in events(r, "REJECTED")] == ["chai"]
    assert not any("sorry" in u.text.lower() for u in call.heard)


def test_unanswered_offers_put_the_agent_on_break_after_the_limit(
    tw: Emulator, server: LiveServer, r: redis.Redis
) -> None:
    """Alice lets three offers ring out: she goes on break 'missed calls'; the caller waits on."""
    go_available(server, "alice")
    call = billing_caller(tw)
    for _ in range(3):
        tw.advance(30)
    agent = state(server, "alice")
    assert agent.state == "break"
    assert agent.reason == "missed calls"
    assert len(events(r, "RINGNOANSWER")) == 3
    assert not call.ended
    assert tw.device("client:alice").ringing is None


def test_a_phone_twilio_cannot_ring_puts_the_agent_on_break_and_the_next_agent_is_rung(
    tw: Emulator, server: LiveServer, r: redis.Redis
) -> None:
    """Chai's phone is unreachable: Chai goes on break and Alice is rung; the caller only holds."""
    tw.device("+66811111111").unreachable = True
    go_available(server, "alice", "chai")
    call = support_caller(tw)
    tw.advance(1)
    agent = state(server, "chai")
    assert (agent.state, agent.reason) == ("break", "device unreachable")
    alice = tw.device("client:alice")
    assert alice.ringing is not None
    alice.answer().press("1")
    call.hears("Connecting you now")
    tw.advance(120)  # past any hold-back: Chai stays on break until they come back
    assert state(server, "chai").state == "break"
    assert call.bridge is not None
    assert not any("sorry" in u.text.lower() for u in call.heard)


def test_hanging_up_while_waiting_is_an_abandon(
    tw: Emulator, server: LiveServer, r: redis.Redis
) -> None:
    """A caller who gives up on hold is recorded as abandoned with their position and wait."""
    call = billing_caller(tw)
    tw.advance(40)
    call.hangup()
    tw.advance(1)
    (abandon,) = events(r, "ABANDON")
    assert abandon["queue"] == "billing"
    assert abandon["position"] == "1"
    assert int(abandon["wait_ms"]) >= 40_000
    assert r.hget(Keys().routing_calls(), call.sid) is None


def test_hanging_up_while_an_agent_rings_releases_the_agent(
    tw: Emulator, server: LiveServer
) -> None:
    """The caller hangs up during the ring: Alice's phone stops and she is free again."""
    go_available(server, "alice")
    call = billing_caller(tw)
    tw.advance(1)
    alice = tw.device("client:alice")
    assert alice.ringing is not None
    call.hangup()
    tw.advance(1)
    assert alice.ringing is None
    assert state(server, "alice").state == "available"


def test_agent_hanging_up_first_ends_the_call_and_starts_wrap_up(
    tw: Emulator, server: LiveServer
) -> None:
    """When the agent hangs up, the caller's call ends and the agent goes to wrap-up."""
    go_available(server, "alice")
    call = billing_caller(tw)
    tw.advance(1)
    leg = tw.device("client:alice").answer()
    leg.press("1")
    call.hears("Connecting you now")
    tw.advance(90)
    leg.hangup()
    tw.advance(1)
    assert call.ended
    assert state(server, "alice").state == "wrap_up"


def test_a_retried_hand_off_joins_the_queue_once(
    tw: Emulator, server: LiveServer, r: redis.Redis
) -> None:
    """With every webhook sent twice, the caller enters the queue once and one agent rings."""
    go_available(server, "alice", "budi")
    call = tw.dial(from_="+60199999999", to=BUSINESS, replay=True)
    call.press("1")
    call.hears("For billing, press 1")
    call.press("1")
    call.press("20261124#")
    tw.advance(1)
    assert len(events(r, "ENTERQUEUE")) == 1
    ringing = [d for d in ("client:alice", "client:budi") if tw.device(d).ringing is not None]
    assert len(ringing) == 1
    tw.assert_no_errors()


def sales_call(tw: Emulator, number: str) -> Call:
    call = tw.dial(from_=number, to=BUSINESS)
    call.press("1")
    call.hears("For billing, press 1")
    call.press("3")
    tw.advance(1)
    return call


def test_returning_caller_goes_back_to_their_last_agent(tw: Emulator, server: LiveServer) -> None:
    """A caller Budi helped is offered to Budi next time, though Chai has been idle longer."""
    go_available(server, "budi")
    first = sales_call(tw, "+60177777777")
    budi = tw.device("client:budi")
    budi.answer().press("1")
    tw.advance(30)
    first.hangup()
    go_available(server, "chai")
    tw.advance(60)
    assert state(server, "budi").state == "available"
    again = sales_call(tw, "+60177777777")
    assert budi.ringing is not None
    assert tw.device("+66811111111").ringing is None
    other = sales_call(tw, "+60188888888")
    assert tw.device("+66811111111").ringing is not None
    assert not again.ended and not other.ended


def test_an_agent_freed_by_a_caller_hanging_up_is_rung_for_the_next_caller(
    tw: Emulator, server: LiveServer
) -> None:
    """The first caller hangs up while Alice's phone rings; it rings again for the next caller."""
    go_available(server, "alice")
    first = billing_caller(tw, "+60111111111")
    second = billing_caller(tw, "+60122222222")
    alice = tw.device("client:alice")
    tw.advance(1)
    assert alice.ringing is not None
    first.hangup()
    tw.advance(1)
    leg = alice.answer()
    leg.hears("Billing call, from + 6 0 1 2 2 2 2 2 2 2 2")
    assert not second.ended
