"""Every leg the service starts is watched: Twilio API faults, agent legs that ring out,
fail or drop, and retried webhooks never strand a caller or lock an agent out."""

from __future__ import annotations

import pytest
import redis
from twilio.rest import Client

from ivr.devtools.emulator import Emulator
from ivr.devtools.emulator.calls import FINAL_STATUSES, Call
from ivr.devtools.faults import ProcessKilled
from ivr.devtools.liveserver import LiveServer
from ivr.service import Services
from ivr.voice import offers
from tests.agents import go_available, on_break, services_of, state
from tests.conftest import AUTH_TOKEN, BUSINESS, Twilio
from tests.consoles import Console
from tests.test_connect_e2e import billing_caller, events

AGENT_DEVICES = ("client:alice", "client:budi", "+66811111111")
TALK_S = 10.0


def caller_at_last_key(tw: Emulator, number: str, queue: str) -> tuple[Call, str]:
    """An English caller one key away from joining `queue` (billing or support)."""
    call = tw.dial(from_=number, to=BUSINESS)
    call.press("1")
    call.hears("For billing, press 1")
    if queue == "support":
        return call, "2"
    call.press("1")
    call.hears("8 digit account number")
    return call, "20261124#"


def serve(tw: Emulator, callers: list[Call], seconds: float) -> None:
    """Agents answer every ring and press 1; each bridged caller hangs up after TALK_S."""
    bridged_at: dict[str, float] = {}
    for _ in range(int(seconds * 2)):
        tw.advance(0.5)
        for address in AGENT_DEVICES:
            device = tw.device(address)
            if device.ringing is not None and device.call is None:
                device.answer().press("1")
        for call in callers:
            if call.bridge is not None and not call.ended:
                since = bridged_at.setdefault(call.sid, tw.clock.now())
                if tw.clock.now() - since >= TALK_S:
                    call.hangup()


def test_a_five_second_api_outage_takes_no_agent_off_the_floor(
    tw: Emulator, server: LiveServer, r: redis.Redis
) -> None:
    """Twilio's API answers 503 for 5 s while three calls arrive, then three more come:
    no agent is put on break, and all six callers are served."""
    go_available(server, "alice", "budi", "chai")
    queues = ["billing", "billing", "support"]
    first = [caller_at_last_key(tw, f"+6019000000{i}", q) for i, q in enumerate(queues)]
    tw.fail_rest(503, seconds=5)
    for call, key in first:
        call.press(key)
    serve(tw, [c for c, _ in first], 8)
    assert tw.rest_failures > 0
    assert [state(server, a).state for a in ("alice", "budi", "chai")].count("break") == 0
    second = [caller_at_last_key(tw, f"+6019000001{i}", q) for i, q in enumerate(queues)]
    for call, key in second:
        call.press(key)
    callers = [c for c, _ in first + second]
    serve(tw, callers, 120)
    served = {e["call"] for e in events(r, "CONNECT")}
    assert served == {c.sid for c in callers}
    assert not any(e.get("reason") == "break:device unreachable" for e in events(r, "AGENTSTATUS"))


# -- finding 3: a phone accept that never bridges ----------------------------------------
def ringing_offer(tw: Emulator, server: LiveServer) -> tuple[Call, Call, str]:
    """Alice and Budi are available; a billing caller rings Alice, who answers and hears
    the whisper. Returns the caller, Alice's leg and the reservation."""
    go_available(server, "alice", "budi")
    call = billing_caller(tw)
    tw.advance(1)
    reservation = state(server, "alice").reservation
    leg = tw.device("client:alice").answer()
    leg.hears("Press 1 to accept")
    return call, leg, reservation


def answer(twilio: Twilio, leg: Call, reservation: str, digits: str = "1") -> str:
    """Post `/voice/agent/answer` as Twilio would for `leg`; the TwiML it answers."""
    form = {"CallSid": leg.sid, "AccountSid": "AC" + "0" * 32, "Digits": digits}
    reply = twilio.post(f"/voice/agent/answer?res={reservation}", form)
    assert reply.status_code == 200
    return reply.text


