"""The simulator through the real service agrees with Erlang C within sampling error."""

from __future__ import annotations

import argparse

import pytest
import redis

from ivr import simulate
from ivr.settings import Settings


def test_single_skill_no_abandons_matches_erlang_c(settings: Settings, r: redis.Redis) -> None:
    """240 calls/h, 3 agents, 30 s handling, 45 min (seed 5, ~180 calls): ASA, P(wait), SL agree."""
    args = argparse.Namespace(
        arrivals_per_hour=240.0,
        agents=3,
        aht=30.0,
        patience=None,
        callback_prob=0.0,
        seed=5,
        minutes=45.0,
    )
    result = simulate.simulate(settings, args)
    assert result["emulator_errors"] == 0
    assert result["answered"] == result["calls"] > 150
    measured, theory = result["p_wait"]
    assert measured == pytest.approx(theory, abs=0.1)
    measured, theory = result["service_level"]
    assert measured == pytest.approx(theory, abs=0.1)
    measured, theory = result["asa_s"]
    assert measured == pytest.approx(theory, rel=0.4)


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
