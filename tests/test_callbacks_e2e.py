"""Keep-my-place callbacks end to end: the emulator, the real app, a controlled clock."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import redis
import requests
from twilio.http.response import Response
from twilio.rest import Client

from callbacks import callback as callbacks
from ivr.core.clock import ManualClock
from ivr.core.keys import Keys
from ivr.devtools.emulator import Emulator
from ivr.devtools.emulator.calls import Call
from ivr.devtools.liveserver import LiveServer
from tests.agents import go_available, services_of, state
from tests.callbacks_helpers import JobRunner, callback_config, callback_state
from tests.conftest import AUTH_TOKEN, BUSINESS
from tests.test_connect_e2e import billing_caller, events
from tests.test_report import run as report_of

CUSTOMER = "+60176543210"


@pytest.fixture(name="config_dir")
def fixture_config_dir(tmp_path: Path) -> Path:
    """The sample config with keep-my-place callbacks offered in billing and sales."""
    return callback_config(tmp_path / "config", calling_hours=None)


@pytest.fixture(name="jobs")
def fixture_jobs(jobs: JobRunner, tw: Emulator) -> JobRunner:
    """Due callback jobs run as the emulator's clock moves."""
    tw.on_tick(lambda now: jobs.tick())
    return jobs


def busy_alice(tw: Emulator, server: LiveServer) -> Call:
    """Alice is talking to a first caller, so the next billing caller waits."""
    go_available(server, "alice")
    first = billing_caller(tw, "+60111111111")
    tw.advance(1)
    tw.device("client:alice").answer().press("1")
    first.hears("Connecting you now")
    return first


def take_callback(tw: Emulator, number: str = CUSTOMER) -> Call:
    """A billing caller on hold asks to be called back on their caller ID."""
    call = billing_caller(tw, number)
    call.hears("keeping your place in line, press 1")
    call.press("1")
    call.hears("We will call you back on")
    call.press("1")
    call.hears("You keep your place in line")
    tw.advance(30)
    assert call.ended, "\n".join(call.transcript()[-8:]) + str(tw.errors)
    return call


def test_keep_my_place_agent_first(
    tw: Emulator, server: LiveServer, r: redis.Redis, jobs: JobRunner
) -> None:
    """The callback takes the caller's place; the agent accepts, then the customer is dialled."""
    first = busy_alice(tw, server)
    take_callback(tw)
    svc = services_of(server)
    (pending,) = svc.run(callbacks.pending(svc))
    assert pending.state == "queued" and pending.queue == "billing"
    assert events(r, "ABANDON") == []
    assert len(events(r, "CALLBACK")) == 1
    (sms,) = tw.sms_to(CUSTOMER)
    assert "Reply CANCEL to cancel" in sms.body
    customer = tw.device(CUSTOMER)
    first.hangup()
    tw.advance(17)
    leg = tw.device("client:alice").answer()
    whisper = leg.hears("Callback for Billing")
    assert "account number 2 0 2 6 1 1 2 4" in whisper.text
    leg.press("1")
    tw.advance(3)
    assert customer.ringing is not None
    answered = customer.answer()
    answered.hears("calling you back about your Billing request")
    tw.advance(2)
    (connect,) = events(r, "CALLBACKCONNECT")
    assert int(connect["original_started_ms"]) > 0
    assert connect["agent"] == "alice"
    assert callback_state(svc, pending.id) == "connected"
    tw.advance(30)
    answered.hangup()
    tw.advance(1)
    assert state(server, "alice").state == "wrap_up"
    tw.assert_no_errors()


def malay_callback(tw: Emulator, number: str = CUSTOMER) -> Call:
    """A Malay billing caller on hold asks to be called back on their caller ID."""
    call = tw.dial(from_=number, to=BUSINESS)
    call.press("2")
    call.hears("Untuk bil, tekan 1")
    call.press("1")
    call.hears("nombor akaun 8 digit")
    call.press("20261124#")
    call.hears("tanpa kehilangan giliran anda, tekan 1")
    call.press("1")
    call.hears("Kami akan menghubungi anda di")
    call.press("1")
    call.hears("Giliran anda dikekalkan")
    tw.advance(30)
    assert call.ended, "\n".join(call.transcript()[-8:]) + str(tw.errors)
    return call


