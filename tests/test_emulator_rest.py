"""The REST subset through the real twilio client, status callbacks and SMS."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from ivr.devtools.emulator import Emulator
from tests.emulator_apps import (  # noqa: F401
    BUSINESS,
    CALLER,
    PUBLIC,
    TOKEN,
    CannedApp,
    Hit,
    fixture_app,
    fixture_server,
    fixture_tw,
    twiml,
)

AGENT = "client:alice"


@pytest.fixture(name="client")
def fixture_client(tw: Emulator) -> Iterator[Client]:
    """A real twilio Client whose transport is the emulator."""
    yield Client(tw.account_sid, TOKEN, http_client=tw.http_client(), environment={})


def test_calls_create_rings_device_that_answers(
    app: CannedApp, tw: Emulator, client: Client
) -> None:
    """calls.create rings the device; on answer the url is fetched with outbound-api params."""
    app.route("/outbound", twiml("<Say>You have a caller waiting</Say>"))
    tw.device(AGENT).auto = "answer"
    tw.device(AGENT).answer_after = 4
    call = client.calls.create(to=AGENT, from_=BUSINESS, url=f"{PUBLIC}/outbound")
    assert call.status == "queued" and call.sid.startswith("CA")
    tw.advance(1)
    assert tw.device(AGENT).ringing is not None
    tw.advance(3)
    hit = app.hits_to("/outbound")[0]
    assert hit.signed and hit.params["Direction"] == "outbound-api"
    assert hit.params["CallStatus"] == "in-progress"
    tw.device(AGENT).hears("caller waiting")
    tw.run_until_idle()
    assert client.calls(call.sid).fetch().status == "completed"


def test_status_callbacks_in_order_with_sequence_numbers(
    app: CannedApp, tw: Emulator, client: Client
) -> None:
    """Requested events arrive as initiated, ringing, in-progress, completed, numbered from 0."""
    app.route("/outbound", twiml('<Pause length="5"/>'))
    app.route("/cb", "")
    tw.device(AGENT).auto = "answer"
    tw.device(AGENT).answer_after = 2
    events = ["initiated", "ringing", "answered", "completed"]
    client.calls.create(
        to=AGENT, from_=BUSINESS, url="/outbound", status_callback="/cb",
        status_callback_event=events,
    )  # fmt: skip
    tw.run_until_idle()
    hits = app.hits_to("/cb")
    assert [h.params["CallStatus"] for h in hits] == [
        "initiated", "ringing", "in-progress", "completed",
    ]  # fmt: skip
    assert [h.params["SequenceNumber"] for h in hits] == ["0", "1", "2", "3"]
    assert hits[-1].params["CallDuration"] == "5"
    assert all(h.signed and h.params["Timestamp"].endswith("+0000") for h in hits)


def test_status_callbacks_out_of_order(app: CannedApp, tw: Emulator, client: Client) -> None:
    """With status_callbacks_out_of_order the callbacks arrive reversed but keep their numbers."""
    tw.status_callbacks_out_of_order = True
    app.route("/outbound", twiml("<Hangup/>"))
    app.route("/cb", "")
    tw.device(AGENT).auto = "answer"
    client.calls.create(
        to=AGENT, from_=BUSINESS, url="/outbound", status_callback="/cb",
        status_callback_event=["initiated", "ringing", "answered", "completed"],
    )  # fmt: skip
    tw.run_until_idle()
    assert [h.params["SequenceNumber"] for h in app.hits_to("/cb")] == ["3", "2", "1", "0"]


def test_unanswered_rest_call_is_no_answer(app: CannedApp, tw: Emulator, client: Client) -> None:
    """A call nobody answers ends no-answer after its timeout."""
    call = client.calls.create(to=AGENT, from_=BUSINESS, url="/outbound", timeout=15)
    tw.advance(14)
    assert tw.call(call.sid).status == "ringing"
    tw.advance(1)
    assert tw.call(call.sid).status == "no-answer"


def test_machine_detection_sets_answered_by(app: CannedApp, tw: Emulator, client: Client) -> None:
    """With machine_detection, a machine-answered call's webhook carries AnsweredBy."""
    app.route("/outbound", twiml("<Hangup/>"))
    tw.device("+60177777777").auto = "machine"
    client.calls.create(
        to="+60177777777", from_=BUSINESS, url="/outbound", machine_detection="Enable"
    )
    tw.advance(1)
    assert app.hits_to("/outbound")[0].params["AnsweredBy"] == "machine_start"


