"""Many processes routing at once keep every invariant."""

from __future__ import annotations

import os

from tests.stress_routing import run

STRESS_SECONDS = float(os.environ.get("ROUTING_STRESS_SECONDS", "8"))
"""How long each stress process runs in the suite; raise it for a soak."""
STRESS_PROCESSES = int(os.environ.get("ROUTING_STRESS_PROCESSES", "4"))


def test_concurrent_processes_keep_invariants(r: object, redis_url: str) -> None:
    """Random operations from several processes lose no call, double-book no agent, stay FIFO
    within priority and never leave an eligible call waiting beside an available agent."""
    count, found = run(redis_url, STRESS_PROCESSES, STRESS_SECONDS)
    assert found == []
    assert count > 100