def test_a_handled_callback_is_surveyed_once_in_the_customers_language(
    tw: Emulator, server: LiveServer, r: redis.Redis, jobs: JobRunner
) -> None:
    """The customer who waited longest is asked too: after the callback's talk, one CES
    survey goes to the callback number, in their language, and its reply is scored
    against the original call (the contact the callback returned)."""
    first = busy_alice(tw, server)
    original = malay_callback(tw)
    first.hangup()
    tw.advance(17)
    tw.device("client:alice").answer().press("1")
    tw.advance(3)
    answered = tw.device(CUSTOMER).answer()
    tw.advance(40)
    answered.hangup()
    tw.advance(130)
    asked = [m for m in tw.sms_to(CUSTOMER) if "Acme Telco memudahkan" in m.body]
    assert len(asked) == 1, [m.body for m in tw.sms_to(CUSTOMER)]
    assert asked[0].from_ == BUSINESS
    assert r.hget(Keys().survey_stats(), "skipped:no_session") is None
    (thanks,) = tw.send_sms(CUSTOMER, BUSINESS, "6")
    assert "Terima kasih" in thanks.body
    assert r.hget(Keys().survey_scores(), original.sid) == "6"
    tw.advance(130)
    assert len([m for m in tw.sms_to(CUSTOMER) if "Acme Telco memudahkan" in m.body]) == 1
    tw.assert_no_errors()


def test_a_handled_callback_to_a_number_that_texted_stop_is_not_surveyed(
    tw: Emulator, server: LiveServer, r: redis.Redis, jobs: JobRunner
) -> None:
    """STOP from the callback number holds for its callback's survey as for any other."""
    first = busy_alice(tw, server)
    take_callback(tw)
    tw.send_sms(CUSTOMER, BUSINESS, "STOP")
    first.hangup()
    tw.advance(17)
    tw.device("client:alice").answer().press("1")
    tw.advance(3)
    answered = tw.device(CUSTOMER).answer()
    tw.advance(40)
    answered.hangup()
    tw.advance(130)
    assert not [m for m in tw.sms_to(CUSTOMER) if "made it easy" in m.body]
    assert r.hget(Keys().survey_stats(), "skipped:opted_out") == "1"


WAITING = "CA" + "0" * 31


