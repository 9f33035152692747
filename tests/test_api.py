"""The console JSON API end to end: real app, real store, the Twilio emulator, controlled clock."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import redis

from ivr.core.clock import ManualClock
from ivr.core.keys import Keys
from ivr.devtools.emulator import Emulator
from ivr.devtools.emulator.calls import Call
from ivr.devtools.liveserver import LiveServer
from ivr.service import Services
from ivr.voice import offers
from ivr.web import console
from queues.router import PENDING_CONNECT_TIMEOUT_S
from tests.agents import go_available, services_of, state
from tests.consoles import Console
from tests.streams import entries
from tests.test_connect_e2e import billing_caller, events


def offered(tw: Emulator, alice: Console) -> str:
    """Alice goes available from the console and a billing caller is offered to her there."""
    assert alice.post("/api/agent/status", {"status": "available"}).status_code == 204
    billing_caller(tw)
    tw.advance(1)
    offer = alice.view()["offer"]
    assert offer is not None
    return str(offer["id"])


def test_console_call_from_offer_to_wrap_up(
    tw: Emulator, server: LiveServer, r: redis.Redis, alice: Console
) -> None:
    """The offer pops in the console (not on the phone); accept rings the device into the call."""
    assert alice.post("/api/agent/status", {"status": "available"}).status_code == 204
    call = billing_caller(tw)
    tw.advance(1)
    device = tw.device("client:alice")
    assert device.ringing is None
    pop = alice.view()["offer"]
    assert pop["data"] == {"account_number": "20261124"}
    assert pop["queue"] == "billing" and pop["language"] == "en"
    assert pop["caller"] == "+60199999999" and pop["history"] == []
    assert 0 < pop["remaining_s"] <= pop["ring_timeout_s"]
    accepted = alice.post(f"/api/agent/offers/{pop['id']}/accept")
    assert accepted.status_code == 200, accepted.text
    tw.advance(1)
    assert device.ringing is not None
    device.answer()
    call.hears("Connecting you now")
    tw.advance(2)
    assert call.bridge is not None
    view = alice.view()
    assert view["agent"]["state"] == "on_call" and view["call"]["call"] == call.sid
    tw.advance(30)
    assert (
        alice.put(f"/api/agent/calls/{call.sid}/notes", {"notes": "asked about bill"}).status_code
        == 204
    )
    call.hangup()
    tw.advance(1)
    view = alice.view()
    assert view["agent"]["state"] == "wrap_up"
    assert view["call"]["notes"] == "asked about bill"
    assert view["call"]["talk_s"] == pytest.approx(33, abs=2)
    assert view["wrap_up"]["remaining_s"] > 0
    body = {"disposition": "resolved", "notes": "explained the bill"}
    filed = alice.post(f"/api/agent/calls/{call.sid}/wrapup", body)
    assert filed.status_code == 200, filed.text
    assert state(server, "alice").state == "available"
    view = alice.view()
    assert view["call"] is None and view["stats"]["handled"] == 1
    assert view["stats"]["frt_share"] == 1.0
    (contact,) = [c for c in r.lrange(Keys().contact_history("+60199999999"), 0, -1)]
    assert '"disposition": "resolved"' in contact
    (filed_event,) = events(r, "DISPOSITION")
    assert filed_event["call"] == call.sid and filed_event["disposition"] == "resolved"
    tw.assert_no_errors()


def test_previous_contacts_show_in_the_next_screen_pop(
    tw: Emulator, server: LiveServer, r: redis.Redis, alice: Console
) -> None:
    """A caller's earlier disposition and CES score appear in the next offer's history."""
    r.lpush(
        Keys().contact_history("+60199999999"),
        '{"at": 1795400000, "call": "CAold", "agent": "budi", "queue": "billing",'
        ' "disposition": "follow_up", "notes": ""}',
    )
    r.hset(Keys().survey_scores(), "CAold", "3")
    offer_id = offered(tw, alice)
    (contact,) = alice.view()["offer"]["history"]
    assert contact["disposition"] == "follow_up" and contact["ces"] == 3.0
    assert alice.post(f"/api/agent/offers/{offer_id}/reject").status_code == 204


def test_rejecting_puts_the_caller_back_and_the_offer_is_gone(
    tw: Emulator, server: LiveServer, alice: Console
) -> None:
    """Rejected: the agent is held back, and a second reject of the same offer is 410."""
    offer_id = offered(tw, alice)
    assert alice.post(f"/api/agent/offers/{offer_id}/reject").status_code == 204
    assert state(server, "alice").state == "available"
    again = alice.post(f"/api/agent/offers/{offer_id}/accept")
    assert again.status_code == 410


def test_an_offer_that_rang_out_is_withdrawn_and_cannot_be_accepted(
    tw: Emulator, server: LiveServer, r: redis.Redis, alice: Console
) -> None:
    """After the ring timeout the console shows no offer and accepting it answers 410."""
    offer_id = offered(tw, alice)
    tw.advance(alice.view()["offer"]["ring_timeout_s"] + 1)
    assert alice.view()["offer"] is None or alice.view()["offer"]["id"] != offer_id
    response = alice.post(f"/api/agent/offers/{offer_id}/accept")
    assert response.status_code == 410
    assert "expired" in response.json()["error"]
    assert len(events(r, "RINGNOANSWER")) >= 1


def budi_takes_it_from_hold(
    tw: Emulator, r: redis.Redis, budi: Console, first: Call, later: Call, reason: str
) -> None:
    """Alice's call went back: the caller hears the hold loop, Budi is offered the call and
    bridged (the later caller is not), and the only trace of Alice is REJECTED `reason`."""
    pop = budi.view()["offer"]
    assert pop["call"] == first.sid
    heard = len(first.heard)
    tw.advance(12)
    hold_loop = ("MARKOVICHAMP", "next in line")  # its music, or its position first
    assert any(u.matches(cue) for u in first.heard[heard:] for cue in hold_loop)
    assert not first.ended and first.bridge is None
    assert budi.post(f"/api/agent/offers/{pop['id']}/accept").status_code == 200
    tw.advance(1)
    tw.device("client:budi").answer()
    first.hears("Connecting you now")
    tw.advance(2)
    assert first.bridge is not None and later.bridge is None
    assert [e["agent"] for e in events(r, "CONNECT")] == ["budi"]
    (missed,) = events(r, "REJECTED")
    assert (missed["agent"], missed["reason"]) == ("alice", reason)
    assert tw.device("client:alice").calls == []
    tw.assert_no_errors()


def test_a_device_that_cannot_be_rung_puts_the_call_back_in_its_place(
    tw: Emulator, server: LiveServer, r: redis.Redis, alice: Console
) -> None:
    """Twilio refuses to ring Alice's device: 502 says the call went back; the caller stays on
    hold ahead of a later caller, Budi is offered it and bridged, and Alice is on a break."""
    tw.device("client:alice").unreachable = True
    first = billing_caller(tw)
    tw.advance(31)  # past billing's first step (billing 4): Budi (billing 2) may take it now
    later = billing_caller(tw, "+60188888888")  # still in that first step: not for Budi
    budi = Console(server, "agent", "budi")
    try:
        assert alice.post("/api/agent/status", {"status": "available"}).status_code == 204
        assert budi.post("/api/agent/status", {"status": "available"}).status_code == 204
        offer = alice.view()["offer"]
        assert offer["call"] == first.sid and budi.view()["offer"] is None
        refused = alice.post(f"/api/agent/offers/{offer['id']}/accept")
        assert refused.status_code == 502
        assert "went back to the queue in its place" in refused.json()["error"]
        mine = alice.view()
        assert (mine["agent"]["state"], mine["agent"]["reason"]) == ("break", "device unreachable")
        assert mine["offer"] is None and mine["call"] is None
        svc = services_of(server)
        places = [svc.run(svc.router.position(c.sid)) for c in (first, later)]
        assert [p.position if p else None for p in places] == [1, 2]
        budi_takes_it_from_hold(tw, r, budi, first, later, "device_unreachable")
    finally:
        budi.close()


def test_a_console_accept_cut_off_before_the_device_rang_goes_to_the_next_agent(
    tw: Emulator, server: LiveServer, r: redis.Redis, alice: Console
) -> None:
    """The service dies between Alice's accept and ringing her device: after a short wait
    the caller, still on hold, goes back in their place, Budi is offered them and bridged,
    and Alice is on a break (connection lost)."""
    first = billing_caller(tw)
    tw.advance(31)  # past billing's first step (billing 4): Budi (billing 2) may take it now
    later = billing_caller(tw, "+60188888888")  # still in that first step: not for Budi
    budi = Console(server, "agent", "budi")
    try:
        assert alice.post("/api/agent/status", {"status": "available"}).status_code == 204
        assert budi.post("/api/agent/status", {"status": "available"}).status_code == 204
        offer = alice.view()["offer"]
        assert offer["call"] == first.sid
        svc = services_of(server)
        svc.run(svc.router.accept(offer["id"], "alice", pending=True))  # then the crash
        tw.advance(PENDING_CONNECT_TIMEOUT_S - 1)
        assert budi.view()["offer"] is None and state(server, "alice").state == "on_call"
        tw.advance(2)
        mine = alice.view()
        assert (mine["agent"]["state"], mine["agent"]["reason"]) == ("break", "connection lost")
        places = [svc.run(svc.router.position(c.sid)) for c in (first, later)]
        assert [p.position if p else None for p in places] == [1, 2]
        # While pending the line was quiet (`ivr.voice.hold`); back in the queue it hears music.
        budi_takes_it_from_hold(tw, r, budi, first, later, "connect_lost")
    finally:
        budi.close()


def test_a_device_rung_after_routing_gave_up_is_hung_up_not_bridged(
    tw: Emulator,
    server: LiveServer,
    r: redis.Redis,
    alice: Console,
    clock: ManualClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Ringing Alice's device took longer than routing waits: the late confirm is refused,
    her device's call is hung up before it can bridge, and the accept answers 410."""
    ring_device = console.ring_device

    async def slow_ring(
        svc: Services, device: str, call_sid: str, document: str, **watch: Any
    ) -> str:
        leg = await ring_device(svc, device, call_sid, document, **watch)
        # As if Twilio took this long to answer: past billing's ring timeout and the grace.
        clock.advance(20 + console.DEVICE_DEADLINE_GRACE_S)
        await offers.dispatch(svc, await svc.router.run_due())
        return leg

    monkeypatch.setattr(console, "ring_device", slow_ring)
    assert alice.post("/api/agent/status", {"status": "available"}).status_code == 204
    caller = billing_caller(tw)
    tw.advance(1)
    offer = alice.view()["offer"]
    late = alice.post(f"/api/agent/offers/{offer['id']}/accept")
    assert late.status_code == 410 and "took too long" in late.json()["error"]
    tw.advance(3)
    device = tw.device("client:alice")
    assert device.calls and all(c.ended for c in device.calls)
    assert not caller.ended and caller.bridge is None
    assert events(r, "CONNECT") == []
    (missed,) = events(r, "REJECTED")
    assert (missed["agent"], missed["reason"]) == ("alice", "connect_lost")
    mine = alice.view()
    assert (mine["agent"]["reason"], mine["call"]) == ("connection lost", None)
    svc = services_of(server)
    assert svc.run(svc.router.position(caller.sid)) is not None
    tw.assert_no_errors()


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        pytest.param("POST", "/api/agent/offers/nope/accept", None, 404, id="unknown-offer"),
        pytest.param("POST", "/api/agent/offers/nope/reject", None, 404, id="unknown-reject"),
        pytest.param("POST", "/api/agent/status", {"status": "dancing"}, 422, id="bad-status"),
        pytest.param("POST", "/api/agent/status", {"status": 3}, 422, id="status-not-text"),
        pytest.param("POST", "/api/agent/status", [1], 400, id="body-not-object"),
        pytest.param("POST", "/api/agent/status", {"status": "offline"}, 204, id="offline"),
        pytest.param(
            "POST",
            "/api/agent/calls/CAx/wrapup",
            {"disposition": "resolved"},
            403,
            id="not-my-call",
        ),
        pytest.param(
            "POST",
            "/api/agent/calls/CAx/wrapup",
            {"disposition": "maybe"},
            422,
            id="bad-disposition",
        ),
        pytest.param("PUT", "/api/agent/calls/CAx/notes", {"notes": "x"}, 403, id="notes-not-mine"),
        pytest.param("GET", "/api/supervisor/floor", None, 403, id="agent-on-supervisor-api"),
        pytest.param("GET", "/api/agent/token", None, 503, id="softphone-not-configured"),
    ],
)
def test_bad_requests_get_clear_errors(
    alice: Console, method: str, path: str, body: object, status: int
) -> None:
    """Each bad request is refused with its own 4xx (or 503) and a readable message."""
    response = alice.request(method, path, json=body)
    assert response.status_code == status, response.text
    if status >= 400:
        assert response.json()["error"]


