"""Twilio places REST-created calls at the account's calls per second: agent rings that
wait their turn are not missed calls, and every waiting caller is still served."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis
import yaml

from ivr.core.outbound import Backlog, backlog
from ivr.devtools.emulator import Emulator
from ivr.devtools.emulator.calls import Call
from ivr.devtools.liveserver import LiveServer
from tests.agents import go_available, on_break, services_of
from tests.conftest import BUSINESS
from tests.consoles import Console
from tests.test_connect_e2e import events
from tests.test_prom import samples

AGENTS = [f"agent{i}" for i in range(10)]
RING_TIMEOUT_S = 5
"""Shorter than the ten paced rings take to start (9 s at 1 CPS)."""


@pytest.fixture(name="config_dir")
def fixture_config_dir(config_dir: Path) -> Path:
    """The sample config with ten support agents and a 5 s ring timeout on support."""
    agents = {
        name: {"name": name, "skills": {"support": 3, "en": 5}, "device": f"client:{name}"}
        for name in AGENTS
    }
    (config_dir / "agents.yaml").write_text(yaml.safe_dump({"agents": agents}))
    path = config_dir / "queues.yaml"
    doc = yaml.safe_load(path.read_text())
    doc["queues"]["support"]["ring_timeout_s"] = RING_TIMEOUT_S
    path.write_text(yaml.safe_dump(doc, allow_unicode=True))
    return config_dir


def support_caller(tw: Emulator, number: str) -> Call:
    """An English caller who joins support."""
    call = tw.dial(from_=number, to=BUSINESS)
    call.press("1")
    call.hears("For billing, press 1")
    call.press("2")
    return call


def outbound_backlog(server: LiveServer) -> Backlog:
    svc = services_of(server)
    return svc.run(backlog(svc.redis, svc.keys, svc.clock.now()))


def test_ten_agents_freed_together_at_one_cps_miss_nothing(
    tw: Emulator, server: LiveServer, r: redis.Redis, sam: Console
) -> None:
    """Ten callers wait; ten agents come back from break at once. At 1 CPS the tenth ring
    starts 9 s later, past the 5 s ring timeout: no agent is counted as missing a call,
    every caller is connected, and the backlog shows the legs waiting to ring."""
    assert tw.cps == 1
    on_break(server, *AGENTS)
    for name in AGENTS:
        tw.device(f"client:{name}").auto = "answer"
        tw.device(f"client:{name}").answer_after = 1
    callers = [support_caller(tw, f"+6019100000{i}") for i in range(10)]
    tw.advance(1)
    go_available(server, *AGENTS)
    tw.settle()
    waiting = outbound_backlog(server)
    assert waiting.legs == 9 and len(tw.outbound_backlog) == 9
    accepted: set[str] = set()
    for step in range(1, 61):  # each agent picks up a second after their phone rings, presses 1
        tw.advance(0.5)
        if step == 10:  # 5 s in: five rings placed, four legs still queued
            assert outbound_backlog(server) == Backlog(4, 5.0)
            floor = sam.get("/api/supervisor/floor").json()
            assert floor["outbound"] == {"legs": 4, "oldest_s": 5.0}
            assert samples(server, "ivr_outbound_backlog") == {(): 4.0}
            assert samples(server, "ivr_outbound_backlog_oldest_seconds") == {(): 5.0}
        for name in AGENTS:
            leg = tw.device(f"client:{name}").call
            if leg is not None and leg.sid not in accepted:
                accepted.add(leg.sid)
                leg.press("1")
    assert events(r, "RINGNOANSWER") == []
    assert [e for e in events(r, "RINGCANCELED") if e.get("reason") == "unrung"] == []
    assert {e["call"] for e in events(r, "CONNECT")} == {c.sid for c in callers}
    assert outbound_backlog(server) == Backlog()