class TextsUnreachable:
    """The REST transport, except that texts fail as a dropped connection to Twilio does."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Response:
        if url.endswith("/Messages.json"):
            raise requests.ConnectionError("Connection reset by peer")
        response: Response = self.inner.request(method, url, *args, **kwargs)
        return response


def test_a_confirmation_text_that_cannot_be_sent_does_not_cost_the_callback(
    tw: Emulator, server: LiveServer
) -> None:
    """Twilio unreachable for the confirmation SMS: the caller still hears their callback
    is booked (no application error), and it waits in their place."""
    svc = services_of(server)
    svc.twilio_http_client = TextsUnreachable(tw.http_client())
    busy_alice(tw, server)
    take_callback(tw)
    (pending,) = svc.run(callbacks.pending(svc))
    assert pending.number == CUSTOMER
    tw.assert_no_errors()


@pytest.mark.parametrize(
    ("others", "expected_rank"),
    [
        pytest.param([(-600, 0)], 1, id="behind-an-earlier-caller"),
        pytest.param([(+5, 0)], 0, id="ahead-of-a-later-caller"),
        pytest.param([(-600, 0), (+5, 0), (+10, 0)], 1, id="between-earlier-and-later"),
        pytest.param([(+5, 9)], 1, id="behind-a-later-higher-priority-caller"),
        pytest.param([(-600, 0), (-300, 0)], 2, id="behind-two-earlier-callers"),
    ],
)
def test_the_callback_keeps_the_callers_place(
    tw: Emulator,
    server: LiveServer,
    clock: ManualClock,
    others: list[tuple[float, int]],
    expected_rank: int,
) -> None:
    """The callback is served exactly where its caller stood: original time and priority."""
    svc = services_of(server)
    busy_alice(tw, server)
    caller = billing_caller(tw, CUSTOMER)
    caller.hears("keeping your place in line, press 1")
    joined = svc.run(svc.router.position(caller.sid))
    assert joined is not None
    start = clock.now() - joined.waited_s
    for index, (offset, priority) in enumerate(others):
        sid = WAITING + str(index)
        svc.run(
            svc.router.enter(
                sid, "billing", priority, "en", "", original_enqueued_at=start + offset
            )
        )
    before = [p.call_sid for p in svc.run(svc.router.queue_snapshot("billing"))]
    assert before.index(caller.sid) == expected_rank
    caller.press("1")
    caller.hears("We will call you back on")
    caller.press("1")
    caller.hears("You keep your place in line")
    after = [p.call_sid for p in svc.run(svc.router.queue_snapshot("billing"))]
    (pending,) = svc.run(callbacks.pending(svc))
    assert caller.sid not in after
    assert after.index(pending.id) == expected_rank
    assert [s for s in after if s != pending.id] == [s for s in before if s != caller.sid]


def test_unanswered_attempts_are_retried_after_the_gap(
    tw: Emulator, server: LiveServer, r: redis.Redis, jobs: JobRunner
) -> None:
    """No answer: the agent is freed, and after the minimum gap the callback is offered again."""
    first = busy_alice(tw, server)
    take_callback(tw)
    svc = services_of(server)
    customer = tw.device(CUSTOMER)
    customer.auto = "no-answer"
    first.hangup()
    tw.advance(17)
    tw.device("client:alice").answer().press("1")
    tw.advance(40)
    (pending,) = svc.run(callbacks.pending(svc))
    assert pending.state == "no_answer" and pending.attempts == 1
    assert len(events(r, "CALLBACKNOANSWER")) == 1
    assert state(server, "alice").state == "available"
    customer.auto = "answer"
    tw.advance(300)
    assert tw.device("client:alice").ringing is not None
    tw.device("client:alice").answer().press("1")
    tw.advance(10)
    cb = svc.run(callbacks.get(svc, pending.id))
    assert cb is not None and cb.state == "connected" and cb.attempts == 2
    tw.assert_no_errors()


def test_attempts_run_out_and_the_customer_is_told(
    tw: Emulator, server: LiveServer, r: redis.Redis, jobs: JobRunner
) -> None:
    """After the configured three unanswered attempts the callback fails with an SMS."""
    take_callback(tw)
    svc = services_of(server)
    tw.device(CUSTOMER).auto = "busy"
    alice = tw.device("client:alice")
    go_available(server, "alice")
    for _ in range(3):
        assert tw.advance_until(lambda: alice.ringing is not None, 400)
        alice.answer().press("1")
        tw.advance(30)
    assert svc.run(callbacks.pending(svc)) == []
    assert len(events(r, "CALLBACKFAILED")) == 1
    assert len(events(r, "CALLBACKDIAL")) == 3
    assert "could not reach you" in tw.sms_to(CUSTOMER)[-1].body


def test_a_second_request_is_told_about_the_first(tw: Emulator, server: LiveServer) -> None:
    """One callback per number and queue: a caller already waiting who asks hears the first."""
    busy_alice(tw, server)
    again = billing_caller(tw, CUSTOMER)
    again.hears("keeping your place in line, press 1")
    take_callback(tw)
    again.press("1")
    again.hears("You already have a callback at about")
    svc = services_of(server)
    assert len(svc.run(callbacks.pending(svc))) == 1
    assert svc.run(svc.router.position(again.sid)) is not None, "still waiting in the queue"


def test_supervisor_cancel_takes_it_out_of_the_queue(
    tw: Emulator, server: LiveServer, r: redis.Redis
) -> None:
    """`cancel` removes a queued callback from routing; a second cancel changes nothing."""
    busy_alice(tw, server)
    take_callback(tw)
    svc = services_of(server)
    (pending,) = svc.run(callbacks.pending(svc))
    assert svc.run(callbacks.cancel(svc, pending.id, by="supervisor:sam"))
    assert not svc.run(callbacks.cancel(svc, pending.id, by="supervisor:sam"))
    assert svc.run(svc.router.has_call(pending.id)) is False
    assert len(events(r, "CALLBACKCANCELED")) == 1
    assert svc.run(callbacks.pending(svc)) == []


def test_cancel_by_sms(tw: Emulator, server: LiveServer) -> None:
    """Texting CANCEL cancels the pending callback, with a confirmation reply."""
    busy_alice(tw, server)
    take_callback(tw)
    (reply,) = tw.send_sms(CUSTOMER, BUSINESS, "cancel")
    assert "cancelled" in reply.body
    svc = services_of(server)
    assert svc.run(callbacks.pending(svc)) == []
    (reply,) = tw.send_sms(CUSTOMER, BUSINESS, "CANCEL")
    assert "cancelled" not in reply.body, "nothing left to cancel: the SMS module answers"


def test_expiry_after_the_configured_age(
    tw: Emulator, server: LiveServer, clock: ManualClock, jobs: JobRunner
) -> None:
    """Nobody free for four hours: the callback expires, leaves the queue, and an SMS says so."""
    busy_alice(tw, server)
    take_callback(tw)
    svc = services_of(server)
    (pending,) = svc.run(callbacks.pending(svc))
    clock.advance(4 * 3600 - 60)  # four hours of a quiet floor, without simulating each step
    assert jobs.run_due() == []
    tw.advance(65)
    assert callback_state(svc, pending.id) == "expired"
    assert svc.run(svc.router.has_call(pending.id)) is False
    assert "could not call you back in time" in tw.sms_to(CUSTOMER)[-1].body


def test_a_job_run_twice_dials_once(
    tw: Emulator, server: LiveServer, r: redis.Redis, jobs: JobRunner
) -> None:
    """A retry job run twice (a worker killed and its job retried) joins the queue once."""
    from callbacks import dial

    first = busy_alice(tw, server)
    take_callback(tw)
    svc = services_of(server)
    tw.device(CUSTOMER).auto = "no-answer"
    first.hangup()
    tw.advance(17)
    tw.device("client:alice").answer().press("1")
    tw.advance(40)
    (pending,) = svc.run(callbacks.pending(svc))
    svc.run(svc.router.set_break("alice", "lunch"))
    assert svc.run(dial.activate(svc, pending.id)) == "queued"
    assert svc.run(dial.activate(svc, pending.id)) == "queued"
    snapshot = [p.call_sid for p in svc.run(svc.router.queue_snapshot("billing"))]
    assert snapshot.count(pending.id) == 1
    assert len(events(r, "CALLBACKQUEUED")) == 1


def test_a_dial_lost_in_a_crash_is_retried_once(
    tw: Emulator, server: LiveServer, r: redis.Redis
) -> None:
    """A dial whose outcome never arrives is counted unanswered by its watchdog, once."""
    from callbacks import dial

    busy_alice(tw, server)
    take_callback(tw)
    svc = services_of(server)
    (pending,) = svc.run(callbacks.pending(svc))
    cb = svc.run(callbacks.get(svc, pending.id))
    assert cb is not None
    attempt = svc.run(dial.start_attempt(svc, cb, "alice"))
    assert attempt == 1
    assert svc.run(dial.start_attempt(svc, cb, "alice")) is None, "one dial at a time"
    svc.run(dial.check(svc, cb.id, 1))
    svc.run(dial.check(svc, cb.id, 1))
    assert len(events(r, "CALLBACKNOANSWER")) == 1
    again = svc.run(callbacks.get(svc, cb.id))
    assert again is not None and again.state == "no_answer"


def sales_callback(tw: Emulator) -> Call:
    """A sales caller (nobody staffed) asks to be called back on their caller ID."""
    call = tw.dial(from_=CUSTOMER, to=BUSINESS)
    call.press("1")
    call.hears("For billing, press 1")
    call.press("3")
    call.hears("keeping your place in line, press 1")
    call.press("1")
    call.hears("We will call you back on")
    call.press("1")
    call.hears("You keep your place in line")
    tw.advance(30)
    return call


def test_customer_first_rings_the_customer_then_offers_the_agent(
    tw: Emulator, server: LiveServer, r: redis.Redis
) -> None:
    """Sales calls the customer first; once they answer, an agent is offered the call."""
    sales_callback(tw)
    customer = tw.device(CUSTOMER)
    go_available(server, "budi")
    tw.advance(1)
    assert customer.ringing is not None
    assert tw.device("client:budi").ringing is None, "the agent waits for the customer"
    answered = customer.answer()
    answered.hears("calling you back about your Sales request")
    answered.hears("Connecting you now")
    tw.advance(1)
    leg = tw.device("client:budi").answer()
    leg.hears("Callback for Sales")
    leg.press("1")
    tw.advance(3)
    assert answered.bridge is not None
    (connect,) = events(r, "CALLBACKCONNECT")
    assert connect["agent"] == "budi" and int(connect["frt_ms"]) > 0
    assert events(r, "ABANDON") == []
    tw.assert_no_errors()


def test_a_customer_first_callback_is_surveyed_once_as_the_original_call(
    tw: Emulator, server: LiveServer, r: redis.Redis, jobs: JobRunner
) -> None:
    """Customer-first: the customer's own leg completes, and the one survey is the original
    call's (the contact), sent to the callback number."""
    original = sales_callback(tw)
    go_available(server, "budi")
    tw.advance(1)
    answered = tw.device(CUSTOMER).answer()
    tw.advance(1)
    tw.device("client:budi").answer().press("1")
    tw.advance(40)
    answered.hangup()
    tw.advance(130)
    asked = [m for m in tw.sms_to(CUSTOMER) if "made it easy" in m.body]
    assert len(asked) == 1, [m.body for m in tw.sms_to(CUSTOMER)]
    assert r.hget(Keys().survey(original.sid), "number") == CUSTOMER
    tw.assert_no_errors()


