"""Agent-first callbacks bridged through the call's conference (issue 18): the agent's
controls and a supervisor's whisper work on them as on an inbound call, and every
callback guarantee (not reached, busy, the agent hanging up, REST errors) still holds.
Each test asserts what each party hears, through the emulator."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

from callbacks import callback as callbacks
from ivr.devtools.emulator import Emulator
from ivr.devtools.emulator.calls import FINAL_STATUSES, Call
from ivr.devtools.liveserver import LiveServer
from ivr.voice import conference
from tests.agents import services_of, state
from tests.callbacks_helpers import JobRunner, callback_config, callback_state
from tests.consoles import Console
from tests.test_callbacks_e2e import CUSTOMER, busy_alice, take_callback
from tests.test_connect_e2e import events
from tests.test_inbox import CALLER as INBOX_CALLER
from tests.test_inbox import leave_billing_voicemail, the_voicemail


@pytest.fixture(name="config_dir")
def fixture_config_dir(tmp_path: Path) -> Path:
    """The sample config with keep-my-place callbacks offered in billing and sales."""
    return callback_config(tmp_path / "config", calling_hours=None)


@pytest.fixture(name="jobs")
def fixture_jobs(jobs: JobRunner, tw: Emulator) -> JobRunner:
    """Due callback jobs run as the emulator's clock moves."""
    tw.on_tick(lambda now: jobs.tick())
    return jobs


def offered_to_alice(
    tw: Emulator, server: LiveServer, failing: tuple[int, int] | None = None
) -> tuple[str, Call]:
    """A keep-my-place callback Alice accepts on her phone: (callback id, Alice's leg);
    `failing` (status, count) makes Twilio's API fail that many requests from her accept."""
    first = busy_alice(tw, server)
    take_callback(tw)
    svc = services_of(server)
    (pending,) = svc.run(callbacks.pending(svc))
    first.hangup()
    tw.advance(17)
    leg = tw.device("client:alice").answer()
    leg.hears("Callback for Billing")
    if failing is not None:
        tw.fail_rest(failing[0], count=failing[1])
    leg.press("1")
    tw.advance(3)
    return pending.id, leg


def called_back(
    tw: Emulator, server: LiveServer, failing: tuple[int, int] | None = None
) -> tuple[str, Call, Call]:
    """The customer answers Alice's callback: (callback id, customer's leg, Alice's leg)."""
    cb_id, leg = offered_to_alice(tw, server, failing)
    answered = tw.device(CUSTOMER).answer()
    answered.hears("calling you back about your Billing request")
    assert tw.advance_until(lambda: answered.bridge is not None, 20), answered.transcript()
    return cb_id, answered, leg


def test_the_callback_is_bridged_in_the_calls_conference(
    tw: Emulator, server: LiveServer, r: redis.Redis, alice: Console, jobs: JobRunner
) -> None:
    """Alice and the customer talk in `conf-<callback id>`, labelled agent and customer;
    the console shows the call connected; the callback is connected once."""
    cb_id, customer, leg = called_back(tw, server)
    room = tw.conference(conference.name(cb_id))
    labels = {p.label: p for p in room.participants}
    assert labels["customer"].call is customer and labels["customer"].end_on_exit
    assert labels["agent"].call is leg and not labels["agent"].end_on_exit
    assert alice.view()["call"]["state"] == "connected"
    customer.say("thanks for calling back")
    leg.hears("thanks for calling back")
    leg.say("happy to help")
    customer.hears("happy to help")
    assert len(events(r, "CALLBACKCONNECT")) == 1
    assert len(events(r, "CALLBACKDIAL")) == 1
    tw.assert_no_errors()


def test_hold_and_resume_on_a_callback(
    tw: Emulator, server: LiveServer, r: redis.Redis, alice: Console, jobs: JobRunner
) -> None:
    """On hold the called-back customer hears the hold music and not Alice; resumed, they
    talk again; HOLD and UNHOLD name the callback and billing."""
    cb_id, customer, leg = called_back(tw, server)
    reply = alice.post(f"/api/agent/calls/{cb_id}/hold", {"hold": True})
    assert reply.status_code == 200, reply.text
    customer.hears("Please stay on the line")
    leg.say("let me check with billing")
    assert "let me check with billing" not in customer.transcript()
    tw.advance(20)
    reply = alice.post(f"/api/agent/calls/{cb_id}/hold", {"hold": False})
    assert reply.status_code == 200 and reply.json()["state"] == "connected"
    leg.say("thanks for holding")
    customer.hears("thanks for holding")
    (held,) = events(r, "HOLD")
    assert (held["call"], held["agent"], held["queue"]) == (cb_id, "alice", "billing")
    (resumed,) = events(r, "UNHOLD")
    assert 20_000 <= int(resumed["hold_ms"]) <= 22_000