def test_an_agent_cannot_act_on_another_agents_offer(
    tw: Emulator, server: LiveServer, alice: Console
) -> None:
    """Budi gets 403 for Alice's offer, pending or already ended."""
    offer_id = offered(tw, alice)
    budi = Console(server, "agent", "budi")
    try:
        assert budi.post(f"/api/agent/offers/{offer_id}/accept").status_code == 403
        assert budi.post(f"/api/agent/offers/{offer_id}/reject").status_code == 403
        assert alice.post(f"/api/agent/offers/{offer_id}/reject").status_code == 204
        assert budi.post(f"/api/agent/offers/{offer_id}/accept").status_code == 403
    finally:
        budi.close()


def test_going_on_break_while_ringing_is_a_conflict(tw: Emulator, alice: Console) -> None:
    """Break is refused with 409 while an offer rings."""
    offered(tw, alice)
    response = alice.post("/api/agent/status", {"status": "break", "reason": "lunch"})
    assert response.status_code == 409


@pytest.mark.parametrize("status", ["available", "break"])
def test_a_status_refused_while_ringing_says_why_in_plain_words(
    tw: Emulator, alice: Console, status: str
) -> None:
    """The 409 names the offer in plain words, not the routing state or the agent's id."""
    offered(tw, alice)
    response = alice.post("/api/agent/status", {"status": status})
    assert response.status_code == 409
    error = response.json()["error"]
    assert "reserved" not in error and "alice" not in error, error
    assert "offered" in error, error


