"""The ideal M/M/N queue agrees with Erlang C, and gives the sampling spread of a short run."""

from __future__ import annotations

import random

import pytest

from queues.metrics import erlang, mmc

PER_HOUR, AGENTS, AHT_S, THRESHOLD_S = 240.0, 3, 30.0, 20.0
LOAD = PER_HOUR * AHT_S / 3600


def test_waits_follow_the_first_free_agent_in_arrival_order() -> None:
    """Two agents: callers 3 and 4 wait for the first agent to come free (worked by hand)."""
    waits = mmc.waits([0.0, 1.0, 2.0, 3.0], [10.0, 10.0, 5.0, 1.0], agents=2)
    assert waits == [0.0, 0.0, 8.0, 8.0]


def test_summary_counts_waits_over_zero_and_within_the_threshold() -> None:
    """ASA is the mean wait; a wait of exactly the threshold is within it; 0 is not a wait."""
    sample = mmc.summarise([0.0, 0.0, 20.0, 40.0], threshold_s=20.0)
    assert sample == mmc.Sample(calls=4, asa_s=15.0, p_wait=0.5, service_level=0.75)


def test_a_long_run_matches_erlang_c() -> None:
    """Over 2,000 simulated hours (about 480,000 calls) ASA, P(wait) and SL meet the formulas.

    The tolerances are about four standard errors of a run this long (measured over
    runs of the same scenario): 6 % of ASA, 0.01 of P(wait) and of SL.
    """
    sample = mmc.run(random.Random(7), PER_HOUR, AGENTS, AHT_S, 2000 * 60, THRESHOLD_S)
    assert sample.asa_s == pytest.approx(erlang.asa_s(LOAD, AGENTS, AHT_S), rel=0.06)
    assert sample.p_wait == pytest.approx(erlang.p_wait(LOAD, AGENTS), abs=0.01)
    sl = erlang.service_level(LOAD, AGENTS, AHT_S, THRESHOLD_S)
    assert sample.service_level == pytest.approx(sl, abs=0.01)


def test_the_spread_of_short_runs_holds_erlang_c_and_narrows_with_length() -> None:
    """Erlang C lies inside the 99 % band of 45-minute runs, and 4-hour runs' band is narrower."""
    short = mmc.spread(PER_HOUR, AGENTS, AHT_S, 45, THRESHOLD_S, runs=500)
    long = mmc.spread(PER_HOUR, AGENTS, AHT_S, 240, THRESHOLD_S, runs=500)
    assert short["asa_s"].holds(erlang.asa_s(LOAD, AGENTS, AHT_S))
    assert short["p_wait"].holds(erlang.p_wait(LOAD, AGENTS))
    assert short["service_level"].holds(erlang.service_level(LOAD, AGENTS, AHT_S, THRESHOLD_S))
    for name in ("asa_s", "p_wait", "service_level"):
        assert long[name].high - long[name].low < short[name].high - short[name].low