def test_mute_on_a_callback(
    tw: Emulator, server: LiveServer, alice: Console, jobs: JobRunner
) -> None:
    """Muted, Alice hears the customer and the customer does not hear her."""
    cb_id, customer, leg = called_back(tw, server)
    reply = alice.post(f"/api/agent/calls/{cb_id}/mute", {"mute": True})
    assert reply.status_code == 200 and reply.json()["muted"] is True
    leg.say("muttering to myself")
    customer.say("are you there")
    leg.hears("are you there")
    assert "muttering to myself" not in customer.transcript()
    assert alice.post(f"/api/agent/calls/{cb_id}/mute", {"mute": False}).status_code == 200
    leg.say("yes I am")
    customer.hears("yes I am")


def test_hang_up_on_a_callback(
    tw: Emulator, server: LiveServer, r: redis.Redis, alice: Console, jobs: JobRunner
) -> None:
    """Hang up from the console: the customer's call ends, Alice wraps up, the callback is
    done (not retried)."""
    cb_id, customer, leg = called_back(tw, server)
    tw.advance(10)
    assert alice.post(f"/api/agent/calls/{cb_id}/hangup").status_code == 204
    tw.advance(2)
    assert customer.ended
    assert tw.advance_until(lambda: leg.ended, 10)
    assert state(server, "alice").state == "wrap_up"
    svc = services_of(server)
    assert svc.run(callbacks.pending(svc)) == []
    assert events(r, "CALLBACKNOANSWER") == []


def test_alice_hanging_up_ends_the_customers_call(
    tw: Emulator, server: LiveServer, jobs: JobRunner
) -> None:
    """Alice hangs up her phone first: the customer is not left alone in the conference."""
    _, customer, leg = called_back(tw, server)
    leg.hangup()
    assert tw.advance_until(lambda: customer.ended, 10)
    assert state(server, "alice").state == "wrap_up"


def test_a_supervisor_whispers_on_a_callback(
    tw: Emulator, server: LiveServer, sam: Console, jobs: JobRunner
) -> None:
    """Sam whispers on Alice's callback: Alice hears him, the customer does not."""
    cb_id, customer, leg = called_back(tw, server)
    tw.device("client:sam").auto = "answer"
    reply = sam.post(f"/api/supervisor/calls/{cb_id}/monitor", {"mode": "whisper"})
    assert reply.status_code == 200, reply.text
    tw.advance(1)
    tw.device("client:sam").say("offer the refund")
    customer.say("my card was charged twice")
    tw.advance(3)
    leg.hears("offer the refund")
    assert "offer the refund" not in customer.transcript()
    assert "charged twice" in " ".join(tw.device("client:sam").calls[-1].transcript())


@pytest.mark.parametrize("outcome", ["no-answer", "busy", "failed"])
def test_a_customer_not_reached_frees_alice(
    tw: Emulator, server: LiveServer, r: redis.Redis, jobs: JobRunner, outcome: str
) -> None:
    """Not answered, busy or failed: Alice is told, taken out of the conference and freed
    (no wrap-up); the attempt is counted once and retried later."""
    tw.device(CUSTOMER).auto = outcome
    cb_id, leg = offered_to_alice(tw, server)
    assert leg.hears("The customer did not answer")
    assert tw.advance_until(lambda: leg.ended, 60)
    assert len(events(r, "CALLBACKNOANSWER")) == 1
    assert callback_state(services_of(server), cb_id) == "no_answer"
    assert state(server, "alice").state == "available"


def test_alice_hanging_up_while_the_customer_rings(
    tw: Emulator, server: LiveServer, r: redis.Redis, jobs: JobRunner
) -> None:
    """Alice gives up while the customer's phone rings: their ringing stops, the attempt
    counts once as not reached, and Alice is free."""
    cb_id, leg = offered_to_alice(tw, server)
    customer = tw.device(CUSTOMER)
    assert customer.ringing is not None
    leg.hangup()
    tw.advance(5)
    assert customer.ringing is None
    tw.advance(90)
    assert len(events(r, "CALLBACKNOANSWER")) == 1
    assert callback_state(services_of(server), cb_id) == "no_answer"
    assert state(server, "alice").state == "available"


