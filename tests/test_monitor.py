"""Supervisor monitoring through the emulator: who hears whom when Sam listens, whispers, barges.

A caller is connected to Alice through the menu, routing and the conference bridge, as
any caller is: the customer and Alice are in the call's conference `conf-{CallSid}`. Sam's
device (`client:sam` in the sample config) is dialled into it by
`POST /api/supervisor/calls/{call}/monitor`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
import yaml

from ivr.core.keys import Keys
from ivr.devtools.emulator import Emulator
from ivr.devtools.emulator.calls import Call
from ivr.devtools.emulator.devices import Device
from ivr.devtools.liveserver import LiveServer
from ivr.voice import conference
from tests.agents import go_available
from tests.conftest import SAMPLE_CONFIG, Twilio
from tests.consoles import Console
from tests.streams import entries
from tests.test_connect_e2e import billing_caller
from tests.test_webhooks import call_form

SAM = "client:sam"
EXTRA_SUPERVISORS = {
    "ria": {"name": "Ria Lim", "device": "client:ria"},
    "noel": {"name": "Noel Ong"},
    "tan": {"name": "Alice Tan", "device": "client:alice"},
}
"""Supervisors beside Sam, all with Sam's secret: a second one, one without a device, and
Alice's own supervisor login (her device)."""


@pytest.fixture(name="config_dir")
def fixture_config_dir(tmp_path: Path) -> Path:
    """The sample config with the extra supervisors."""
    target = tmp_path / "config"
    target.mkdir()
    for path in SAMPLE_CONFIG.glob("*.yaml"):
        (target / path.name).write_text(path.read_text())
    path = target / "supervisors.yaml"
    doc = yaml.safe_load(path.read_text())
    secret = doc["supervisors"]["sam"]["secret_hash"]
    for name, extra in EXTRA_SUPERVISORS.items():
        doc["supervisors"][name] = {**extra, "secret_hash": secret}
    path.write_text(yaml.safe_dump(doc))
    return target


def supervisor(server: LiveServer, name: str) -> Console:
    return Console(server, "supervisor", name, "sam-demo")


@dataclass
class Room:
    """A call connected to Alice: the customer's own call and Alice's device."""

    call: Call
    customer: Call
    agent: Device

    @property
    def sid(self) -> str:
        return self.call.sid


def connected_to_alice(tw: Emulator, server: LiveServer) -> Call:
    """A billing caller connected to Alice through routing and the conference bridge."""
    go_available(server, "alice")
    call = billing_caller(tw)
    tw.advance(1)
    tw.device("client:alice").answer().press("1")
    call.hears("Connecting you now")
    tw.advance(2)
    return call


@pytest.fixture(name="room")
def fixture_room(tw: Emulator, server: LiveServer) -> Room:
    """A connected call; Sam's device answers when rung."""
    call = connected_to_alice(tw, server)
    tw.device(SAM).auto = "answer"
    return Room(call, call, tw.device("client:alice"))


def monitor(console: Console, call: str, mode: str) -> int:
    response = console.post(f"/api/supervisor/calls/{call}/monitor", {"mode": mode})
    return response.status_code


def stop(console: Console, call: str) -> int:
    return console.request("DELETE", f"/api/supervisor/calls/{call}/monitor").status_code


def heard(party: Device | Call) -> str:
    """Everything a party heard: a call's, or a device's latest call's."""
    call = party.calls[-1] if isinstance(party, Device) and party.calls else party
    return " ".join(call.transcript()) if isinstance(call, Call) else ""


def supervisor_events(r: redis.Redis) -> list[dict[str, str]]:
    found = [fields for _, fields in entries(r, Keys().events())]
    return [f for f in found if f["type"] == "SUPERVISOR" and f.get("action")]


def talk(tw: Emulator, room: Room, words: str) -> None:
    """Sam says `words`, then the customer and the agent each say something."""
    tw.device(SAM).say(words)
    room.customer.say("my card was charged twice")
    room.agent.say("let me look at that")
    tw.advance(3)


# -- who hears whom ---------------------------------------------------------------------
def test_listen_hears_both_sides_and_nobody_hears_the_supervisor(
    tw: Emulator, room: Room, sam: Console, r: redis.Redis
) -> None:
    """Listening, Sam hears the customer and Alice; neither hears Sam; the action is audited."""
    at_ms = int(tw.clock.now() * 1000)
    assert monitor(sam, room.sid, "listen") == 200
    tw.advance(1)
    talk(tw, room, "psst listening")
    assert "charged twice" in heard(tw.device(SAM)) and "look at that" in heard(tw.device(SAM))
    assert "psst" not in heard(room.customer) + heard(room.agent)
    (event,) = supervisor_events(r)
    assert (event["action"], event["by"], event["call"], event["agent"]) == (
        "monitor_listen", "supervisor:sam", room.sid, "alice",
    )  # fmt: skip
    assert int(event["ts"]) == at_ms


