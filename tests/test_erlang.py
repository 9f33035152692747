"""Erlang C against worked numbers and the textbook closed form."""

from __future__ import annotations

import math

import pytest

from queues.metrics import erlang


def closed_form_p_wait(load: float, agents: int) -> float:
    """P(wait) written exactly as the reference gives it (fine for small N)."""
    top = load**agents / math.factorial(agents) * agents / (agents - load)
    return top / (sum(load**k / math.factorial(k) for k in range(agents)) + top)


@pytest.mark.parametrize(
    ("load", "agents", "p_wait", "asa_s", "sl_20"),
    [
        # A=1, N=2: B = 0.5/2.5 = 0.2; C = 2·0.2/(2 − 0.8) = 1/3; ASA = C·180/1 = 60 s.
        pytest.param(1.0, 2, 1 / 3, 60.0, 1 - (1 / 3) * math.exp(-20 / 180), id="A1-N2"),
        # A=2, N=3: B = (8/6)/(1+2+2+8/6) = 4/19; C = 4/9; ASA = 80 s.
        pytest.param(2.0, 3, 4 / 9, 80.0, 1 - (4 / 9) * math.exp(-20 / 180), id="A2-N3"),
        pytest.param(6.0, 8, 0.356981, 32.1283, 0.714152, id="A6-N8"),
        pytest.param(6.0, 9, 0.195981, 11.7589, 0.859574, id="A6-N9"),
    ],
)
def test_worked_numbers(
    load: float, agents: int, p_wait: float, asa_s: float, sl_20: float
) -> None:
    """P(wait), ASA (AHT 180 s) and SL(20 s) match hand-worked values."""
    assert erlang.p_wait(load, agents) == pytest.approx(p_wait, rel=1e-5)
    assert erlang.asa_s(load, agents, 180) == pytest.approx(asa_s, rel=1e-5)
    assert erlang.service_level(load, agents, 180, 20) == pytest.approx(sl_20, rel=1e-5)


@pytest.mark.parametrize("agents", [1, 2, 5, 10, 25, 60])
def test_stable_recursion_matches_the_closed_form(agents: int) -> None:
    """The Erlang-B iteration gives the same P(wait) as the factorial formula."""
    load = agents * 0.85
    assert erlang.p_wait(load, agents) == pytest.approx(closed_form_p_wait(load, agents))


def test_large_centres_do_not_overflow() -> None:
    """500 agents at 480 Erlangs: the recursion stays finite where factorials would not."""
    assert 0 < erlang.p_wait(480.0, 500) < 1


@pytest.mark.parametrize(
    ("load", "agents"),
    [pytest.param(3.0, 3, id="N-equals-A"), pytest.param(4.0, 3, id="N-below-A")],
)
def test_an_overloaded_queue_always_waits(load: float, agents: int) -> None:
    """With N ≤ A every caller waits, the wait is unbounded and no one is within SL."""
    assert erlang.p_wait(load, agents) == 1.0
    assert erlang.asa_s(load, agents, 180) == math.inf
    assert erlang.service_level(load, agents, 180, 20) == 0.0


@pytest.mark.parametrize(
    ("per_hour", "aht_s", "needed"),
    [
        # 120 calls/h × 180 s = 6 Erlangs: SL(20) is 71 % with 8 agents, 86 % with 9.
        pytest.param(120, 180, 9, id="6-erlangs"),
        pytest.param(360, 240, 29, id="24-erlangs"),
        pytest.param(0, 180, 0, id="no-calls"),
        pytest.param(1, 60, 1, id="trickle"),
    ],
)
def test_agents_needed(per_hour: float, aht_s: float, needed: int) -> None:
    """The fewest agents reaching 80 % within 20 s."""
    assert erlang.agents_needed(per_hour, aht_s, 0.8, 20) == needed


def test_advice_reads_like_a_sentence() -> None:
    """Advice names the target, the interval, the agents needed and the agents staffed."""
    advice = erlang.Advice("billing", "10:00 and 11:00", 120, 180, 0.8, 20, 9, 5)
    assert str(advice) == (
        "billing: to reach 80% in 20 s between 10:00 and 11:00 you need 9 agents; you had 5"
    )
