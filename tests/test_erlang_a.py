"""Erlang A (M/M/N+M) against a published figure, Erlang C and the exact M/M/N+M queue."""

from __future__ import annotations

import random

import pytest

from queues.metrics import erlang, erlang_a, mmc

REFERENCE = erlang_a.Model(arrivals_per_hour=100, aht_s=180, agents=5, patience_s=120)


def test_the_reference_abandonment() -> None:
    """100 calls/h, AHT 180 s, 5 agents, mean patience 120 s: 19.24 % give up (issue 15)."""
    assert erlang_a.p_abandon(REFERENCE) == pytest.approx(0.1924, abs=5e-5)


def test_abandonment_is_littles_law_of_the_queue() -> None:
    """P(abandon) = θ·E[queue length]/λ: those waiting give up at θ each."""
    _, waiting = erlang_a.arrival_law(REFERENCE)
    queue_length = sum((k - 1) * p for k, p in enumerate(waiting, 1))
    expected = (1 / REFERENCE.patience_s) * queue_length / REFERENCE.arrival_rate
    assert erlang_a.p_abandon(REFERENCE) == pytest.approx(expected, rel=1e-9)


def test_endless_patience_is_erlang_c() -> None:
    """With a patience of decades nobody gives up: P(wait), ASA and SL are Erlang C's."""
    model = erlang_a.Model(100, 180, 6, 1e9)
    assert erlang_a.p_wait(model) == pytest.approx(erlang.p_wait(5, 6), rel=1e-4)
    assert erlang_a.asa_s(model) == pytest.approx(erlang.asa_s(5, 6, 180), rel=1e-4)
    assert erlang_a.service_level(model, 20) == pytest.approx(
        erlang.service_level(5, 6, 180, 20), rel=1e-4
    )
    assert erlang_a.p_abandon(model) < 1e-5


@pytest.mark.parametrize(
    "model",
    [
        pytest.param(REFERENCE, id="reference"),
        pytest.param(erlang_a.Model(400, 180, 20, 60), id="20-agents-overloaded"),
    ],
)
def test_a_long_run_of_the_exact_queue_matches(model: erlang_a.Model) -> None:
    """About 100,000 callers through the exact M/M/N+M queue meet P(abandon), ASA and SL.

    Tolerances are about four standard errors of a run this long (measured over eight
    seeds: 0.003 of P(abandon), 0.0046 of SL, 1.7 % of ASA).
    """
    minutes = 100_000 / model.arrivals_per_hour * 60
    scenario = mmc.Scenario(
        model.arrivals_per_hour, model.agents, model.aht_s, model.patience_s, minutes, 20, 0.0
    )
    sample = mmc.run_patient(random.Random(3), scenario)
    assert sample.p_abandon == pytest.approx(erlang_a.p_abandon(model), abs=0.012)
    assert sample.asa_s == pytest.approx(erlang_a.asa_s(model), rel=0.07)
    assert sample.service_level == pytest.approx(erlang_a.service_level(model, 20), abs=0.018)


def test_large_centres_do_not_overflow() -> None:
    """500 agents at 480 Erlangs: weights are rescaled, every figure stays a probability."""
    model = erlang_a.Model(480 * 20, 180, 500, 120)
    assert 0 < erlang_a.p_abandon(model) < 1
    assert 0 < erlang_a.service_level(model, 20) <= 1


def test_giving_up_needs_fewer_agents_than_erlang_c() -> None:
    """The reference queue: Erlang C needs 8 agents for 80 % in 20 s, Erlang A 7."""
    assert erlang.agents_needed(100, 180, 0.8, 20) == 8
    assert erlang_a.agents_needed(100, 180, 120, 0.8, 20) == 7
    assert erlang_a.agents_needed(0, 180, 120, 0.8, 20) == 0


def test_the_exact_queue_skips_those_who_gave_up() -> None:
    """One agent: caller 2 gives up after 1 s, so caller 3 takes the agent when caller 1 ends."""
    left = mmc.outcomes([0.0, 1.0, 2.0], [10.0, 10.0, 10.0], [99.0, 1.0, 99.0], agents=1)
    assert left == [(0.0, True), (1.0, False), (8.0, True)]
