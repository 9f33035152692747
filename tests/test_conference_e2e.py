"""The agent's controls on a bridged call, through the console's API and the emulator:
each test asserts what each party hears (issue 18)."""

from __future__ import annotations

import redis

from ivr.core.keys import Keys
from ivr.devtools.emulator import Emulator
from ivr.devtools.emulator.calls import Call
from ivr.devtools.liveserver import LiveServer
from ivr.voice import conference
from tests.agents import go_available, services_of, state
from tests.consoles import Console
from tests.streams import entries
from tests.test_connect_e2e import billing_caller


def events(r: redis.Redis, kind: str) -> list[dict[str, str]]:
    return [fields for _, fields in entries(r, Keys().events()) if fields["type"] == kind]


def bridged(tw: Emulator, server: LiveServer) -> tuple[Call, Call]:
    """A billing caller Alice accepts on her phone and talks to: (caller, Alice's leg)."""
    go_available(server, "alice")
    call = billing_caller(tw)
    tw.advance(1)
    leg = tw.device("client:alice").answer()
    leg.press("1")
    call.hears("Connecting you now")
    tw.advance(2)
    assert call.bridge is not None
    return call, leg


def test_the_call_is_bridged_in_a_conference_of_its_own(
    tw: Emulator, server: LiveServer, alice: Console
) -> None:
    """Caller and agent talk in `conf-<CallSid>`, labelled customer and agent; the console
    shows the call connected; each hears the other."""
    call, leg = bridged(tw, server)
    room = tw.conference(conference.name(call.sid))
    labels = {p.label: p for p in room.participants}
    assert labels["customer"].call is call and labels["customer"].end_on_exit
    assert labels["agent"].call is leg and not labels["agent"].end_on_exit
    assert alice.view()["call"]["state"] == "connected"
    call.say("my card was charged twice")
    leg.hears("my card was charged twice")
    leg.say("let me check that")
    call.hears("let me check that")
    tw.assert_no_errors()


def test_hold_plays_music_to_the_customer_and_resume_brings_them_back(
    tw: Emulator, server: LiveServer, alice: Console, r: redis.Redis
) -> None:
    """On hold the customer hears "please stay on the line" and the hold music, and does
    not hear the agent; resumed, they talk again; HOLD and UNHOLD(hold_ms) are recorded."""
    call, leg = bridged(tw, server)
    reply = alice.post(f"/api/agent/calls/{call.sid}/hold", {"hold": True})
    assert reply.status_code == 200, reply.text
    assert reply.json()["state"] == "on_hold" and reply.json()["on_hold"]
    call.hears("Please stay on the line")
    call.hears("MARKOVICHAMP")  # billing's hold music, as in the queue
    assert alice.view()["call"]["state"] == "on_hold"
    leg.say("checking with billing, she cannot hear me")
    assert "checking with billing, she cannot hear me" not in call.transcript()
    tw.advance(30)
    reply = alice.post(f"/api/agent/calls/{call.sid}/hold", {"hold": False})
    assert reply.status_code == 200 and reply.json()["state"] == "connected"
    leg.say("thanks for holding")
    call.hears("thanks for holding")
    (held,) = events(r, "HOLD")
    (resumed,) = events(r, "UNHOLD")
    assert (held["call"], held["agent"], held["queue"]) == (call.sid, "alice", "billing")
    assert 30_000 <= int(resumed["hold_ms"]) <= 32_000
    tw.assert_no_errors()


def test_a_second_hold_or_resume_changes_nothing(
    tw: Emulator, server: LiveServer, alice: Console, r: redis.Redis
) -> None:
    """A double click: holding twice opens one hold; resuming twice closes it once."""
    call, _ = bridged(tw, server)
    for _ in range(2):
        assert alice.post(f"/api/agent/calls/{call.sid}/hold", {"hold": True}).status_code == 200
    tw.advance(5)
    for _ in range(2):
        assert alice.post(f"/api/agent/calls/{call.sid}/hold", {"hold": False}).status_code == 200
    assert len(events(r, "HOLD")) == 1 and len(events(r, "UNHOLD")) == 1


def test_a_call_ending_on_hold_closes_the_hold(
    tw: Emulator, server: LiveServer, alice: Console, r: redis.Redis
) -> None:
    """The customer hangs up while on hold: UNHOLD records the hold, the agent wraps up."""
    call, _ = bridged(tw, server)
    assert alice.post(f"/api/agent/calls/{call.sid}/hold", {"hold": True}).status_code == 200
    tw.advance(12)
    call.hangup()
    tw.advance(2)
    (resumed,) = events(r, "UNHOLD")
    assert 12_000 <= int(resumed["hold_ms"]) <= 13_000
    assert state(server, "alice").state == "wrap_up"