def test_a_phone_accept_whose_bridge_never_runs_puts_the_caller_back(
    tw: Emulator, server: LiveServer, twilio: Twilio, r: redis.Redis
) -> None:
    """Alice's accept is committed but its answer never reaches her phone (the process died),
    so no bridge runs: the caller hears that they are being connected, never only silence,
    then an apology, keeps their place, and is offered again and bridged; Alice is not
    left on call."""
    call, leg, reservation = ringing_offer(tw, server)
    assert "/voice/agent/conference" in answer(twilio, leg, reservation)  # the reply lost
    form = {"CallSid": call.sid, "AccountSid": "AC" + "0" * 32}
    assert "<Say" in twilio.post("/voice/hold", form).text  # a fetch of the hold loop now
    call.hears("could not take your call", within=30)
    assert state(server, "alice").state != "on_call"
    svc = services_of(server)
    assert svc.run(svc.router.position(call.sid)) is not None and not call.ended
    next_agent_takes(tw, call)
    assert call.bridge is not None
    assert len(events(r, "CONNECT")) == 1


def next_agent_takes(tw: Emulator, call: Call) -> None:
    """The call is offered again: whichever of Alice and Budi rings answers and accepts."""
    devices = [tw.device("client:alice"), tw.device("client:budi")]
    assert tw.advance_until(lambda: any(d.ringing for d in devices), 30)
    (device,) = [d for d in devices if d.ringing]
    device.answer().press("1")
    call.hears("Connecting you now")
    tw.advance(2)


def test_an_agent_leg_dropping_after_accept_puts_the_caller_back_at_once(
    tw: Emulator, server: LiveServer, twilio: Twilio, r: redis.Redis
) -> None:
    """Alice presses 1 but her leg drops before the bridge: within a few seconds the caller
    is back in their place with an apology, and Alice is no longer on the call."""
    call, leg, reservation = ringing_offer(tw, server)
    answer(twilio, leg, reservation)
    leg.hangup()
    started = tw.clock.now()
    call.hears("could not take your call", within=15)
    assert tw.clock.now() - started <= 5
    tw.advance(8)
    assert call.queue is not None
    (missed,) = events(r, "REJECTED")
    assert (missed["agent"], missed["reason"]) == ("alice", "dropped")
    assert state(server, "alice").state != "on_call"


def test_an_agent_leg_dropping_as_the_queue_bridges_puts_the_caller_back(
    tw: Emulator, server: LiveServer, r: redis.Redis
) -> None:
    """Alice presses 1 on her phone and her leg drops at once: her `<Dial><Queue>` has
    taken the caller, who hears "connecting you", but the bridge never happens. The caller
    is not hung up: they hear an apology within a few seconds, wait again in their place,
    and the next ring bridges them; Alice is not left on the call."""
    call, leg, _ = ringing_offer(tw, server)
    leg.press("1")
    leg.hangup()
    started = tw.clock.now()
    call.hears("could not take your call", within=15)
    assert tw.clock.now() - started <= 5 and not call.ended
    assert state(server, "alice").state != "on_call"
    (missed,) = events(r, "REJECTED")
    assert (missed["agent"], missed["reason"]) == ("alice", "dropped")
    next_agent_takes(tw, call)
    assert call.bridge is not None and not call.ended


def test_the_next_agent_bridges_a_caller_put_back_without_waiting_out_the_apology(
    tw: Emulator, server: LiveServer
) -> None:
    """A billing caller has waited past the escalation, so Alice and Budi may both take
    them. The first one rung presses 1 and their leg drops as their `<Dial><Queue>` takes
    the caller; the other is rung at once and presses 1 while the caller is being told
    why: the apology gives way, and the caller is bridged within a few seconds of that
    accept, not left connected in routing (the agent hearing silence) until it is over."""
    on_break(server, "alice", "budi")
    call = billing_caller(tw)
    tw.advance(31)  # billing's escalation: any billing agent now
    go_available(server, "alice", "budi")
    devices = [tw.device("client:alice"), tw.device("client:budi")]
    assert tw.advance_until(lambda: any(d.ringing for d in devices), 5)
    (first,) = [d for d in devices if d.ringing]
    leg = first.answer()
    leg.press("1")
    leg.hangup()
    (other,) = [d for d in devices if d is not first]
    assert tw.advance_until(lambda: other.ringing is not None, 2)
    other.answer().press("1")
    accepted = tw.clock.now()
    assert tw.advance_until(lambda: call.bridge is not None, 15)
    assert tw.clock.now() - accepted <= 3
    assert any("could not take your call" in u.text for u in call.heard)
    assert not call.ended