def test_supervisor_sees_the_floor_and_acts_with_their_name_recorded(
    tw: Emulator, server: LiveServer, r: redis.Redis, sam: Console
) -> None:
    """Sam sees a waiting call, raises its priority, and puts an agent on break; both are logged."""
    go_available(server, "chai")
    call = billing_caller(tw)
    tw.advance(5)
    floor = sam.get("/api/supervisor/floor").json()
    billing = next(q for q in floor["queues"] if q["name"] == "billing")
    assert billing["waiting"] == 1 and billing["oldest_wait_s"] >= 5
    (waiting,) = floor["waiting"]
    assert waiting["call"] == call.sid and waiting["language"] == "en"
    changed = sam.put(f"/api/supervisor/calls/{call.sid}/priority", {"priority": 50})
    assert changed.status_code == 200 and changed.json()["priority"] == 50
    assert sam.get("/api/supervisor/floor").json()["waiting"][0]["priority"] == 50
    assert sam.post("/api/supervisor/agents/chai/break", {"reason": "coaching"}).status_code == 204
    assert state(server, "chai").state == "break"
    assert sam.post("/api/supervisor/agents/chai/logout").status_code == 204
    assert state(server, "chai").state == "offline"
    audit = [f for _, f in entries(r, Keys().events()) if f["type"] == "SUPERVISOR"]
    assert [a["by"] for a in audit] == ["supervisor:sam"] * 3
    assert audit[1]["agent"] == "chai" and audit[1]["reason"] == "break:coaching"
    chai = next(a for a in floor["agents"] if a["id"] == "chai")
    assert chai["state"] == "available"
    assert floor["config"]["version"]


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        pytest.param("/api/supervisor/calls/CAnone/priority", {"priority": 5}, 404, id="no-call"),
        pytest.param(
            "/api/supervisor/calls/CAnone/priority", {"priority": 100}, 422, id="too-high"
        ),
        pytest.param("/api/supervisor/calls/CAnone/priority", {"priority": "9"}, 422, id="text"),
        pytest.param("/api/supervisor/agents/zed/break", {}, 404, id="unknown-agent"),
    ],
)
def test_supervisor_bad_requests(sam: Console, path: str, body: object, status: int) -> None:
    """Bad supervisor actions are refused with a clear 4xx."""
    method = "PUT" if path.endswith("priority") else "POST"
    assert sam.request(method, path, json=body).status_code == status


