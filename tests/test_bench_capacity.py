"""The capacity benchmark's own parts: closing always ends, and the decision share is computed.

The benchmark once hung after its last window: Python 3.11's `asyncio.wait_for` drops a
cancellation that arrives in the same turn as its awaitable's result, and the webhook
worker that missed it went back to its queue for ever, so `Client.close` never returned.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
import time

import pytest

from bench.capacity import closing
from bench.capacity.client import Client, Connection
from bench.capacity.measure import Step, Window, quantile_ms, share_within
from bench.capacity.report import (
    Scaled,
    above_the_matrix,
    conclusions,
    step_line,
    step_row,
    store_bound,
)
from bench.capacity.servers import reap

ANSWER = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


class Writer:
    """The writing half of a connection that takes anything and never closes."""

    def write(self, data: bytes) -> None:
        pass

    def close(self) -> None:
        pass

    def is_closing(self) -> bool:
        return False


class ScriptedClient(Client):
    """A client whose connections read from one stream the test feeds."""

    def __init__(self, ports: list[int], connections: int) -> None:
        super().__init__(ports, connections)
        self.reader = asyncio.StreamReader()
        self.opened: list[int] = []

    async def open(self, port: int) -> Connection:
        self.opened.append(port)
        return self.reader, Writer()  # type: ignore[return-value]


async def close_as_answer_arrives(turns: int) -> None:
    client = ScriptedClient([1], 1)
    await client.start()
    await asyncio.sleep(0)
    client.reader.feed_data(ANSWER)
    post = asyncio.ensure_future(client.post("/voice/hold", {}, 0.0))
    for _ in range(turns):
        await asyncio.sleep(0)
    async with asyncio.timeout(2.0):
        await client.close()
    post.cancel()


@pytest.mark.parametrize("turns", [pytest.param(n, id=f"{n}-turns") for n in range(8)])
def test_client_closes_whenever_the_answer_arrives(turns: int) -> None:
    """Closing the webhook client returns, whichever turn of the loop its answer lands in."""
    asyncio.run(close_as_answer_arrives(turns))


def test_client_spreads_connections_over_the_web_processes() -> None:
    """With several web processes, the connections go to each in turn."""

    async def main() -> list[int]:
        client = ScriptedClient([7001, 7002], 4)
        await client.start()
        await asyncio.sleep(0)
        await client.close()
        return client.opened

    assert asyncio.run(main()) == [7001, 7002, 7001, 7002]


async def stubborn(released: list[bool]) -> None:
    """A task that ignores cancellation until released."""
    while True:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            if released:
                raise


def test_cancel_and_wait_gives_up_after_its_bound() -> None:
    """A task that ignores cancellation is left running after the bound, and named."""

    async def main() -> tuple[int, float]:
        released: list[bool] = []
        task = asyncio.create_task(stubborn(released))
        await asyncio.sleep(0)
        began = time.monotonic()
        stuck = await closing.cancel_and_wait([task], 0.3)
        took = time.monotonic() - began
        released.append(True)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        return len(stuck), took

    stuck, took = asyncio.run(main())
    assert stuck == 1
    assert took < 1.0


def test_cancel_and_wait_cancels_again() -> None:
    """A task that drops one cancellation is cancelled again and ends."""

    async def drops_one() -> None:
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(10)
        await asyncio.sleep(10)

    async def main() -> int:
        task = asyncio.create_task(drops_one())
        await asyncio.sleep(0)
        return len(await closing.cancel_and_wait([task], 5.0))

    assert asyncio.run(main()) == 0


def test_run_bounded_returns_with_a_task_that_will_not_end(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The event loop closes within its bound even when a task left on it ignores cancels."""
    monkeypatch.setattr(closing, "CLOSE_TIMEOUT_S", 0.3)
    released: list[bool] = []

    async def main() -> str:
        asyncio.get_running_loop().create_task(stubborn(released))
        await asyncio.sleep(0)
        return "done"

    began = time.monotonic()
    assert closing.run_bounded(main()) == "done"
    assert time.monotonic() - began < 2.0
    assert "1 tasks of the event loop still running" in capsys.readouterr().out
    released.append(True)