def test_update_url_redirects_queued_call(app: CannedApp, tw: Emulator, client: Client) -> None:
    """calls(sid).update(url=) moves a queued caller out with QueueResult=redirected."""
    app.route("/voice", twiml('<Enqueue waitUrl="/wait" action="/after">support</Enqueue>'))
    app.route("/wait", twiml('<Pause length="30"/>'))
    app.route("/after", twiml("<Say>ignored</Say>"))
    app.route("/callback-offer", twiml("<Say>We will call you back</Say>"))
    call = tw.dial(from_=CALLER, to=BUSINESS)
    tw.advance(12)
    client.calls(call.sid).update(url=f"{PUBLIC}/callback-offer")
    call.hears("We will call you back")
    assert app.hits_to("/after")[0].params["QueueResult"] == "redirected"
    assert "ignored" not in call.transcript()
    assert call.queue is None


def test_rest_from_inside_a_webhook(app: CannedApp, tw: Emulator, client: Client) -> None:
    """The app may call the REST API while the emulator waits for its webhook."""

    def voice(hit: Hit) -> str:
        client.calls.create(to=AGENT, from_=BUSINESS, twiml="<Response><Say>Hi</Say></Response>")
        client.calls(hit.params["CallSid"]).fetch()
        return twiml('<Pause length="5"/>')

    app.route("/voice", voice)
    tw.dial(from_=CALLER, to=BUSINESS)
    assert tw.device(AGENT).ringing is not None


def test_update_status_completed_hangs_up(app: CannedApp, tw: Emulator, client: Client) -> None:
    """update(status="completed") ends a live call."""
    app.route("/voice", twiml('<Pause length="60"/>'))
    call = tw.dial(from_=CALLER, to=BUSINESS)
    client.calls(call.sid).update(status="completed")
    tw.advance(0)
    assert call.status == "completed"


def test_unknown_call_is_404(tw: Emulator, client: Client) -> None:
    """Fetching a call that does not exist raises TwilioRestException with code 20404."""
    with pytest.raises(TwilioRestException) as caught:
        client.calls("CA" + "f" * 32).fetch()
    assert (caught.value.status, caught.value.code) == (404, 20404)


def test_unreachable_device_refuses_calls_create_with_21214(tw: Emulator, client: Client) -> None:
    """calls.create to a device marked unreachable fails with 400 / 21214 and nothing rings."""
    tw.device(AGENT).unreachable = True
    with pytest.raises(TwilioRestException) as caught:
        client.calls.create(to=AGENT, from_=BUSINESS, twiml="<Response><Say>Hi</Say></Response>")
    assert (caught.value.status, caught.value.code) == (400, 21214)
    assert "cannot be reached" in caught.value.msg
    tw.advance(1)
    assert tw.device(AGENT).calls == [] and tw.calls == []
    tw.device(AGENT).unreachable = False
    client.calls.create(to=AGENT, from_=BUSINESS, twiml="<Response><Say>Hi</Say></Response>")
    tw.advance(1)
    assert tw.device(AGENT).ringing is not None


def test_messages_create_into_outbox_with_callbacks(
    app: CannedApp, tw: Emulator, client: Client
) -> None:
    """messages.create lands in the outbox and reports sent then delivered, signed."""
    app.route("/sms-status", "")
    message = client.messages.create(
        to=CALLER, from_=BUSINESS, body="Your ticket is 42", status_callback="/sms-status"
    )
    assert message.status == "queued" and message.sid.startswith("SM")
    (sent,) = tw.sms_to(CALLER)
    assert (sent.body, sent.from_, sent.sid) == ("Your ticket is 42", BUSINESS, message.sid)
    tw.advance(3)
    hits = app.hits_to("/sms-status")
    assert [h.params["MessageStatus"] for h in hits] == ["sent", "delivered"]
    assert all(h.signed for h in hits) and sent.status == "delivered"


def test_opted_out_number_fails_with_21610(tw: Emulator, client: Client) -> None:
    """Sending to an opted-out number raises TwilioRestException code 21610."""
    tw.opted_out.add(CALLER)
    with pytest.raises(TwilioRestException) as caught:
        client.messages.create(to=CALLER, from_=BUSINESS, body="hi")
    assert caught.value.code == 21610
    assert tw.outbox == []


def test_inbound_sms_reply_goes_to_outbox(app: CannedApp, tw: Emulator) -> None:
    """An inbound SMS is posted signed to sms_url and a <Message> reply lands in the outbox."""
    app.route("/sms", twiml("<Message>You are unsubscribed</Message>"))
    (reply,) = tw.send_sms(CALLER, BUSINESS, "STOP", OptOutType="STOP")
    hit = app.hits_to("/sms")[0]
    assert hit.signed and hit.params["Body"] == "STOP" and hit.params["OptOutType"] == "STOP"
    assert hit.params["MessageSid"].startswith("SM") and hit.params["NumMedia"] == "0"
    assert (reply.to, reply.from_, reply.body) == (CALLER, BUSINESS, "You are unsubscribed")
    assert tw.sms_to(CALLER) == [reply]