def test_supervisor_cannot_use_the_agent_api(sam: Console) -> None:
    """Supervisors are not agents: 403."""
    assert sam.get("/api/agent").status_code == 403


def wrapping_up(tw: Emulator, alice: Console) -> Call:
    """Alice takes a billing caller, who hangs up: she is in wrap-up with the call to file."""
    assert alice.post("/api/agent/status", {"status": "available"}).status_code == 204
    call = billing_caller(tw)
    tw.advance(1)
    offer_id = alice.view()["offer"]["id"]
    assert alice.post(f"/api/agent/offers/{offer_id}/accept").status_code == 200
    tw.advance(1)
    tw.device("client:alice").answer()
    tw.advance(2)
    assert call.bridge is not None
    call.hangup()
    tw.advance(1)
    assert alice.view()["agent"]["state"] == "wrap_up"
    return call


def test_a_double_clicked_wrap_up_files_one_contact(
    tw: Emulator, server: LiveServer, r: redis.Redis, alice: Console
) -> None:
    """Two wrap-ups of one call at once: one is filed (200), the other is refused with 409."""
    call = wrapping_up(tw, alice)
    body = {"disposition": "resolved", "notes": ""}
    path = f"/api/agent/calls/{call.sid}/wrapup"
    with ThreadPoolExecutor(max_workers=4) as pool:
        answers = list(pool.map(lambda _: alice.post(path, body), range(4)))
    assert sorted(a.status_code for a in answers) == [200, 409, 409, 409], [a.text for a in answers]
    assert all("already filed" in a.json()["error"] for a in answers if a.status_code == 409)
    assert len(r.lrange(Keys().contact_history("+60199999999"), 0, -1)) == 1
    assert len(events(r, "DISPOSITION")) == 1