def test_an_answering_machine_gets_the_message(
    tw: Emulator, server: LiveServer, r: redis.Redis
) -> None:
    """Machine detection: the configured message is left and the callback counts as done."""
    sales_callback(tw)
    customer = tw.device(CUSTOMER)
    customer.auto = "machine"
    go_available(server, "budi")
    tw.advance(10)
    (machine_call,) = customer.calls
    assert any("returning your call" in u.text for u in machine_call.heard)
    assert len(events(r, "CALLBACKDONE")) == 1
    svc = services_of(server)
    assert svc.run(callbacks.pending(svc)) == []
    assert tw.device("client:budi").ringing is None


def test_an_agent_hanging_up_while_the_customer_rings_is_freed(
    tw: Emulator, server: LiveServer, r: redis.Redis, jobs: JobRunner
) -> None:
    """Alice gives up on a callback that rings unanswered; she is not left stuck on the call."""
    first = busy_alice(tw, server)
    take_callback(tw)
    first.hangup()
    tw.advance(17)
    leg = tw.device("client:alice").answer()
    leg.hears("Callback for Billing")
    leg.press("1")
    tw.advance(3)
    assert tw.device(CUSTOMER).ringing is not None
    leg.hangup()
    tw.advance(90)
    assert len(events(r, "CALLBACKNOANSWER")) == 1
    assert state(server, "alice").state != "on_call"