def test_a_late_dial_action_still_puts_the_caller_back(
    tw: Emulator, server: LiveServer, r: redis.Redis
) -> None:
    """As above, but the action of Alice's `<Dial>` reaches the app 10 s late, after the
    caller's Enqueue reported `bridged`: the caller is still put back, and the late
    action does not end the next agent's connection."""
    board = (
        tw._board
    )  # the emulator's seam for spent actions, as `ivr.devtools.emulator.faults` uses
    post = board.post_later

    def late(url: str, method: str, params: dict[str, str]) -> None:
        delay = 10.0 if "/voice/agent/done" in url else 0.0
        board.scheduler.after(delay, lambda: post(url, method, params))

    setattr(board, "post_later", late)  # noqa: B010
    call, leg, _ = ringing_offer(tw, server)
    leg.press("1")
    leg.hangup()
    call.hears("could not take your call", within=5)
    assert not call.ended
    devices = [tw.device("client:alice"), tw.device("client:budi")]
    assert tw.advance_until(lambda: any(d.ringing for d in devices), 30)
    (device,) = [d for d in devices if d.ringing]
    device.answer().press("1")
    call.hears("Connecting you now")
    tw.advance(15)  # Alice's late action arrives meanwhile
    assert call.bridge is not None and not call.ended
    assert len(events(r, "REJECTED")) == 1 and not events(r, "COMPLETEAGENT")


def test_agent_webhooks_naming_another_call_change_nothing(
    tw: Emulator, server: LiveServer, twilio: Twilio, r: redis.Redis
) -> None:
    """Signed `/voice/agent/*` requests carrying the caller's CallSid (not the leg rung for
    the reservation), for the ringing offer and for one long gone: the caller is not hung
    up, Alice's offer is not released, and her own '1' still bridges the caller."""
    call, leg, reservation = ringing_offer(tw, server)
    caller = {"CallSid": call.sid, "AccountSid": "AC" + "0" * 32, "To": BUSINESS}
    for res in (reservation, "0" * 32):
        for status in ("ringing", "in-progress", "completed", "busy"):
            reply = twilio.post(f"/voice/agent/status?res={res}", caller | {"CallStatus": status})
            assert reply.status_code == 204
    assert (
        "/voice/agent/conference"
        not in twilio.post(f"/voice/agent/answer?res={reservation}", caller | {"Digits": "2"}).text
    )
    assert "<Gather" not in twilio.post(f"/voice/agent/offer?res={reservation}", caller).text
    tw.advance(2)
    assert not call.ended and call.queue is not None and not leg.ended
    assert state(server, "alice").state == "reserved" and not events(r, "REJECTED")
    leg.press("1")
    call.hears("Connecting you now")
    tw.advance(2)
    assert call.bridge is not None


def test_a_retried_answer_gets_the_same_bridge(
    tw: Emulator, server: LiveServer, twilio: Twilio
) -> None:
    """Twilio delivers Alice's '1' twice: the second delivery answers the same bridge."""
    call, leg, reservation = ringing_offer(tw, server)
    leg.press("1")
    call.hears("Connecting you now")
    tw.advance(2)
    assert call.bridge is not None
    again = answer(twilio, leg, reservation)
    assert f"/voice/agent/conference?call={call.sid}&amp;res={reservation}" in again
    tw.assert_no_errors()


# -- finding 2: a console accept whose device never answers ------------------------------
@pytest.mark.parametrize(
    ("policy", "reason"),
    [
        pytest.param("no-answer", "noanswer", id="rings-out"),
        pytest.param("busy", "busy", id="busy"),
        pytest.param("fail", "failed", id="softphone-not-registered"),
    ],
)
def test_a_console_accept_whose_device_never_answers_puts_the_caller_back(
    tw: Emulator, server: LiveServer, r: redis.Redis, alice: Console, policy: str, reason: str
) -> None:
    """Alice accepts in the console but her device rings out, is busy or fails: the caller
    is told and keeps their place, was never counted answered, and Alice is not stuck on
    the call: she can go on break."""
    tw.device("client:alice").auto = policy
    assert alice.post("/api/agent/status", {"status": "available"}).status_code == 204
    call = billing_caller(tw)
    tw.advance(1)
    offer = alice.view()["offer"]
    assert alice.post(f"/api/agent/offers/{offer['id']}/accept").status_code == 200
    call.hears("could not take your call", within=40)
    svc = services_of(server)
    assert svc.run(svc.router.position(call.sid)) is not None and not call.ended
    assert events(r, "CONNECT") == []
    (missed,) = events(r, "REJECTED")
    assert (missed["agent"], missed["reason"]) == ("alice", reason)
    assert alice.post("/api/agent/status", {"status": "break", "reason": "x"}).status_code == 204
    tw.assert_no_errors()


