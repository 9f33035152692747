"""Transfers end to end: emulator, real app, controlled clock. A caller moved from billing
to support is never asked again; each party hears what they should."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from ivr.devtools.emulator import Emulator
from ivr.devtools.emulator.calls import Call
from ivr.devtools.liveserver import LiveServer
from tests.agents import go_available, state
from tests.consoles import Console
from tests.test_connect_e2e import billing_caller, events
from tests.test_metrics_script import Script

CHAI_PHONE = "+66811111111"
NOTES = "Late fee on the June bill; wants it waived."


@pytest.fixture(name="chai")
def fixture_chai(server: LiveServer) -> Iterator[Console]:
    """Chai, logged in to the console through the API."""
    console = Console(server, "agent", "chai")
    yield console
    console.close()


def alice_takes(tw: Emulator, server: LiveServer, alice: Console) -> Call:
    """A billing caller, answered by Alice on her phone, with notes in her console."""
    call = billing_caller(tw)
    tw.advance(1)
    leg = tw.device("client:alice").answer()
    leg.hears("Billing call")
    leg.press("1")
    call.hears("Connecting you now")
    tw.advance(2)
    assert alice.view()["call"]["call"] == call.sid
    assert alice.put(f"/api/agent/calls/{call.sid}/notes", {"notes": NOTES}).status_code == 204
    return call


def test_caller_transferred_to_support_is_never_asked_again(
    tw: Emulator,
    server: LiveServer,
    r: redis.Redis,
    redis_url: str,
    alice: Console,
    chai: Console,
) -> None:
    """Alice sends a billing caller to support: the caller hears where they are going and
    waits; Chai hears Alice's notes and the account number in his whisper, and his screen
    pop shows them; nobody asks the caller for the account number again."""
    go_available(server, "alice")
    call = alice_takes(tw, server, alice)
    go_available(server, "chai")
    alice_leg = agent_leg(tw, "client:alice")
    answer = alice.post(
        f"/api/agent/calls/{call.sid}/transfer", {"to": "queue", "target": "support"}
    )
    assert answer.status_code == 200, answer.text
    call.hears("Please hold while we put you through to Technical support")
    alice_leg.hears("Transferred to Technical support")
    assert tw.advance_until(lambda: alice_leg.ended, 5)
    assert alice.view()["call"]["transfer"]["transferred"] is True  # wrap-up: "Transferred"
    assert state(server, "alice").state == "wrap_up"
    tw.advance(1)
    chai_leg = tw.device(CHAI_PHONE).answer()
    whisper = chai_leg.hears("Transferred by Alice Tan")
    assert NOTES.rstrip(".") in whisper.text
    assert "account number 2 0 2 6 1 1 2 4" in whisper.text
    chai_leg.press("1")
    call.hears("Connecting you now")
    tw.advance(2)
    assert state(server, "chai").state == "on_call"
    pop = chai.view()["call"]
    assert pop["call"] == call.sid
    assert pop["data"]["account_number"] == "20261124"
    assert [(h["name"], h["notes"]) for h in pop["transfer"]["handoff"]] == [("Alice Tan", NOTES)]
    assert sum("8 digit account number" in t for t in call.transcript()) == 1
    (transfer,) = events(r, "TRANSFER")
    assert (transfer["agent"], transfer["kind"], transfer["target"]) == (
        "alice",
        "queue",
        "support",
    )
    assert [c.get("transfer") for c in events(r, "CONNECT")] == [None, "1"]
    tw.advance(30)
    call.hangup()
    tw.advance(1)
    assert state(server, "chai").state == "wrap_up"
    tw.assert_no_errors()
    folded = Script(r, redis_url)
    folded.fold()
    figures = folded.figures()  # one customer contact, transferred once, not a second arrival
    assert (figures["contacts"], figures["queued"], figures["transfers_queue"]) == (1, 1, 1)


def consult_chai(tw: Emulator, server: LiveServer, alice: Console, call: Call) -> Call:
    """Alice consults Chai: the caller is put on hold, Chai's phone rings with a whisper of
    the call and Alice's notes, and he joins Alice; the caller hears neither of them."""
    go_available(server, "chai")
    body = {"to": "agent", "target": "chai", "warm": True}
    answer = alice.post(f"/api/agent/calls/{call.sid}/transfer", body)
    assert answer.status_code == 200, answer.text
    call.hears("Please stay on the line")
    assert state(server, "chai").state == "on_call"
    assert alice.view()["call"]["transfer"]["consulting"] == {"agent": "chai", "name": "Chaiwat S."}
    tw.advance(1)
    chai_leg = tw.device(CHAI_PHONE).answer()
    whisper = chai_leg.hears("Consultation from Alice Tan")
    assert NOTES.rstrip(".") in whisper.text
    assert "account number 2 0 2 6 1 1 2 4" in whisper.text
    assert tw.advance_until(lambda: joined(tw, call, CHAI_PHONE), 60)
    alice_leg = agent_leg(tw, "client:alice")
    alice_leg.say("can you take a late fee dispute")
    chai_leg.hears("late fee dispute")
    assert not any("late fee dispute" in t for t in call.transcript())
    return chai_leg