def test_whisper_is_heard_by_the_agent_only(tw: Emulator, room: Room, sam: Console) -> None:
    """Switched from listen to whisper, Sam coaches Alice: the customer never hears it."""
    assert monitor(sam, room.sid, "listen") == 200
    tw.advance(1)
    assert monitor(sam, room.sid, "whisper") == 200
    tw.advance(1)
    talk(tw, room, "offer the refund")
    assert "offer the refund" in heard(room.agent)
    assert "offer the refund" not in heard(room.customer)
    assert "charged twice" in heard(tw.device(SAM))
    assert len(tw.device(SAM).calls) == 1  # the same leg, updated


def test_barge_is_heard_by_everyone(tw: Emulator, room: Room, sam: Console) -> None:
    """Barging in, Sam is heard by the customer and Alice alike."""
    assert monitor(sam, room.sid, "barge") == 200
    tw.advance(1)
    talk(tw, room, "hello this is the supervisor")
    assert "this is the supervisor" in heard(room.agent)
    assert "this is the supervisor" in heard(room.customer)


def test_whisper_then_barge_then_listen(
    tw: Emulator, room: Room, sam: Console, r: redis.Redis
) -> None:
    """Each switch takes effect at once, and each is audited in order."""
    for mode in ("whisper", "barge", "listen"):
        assert monitor(sam, room.sid, mode) == 200
        tw.advance(1)
    talk(tw, room, "only listening now")
    assert "only listening now" not in heard(room.agent) + heard(room.customer)
    actions = [e["action"] for e in supervisor_events(r)]
    assert actions == ["monitor_whisper", "monitor_barge", "monitor_listen"]


def test_stop_takes_the_supervisor_out(
    tw: Emulator, room: Room, sam: Console, r: redis.Redis
) -> None:
    """Stopping ends Sam's leg; the customer and Alice talk on; the stop is audited."""
    assert monitor(sam, room.sid, "barge") == 200
    tw.advance(1)
    assert stop(sam, room.sid) == 204
    tw.advance(1)
    assert tw.device(SAM).call is None
    room.customer.say("still there")
    tw.advance(2)
    assert "still there" in heard(room.agent)
    labels = {p.label for p in tw.conference(conference.name(room.sid)).participants}
    assert labels == {"customer", "agent"}
    assert [e["action"] for e in supervisor_events(r)] == ["monitor_barge", "monitor_stop"]
    assert supervisor_events(r)[-1]["by"] == "supervisor:sam"
    assert stop(sam, room.sid) == 409  # nothing left to stop


def test_a_supervisor_who_hung_up_is_dialled_again(tw: Emulator, room: Room, sam: Console) -> None:
    """Sam hung up while listening: asking to barge rings Sam's device again."""
    assert monitor(sam, room.sid, "listen") == 200
    tw.advance(1)
    tw.device(SAM).hangup()
    tw.advance(1)
    assert monitor(sam, room.sid, "barge") == 200
    tw.advance(1)
    talk(tw, room, "back again")
    assert len(tw.device(SAM).calls) == 2
    assert "back again" in heard(room.customer)


def test_floor_shows_who_monitors_a_call(
    tw: Emulator, room: Room, sam: Console, server: LiveServer
) -> None:
    """Every supervisor sees on Alice's row that Sam is whispering on her call, until it ends."""
    assert monitor(sam, room.sid, "whisper") == 200
    ria = supervisor(server, "ria")
    rows = {a["id"]: a for a in ria.get("/api/supervisor/floor").json()["agents"]}
    assert rows["alice"]["monitor"] == {"by": "sam", "by_name": "Sam Lee", "mode": "whisper"}
    assert rows["budi"]["monitor"] is None
    room.call.hangup()
    tw.advance(1)
    rows = {a["id"]: a for a in ria.get("/api/supervisor/floor").json()["agents"]}
    assert rows["alice"]["state"] != "on_call" and rows["alice"]["monitor"] is None
    ria.close()


# -- refusals ---------------------------------------------------------------------------
def test_one_monitor_per_call(tw: Emulator, room: Room, sam: Console, server: LiveServer) -> None:
    """While Sam monitors, Ria gets 409 and cannot stop Sam; once Sam stops, Ria may."""
    tw.device("client:ria").auto = "answer"
    assert monitor(sam, room.sid, "listen") == 200
    ria = supervisor(server, "ria")
    response = ria.post(f"/api/supervisor/calls/{room.sid}/monitor", {"mode": "barge"})
    assert response.status_code == 409 and "sam" in response.json()["error"]
    assert stop(ria, room.sid) == 409
    assert stop(sam, room.sid) == 204
    assert monitor(ria, room.sid, "listen") == 200
    ria.close()