def test_a_muted_agent_is_not_heard(tw: Emulator, server: LiveServer, alice: Console) -> None:
    """Muted, Alice hears the customer and the customer does not hear her; unmuted, they do."""
    call, leg = bridged(tw, server)
    reply = alice.post(f"/api/agent/calls/{call.sid}/mute", {"mute": True})
    assert reply.status_code == 200 and reply.json()["muted"] is True
    assert alice.view()["call"]["muted"] is True
    leg.say("muttering to myself")
    call.say("are you still there")
    leg.hears("are you still there")
    assert "muttering to myself" not in call.transcript()
    reply = alice.post(f"/api/agent/calls/{call.sid}/mute", {"mute": False})
    assert reply.status_code == 200 and reply.json()["muted"] is False
    leg.say("yes I am here")
    call.hears("yes I am here")


def test_digits_are_heard_by_the_customer(tw: Emulator, server: LiveServer, alice: Console) -> None:
    """The keypad plays the tones to the customer's side (an IVR there hears them)."""
    call, leg = bridged(tw, server)
    reply = alice.post(f"/api/agent/calls/{call.sid}/digits", {"digits": "12#"})
    assert reply.status_code == 204, reply.text
    tone = call.hears("12#")
    assert tone.kind == "digits"
    assert "12#" not in leg.transcript()
    tw.assert_no_errors()


def test_hang_up_ends_the_customers_call_and_the_agent_wraps_up(
    tw: Emulator, server: LiveServer, alice: Console, r: redis.Redis
) -> None:
    """Hang up from the console: the customer's call ends, Alice goes to wrap-up, and the
    call is completed once in routing."""
    call, leg = bridged(tw, server)
    tw.advance(20)
    assert alice.view()["call"]["state"] == "connected"
    assert alice.post(f"/api/agent/calls/{call.sid}/hangup").status_code == 204
    tw.advance(2)
    assert call.ended
    assert state(server, "alice").state == "wrap_up"
    assert alice.view()["call"]["state"] == "ended"
    assert len(events(r, "COMPLETEAGENT")) + len(events(r, "COMPLETECALLER")) == 1
    assert tw.advance_until(lambda: leg.ended, 10)


def test_controls_refuse_what_is_not_the_agents(
    tw: Emulator, server: LiveServer, alice: Console
) -> None:
    """Another agent's call 409, a call routing does not know 404, a bad body 400; nothing
    changes."""
    call, _ = bridged(tw, server)
    budi = Console(server, "agent", "budi")
    try:
        assert budi.post(f"/api/agent/calls/{call.sid}/hold", {"hold": True}).status_code == 409
        assert budi.post(f"/api/agent/calls/{call.sid}/hangup").status_code == 409
    finally:
        budi.close()
    assert alice.post("/api/agent/calls/CA" + "0" * 32 + "/mute", {"mute": True}).status_code == 404
    assert alice.post(f"/api/agent/calls/{call.sid}/hold", {"hold": "yes"}).status_code == 400
    assert alice.post(f"/api/agent/calls/{call.sid}/digits", {"digits": "12a"}).status_code == 400
    assert not call.ended and call.bridge is not None


def test_a_failing_api_answers_502_and_changes_nothing(
    tw: Emulator, server: LiveServer, alice: Console, r: redis.Redis
) -> None:
    """Twilio answering 503 through the retries: 502 with a plain message, no HOLD recorded."""
    call, _ = bridged(tw, server)
    tw.fail_rest(503, count=10)
    reply = alice.post(f"/api/agent/calls/{call.sid}/hold", {"hold": True})
    assert reply.status_code == 502
    assert "Twilio" in reply.json()["error"]
    assert not events(r, "HOLD")
    assert alice.view()["call"]["state"] == "connected"


def test_a_control_retries_a_transient_error(
    tw: Emulator, server: LiveServer, alice: Console
) -> None:
    """One 429 from the API: the control is retried and works."""
    call, _ = bridged(tw, server)
    tw.fail_rest(429, count=1)
    reply = alice.post(f"/api/agent/calls/{call.sid}/hold", {"hold": True})
    assert reply.status_code == 200, reply.text
    call.hears("Please stay on the line")
    assert services_of(server) is not None
