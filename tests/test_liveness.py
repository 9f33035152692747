"""The liveness checker judges what callers hear and the order routing offers calls in."""

from __future__ import annotations

from ivr.emulator.calls import Utterance
from ivr.liveness import Checker
from queues.events import Event, EventType


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