def test_injected_errors_last_their_window_and_change_nothing(
    app: CannedApp, tw: Emulator, client: Client
) -> None:
    """fail_rest(503, seconds=5): requests fail with Twilio's 20503 and ring nothing; after
    five simulated seconds the API works again."""
    app.route("/outbound", twiml("<Pause length='1'/>"))
    tw.fail_rest(503, seconds=5)
    with pytest.raises(TwilioRestException) as refused:
        client.calls.create(to=AGENT, from_=BUSINESS, url=f"{PUBLIC}/outbound")
    assert (refused.value.status, refused.value.code) == (503, 20503)
    tw.advance(1)
    assert tw.device(AGENT).calls == [] and tw.rest_failures == 1
    tw.advance(4)
    client.calls.create(to=AGENT, from_=BUSINESS, url=f"{PUBLIC}/outbound")
    tw.advance(1)
    assert tw.device(AGENT).ringing is not None


def test_an_applied_fault_carries_the_request_out_and_loses_its_answer(
    app: CannedApp, tw: Emulator, client: Client
) -> None:
    """fail_rest(504, count=1, applied=True): the call is created and rings, the client
    gets a 504, and calls.list finds the call by its destination."""
    app.route("/outbound", twiml("<Pause length='1'/>"))
    tw.fail_rest(504, count=1, applied=True)
    with pytest.raises(TwilioRestException) as lost:
        client.calls.create(to=AGENT, from_=BUSINESS, url=f"{PUBLIC}/outbound")
    assert lost.value.status == 504
    tw.advance(1)
    ringing = tw.device(AGENT).ringing
    assert ringing is not None
    (listed,) = client.calls.list(to=AGENT)
    assert (listed.sid, listed.status) == (ringing.sid, "ringing")
    assert client.calls.list(to="client:nobody") == []


def test_a_device_set_to_fail_ends_its_calls_failed(
    app: CannedApp, tw: Emulator, client: Client
) -> None:
    """Device.auto = 'fail' (an unregistered softphone): the call ends failed."""
    app.route("/outbound", twiml("<Pause length='1'/>"))
    tw.device(AGENT).auto = "fail"
    call = client.calls.create(to=AGENT, from_=BUSINESS, url=f"{PUBLIC}/outbound")
    tw.advance(1)
    assert client.calls(call.sid).fetch().status == "failed"


def test_queues_create_list_fetch_update_delete(tw: Emulator, client: Client) -> None:
    """Queues are created (maxSize 100 by default), listed, fetched, resized and deleted."""
    queue = client.queues.create(friendly_name="billing")
    assert queue.sid.startswith("QU") and (queue.max_size, queue.current_size) == (100, 0)
    assert [q.friendly_name for q in client.queues.list()] == ["billing"]
    client.queues(queue.sid).update(max_size=5000)
    assert client.queues(queue.sid).fetch().max_size == 5000
    assert client.queues(queue.sid).delete() is True
    assert client.queues.list() == [] and tw.queues == []
    with pytest.raises(TwilioRestException) as gone:
        client.queues(queue.sid).delete()
    assert gone.value.status == 404


@pytest.mark.parametrize("size", [pytest.param(0, id="zero"), pytest.param(5001, id="5001")])
def test_queue_max_size_is_1_to_5000(client: Client, size: int) -> None:
    """A maxSize outside 1..5000 is refused with 400."""
    with pytest.raises(TwilioRestException) as refused:
        client.queues.create(friendly_name="billing", max_size=size)
    assert refused.value.status == 400


def test_a_queue_with_a_caller_in_it_cannot_be_deleted(
    app: CannedApp, tw: Emulator, client: Client
) -> None:
    """Deleting a queue someone waits in is refused; it is listed with its member."""
    app.route("/voice", twiml('<Enqueue waitUrl="/wait">support</Enqueue>'))
    app.route("/wait", twiml('<Pause length="20"/>'))
    call = tw.dial(from_=CALLER, to=BUSINESS)
    sid = tw.queue("support").sid
    with pytest.raises(TwilioRestException) as refused:
        client.queues(sid).delete()
    assert refused.value.status == 400
    members = client.queues(sid).members.list()
    assert [m.call_sid for m in members] == [call.sid] and members[0].position == 1
    assert client.queues(sid).members("Front").fetch().call_sid == call.sid
    call.hangup()
    assert client.queues(sid).delete() is True


