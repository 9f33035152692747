"""Moving an accepted caller into the agent's conference, when things go wrong: the API
failing during the redirect, the caller hanging up meanwhile, conference status
callbacks repeated or late (issue 18). Emulator, real app, controlled clock."""

from __future__ import annotations

from typing import Any

import redis
from twilio.http.response import Response

from ivr.core import telephony
from ivr.core.keys import Keys
from ivr.devtools.emulator import Emulator
from ivr.devtools.emulator.calls import Call
from ivr.devtools.faults import ProcessKilled
from ivr.devtools.liveserver import LiveServer
from ivr.voice import conference
from tests.agents import go_available, services_of, state
from tests.conftest import Twilio
from tests.consoles import Console
from tests.streams import entries
from tests.test_connect_e2e import billing_caller


def events(r: redis.Redis, kind: str) -> list[dict[str, str]]:
    return [fields for _, fields in entries(r, Keys().events()) if fields["type"] == kind]


def accepted(tw: Emulator, server: LiveServer) -> tuple[Call, Call]:
    """A billing caller rings Alice, who answers and hears the whisper (not yet 1)."""
    go_available(server, "alice")
    call = billing_caller(tw)
    tw.advance(1)
    leg = tw.device("client:alice").answer()
    leg.hears("Press 1 to accept")
    return call, leg


def test_the_redirect_is_retried_through_a_503_and_a_429(
    tw: Emulator, server: LiveServer, r: redis.Redis
) -> None:
    """The API answers 503 then 429 to the caller's redirect: it is tried again, and the
    caller is with Alice within a few seconds, with no missed call counted."""
    call, leg = accepted(tw, server)
    tw.fail_rest(503, count=1)
    leg.press("1")
    tw.fail_rest(429, count=1)
    pressed = tw.clock.now()
    call.hears("Connecting you now", within=10)
    assert tw.advance_until(lambda: call.bridge is not None, 5)
    assert tw.clock.now() - pressed <= 6
    assert tw.rest_failures == 2
    assert not events(r, "REJECTED") and len(events(r, "CONNECT")) == 1
    tw.assert_no_errors()


def test_an_api_down_through_the_deadline_puts_the_caller_back(
    tw: Emulator, server: LiveServer, r: redis.Redis
) -> None:
    """The API is down from Alice's 1 on, past the bridge deadline: the caller keeps
    waiting in their place and hears the apology, Alice's missed call is counted
    (dropped), and once the API is back her leg is taken out of the empty conference."""
    call, leg = accepted(tw, server)
    tw.fail_rest(503, seconds=20)
    leg.press("1")
    call.hears("could not take your call", within=20)
    assert not call.ended and call.queue is not None
    (missed,) = events(r, "REJECTED")
    assert (missed["agent"], missed["reason"]) == ("alice", "dropped")
    assert not events(r, "CONNECT")
    assert tw.advance_until(lambda: leg.ended, 60)
    assert "The caller is no longer there." in leg.transcript()
    assert state(server, "alice").state != "on_call"


def test_a_caller_who_hangs_up_during_the_redirect_frees_the_agent(
    tw: Emulator, server: LiveServer, r: redis.Redis
) -> None:
    """The first redirect fails (503) and the caller hangs up before the retry: Alice is
    taken out of the empty conference at once, told the caller left, and freed."""
    call, leg = accepted(tw, server)
    tw.fail_rest(503, count=1)
    leg.press("1")
    call.hangup()
    assert tw.advance_until(lambda: leg.ended, 5)
    assert "The caller is no longer there." in leg.transcript()
    assert tw.advance_until(lambda: state(server, "alice").state != "on_call", 5)
    assert services_of(server).run(services_of(server).router.call(call.sid)) is None


def test_the_enqueue_action_of_a_redirected_caller_is_not_an_abandon(
    tw: Emulator, server: LiveServer, r: redis.Redis
) -> None:
    """The caller leaves their queue for the conference (QueueResult=redirected): no
    ABANDON, and the call ends as one completed contact."""
    call, leg = accepted(tw, server)
    leg.press("1")
    call.hears("Connecting you now")
    tw.advance(30)
    call.hangup()
    tw.advance(2)
    assert not events(r, "ABANDON")
    assert len(events(r, "COMPLETECALLER") + events(r, "COMPLETEAGENT")) == 1
    assert state(server, "alice").state == "wrap_up"


def status_form(call: Call, room_sid: str, event: str, seq: int, **extra: str) -> dict[str, str]:
    form = {
        "AccountSid": "AC" + "0" * 32,
        "ConferenceSid": room_sid,
        "FriendlyName": conference.name(call.sid),
        "StatusCallbackEvent": event,
        "SequenceNumber": str(seq),
        "Timestamp": "Mon, 07 Dec 2026 04:00:00 +0000",
    }
    return form | extra


