"""Routing decision times (`queues.decisions`): every routing script run is timed, by script."""

from __future__ import annotations

import pytest

from queues.decisions import DECISIONS, DecisionTimes
from tests.test_routing import (  # noqa: F401
    BILLING,
    Setup,
    fixture_anyio_backend,
    fixture_aredis,
    fixture_clock,
    fixture_setup,
)


def test_times_fall_in_cumulative_buckets() -> None:
    """A 1.5 ms and a 30 ms decision count at or below 2 ms and 50 ms, and both at +Inf."""
    times = DecisionTimes()
    times.observe("enter", 0.0015)
    times.observe("enter", 0.03)
    buckets = dict(times.cumulative("enter"))
    assert (buckets["0.001"], buckets["0.002"], buckets["0.02"]) == (0, 1, 1)
    assert (buckets["0.05"], buckets["+Inf"]) == (2, 2)
    assert times.sums["enter"] == pytest.approx(0.0315)


@pytest.mark.anyio
async def test_each_routing_script_run_is_counted(setup: Setup) -> None:
    """An agent going available runs `status` and a call entering runs `enter`: one more
    decision of each is counted, whatever its time."""
    router = await setup(BILLING, {"ann": {"billing": 1}})
    before = {s: DECISIONS.cumulative(s)[-1][1] for s in ("status", "enter")}
    await router.set_available("ann")
    await router.enter("c1", "billing")
    after = {s: DECISIONS.cumulative(s)[-1][1] for s in ("status", "enter")}
    assert after == {s: n + 1 for s, n in before.items()}