def joined(tw: Emulator, call: Call, device: str) -> bool:
    """Whether `device`'s leg is in the call's conference."""
    return any(p.call.to == device for p in tw.conference(f"conf-{call.sid}").participants)


def agent_leg(tw: Emulator, device: str) -> Call:
    """The device's call that is still up."""
    (leg,) = [c for c in tw.calls if c.to == device and not c.ended]
    return leg


def test_warm_transfer_completed(
    tw: Emulator,
    server: LiveServer,
    r: redis.Redis,
    redis_url: str,
    alice: Console,
    chai: Console,
) -> None:
    """Alice consults Chai with the caller on hold, then completes: the caller is back,
    talking to Chai, Alice's leg is gone and she wraps up; Chai's screen pop has the notes."""
    go_available(server, "alice")
    call = alice_takes(tw, server, alice)
    chai_leg = consult_chai(tw, server, alice, call)
    alice_leg = agent_leg(tw, "client:alice")
    done = alice.post(f"/api/agent/calls/{call.sid}/transfer/complete")
    assert done.status_code == 200, done.text
    alice_leg.hears("Transferred to Chaiwat S.")
    assert tw.advance_until(lambda: alice_leg.ended, 5)
    chai_leg.say("hello this is Chai from support")
    call.hears("this is Chai from support")
    call.say("thank you")
    chai_leg.hears("thank you")
    assert state(server, "alice").state == "wrap_up"
    assert state(server, "chai").state == "on_call"
    pop = chai.view()["call"]
    assert pop["call"] == call.sid and pop["transfer"]["handoff"][0]["notes"] == NOTES
    (consult,) = events(r, "CONSULT")
    assert consult["outcome"] == "completed"
    (transfer,) = events(r, "TRANSFER")
    assert (transfer["kind"], transfer["target"], transfer["warm"]) == ("agent", "chai", "1")
    tw.advance(20)
    chai_leg.hangup()
    tw.advance(1)
    assert call.ended
    assert state(server, "chai").state == "wrap_up"
    tw.assert_no_errors()
    folded = Script(r, redis_url)
    folded.fold()
    figures = folded.figures()  # one customer contact, two agent handles
    assert (figures["contacts"], figures["answered"], figures["handled"]) == (1, 1, 1)
    assert (figures["transfers_agent"], figures["consults_completed"]) == (1, 1)


def test_warm_transfer_cancelled(
    tw: Emulator, server: LiveServer, r: redis.Redis, alice: Console, chai: Console
) -> None:
    """Alice consults Chai, then cancels: Chai's leg ends and he is free with nothing to
    wrap up, the caller is off hold and hears Alice again."""
    go_available(server, "alice")
    call = alice_takes(tw, server, alice)
    chai_leg = consult_chai(tw, server, alice, call)
    consulted = chai.view()["call"]
    assert consulted["call"] == call.sid and consulted["data"]["account_number"] == "20261124"
    assert consulted["transfer"]["consulted_by"] == {"agent": "alice", "name": "Alice Tan"}
    back = alice.post(f"/api/agent/calls/{call.sid}/transfer/cancel")
    assert back.status_code == 200, back.text
    assert tw.advance_until(lambda: chai_leg.ended, 5)
    assert state(server, "chai").state == "available"
    assert chai.view()["call"] is None
    assert alice.view()["call"]["transfer"]["handoff"] == []  # nothing was handed on
    alice_leg = agent_leg(tw, "client:alice")
    alice_leg.say("sorry for the wait I will sort it myself")
    call.hears("sort it myself")
    assert alice.view()["call"]["transfer"]["consulting"] is None
    (consult,) = events(r, "CONSULT")
    assert consult["outcome"] == "cancelled"
    assert events(r, "TRANSFER") == []
    tw.advance(10)
    call.hangup()
    tw.advance(1)
    assert state(server, "alice").state == "wrap_up"
    tw.assert_no_errors()