def test_conference_status_callbacks_are_taken_once_and_not_after_the_end(
    tw: Emulator, server: LiveServer, twilio: Twilio, alice: Console, r: redis.Redis
) -> None:
    """A conference-end delivered twice closes the hold once (one UNHOLD); a participant
    event arriving after the end changes nothing."""
    call, leg = accepted(tw, server)
    leg.press("1")
    call.hears("Connecting you now")
    tw.advance(2)
    assert alice.post(f"/api/agent/calls/{call.sid}/hold", {"hold": True}).status_code == 200
    tw.advance(5)
    room = tw.conference(conference.name(call.sid))
    url = f"/voice/conference/status?call={call.sid}"
    end = status_form(call, room.sid, "conference-end", 90, ReasonConferenceEnded="x")
    for _ in range(2):
        assert twilio.post(url, end).status_code == 204
    assert len(events(r, "UNHOLD")) == 1
    late = status_form(call, room.sid, "participant-join", 91, CallSid=call.sid)
    late["ParticipantLabel"] = "customer"
    assert twilio.post(url, late).status_code == 204
    svc = services_of(server)
    found = svc.run(conference.state(svc, call.sid))
    assert found is not None and found.state == "ended"


def test_a_caller_who_hangs_up_on_the_way_in_frees_the_agent(
    tw: Emulator, server: LiveServer
) -> None:
    """The caller hangs up while hearing "connecting you", before joining: Alice is not
    left alone in the conference; she hears that the caller left and wraps up."""
    call, leg = accepted(tw, server)
    leg.press("1")
    call.hears("Connecting you now")
    call.hangup()
    assert tw.advance_until(lambda: leg.ended, 5)
    assert "The caller is no longer there." in leg.transcript()
    assert state(server, "alice").state != "on_call"


class DiesBeforeTheRedirect:
    """The REST transport, except that the process dies (`ProcessKilled`) as it is about
    to move the caller into the conference: it had claimed that request, so nothing is
    left due, and no other process will make it."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.died = False

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Response:
        moving = "/voice/conference/join" in str((kwargs.get("data") or {}).get("Url", ""))
        if moving and not self.died:
            self.died = True
            raise ProcessKilled("web process")
        response: Response = self.inner.request(method, url, *args, **kwargs)
        return response


def test_a_process_dying_after_the_accept_still_takes_the_agent_out(
    tw: Emulator, server: LiveServer, r: redis.Redis
) -> None:
    """Alice presses 1 and the process dies before it moves the caller in: routing's
    deadline puts the caller back (connection lost), and Alice's leg, alone in the
    conference, is taken out through a 503, told the caller is gone, and ended."""
    svc = services_of(server)
    transport = DiesBeforeTheRedirect(tw.http_client())
    svc.use_rest(telephony.rest_client(svc.settings, transport))
    call, leg = accepted(tw, server)
    leg.press("1")
    tw.advance(1)
    assert transport.died and not leg.ended
    room = tw.conference(conference.name(call.sid))
    assert [p.label for p in room.participants] == ["agent"]
    tw.fail_rest(503, count=2)  # the caller's apology, then the first try at Alice's leg
    assert tw.advance_until(lambda: leg.ended, 30)
    assert "The caller is no longer there." in leg.transcript()
    assert tw.rest_failures == 2
    (lost,) = events(r, "REJECTED")
    assert (lost["agent"], lost["reason"]) == ("alice", "connect_lost")
    assert not call.ended and call.queue is not None


def test_a_late_end_of_an_earlier_conference_leaves_the_current_one_alone(
    tw: Emulator, server: LiveServer, twilio: Twilio
) -> None:
    """Alice talks with the caller; the conference-end of an earlier conference of the
    same call (an accept before, whose leg dropped) arrives only now, naming that accept:
    the current conference stays connected, and when Alice hangs up the caller's call is
    ended with it (not left alone in the conference)."""
    call, leg = accepted(tw, server)
    leg.press("1")
    call.hears("Connecting you now")
    tw.advance(5)
    url = f"/voice/conference/status?call={call.sid}&res={'0' * 32}"
    end = status_form(call, "CF" + "0" * 32, "conference-end", 4, ReasonConferenceEnded="x")
    assert twilio.post(url, end).status_code == 204
    svc = services_of(server)
    found = svc.run(conference.state(svc, call.sid))
    assert found is not None and found.state == "connected"
    leg.hangup()
    assert tw.advance_until(lambda: call.ended, 10)
