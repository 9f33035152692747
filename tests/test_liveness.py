"""The liveness checker judges what callers hear and the order routing offers calls in."""

from __future__ import annotations

from typing import Any, cast

from ivr.core.keys import Keys
from ivr.devtools.emulator.calls import Call, Utterance
from ivr.devtools.emulator.conference import Conference, Participant
from ivr.devtools.emulator.devices import Device
from ivr.devtools.liveness import Checker, Shift, State
from queues.events import Event, EventType
from queues.invariants import Snapshot
from queues.layout import Layout


def checker() -> Checker:
    return Checker(0.0, say_seconds=lambda text: 0.4 * len(text.split()), play_seconds=lambda u: 10)


def event(n: int, kind: str, ts_ms: int, **fields: str) -> Event:
    return Event(id=f"{n}-0", type=EventType(kind), ts_ms=ts_ms, fields=fields)


def test_an_offer_that_overtakes_an_earlier_waiting_call_breaks_fifo() -> None:
    """B, who came after A, is offered to sim1 while A still waits: a FIFO breach on B."""
    check = checker()
    check.fifo(
        100.0,
        [
            event(1, "ENTERQUEUE", 1000, call="A", queue="billing", priority="0", language="en"),
            event(2, "ENTERQUEUE", 2000, call="B", queue="billing", priority="0", language="en"),
            event(3, "OFFERED", 3000, call="B", agent="sim1"),
        ],
    )
    assert [(b.invariant, b.subject) for b in check.breaches] == [("FIFO within priority", "B")]


def test_an_offer_while_the_earlier_call_rings_elsewhere_keeps_fifo() -> None:
    """A rings sim2 when B is offered to sim1, then A comes back: no breach."""
    check = checker()
    check.fifo(
        100.0,
        [
            event(1, "ENTERQUEUE", 1000, call="A", queue="billing", priority="0", language="en"),
            event(2, "OFFERED", 1500, call="A", agent="sim2"),
            event(3, "ENTERQUEUE", 2000, call="B", queue="billing", priority="0", language="en"),
            event(4, "OFFERED", 3000, call="B", agent="sim1"),
            event(5, "RINGNOANSWER", 3000, call="A", agent="sim2"),
            event(6, "OFFERED", 9000, call="A", agent="sim3"),
        ],
    )
    assert check.breaches == []


def test_a_call_missed_by_an_agent_may_go_to_a_later_caller_of_that_agent() -> None:
    """sim1 let A ring out; routing may give sim1 the later B while A waits for someone else."""
    check = checker()
    check.fifo(
        100.0,
        [
            event(1, "ENTERQUEUE", 1000, call="A", queue="billing", priority="0", language="en"),
            event(2, "OFFERED", 1500, call="A", agent="sim1"),
            event(3, "RINGNOANSWER", 2500, call="A", agent="sim1"),
            event(4, "ENTERQUEUE", 2600, call="B", queue="billing", priority="0", language="en"),
            event(5, "OFFERED", 9000, call="B", agent="sim1"),
        ],
    )
    assert check.breaches == []


def test_silence_starts_where_the_last_sound_ends() -> None:
    """Music (10 s) at 0, then pauses from 10 s: silent since 10 s; a say ends after its words."""
    check = checker()
    music = Utterance("play", url="http://m/hold.mp3", at=0.0)
    pauses = [Utterance("pause", at=10.0), Utterance("pause", at=11.0)]
    assert check.sound_until([music, *pauses]) == 10.0
    assert check.sound_until([Utterance("say", "please hold the line", at=5.0)]) == 5.0 + 1.6
    assert check.sound_until([music]) == 10.0


def reserved_on_a_busy_leg(told: set[str]) -> tuple[Checker, Shift, State]:
    """sim1 is reserved; their device's one leg ended busy; `told` holds the legs whose
    end the service has been told of."""
    leg = Call(cast(Any, None), "client:ivr", "client:sim1", "outbound-api", "AC1", 0.0)
    leg.status = "busy"
    device = Device("client:sim1", cast(Any, None), calls=[leg])
    check = checker()
    check.unheard_end = lambda sid: sid not in told
    agent = {"state": "reserved", "call": "CAcaller", "reason": "", "listed": 0}
    snap = Snapshot({"sim1": agent}, {}, {}, {}, {}, {})
    return check, Shift("sim1", device), State(Layout(Keys("t"), {}, {}), snap, {})


def legless(check: Checker) -> list[str]:
    return [b.detail for b in check.breaches if b.invariant == "agent without a live leg"]


def test_an_agent_is_not_legless_while_the_end_of_their_leg_is_held_back() -> None:
    """Twilio has not yet sent the busy callback (webhook-late): the service cannot know."""
    check, shift, state = reserved_on_a_busy_leg(told=set())
    for now in range(0, 11):
        check.observe(float(now), shift.device.calls, [shift], state, [])
    assert legless(check) == []


def test_an_agent_left_reserved_after_the_busy_callback_arrived_is_legless() -> None:
    check, shift, state = reserved_on_a_busy_leg(told=set())
    check.observe(0.0, shift.device.calls, [shift], state, [])
    check.unheard_end = lambda sid: False  # the busy callback arrives at 1 s
    for now in range(1, 11):
        check.observe(float(now), shift.device.calls, [shift], state, [])
    assert legless(check) == ["reserved on CAcaller with no live leg for 6 s"]


def agent_leg(answered: float, ended: float | None) -> Call:
    """A leg to sim1's device, answered (and accepted) at `answered`, ended at `ended`."""
    leg = Call(cast(Any, None), "client:ivr", "client:sim1", "outbound-api", "AC1", 0.0)
    leg.answered_at, leg.ended_at = answered, ended
    return leg


def taken(legs: list[Call], reason: str = "dropped") -> list[str]:
    check = checker()
    put_back = event(1, "REJECTED", 20_000, call="CAcaller", agent="sim1", reason=reason)
    accepted = {leg.sid for leg in legs}
    check.taken(100.0, [put_back], legs, accepted, {"sim1": "client:sim1"})
    return [b.invariant for b in check.breaches]


def test_a_call_put_back_while_its_agents_newer_leg_is_on_the_line_is_taken() -> None:
    """sim1's first leg ended at 12 s; the call goes back at 20 s while the leg sim1
    accepted at 18 s talks on: the old leg's end was taken for the new one's."""
    legs = [agent_leg(10.0, 12.0), agent_leg(18.0, None)]
    assert taken(legs) == ["call taken from an agent on the line"]


def test_a_call_put_back_as_its_agents_leg_drops_is_not_taken() -> None:
    """sim1's leg drops at 20 s and the call goes back then; a ring-out is not a leg failure
    of an accepted leg either."""
    assert taken([agent_leg(18.0, 20.0)]) == []
    assert taken([agent_leg(18.0, None)], reason="connect_lost") == []


def test_one_leg_alone_in_a_conference_for_a_minute_is_a_breach() -> None:
    """An agent alone in the call's conference from 0 s: a breach once 60 s have passed."""
    room = Conference("conf-CAcaller", "AC1", 0.0)
    leg = agent_leg(0.0, None)
    room.participants.append(Participant(leg, room, 0.0, label="agent", joined=True))
    check = checker()
    for now in range(0, 64, 2):
        check.observe(float(now), [leg], [], None, [], [room])
    assert [b.detail for b in check.breaches] == ["agent alone in conf-CAcaller for 62 s"]