def test_a_rest_call_reports_only_completed_unless_asked(
    app: CannedApp, tw: Emulator, client: Client
) -> None:
    """status_callback without status_callback_event: Twilio sends `completed` alone."""
    app.route("/outbound", twiml("<Hangup/>"))
    app.route("/cb", "")
    tw.device(AGENT).auto = "answer"
    client.calls.create(to=AGENT, from_=BUSINESS, url="/outbound", status_callback="/cb")
    tw.run_until_idle()
    assert [h.params["CallStatus"] for h in app.hits_to("/cb")] == ["completed"]


def test_jittered_status_callbacks_cross_and_keep_their_numbers(
    app: CannedApp, tw: Emulator, client: Client
) -> None:
    """With a jitter, some legs' events arrive out of order; none is lost or renumbered."""
    tw.status_callback_jitter_s = 5.0
    app.route("/outbound", twiml('<Pause length="1"/>'))
    app.route("/cb", "")
    tw.device(AGENT).auto = "answer"
    tw.device(AGENT).answer_after = 1
    legs = [
        client.calls.create(
            to=AGENT, from_=BUSINESS, url="/outbound", status_callback="/cb",
            status_callback_event=["initiated", "ringing", "answered", "completed"],
        ).sid
        for _ in range(6)
    ]  # fmt: skip
    tw.run_until_idle()
    arrived = {
        sid: [h.params["SequenceNumber"] for h in app.hits_to("/cb") if h.params["CallSid"] == sid]
        for sid in legs
    }
    assert all(sorted(seq) == ["0", "1", "2", "3"] for seq in arrived.values())
    assert any(seq != ["0", "1", "2", "3"] for seq in arrived.values()), arrived


def test_calls_are_placed_at_one_per_second_in_order(
    app: CannedApp, tw: Emulator, client: Client
) -> None:
    """At the default 1 CPS, ten calls made at once ring one a second, in order; each waits
    `queued` meanwhile, and its resource's queue_time says how long (ms)."""
    assert tw.cps == 1
    created = [
        client.calls.create(to=f"client:agent{i}", from_=BUSINESS, url="/outbound")
        for i in range(10)
    ]
    assert [c.queue_time for c in created] == [str(i * 1000) for i in range(10)]
    tw.settle()
    assert [tw.call(c.sid).status for c in created] == ["ringing"] + ["queued"] * 9
    assert len(tw.outbound_backlog) == 9
    for placed in range(2, 11):
        tw.advance(1)
        statuses = [tw.call(c.sid).status for c in created]
        assert statuses == ["ringing"] * placed + ["queued"] * (10 - placed)
    assert tw.outbound_backlog == []


def test_a_higher_cps_places_calls_sooner(app: CannedApp, tw: Emulator, client: Client) -> None:
    """At 5 CPS the fifth of five calls made at once rings 0.8 s after the first."""
    tw.cps = 5
    created = [
        client.calls.create(to=f"client:agent{i}", from_=BUSINESS, url="/outbound")
        for i in range(5)
    ]
    tw.advance(0.75)
    assert tw.call(created[4].sid).status == "queued"
    tw.advance(0.1)
    assert tw.call(created[4].sid).status == "ringing"


def test_a_queued_call_canceled_gives_its_turn_away(
    app: CannedApp, tw: Emulator, client: Client
) -> None:
    """A call canceled while queued is never placed; the call behind it takes its turn."""
    app.route("/cb", "")
    first, second, third = (
        client.calls.create(
            to=f"client:a{i}", from_=BUSINESS, url="/outbound", status_callback="/cb"
        )
        for i in range(3)
    )
    tw.settle()
    client.calls(second.sid).update(status="canceled")
    tw.advance(1)
    assert tw.call(second.sid).status == "canceled"
    assert tw.call(third.sid).status == "ringing"
    assert tw.device("client:a1").calls == []


def test_create_past_24_hours_of_queue_is_22005(
    app: CannedApp, tw: Emulator, client: Client
) -> None:
    """A call that would wait more than 24 hours to be placed is refused with 400 / 22005
    and no call is made; once the queue drains a little, calls are accepted again."""
    tw.cps = 1 / 3600  # one call an hour: the 25th call made at once would wait 24 h
    for i in range(25):
        client.calls.create(to=f"client:a{i}", from_=BUSINESS, url="/outbound")
    count = len(tw.calls)
    with pytest.raises(TwilioRestException) as refused:
        client.calls.create(to="client:late", from_=BUSINESS, url="/outbound")
    assert refused.value.status == 400 and refused.value.code == 22005
    assert len(tw.calls) == count
    tw.advance(3600)
    client.calls.create(to="client:late", from_=BUSINESS, url="/outbound")