def test_a_supervisor_can_log_out_an_agent_whose_call_is_stuck(
    tw: Emulator, server: LiveServer, r: redis.Redis, alice: Console, sam: Console
) -> None:
    """Alice accepted in the console and her device rings on: Sam can log her out, and the
    caller goes back in their place."""
    tw.device("client:alice").auto = "no-answer"
    assert alice.post("/api/agent/status", {"status": "available"}).status_code == 204
    call = billing_caller(tw)
    tw.advance(1)
    offer = alice.view()["offer"]
    assert alice.post(f"/api/agent/offers/{offer['id']}/accept").status_code == 200
    tw.advance(2)
    assert state(server, "alice").state == "on_call"
    assert sam.post("/api/supervisor/agents/alice/logout").status_code == 204
    assert state(server, "alice").state == "offline"
    svc = services_of(server)
    assert svc.run(svc.router.position(call.sid)) is not None
    tw.advance(3)
    assert all(c.ended for c in tw.device("client:alice").calls)


# -- finding 5: a crash while the ring request is in flight -------------------------------
@pytest.mark.parametrize(
    "callbacks_lost",
    [
        pytest.param(False, id="status-callbacks-adopt-it"),
        pytest.param(True, id="looked-up-at-the-ring-timeout"),
    ],
)
def test_a_leg_whose_ring_request_lost_its_answer_is_hung_up_at_the_ring_timeout(
    tw: Emulator, server: LiveServer, monkeypatch: pytest.MonkeyPatch, callbacks_lost: bool
) -> None:
    """The process dies while its request to ring Alice is in flight: Twilio rings her but
    the service never reads the leg's sid (nor, in the second case, any of its status
    callbacks). At the ring timeout that leg is hung up, and the call is not offered
    again while it still rings."""

    async def died(*args: object, **kwargs: object) -> None:
        """What a dead process does after its request: nothing."""

    monkeypatch.setattr(offers, "failed", died, raising=False)
    monkeypatch.setattr(offers, "unreachable", died)
    if callbacks_lost:
        monkeypatch.setattr(offers, "adopt_or_hang_up", died, raising=False)
    go_available(server, "alice")
    tw.fail_rest(504, count=1, applied=True)
    call = billing_caller(tw)
    tw.advance(1)
    alice = tw.device("client:alice")
    first = alice.ringing
    assert first is not None
    tw.advance(20)  # billing's ring timeout
    assert first.ended
    for _ in range(20):
        tw.advance(1)
        assert len([c for c in alice.calls if c.status == "ringing"]) <= 1
    assert len(alice.calls) >= 2  # offered again, once the first leg was gone
    assert not call.ended