def test_cold_transfer_to_an_agent_and_to_a_number(
    tw: Emulator, server: LiveServer, r: redis.Redis, alice: Console
) -> None:
    """To an agent by name: the caller is told whom they are put through to and Chai's
    phone rings with Alice's notes. Then Chai sends them out to a number: it rings into the
    call, Chai's leg leaves, and the caller talks to whoever answers."""
    go_available(server, "alice")
    call = alice_takes(tw, server, alice)
    go_available(server, "chai")
    body = {"to": "agent", "target": "chai"}
    assert alice.post(f"/api/agent/calls/{call.sid}/transfer", body).status_code == 200
    call.hears("Please hold while we put you through to Chaiwat")
    tw.advance(1)
    chai_leg = tw.device(CHAI_PHONE).answer()
    chai_leg.hears("Transferred by Alice Tan")
    chai_leg.press("1")
    call.hears("Connecting you now")
    tw.advance(2)
    chai = Console(server, "agent", "chai")
    try:
        chai.view()
        out = {"to": "number", "target": "+60 3-2222 3333"}
        answer = chai.post(f"/api/agent/calls/{call.sid}/transfer", out)
        assert answer.status_code == 200, answer.text
    finally:
        chai.close()
    tw.advance(1)
    outside = tw.device("+60322223333")
    assert outside.ringing is not None
    outside_leg = outside.answer()
    assert tw.advance_until(lambda: chai_leg.ended, 5)
    outside_leg.say("accounts department speaking")
    call.hears("accounts department speaking")
    assert state(server, "chai").state == "wrap_up"
    kinds = [(t["agent"], t["kind"], t["target"]) for t in events(r, "TRANSFER")]
    assert kinds == [("alice", "agent", "chai"), ("chai", "number", "+60322223333")]
    outside_leg.hangup()
    assert tw.advance_until(lambda: call.ended, 5)
    tw.assert_no_errors()


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        pytest.param({"to": "queue", "target": "nowhere"}, 400, "no queue nowhere", id="queue"),
        pytest.param({"to": "agent", "target": "budi"}, 409, "budi is not logged in", id="off"),
        pytest.param({"to": "number", "target": "12"}, 400, "not a phone number", id="number"),
    ],
)
def test_a_refused_transfer_changes_nothing(
    tw: Emulator,
    server: LiveServer,
    alice: Console,
    body: dict[str, object],
    status: int,
    error: str,
) -> None:
    """A transfer that cannot be made answers why, and the caller stays with Alice."""
    go_available(server, "alice")
    call = alice_takes(tw, server, alice)
    answer = alice.post(f"/api/agent/calls/{call.sid}/transfer", body)
    assert answer.status_code == status and error in answer.json()["error"]
    alice_leg = agent_leg(tw, "client:alice")
    alice_leg.say("still here")
    call.hears("still here")
    assert state(server, "alice").state == "on_call"


def test_only_the_agent_on_the_call_can_transfer_it(
    tw: Emulator, server: LiveServer, alice: Console, chai: Console
) -> None:
    """Another agent's transfer, complete or cancel of the call is refused with 409."""
    go_available(server, "alice")
    call = alice_takes(tw, server, alice)
    for path in ("transfer", "transfer/complete", "transfer/cancel"):
        answer = chai.post(
            f"/api/agent/calls/{call.sid}/{path}", {"to": "queue", "target": "support"}
        )
        assert answer.status_code == 409, (path, answer.text)
    assert alice.post(f"/api/agent/calls/{call.sid}/transfer/complete").status_code == 409
    unknown = alice.post("/api/agent/calls/CA0/transfer", {"to": "queue", "target": "support"})
    assert unknown.status_code == 404


