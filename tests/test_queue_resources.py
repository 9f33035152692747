"""No Twilio Queue resource outlives its call: each caller's own queue is deleted once they
are out of it, whatever way they left (emulator, real app, controlled clock)."""

from __future__ import annotations

import pytest
import redis
from twilio.rest import Client

from ivr.core.keys import Keys
from ivr.devtools.emulator import Emulator
from ivr.devtools.emulator.calls import Call
from ivr.devtools.liveserver import LiveServer
from ivr.voice import queue_resources
from ivr.voice.queue import queue_name
from tests.agents import go_available, on_break, services_of
from tests.conftest import AUTH_TOKEN, Twilio
from tests.test_connect_e2e import billing_caller

SETTLE_S = 3
"""Enough simulated time for the background loop to make the deletions due."""


def left_behind(tw: Emulator, calls: list[Call]) -> list[str]:
    """The Queue resources still in the account for calls that have ended."""
    ended = {queue_name(c.sid) for c in calls if c.ended}
    return [q.name for q in tw.queues if q.name in ended]


def bridged_and_over(tw: Emulator, server: LiveServer) -> Call:
    """A billing caller Alice takes, and who hangs up after a minute's talk."""
    go_available(server, "alice")
    call = billing_caller(tw)
    tw.advance(1)
    tw.device("client:alice").answer().press("1")
    call.hears("Connecting you now")
    tw.advance(60)
    call.hangup()
    return call


def test_a_bridged_call_leaves_no_queue_resource(tw: Emulator, server: LiveServer) -> None:
    """Once a bridged call is over, the caller's own Twilio queue is deleted."""
    call = bridged_and_over(tw, server)
    tw.advance(SETTLE_S)
    assert queue_name(call.sid) not in [q.name for q in tw.queues]
    tw.assert_no_errors()


def test_a_caller_who_hangs_up_on_hold_leaves_no_queue_resource(
    tw: Emulator, server: LiveServer
) -> None:
    """A caller who gives up while waiting leaves no queue behind."""
    on_break(server, "alice")
    call = billing_caller(tw)
    call.hears("You are next in line.")
    assert [q.name for q in tw.queues] == [queue_name(call.sid)]
    tw.advance(30)
    call.hangup()
    tw.advance(SETTLE_S)
    assert left_behind(tw, [call]) == []


def test_a_caller_who_leaves_for_voicemail_leaves_no_queue_resource(tw: Emulator) -> None:
    """Pressing the exit key (Leave, then a voicemail) deletes the queue left."""
    call = billing_caller(tw)
    call.hears("To leave a message instead, press 2.")
    call.press("2")
    call.hears("Please leave a message after the tone")
    tw.advance(SETTLE_S)
    assert [q.name for q in tw.queues] == []
    call.press("#")
    tw.advance(SETTLE_S)
    assert left_behind(tw, [call]) == []


def test_a_failing_api_delays_the_delete_and_never_the_caller(
    tw: Emulator, server: LiveServer
) -> None:
    """With the API answering 503 when the caller leaves their queue (hanging up on hold:
    a bridged caller leaves it for the conference), the delete is retried until it works."""
    on_break(server, "alice")
    call = billing_caller(tw)
    call.hears("You are next in line.")
    tw.advance(30)
    tw.fail_rest(503, seconds=40)
    call.hangup()
    tw.advance(SETTLE_S)
    assert left_behind(tw, [call]) == [queue_name(call.sid)], "the API is still down"
    assert tw.rest_failures > 0
    tw.advance(120)
    assert left_behind(tw, [call]) == []
    tw.assert_no_errors()


def test_a_lost_queue_action_is_made_up_for_by_the_call_status(
    tw: Emulator, server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A queue whose Enqueue action was lost is deleted once the call's status says it ended."""

    async def lost(*_: object) -> None:
        return None

    monkeypatch.setattr(queue_resources, "left", lost)
    on_break(server, "alice")
    call = billing_caller(tw)
    call.hears("You are next in line.")
    call.hangup()
    tw.advance(SETTLE_S)
    assert left_behind(tw, [call]) == []


@pytest.mark.parametrize("twice", [pytest.param(False, id="once"), pytest.param(True, id="twice")])
def test_deleting_a_queue_twilio_no_longer_has_is_done(
    tw: Emulator, server: LiveServer, r: redis.Redis, twice: bool
) -> None:
    """A 404 ends the deletion: nothing is retried, nothing logged as failed."""
    client = Client(tw.account_sid, AUTH_TOKEN, http_client=tw.http_client(), environment={})
    sid = client.queues.create(friendly_name="call-gone").sid
    svc = services_of(server)
    if twice:
        client.queues(sid).delete()
    svc.run(queue_resources.release(svc, sid))
    tw.advance(SETTLE_S)
    assert tw.queues == []
    assert r.zcard(Keys().queue_deletes()) == 0
    assert r.hlen(Keys().queue_delete_tries()) == 0


def test_a_full_twilio_queue_ends_the_call_in_routing_at_once(
    tw: Emulator, server: LiveServer
) -> None:
    """Twilio refusing the Enqueue (queue-full, warning 14207) ends the call, and routing's
    record of it: no agent is rung for a caller who is in no Twilio queue."""
    tw.default_queue_size = 0  # every queue Twilio makes is full
    on_break(server, "alice")
    call = billing_caller(tw)
    tw.advance(1)
    svc = services_of(server)
    assert [a.code for a in tw.alerts] == [14207]
    assert call.ended
    assert not svc.run(svc.router.has_call(call.sid))


def test_a_queue_an_agents_dial_made_again_is_deleted_too(
    tw: Emulator, server: LiveServer, twilio: Twilio
) -> None:
    """An agent's `<Dial><Queue>` that came after the caller's queue was deleted makes it
    again; its action names it, and it is deleted as well."""
    client = Client(tw.account_sid, AUTH_TOKEN, http_client=tw.http_client(), environment={})
    caller = "CA" + "2" * 32
    sid = client.queues.create(friendly_name=queue_name(caller)).sid
    url = services_of(server).urls.to("agent_done", call=caller, res="r1")
    form = {"CallSid": "CA" + "3" * 32, "DialCallStatus": "no-answer", "QueueSid": sid}
    assert twilio.post(url, form).status_code == 200
    tw.advance(SETTLE_S)
    assert tw.queues == []
