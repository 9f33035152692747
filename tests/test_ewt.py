"""The wait range told to a caller on hold: the Gamma maths, rounding, and measured handle times."""

from __future__ import annotations

import asyncio
import math
import random

import pytest
import redis
import redis.asyncio as aioredis

from ivr.core.keys import Keys
from queues import ewt


def erlang_cdf(x: float, k: int) -> float:
    """P(Gamma(k, 1) <= x) for whole k: 1 - sum_{i<k} e^-x x^i / i!."""
    return 1 - sum(math.exp(-x) * x**i / math.factorial(i) for i in range(k))


@pytest.mark.parametrize("k", [1, 2, 3, 7, 15, 40])
@pytest.mark.parametrize("q", [0.05, 0.1, 0.5, 0.9, 0.95])
def test_gamma_quantile_inverts_the_erlang_distribution(k: int, q: float) -> None:
    """For whole shapes the quantile found puts exactly q of the Erlang(k) mass below it."""
    x = ewt.gamma_quantile(q, k, 1.0)
    assert erlang_cdf(x, k) == pytest.approx(q, abs=1e-9)


def test_one_departure_is_exponential() -> None:
    """At position 1 with N busy agents and H known, the wait is exponential with mean H/N."""
    found = ewt.wait_range(1, ewt.Servers(5), ewt.HandleTime(180), 0.1, 0.9, noise=0)
    assert found is not None
    assert found.low_s == pytest.approx(-36 * math.log(0.9))
    assert found.high_s == pytest.approx(36 * math.log(10))
    assert found.mean_s == pytest.approx(36)


def test_the_range_holds_for_the_share_asked_under_m_m_n() -> None:
    """With H known, simulated M/M/N departures (k minima of N exponentials) fall inside the
    10-90 range about 80% of the time, at the front and further back."""
    rng = random.Random(7)
    for position in (1, 4, 12):
        found = ewt.wait_range(position, ewt.Servers(4), ewt.HandleTime(200), 0.1, 0.9, 0)
        assert found is not None
        waits = [sum(rng.expovariate(4 / 200) for _ in range(position)) for _ in range(4000)]
        inside = sum(found.low_s <= w <= found.high_s for w in waits) / len(waits)
        assert inside == pytest.approx(0.8, abs=0.03), position


def test_no_agent_who_can_answer_means_no_range() -> None:
    """With nobody staffed who can answer the caller, no time is promised."""
    assert ewt.wait_range(3, ewt.Servers(0), ewt.HandleTime(180)) is None
    assert ewt.estimate(3, 0, 180) is None


def test_an_idle_agent_takes_the_caller_at_once() -> None:
    """A free eligible agent for every caller up to this one: the wait is under a minute."""
    found = ewt.wait_range(2, ewt.Servers(staffed=3, idle=2), ewt.HandleTime(180))
    assert found == ewt.WaitRange(0.0, 0.0, 0.0)
    assert ewt.spoken(found).kind == "soon"


def test_idle_agents_shorten_the_wait() -> None:
    """Each idle eligible agent is one departure fewer to wait for."""
    busy = ewt.wait_range(5, ewt.Servers(4), ewt.HandleTime(180))
    one_free = ewt.wait_range(5, ewt.Servers(4, idle=1), ewt.HandleTime(180))
    four = ewt.wait_range(4, ewt.Servers(4), ewt.HandleTime(180))
    assert busy is not None and one_free is not None
    assert one_free == four
    assert one_free.high_s < busy.high_s


def test_handle_times_that_vary_more_widen_the_range() -> None:
    """Same mean, more spread (cv 1.5 instead of 1): a wider range around the same mean."""
    plain = ewt.wait_range(6, ewt.Servers(5), ewt.HandleTime(180, cv=1.0))
    spread = ewt.wait_range(6, ewt.Servers(5), ewt.HandleTime(180, cv=1.5))
    assert plain is not None and spread is not None
    assert spread.mean_s == pytest.approx(plain.mean_s)
    assert spread.low_s < plain.low_s and spread.high_s > plain.high_s


def test_a_measured_handle_time_widens_the_range_further_back() -> None:
    """The error of the measured H scales the whole wait: it widens the range more at the
    back (position 20) than at the front (position 2)."""

    def widening(position: int) -> float:
        known = ewt.wait_range(position, ewt.Servers(5), ewt.HandleTime(180), noise=0)
        measured = ewt.wait_range(position, ewt.Servers(5), ewt.HandleTime(180))
        assert known is not None and measured is not None
        assert measured.mean_s == pytest.approx(known.mean_s)
        return (measured.high_s - measured.low_s) / (known.high_s - known.low_s)

    assert 1 < widening(2) < widening(20)


def test_an_odd_spread_is_bounded() -> None:
    """A measured cv of 10 is treated as the upper bound, so the range stays finite and sane."""
    wild = ewt.wait_range(6, ewt.Servers(5), ewt.HandleTime(180, cv=10))
    bounded = ewt.wait_range(6, ewt.Servers(5), ewt.HandleTime(180, cv=ewt.CV_MAX))
    assert wild == bounded


@pytest.mark.parametrize(
    ("low_s", "high_s", "said"),
    [
        pytest.param(5, 50, ewt.Spoken("soon", 0, 1), id="under-a-minute"),
        pytest.param(5, 83, ewt.Spoken("less", 0, 2), id="less-than-2"),
        pytest.param(88, 288, ewt.Spoken("between", 1, 5), id="between-1-and-5"),
        pytest.param(200, 230, ewt.Spoken("between", 3, 4), id="whole-minutes-outwards"),
        pytest.param(180, 180, ewt.Spoken("between", 3, 4), id="never-a-point"),
        pytest.param(523, 932, ewt.Spoken("between", 8, 20), id="five-minute-steps-above-10"),
        pytest.param(700, 1000, ewt.Spoken("between", 10, 20), id="both-ends-in-fives"),
        pytest.param(1900, 2900, ewt.Spoken("more", 30, 0), id="more-than-30"),
    ],
)
def test_ranges_are_said_rounded_outwards(low_s: float, high_s: float, said: ewt.Spoken) -> None:
    """Ends are rounded outwards, whole minutes up to 10 then fives; short and long waits have
    their own phrases."""
    assert ewt.spoken(ewt.WaitRange(low_s, high_s, (low_s + high_s) / 2)) == said


def test_a_spoken_range_contains_the_range_it_rounds() -> None:
    """Rounding only ever widens the range told."""
    for low in range(0, 3000, 37):
        for width in (1, 45, 200, 900):
            told = ewt.spoken(ewt.WaitRange(low, low + width, low))
            assert told.low_s <= low and told.high_s >= low + width or told.kind == "soon"


def test_handle_time_mean_and_spread_are_measured(redis_url: str, r: redis.Redis) -> None:
    """Recorded handle times move the mean and give the spread (cv) the range uses."""

    async def scenario() -> tuple[ewt.HandleTime, ewt.HandleTime]:
        client = aioredis.from_url(redis_url, decode_responses=True)
        keys = Keys()
        before = await ewt.handle_stats(client, keys, "billing", 180)
        rng = random.Random(3)
        for _ in range(400):
            seconds = rng.lognormvariate(math.log(180) - 0.5, 1.0)  # mean 180, cv 1.31
            await ewt.record_handle_time(client, keys, "billing", seconds, 180)
        after = await ewt.handle_stats(client, keys, "billing", 180)
        await client.aclose()
        return before, after

    before, after = asyncio.run(scenario())
    assert before == ewt.HandleTime(180, 1.0)
    assert 90 < after.mean_s < 300
    assert after.cv > 1.0