def test_a_failing_api_when_dialling_the_customer(
    tw: Emulator, server: LiveServer, r: redis.Redis, jobs: JobRunner
) -> None:
    """Twilio's API answers 503 to every dial: the attempt counts as failed once, Alice
    hears so and is freed; the customer's phone never rings."""
    cb_id, leg = offered_to_alice(tw, server, failing=(503, 10))
    assert leg.hears("The customer did not answer")
    assert tw.advance_until(lambda: leg.ended, 30)
    assert tw.device(CUSTOMER).calls == []
    assert len(events(r, "CALLBACKNOANSWER")) == 1
    assert state(server, "alice").state == "available"


def test_a_429_then_success_dials_the_customer_once(
    tw: Emulator, server: LiveServer, r: redis.Redis, jobs: JobRunner
) -> None:
    """One 429 on the dial: tried again, the customer rings once and the call connects."""
    cb_id, _, _ = called_back(tw, server, failing=(429, 1))
    assert len(tw.device(CUSTOMER).calls) == 1
    assert callback_state(services_of(server), cb_id) == "connected"
    assert len(events(r, "CALLBACKDIAL")) == 1


def test_the_inbox_call_back_gets_the_controls(
    tw: Emulator, server: LiveServer, r: redis.Redis, alice: Console
) -> None:
    """Alice calls a voicemail back from the inbox (her device rung by the console): the
    customer joins her conference; hold plays them the music and hides her; resumed, they
    talk; hang-up ends their call and Alice wraps up."""
    leave_billing_voicemail(tw)
    voicemail_id = the_voicemail(alice)["id"]
    assert alice.post("/api/agent/status", {"status": "available"}).status_code == 204
    made = alice.post(f"/api/agent/voicemails/{voicemail_id}/callback")
    assert made.status_code == 201, made.text
    cb_id = made.json()["callback"]
    tw.advance(1)
    leg = tw.device("client:alice").answer()
    tw.advance(3)
    customer = tw.device(INBOX_CALLER).answer()
    customer.hears("calling you back about your Billing request")
    assert tw.advance_until(lambda: customer.bridge is not None, 20)
    assert alice.view()["call"]["state"] == "connected"
    assert alice.post(f"/api/agent/calls/{cb_id}/hold", {"hold": True}).status_code == 200
    customer.hears("Please stay on the line")
    leg.say("one moment while I look")
    assert "one moment while I look" not in customer.transcript()
    assert alice.post(f"/api/agent/calls/{cb_id}/hold", {"hold": False}).status_code == 200
    leg.say("found your message")
    customer.hears("found your message")
    assert alice.post(f"/api/agent/calls/{cb_id}/hangup").status_code == 204
    assert tw.advance_until(lambda: customer.ended, 5)
    assert state(server, "alice").state == "wrap_up"
    assert len(events(r, "HOLD")) == 1 and len(events(r, "CALLBACKCONNECT")) == 1
    tw.assert_no_errors()


def test_a_lost_no_answer_still_takes_alice_out(
    tw: Emulator, server: LiveServer, r: redis.Redis, jobs: JobRunner
) -> None:
    """The customer does not answer and their final status callback is lost: the dial's
    watchdog counts the attempt unanswered, frees Alice and takes her leg out of the
    conference (through a 503), telling her the customer did not answer."""
    board = tw._board  # the emulator's seam for status callbacks, as its `faults` uses
    post = board.post_later

    def lose_customer_end(url: str, method: str, params: dict[str, str]) -> None:
        if "/voice/callback/status" in url and params.get("CallStatus") in FINAL_STATUSES:
            return
        post(url, method, params)

    setattr(board, "post_later", lose_customer_end)  # noqa: B010
    tw.device(CUSTOMER).auto = "no-answer"
    cb_id, leg = offered_to_alice(tw, server)
    customer = tw.device(CUSTOMER)
    assert tw.advance_until(lambda: bool(customer.calls) and customer.calls[-1].ended, 60)
    tw.fail_rest(503, count=1)
    assert tw.advance_until(lambda: leg.ended, 120), leg.transcript()
    assert "The customer did not answer" in " ".join(leg.transcript())
    assert tw.rest_failures == 1
    assert len(events(r, "CALLBACKNOANSWER")) == 1
    assert callback_state(services_of(server), cb_id) == "no_answer"
    assert state(server, "alice").state == "available"