def test_a_consultation_before_the_caller_joined_is_undone(
    tw: Emulator, server: LiveServer, r: redis.Redis, alice: Console
) -> None:
    """Asked in the first moment, before the caller is in the conference (Twilio knows no
    such participant to hold): 409, Chai is free again, and the call goes on with Alice."""
    go_available(server, "alice", "chai")
    call = billing_caller(tw)
    tw.advance(1)
    leg = tw.device("client:alice").answer()
    leg.hears("Billing call")
    leg.press("1")
    call.hears("Connecting you now")
    alice.view()
    body = {"to": "agent", "target": "chai", "warm": True}
    answer = alice.post(f"/api/agent/calls/{call.sid}/transfer", body)
    assert answer.status_code == 409 and "not in the call" in answer.json()["error"]
    assert state(server, "chai").state == "available"
    assert [c["outcome"] for c in events(r, "CONSULT")] == ["cancelled"]
    tw.advance(2)
    leg.say("hello how can I help")
    call.hears("how can I help")


def test_hanging_up_while_consulting_hands_the_caller_over(
    tw: Emulator, server: LiveServer, r: redis.Redis, alice: Console
) -> None:
    """Alice hangs up while Chai is in the consultation: the caller is off hold and talking
    to Chai, as if she had pressed Complete."""
    go_available(server, "alice")
    call = alice_takes(tw, server, alice)
    chai_leg = consult_chai(tw, server, alice, call)
    alice_leg = agent_leg(tw, "client:alice")
    alice_leg.hangup()
    tw.advance(1)
    chai_leg.say("I have your account open")
    call.hears("account open")
    assert not call.ended
    assert state(server, "alice").state == "wrap_up"
    assert state(server, "chai").state == "on_call"
    assert [c["outcome"] for c in events(r, "CONSULT")] == ["completed"]


def test_hanging_up_while_the_consulted_phone_rings_ends_the_call(
    tw: Emulator, server: LiveServer, r: redis.Redis, alice: Console
) -> None:
    """Alice hangs up before Chai answers the consultation: it is cancelled, Chai's phone
    stops ringing and he is free, and the caller's call ends as after any agent's hang-up."""
    go_available(server, "alice")
    call = alice_takes(tw, server, alice)
    go_available(server, "chai")
    body = {"to": "agent", "target": "chai", "warm": True}
    assert alice.post(f"/api/agent/calls/{call.sid}/transfer", body).status_code == 200
    tw.advance(1)
    assert tw.device(CHAI_PHONE).ringing is not None
    agent_leg(tw, "client:alice").hangup()
    assert tw.advance_until(lambda: call.ended, 10)
    assert tw.device(CHAI_PHONE).ringing is None
    assert state(server, "chai").state == "available"
    assert [c["outcome"] for c in events(r, "CONSULT")] == ["cancelled"]


def test_a_caller_on_hold_transferred_cold_ends_the_hold(
    tw: Emulator, server: LiveServer, r: redis.Redis, alice: Console
) -> None:
    """Alice puts the caller on hold, then sends them to support: the hold ends with her
    handle (UNHOLD), and the caller hears where they go next, not the hold music."""
    go_available(server, "alice")
    call = alice_takes(tw, server, alice)
    assert alice.post(f"/api/agent/calls/{call.sid}/hold", {"hold": True}).status_code == 200
    call.hears("Please stay on the line")
    tw.advance(5)
    body = {"to": "queue", "target": "support"}
    assert alice.post(f"/api/agent/calls/{call.sid}/transfer", body).status_code == 200
    call.hears("Please hold while we put you through to Technical support")
    (held,) = events(r, "UNHOLD")
    assert held["agent"] == "alice" and int(held["hold_ms"]) >= 5000


def test_a_consultation_nobody_answers_gives_the_caller_back(
    tw: Emulator, server: LiveServer, r: redis.Redis, alice: Console
) -> None:
    """Chai's phone rings out: the consultation is cancelled, Chai is free, and the caller
    is off hold with Alice (never left holding for nobody)."""
    go_available(server, "alice")
    call = alice_takes(tw, server, alice)
    go_available(server, "chai")
    body = {"to": "agent", "target": "chai", "warm": True}
    assert alice.post(f"/api/agent/calls/{call.sid}/transfer", body).status_code == 200
    call.hears("Please stay on the line")
    tw.advance(1)
    assert tw.device(CHAI_PHONE).ringing is not None
    assert tw.advance_until(lambda: tw.device(CHAI_PHONE).ringing is None, 30)
    tw.advance(1)
    assert state(server, "chai").state == "available"
    assert alice.view()["call"]["transfer"]["consulting"] is None
    agent_leg(tw, "client:alice").say("nobody is free so I will help you")
    call.hears("I will help you")
    assert [c["outcome"] for c in events(r, "CONSULT")] == ["cancelled"]
