"""The calls per second the measured peak needs (`queues.metrics.cps`, `ivr report
--staffing`): agent rings and customer-first callback dials are paced by Twilio."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import redis
import yaml

from queues.metrics import cps
from tests.conftest import SAMPLE_CONFIG
from tests.test_metrics_script import T0, S, Script
from tests.test_report import run


@pytest.mark.parametrize(
    ("legs_per_hour", "burst", "needed"),
    [
        pytest.param(60, 1, 1, id="quiet-default-is-enough"),
        pytest.param(60, 6, 1, id="six-agents-within-5s-at-1"),
        pytest.param(60, 10, 2, id="ten-agents-need-2"),
        pytest.param(60, 40, 8, id="forty-agents-need-8"),
        pytest.param(7200, 1, 4, id="two-a-second-sustained-need-4"),
    ],
)
def test_cps_needed(legs_per_hour: float, burst: int, needed: int) -> None:
    """The CPS is the larger of the steady rate (at most half the CPS) and the burst (the
    last of N rings within 5 s)."""
    assert cps.cps_needed(legs_per_hour, burst) == needed


def test_advice_names_the_figure_to_raise() -> None:
    """The advice says the peak, the rate and the CPS to set."""
    text = str(cps.advise("2026-11-23 10:00-11:00", 300, 20, 12))
    assert "300 agent rings and 20 callback dials (0.09 a second)" in text
    assert "12 agents freed together ring within 5 s at 3 CPS" in text
    assert "raise the account's CPS to 3 (Twilio's default is 1)" in text
    assert "ask Twilio" in str(cps.advise("x", 10, 0, 200))


def test_report_staffing_gives_the_cps_of_the_busiest_hour(
    r: redis.Redis, redis_url: str, tmp_path: Path
) -> None:
    """Twelve agents staffed for the 10:00 hour, 90 offers then and 30 in the next hour:
    `ivr report --staffing` names the 10:00 hour and 3 CPS (11 rings within 5 s)."""
    s = Script(r, redis_url)
    agents = [f"agent{i}" for i in range(12)]
    config_dir = tmp_path / "config"
    shutil.copytree(SAMPLE_CONFIG, config_dir)
    doc = {a: {"name": a, "skills": {"billing": 1}, "device": f"client:{a}"} for a in agents}
    (config_dir / "agents.yaml").write_text(yaml.safe_dump({"agents": doc}))
    for agent in agents:
        s.event("AGENTSTATUS", T0, agent=agent, reason="available")
    for i in range(120):
        at = T0 + i * 40 * S
        s.event("OFFERED", at, call=f"CA{i}", agent=agents[i % 12], queue="billing")
        s.event("AGENTSTATUS", at + S, agent=agents[i % 12], reason="available")
    for agent in agents:
        s.event("AGENTSTATUS", T0 + 3600 * S, agent=agent, reason="offline")
    s.fold()
    text = run(redis_url, "--staffing", config_dir=config_dir)
    assert "the busiest hour, 2026-11-23 10:00-11:00, made 90 agent rings" in text
    assert "raise the account's CPS to 3" in text