def test_a_dial_under_way_is_not_made_twice(
    tw: Emulator, room: Room, sam: Console, r: redis.Redis
) -> None:
    """While a request dials Sam in (a double click), another gets 409; a dial left behind
    by a request that died more than 30 s ago does not block."""
    key = Keys().monitor(room.sid)
    r.hset(key, mapping={"by": "sam", "dialling": str(tw.clock.now() - 5)})
    assert monitor(sam, room.sid, "listen") == 409
    assert tw.device(SAM).calls == []
    r.hset(key, "dialling", str(tw.clock.now() - 31))
    assert monitor(sam, room.sid, "listen") == 200
    assert not r.hexists(key, "dialling")


def test_a_call_not_yet_in_its_conference_is_409(
    tw: Emulator, room: Room, sam: Console, r: redis.Redis
) -> None:
    """A connected call whose conference is not live (still connecting) cannot be joined;
    nothing is audited or kept."""
    r.hset(Keys().conference(room.sid), "state", "connecting")
    response = sam.post(f"/api/supervisor/calls/{room.sid}/monitor", {"mode": "listen"})
    assert response.status_code == 409 and "conference" in response.json()["error"]
    assert supervisor_events(r) == [] and not r.exists(Keys().monitor(room.sid))
    assert tw.device(SAM).calls == []


def test_a_waiting_call_is_409_and_an_unknown_one_404(
    tw: Emulator, server: LiveServer, sam: Console
) -> None:
    """A call still waiting in the queue is not connected: 409; a call routing does not
    know (another workspace's among them) is 404, as the agent's call controls answer."""
    call = billing_caller(tw)
    assert monitor(sam, call.sid, "listen") == 409
    assert monitor(sam, "CA" + "0" * 32, "listen") == 404
    assert (stop(sam, call.sid), stop(sam, "CA" + "0" * 32)) == (409, 404)


def test_agents_may_not_monitor(room: Room, alice: Console) -> None:
    """The monitoring API is for supervisors only."""
    assert monitor(alice, room.sid, "listen") == 403
    assert stop(alice, room.sid) == 403


def test_a_supervisor_cannot_monitor_their_own_call(room: Room, server: LiveServer) -> None:
    """Alice's supervisor login (same device as her agent one) cannot monitor her call."""
    tan = supervisor(server, "tan")
    response = tan.post(f"/api/supervisor/calls/{room.sid}/monitor", {"mode": "listen"})
    assert response.status_code == 403 and "own call" in response.json()["error"]
    tan.close()


def test_a_supervisor_without_a_device_is_told(room: Room, server: LiveServer) -> None:
    """Noel has no device in the config: 409 naming the setting."""
    noel = supervisor(server, "noel")
    response = noel.post(f"/api/supervisor/calls/{room.sid}/monitor", {"mode": "listen"})
    assert response.status_code == 409 and "device" in response.json()["error"]
    noel.close()


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"mode": "shout"}, id="unknown-mode"),
        pytest.param({"mode": 1}, id="not-a-string"),
        pytest.param({}, id="missing"),
    ],
)
def test_a_bad_mode_is_400(room: Room, sam: Console, body: dict[str, object]) -> None:
    """Only listen, whisper and barge are modes."""
    assert sam.post(f"/api/supervisor/calls/{room.sid}/monitor", body).status_code == 400


# -- Twilio's API failing ---------------------------------------------------------------
@pytest.mark.parametrize(
    ("status", "code"),
    [pytest.param(503, None, id="503"), pytest.param(429, 20429, id="429")],
)
def test_transient_rest_errors_are_retried(
    tw: Emulator, room: Room, sam: Console, status: int, code: int | None
) -> None:
    """Two failed requests in a row are retried away: Sam still listens."""
    tw.fail_rest(status, code, count=2)
    assert monitor(sam, room.sid, "listen") == 200
    tw.advance(1)
    assert tw.rest_failures == 2
    room.customer.say("hello")
    tw.advance(2)
    assert "hello" in heard(tw.device(SAM))


def test_a_rest_outage_is_a_plain_502(
    tw: Emulator, room: Room, sam: Console, r: redis.Redis
) -> None:
    """Twilio failing every retry: 502 with a plain message; nothing audited, no monitor kept,
    and a later try works."""
    tw.fail_rest(503, count=3)
    response = sam.post(f"/api/supervisor/calls/{room.sid}/monitor", {"mode": "listen"})
    assert response.status_code == 502
    assert (
        response.json()["error"] == "Twilio's API did not take the request; try again in a moment"
    )
    assert supervisor_events(r) == [] and not r.exists(Keys().monitor(room.sid))
    assert monitor(sam, room.sid, "listen") == 200


