"""The simulator through the real service agrees with Erlang C within sampling error."""

from __future__ import annotations

import argparse
import io
from pathlib import Path

import pytest
import redis
import yaml

from ivr.core.settings import Settings
from ivr.devtools import crowd, simulate
from ivr.devtools.crowd import sim_config
from tests.conftest import SAMPLE_CONFIG


def test_single_skill_no_abandons_matches_erlang_c(settings: Settings, r: redis.Redis) -> None:
    """240 calls/h, 3 agents, 30 s handling, 60 min: every call waits exactly as in M/M/N.

    Each call's wait in the service equals, to the millisecond, its wait in the
    ideal queue Erlang C describes fed the same calls; and the measured ASA,
    P(wait) and service level fall inside the 99 % band of runs of that length.
    """
    args = argparse.Namespace(
        arrivals_per_hour=240.0,
        agents=3,
        aht=30.0,
        patience=None,
        callback_prob=0.0,
        seed=6,
        minutes=60.0,
    )
    result = simulate.simulate(settings, args)
    assert result["emulator_errors"] == 0
    assert result["answered"] == result["calls"] > 200
    assert result["largest_gap_s"] < 0.01
    assert result["asa_s"][0] == pytest.approx(result["ideal_asa_s"], abs=0.01)
    for name in ("asa_s", "p_wait", "service_level"):
        measured, theory = result[name]
        band = result[f"band_{name}"]
        assert band.holds(measured), (name, measured, band)
        assert band.holds(theory), (name, theory, band)


def test_patience_makes_callers_abandon(settings: Settings, r: redis.Redis) -> None:
    """With a 20 s mean patience on an overloaded queue some callers give up."""
    args = argparse.Namespace(
        arrivals_per_hour=300.0,
        agents=1,
        aht=30.0,
        patience=20.0,
        callback_prob=0.0,
        seed=2,
        minutes=5.0,
    )
    result = simulate.simulate(settings, args)
    assert result["abandon_rate"] is not None and result["abandon_rate"] > 0


def test_side_by_side_runs_the_same_arrivals_with_and_without_callbacks(
    settings: Settings,
) -> None:
    """Seed 3, 10 min at 150 calls/h on 2 agents: same callers; callbacks kept, not abandons."""
    args = argparse.Namespace(
        arrivals_per_hour=150.0,
        agents=2,
        aht=60.0,
        patience=120.0,
        callback_prob=0.6,
        seed=3,
        minutes=10.0,
        compare=True,
    )
    runs = simulate.compare(settings, args)
    offered, plain = runs["callbacks"], runs["holding"]
    assert offered["emulator_errors"] == plain["emulator_errors"] == 0
    assert offered["calls"] == plain["calls"] > 10
    assert offered["callbacks_requested"] > 0 and plain["callbacks_requested"] == 0
    assert offered["callbacks_completed"] == offered["callbacks_requested"]
    assert offered["callbacks_folded"] == offered["callbacks_requested"]
    assert offered["frt_median_s"] is not None and plain["frt_median_s"] is not None
    assert 0 <= offered["abandoned_offered"] <= offered["abandoned"]
    assert plain["abandoned_offered"] == 0, "no offers while plain holding"
    out = io.StringIO()
    simulate.show_side_by_side(runs, out)
    lines = out.getvalue().splitlines()
    assert lines[0].split() == ["figure", "callbacks", "holding"]
    assert {line.split()[0] for line in lines[1:]} == set(simulate.SIDE_BY_SIDE)


def test_the_callback_offer_threshold_is_the_one_asked_for(tmp_path: Path) -> None:
    """`--callback-offer-after 30` makes billing offer from a 30 s estimate; unset, 60 s."""
    for given, expected in ((30, 30), (0, 0), (None, crowd.CALLBACK_OFFER_AFTER_S)):
        args = argparse.Namespace(callback_offer_after=given)
        target = tmp_path / f"config-{given}"
        sim_config(SAMPLE_CONFIG, target, 2, True, simulate.offer_after_s(args))
        hold = yaml.safe_load((target / "queues.yaml").read_text())["queues"]["billing"]["hold"]
        assert hold["callback_offer_after_estimate_s"] == expected