def test_a_process_dying_as_it_hangs_up_a_ring_that_timed_out_still_rings_the_next_agent(
    tw: Emulator, server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A caller past billing's escalation rings one of Alice and Budi, who lets it ring
    out; routing's timer offers the call to the other, and the process dies in its request
    to hang up the first phone. The next process rings the other agent at once: they are
    not left reserved with a silent phone until their own ring timeout."""
    hang_up = offers.hang_up

    async def dies_once(svc: Services, leg: str) -> None:
        monkeypatch.setattr(offers, "hang_up", hang_up)
        raise ProcessKilled("web process")

    call = billing_caller(tw)
    tw.advance(31)  # any billing agent may take it now
    go_available(server, "alice", "budi")
    tw.advance(1)
    devices = {name: tw.device(f"client:{name}") for name in ("alice", "budi")}
    (first,) = [name for name, device in devices.items() if device.ringing is not None]
    (other,) = set(devices) - {first}
    monkeypatch.setattr(offers, "hang_up", dies_once)
    with pytest.raises(ProcessKilled):
        tw.advance(25)  # billing's ring timeout: the timer's tick dies
    assert state(server, other).state == "reserved"
    assert tw.advance_until(lambda: devices[other].ringing is not None, 3)
    devices[other].answer().press("1")
    call.hears("Connecting you now")


# -- finding 4: only a device error is the agent's, and it wears off -----------------------
def test_an_unreachable_device_breaks_the_agent_for_a_cool_down_shown_to_the_supervisor(
    tw: Emulator, server: LiveServer, sam: Console
) -> None:
    """Twilio says Chai's phone cannot be reached: Chai goes on break, the supervisor sees
    why and for how long, and after the cool-down Chai is back and rung for the caller."""
    phone = tw.device("+66811111111")
    phone.unreachable = True
    go_available(server, "chai")
    call = tw.dial(from_="+60199999999", to=BUSINESS)
    call.press("1")
    call.hears("For billing, press 1")
    call.press("2")
    tw.advance(1)
    (row,) = [a for a in sam.get("/api/supervisor/floor").json()["agents"] if a["id"] == "chai"]
    assert (row["state"], row["reason"]) == ("break", "device unreachable")
    assert 290 <= row["back_in_s"] <= 300
    phone.unreachable = False
    tw.advance(290)
    assert state(server, "chai").state == "break"
    tw.advance(11)
    assert phone.ringing is not None
    assert not call.ended


def test_a_console_accept_whose_device_waits_its_turn_is_still_connected(
    tw: Emulator, server: LiveServer, r: redis.Redis, alice: Console
) -> None:
    """Alice accepts in the console while Twilio's outbound queue holds her device's leg 45 s
    (one call every 45 s, one call ahead): past the ring timeout plus 10 s that a pending
    connection waits. The wait counts from when the leg should ring, so her device rings,
    she answers and the caller is connected: no `connect_lost`, no break."""
    tw.device("client:alice").auto = "answer"
    assert alice.post("/api/agent/status", {"status": "available"}).status_code == 204
    call = billing_caller(tw)
    tw.advance(1)
    offer = alice.view()["offer"]
    tw.cps = 1 / 45
    rest = Client(tw.account_sid, AUTH_TOKEN, http_client=tw.http_client())
    rest.calls.create(to="+60100000000", from_=BUSINESS, twiml="<Response><Hangup/></Response>")
    assert alice.post(f"/api/agent/offers/{offer['id']}/accept").status_code == 200
    tw.advance(44)
    assert tw.device("client:alice").call is None and events(r, "REJECTED") == []
    tw.advance(5)
    call.hears("Connecting you now", within=10)
    tw.advance(2)
    assert call.bridge is not None
    assert [e["call"] for e in events(r, "CONNECT")] == [call.sid]
    assert state(server, "alice").state == "on_call"


def test_a_late_end_of_an_old_leg_leaves_the_agents_new_connection_alone(
    tw: Emulator, server: LiveServer, twilio: Twilio, r: redis.Redis
) -> None:
    """Alice presses 1 but the API is down, so the caller goes back to their place; the
    call is offered to her again and she accepts it. Her first leg's final status
    callback, arriving only now, is about the old connection: the call stays hers (not put
    back a second time, no second missed call)."""
    board = tw._board  # the emulator's seam for status callbacks, as its `faults` uses
    post = board.post_later
    held: list[tuple[str, str, dict[str, str]]] = []
    first: list[str] = []

    def hold_first_end(url: str, method: str, params: dict[str, str]) -> None:
        ends = params.get("CallStatus") in FINAL_STATUSES and "/voice/agent/status" in url
        if ends and params.get("CallSid") in first:
            held.append((url, method, params))
            return
        post(url, method, params)

    setattr(board, "post_later", hold_first_end)  # noqa: B010
    call, leg, _ = ringing_offer(tw, server)
    first.append(leg.sid)
    tw.fail_rest(503, seconds=20)
    leg.press("1")
    call.hears("could not take your call", within=20)
    assert tw.advance_until(lambda: leg.ended and bool(held), 60)
    device = tw.device("client:alice")
    assert tw.advance_until(lambda: device.ringing is not None, 60)
    second = device.answer()
    second.hears("Press 1 to accept")
    reservation = state(server, "alice").reservation
    answer(twilio, second, reservation)  # accepted; its bridge not run yet (the reply lost)
    for url, method, params in held:
        post(url, method, params)
    tw.advance(1)
    svc = services_of(server)
    routed = svc.run(svc.router.call(call.sid))
    assert routed is not None and (routed.agent, routed.connection) == ("alice", reservation)
    assert state(server, "alice").state == "on_call"
    assert len(events(r, "REJECTED")) == 1