def test_a_refused_dial_is_a_502_naming_twilio(tw: Emulator, room: Room, sam: Console) -> None:
    """Twilio cannot ring Sam's device (400, not retried): 502 says Twilio refused."""
    tw.device(SAM).unreachable = True
    response = sam.post(f"/api/supervisor/calls/{room.sid}/monitor", {"mode": "listen"})
    assert response.status_code == 502 and "21214" in response.json()["error"]


def test_a_failed_switch_keeps_the_monitor(tw: Emulator, room: Room, sam: Console) -> None:
    """A switch Twilio never takes leaves Sam in the mode before: 502, still listening."""
    assert monitor(sam, room.sid, "listen") == 200
    tw.advance(1)
    tw.fail_rest(500, count=3)
    assert monitor(sam, room.sid, "barge") == 502
    talk(tw, room, "not heard")
    assert "not heard" not in heard(room.customer)
    rows = {a["id"]: a for a in sam.get("/api/supervisor/floor").json()["agents"]}
    assert rows["alice"]["monitor"]["mode"] == "listen"


# -- the supervisor's leg ends on its own ------------------------------------------------
def floor_monitor(console: Console) -> object:
    rows = {a["id"]: a for a in console.get("/api/supervisor/floor").json()["agents"]}
    return rows["alice"]["monitor"]


@pytest.mark.parametrize(
    ("auto", "reason"),
    [
        pytest.param(None, "no-answer", id="never-answers"),
        pytest.param("busy", "busy", id="busy"),
        pytest.param("fail", "failed", id="fails"),
    ],
)
def test_a_leg_that_never_connects_clears_the_monitor(
    tw: Emulator, room: Room, sam: Console, r: redis.Redis, auto: str | None, reason: str
) -> None:
    """Sam's phone never answers, is busy or fails: the live view stops showing Sam on the
    call, and a `monitor_stop` with the reason is recorded once."""
    tw.device(SAM).auto = auto
    assert monitor(sam, room.sid, "whisper") == 200
    tw.advance(70)  # past the participant's ring timeout
    assert floor_monitor(sam) is None
    assert not r.exists(Keys().monitor(room.sid))
    stops = [e for e in supervisor_events(r) if e["action"] == "monitor_stop"]
    assert [(e["by"], e["reason"], e["agent"]) for e in stops] == [
        ("supervisor:sam", reason, "alice")
    ]


def test_a_supervisor_hanging_up_clears_the_monitor_once(
    tw: Emulator, room: Room, sam: Console, server: LiveServer, r: redis.Redis
) -> None:
    """Sam hangs up while whispering (each callback sent twice): the monitor is cleared and
    audited once; the old leg's callbacks after Sam monitors anew change nothing."""
    tw.replay_webhooks = True
    assert monitor(sam, room.sid, "whisper") == 200
    tw.advance(1)
    old_leg = tw.device(SAM).calls[-1].sid
    tw.device(SAM).hangup()
    tw.advance(1)
    tw.replay_webhooks = False
    assert floor_monitor(sam) is None
    assert monitor(sam, room.sid, "listen") == 200  # a new leg
    tw.advance(1)
    late = Twilio(server.url)
    path = f"/voice/supervisor/status?call={room.sid}"
    for leg, seq in ((old_leg, "1"), ("CA" + "9" * 32, "3")):  # a repeat; one never seen
        form = call_form(leg, CallStatus="completed", SequenceNumber=seq)
        assert late.post(path, form).status_code == 204
    late.close()
    assert floor_monitor(sam) == {"by": "sam", "by_name": "Sam Lee", "mode": "listen"}
    actions = [(e["action"], e.get("reason")) for e in supervisor_events(r)]
    assert actions == [
        ("monitor_whisper", None),
        ("monitor_stop", "completed"),
        ("monitor_listen", None),
    ]


def test_stop_then_the_legs_end_is_recorded_once(
    tw: Emulator, room: Room, sam: Console, r: redis.Redis
) -> None:
    """Stop removes Sam's leg; its `completed` callback that follows records nothing more."""
    assert monitor(sam, room.sid, "listen") == 200
    tw.advance(1)
    assert stop(sam, room.sid) == 204
    tw.advance(2)
    stops = [e for e in supervisor_events(r) if e["action"] == "monitor_stop"]
    assert [e["reason"] for e in stops] == ["stopped"]
