"""`ivr simulate --faults`: faults injected on a seed, and the liveness checks that judge them."""

from __future__ import annotations

import argparse
import io

import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from ivr.core.settings import Settings
from ivr.devtools import faults, reliability, simulate
from ivr.devtools.emulator import Emulator
from ivr.devtools.emulator.faults import FaultyHttpClient
from ivr.devtools.emulator.switchboard import Switchboard
from ivr.devtools.reliability import Report
from ivr.voice import bridge, hold, queue_resources
from queues.reservation import Reservation
from queues.router import Router
from tests.emulator_apps import (  # noqa: F401
    BUSINESS,
    PUBLIC,
    TOKEN,
    fixture_app,
    fixture_server,
    fixture_tw,
)

PASSING = {
    "ring-out": (1,),
    "busy": (1,),
    "failed": (1,),
    "unreachable": (1, 2),
    "whisper-hangup": (1,),
    "accept-drop": (1,),
    "logout-ringing": (1,),
    "leg-late-end": (1,),
    "conference-drop": (1,),
    "rest-5xx": (1, 2),
    "rest-429": (1,),
    "rest-slow": (1,),
    "webhook-twice": (1,),
    "webhook-late": (1,),
    "webhook-reorder": (1,),
    "reload-queue": (1,),
    "reload-agent": (1,),
    "store-restart": (1,),
    "web-kill": (3,),
    "worker-kill": (2,),
    "bridge-kill": (1,),
}
"""The fault kinds and the seeds CI runs them on (about 20 runs; `bench.reliability` runs
hundreds of seeds of all of them together)."""
AGENT = "client:alice"


def run(settings: Settings, kinds: str, seed: int = 1, minutes: float = 10.0) -> Report:
    args = reliability.scenario(argparse.Namespace(seed=seed, minutes=minutes))
    return reliability.run(settings, args, faults.parse(kinds))


def test_no_faults_no_breaches(settings: Settings) -> None:
    """Without faults every caller is connected and no invariant is breached."""
    report = run(settings, "none")
    assert report.breaches == []
    assert report.calls > 5
    assert report.outcomes == {"connected": report.calls}
    assert sum(report.injected.values()) == 0


@pytest.mark.parametrize(
    ("kind", "seed"),
    [pytest.param(k, s, id=f"{k}-{s}") for k, seeds in PASSING.items() for s in seeds],
)
def test_fault_kind_leaves_no_one_stranded(settings: Settings, kind: str, seed: int) -> None:
    """With this fault injected on this seed, every invariant holds and every caller is served."""
    report = run(settings, kind, seed)
    assert report.injected[kind] > 0, "the fault never happened: the test would prove nothing"
    assert report.breaches == [], "\n".join(map(str, report.breaches)) + "\n" + report.command
    assert report.calls > 5


def test_agent_never_rung_is_caught(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """A deliberate bug, Twilio taking each ring request and never placing the call, is caught."""
    monkeypatch.setattr(Switchboard, "place", lambda self, call: None)
    report = run(settings, "none", minutes=3)
    invariants = {b.invariant for b in report.breaches}
    assert "agent without a live leg" in invariants
    assert report.calls > 0 and report.outcomes["connected"] == 0


def test_a_queue_never_deleted_is_caught(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A deliberate bug, callers' Twilio queues never deleted, is a breach for each call."""

    async def never(svc: object) -> int:
        return 0

    monkeypatch.setattr(queue_resources, "pump", never)
    report = run(settings, "none", minutes=5)
    left = [b for b in report.breaches if b.invariant == "queue resource left"]
    assert len(left) >= 3


def test_a_late_leg_end_taking_the_call_is_caught(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A deliberate bug, a leg's end putting back whichever connection of the call is
    current (as before routing checked the connection), is caught by leg-late-end with one
    agent: the call is taken from the agent while their newer leg is on the line."""
    put_back = Router.put_back

    async def any_connection(
        self: Router, call_sid: str, agent: str, reason: str, bridging: bool = False, **_: str
    ) -> list[Reservation]:
        return await put_back(self, call_sid, agent, reason, bridging, conn="")

    monkeypatch.setattr(Router, "put_back", any_connection)
    args = argparse.Namespace(seed=3, minutes=10.0, agents=1, arrivals_per_hour=40.0)
    report = reliability.run(settings, reliability.scenario(args), ("leg-late-end",))
    assert report.injected["leg end reported after a newer accept"] > 0
    invariants = {b.invariant for b in report.breaches}
    assert "call taken from an agent on the line" in invariants


def test_a_customer_left_in_the_conference_is_caught(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A deliberate bug, the customer's call not ended when their agent hangs up, leaves
    each customer alone in their conference: a breach for each such call."""

    async def never(svc: object, call_sid: str) -> None:
        return None

    monkeypatch.setattr(bridge, "end_customer", never)
    report = run(settings, "none", minutes=3)
    alone = [b for b in report.breaches if b.invariant == "left alone in a conference"]
    assert len(alone) >= 2


def test_silent_hold_is_caught_and_replay_is_printed(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A deliberate bug, hold music replaced by 20 s pauses, is a silence breach with a replay."""

    def silence(w: hold.Waiting, state: hold.HoldState, waited: float, callback: str = "") -> None:
        w.response.pause(length=20)

    monkeypatch.setattr(hold, "music", silence)
    args = argparse.Namespace(
        faults="none",
        seed=3,
        minutes=4.0,
        arrivals_per_hour=240.0,
        agents=1,
        aht=120.0,
        patience=None,
        callback_prob=0.0,
    )
    out = io.StringIO()
    assert simulate.main(settings, args, out) == 1
    text = out.getvalue()
    assert "silence on hold" in text
    replay = [line for line in text.splitlines() if line.startswith("replay: ")]
    assert replay == [
        "replay: ivr simulate --faults none --seed 3 --minutes 4 --arrivals-per-hour 240 "
        "--agents 1 --aht 120"
    ]


def test_fault_names_and_profiles_parse() -> None:
    """Profiles expand to their kinds; an unknown name is refused with the choices."""
    assert faults.parse("rest,busy") == ("busy", "rest-5xx", "rest-429", "rest-slow")
    assert faults.parse("all") == tuple(faults.KINDS)
    with pytest.raises(faults.UnknownFault, match="ring-out"):
        faults.parse("ring-outt")


def test_only_the_rings_the_plan_refuses_are_recorded_unreachable(tw: Emulator) -> None:
    """The simulation excuses an agent's "device unreachable" break by the rings the plan
    refused (`FaultyHttpClient.refused`), not by every ring that could have been: a ring that
    went through must not overwrite the "missed calls" excuse of an agent whose device the
    plan let ring out (seed 49 of `--faults all` counted such a break as idle)."""
    plan = faults.FaultPlan(("unreachable",), 1, tw.clock.now(), 10.0)
    rest = FaultyHttpClient(tw.http_client(), plan, tw.clock.now, "web", lambda to: to == AGENT)
    client = Client(tw.account_sid, TOKEN, http_client=rest, environment={})
    refused = 0
    for _ in range(40):
        try:
            client.calls.create(to=AGENT, from_=BUSINESS, url=f"{PUBLIC}/ring")
        except TwilioRestException:
            refused += 1
    assert 0 < refused < 40
    assert rest.refused == [AGENT] * refused == [AGENT] * plan.injected["unreachable"]