def test_a_customer_first_dial_waiting_its_turn_is_not_counted_lost(
    tw: Emulator, server: LiveServer, r: redis.Redis, jobs: JobRunner
) -> None:
    """At one call every 70 s, the customer's leg waits 70 s in Twilio's outbound queue,
    past the 55 s its watchdog allows a dial: the watchdog counts from the REST request
    plus that wait, so the customer who answers is connected, with no attempt lost."""
    sales_callback(tw)
    tw.cps = 1 / 70
    rest = Client(tw.account_sid, AUTH_TOKEN, http_client=tw.http_client())
    rest.calls.create(to="+60100000000", from_=BUSINESS, twiml="<Response><Hangup/></Response>")
    customer = tw.device(CUSTOMER)
    go_available(server, "budi")
    tw.advance(65)
    assert customer.ringing is None and events(r, "CALLBACKNOANSWER") == []
    tw.advance(6)
    answered = customer.answer()
    tw.cps = 1  # the agent's ring is paced too: no 70 s wait for it here
    answered.hears("Connecting you now")
    tw.advance(1)
    tw.device("client:budi").answer().press("1")
    tw.advance(3)
    assert answered.bridge is not None
    assert events(r, "CALLBACKNOANSWER") == []
    tw.assert_no_errors()


def test_a_caller_being_put_through_is_not_offered_a_callback(
    tw: Emulator, server: LiveServer
) -> None:
    """While Alice's phone rings for the caller, the hold loop offers no callback (pressing 1
    would drop a call about to be answered); once the ring goes unanswered, it does."""
    go_available(server, "alice")
    call = billing_caller(tw, CUSTOMER)
    tw.advance(1)
    assert tw.device("client:alice").ringing is not None
    tw.advance(8)
    assert not any("keeping your place" in u.text for u in call.heard), call.transcript()
    call.hears("keeping your place in line, press 1")


def test_an_abandon_after_a_callback_offer_shows_in_ivr_report(
    tw: Emulator, server: LiveServer, r: redis.Redis, config_dir: Path, redis_url: str
) -> None:
    """A caller offered a callback on hold who hangs up anyway is, in `ivr report`, an abandon
    offered a callback first; the offer, repeated while the wait stays long, is recorded once."""
    busy_alice(tw, server)
    call = billing_caller(tw, CUSTOMER)
    call.hears("keeping your place in line, press 1")
    tw.advance(100)
    call.hangup()
    tw.advance(2)
    assert sum("keeping your place" in u.text for u in call.heard) >= 2, call.transcript()
    assert [e["call"] for e in events(r, "CALLBACKOFFER")].count(call.sid) == 1
    shown = report_of(redis_url, "--format", "json", "--queue", "billing", config_dir=config_dir)
    doc = json.loads(shown)
    billing = doc["queues"]["billing"]
    assert (billing["abandoned"], billing["abandoned_offered"]) == (1, 1)
    assert billing["abandoned_offered_share"] == 1.0
    table = report_of(redis_url, "--queue", "billing", config_dir=config_dir)
    assert "abandoned_offered_share" in table and "100.0%" in table