def test_reap_kills_a_process_that_ignores_sigterm(capsys: pytest.CaptureFixture[str]) -> None:
    """A web process still running after SIGTERM is killed at the deadline, with a message."""
    code = (
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        "print(1, flush=True); time.sleep(60)"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
    assert proc.stdout is not None
    proc.stdout.readline()
    proc.terminate()
    reap(proc, "app", time.monotonic() + 0.3)
    proc.stdout.close()
    assert proc.returncode == -9
    assert "still running after SIGTERM; killing it" in capsys.readouterr().out


HISTOGRAM = [(0.005, 90.0), (0.01, 95.0), (0.02, 98.0), (0.05, 100.0), (float("inf"), 100.0)]
"""Cumulative decision counts: 98 of 100 within 20 ms."""


def test_decision_share_within_the_target() -> None:
    """The share of decisions within 20 ms is read from the histogram, between bounds too."""
    assert share_within(HISTOGRAM, 0.02) == pytest.approx(0.98)
    assert share_within(HISTOGRAM, 0.035) == pytest.approx(0.99)
    assert quantile_ms(HISTOGRAM, 0.99) == pytest.approx(35.0)


def test_the_decision_share_is_printed_and_tabled() -> None:
    """A step's printed line and its table row both carry the share within 20 ms."""
    step = Step(5000.0, 50, 10.0, Window(latencies=[0.01] * 10, lags=[0.001] * 10))
    step.add_decisions(
        {}, {f"le|{b:g}" if b != float("inf") else "le|+Inf": n for b, n in HISTOGRAM}
    )
    assert step.decisions == 100
    assert "<= 20 ms 98.00%" in step_line(step)
    assert "| 98.00% |" in step_row(step)


def measured(rate_h: float, p99_s: float, on_hold: int) -> Step:
    step = Step(rate_h, 50, 10.0, Window(latencies=[p99_s] * 10, hold_samples=[on_hold]))
    step.decision_p99_ms = 3.0
    return step


def test_the_peak_target_is_met_by_any_rate_that_kept_the_callers_on_hold() -> None:
    """The fastest rate within the targets held 1,988 callers, a slower one 2,052: the
    1,000-agent peak (5,000 calls/hour with 2,000 on hold) is carried, by the slower one."""
    steps = [measured(10_000, 0.02, 2_052), measured(20_000, 0.03, 1_988)]
    assert "**met** (at 10,000 calls/hour, with 2,052 on hold" in target_line(steps)
    assert "NOT met" in target_line([measured(20_000, 0.03, 1_988)])
    assert "NOT met" in target_line([measured(10_000, 0.06, 2_052)])


def target_line(steps: list[Step]) -> str:
    return next(line for line in conclusions(steps, 2_100) if "- Target:" in line)


def test_a_shard_that_carried_the_whole_matrix_is_said_to_have_more_room() -> None:
    """One shard within the targets at 6 workspaces, its store at 0.12 CPU: the ratio is
    said to measure the matrix, and one shard's limit is put at about 50 workspaces."""
    step = measured(15_000, 0.03, 800)
    step.store_cpu, step.app_cpu = 0.12, 0.6
    runs = [Scaled(1, 6, step), Scaled(3, 6, step)]
    assert "the limit of one shard is above it" in " ".join(above_the_matrix(runs, 6))
    (bound,) = store_bound(runs)
    assert "one shard would be busy at about 50 workspaces" in bound
    assert "with 5 CPUs of web processes" in bound and "three shards at about 150" in bound
    assert above_the_matrix([Scaled(1, 3, step), Scaled(1, 6, None)], 3) == []
