"""The load: open-loop arrivals, agents made available, and the measured windows.

`drive` is one run's event loop: it plays Twilio against the web processes, measures
each rate of `--rates`, and closes everything it opened, each part bounded.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import random
import time
from dataclasses import dataclass

from bench.capacity.callers import Twilio, plan
from bench.capacity.client import Client
from bench.capacity.closing import bounded
from bench.capacity.defaults import (
    AGENTS,
    ANSWER_GRACE_S,
    CONNECTIONS,
    FILL_SHARE,
    FILL_TIMEOUT_S,
    LEVEL_S,
    PREFILL_RATE,
    SATURATED_CPU,
)
from bench.capacity.measure import Step, Window, agents_for, cpu_shares, sample_cpu
from bench.capacity.report import path_rows, step_line, step_row
from bench.capacity.rest import RestServer
from bench.capacity.scrape import scrape_all
from ivr.config.reload import ConfigRegistry
from ivr.core.clock import SystemClock
from ivr.core.settings import Settings
from ivr.core.store import STORE_ERRORS, async_client
from ivr.handlers import build_services
from ivr.service import Services
from ivr.voice import offers

FILL_PAUSE_S = 1.0
HOLD_SAMPLE_S = 1.0
INITIAL_TALK_S = 30.0


@dataclass(frozen=True)
class Target:
    """Where the load goes: the web processes' ports, their `/metrics` path, the numbers
    callers dial, and the processes whose CPU time is read."""

    ports: list[int]
    rest_port: int
    metrics_path: str
    numbers: list[str]
    app_pids: list[int]
    store_pids: list[int]


class Bench:
    """Callers and agents at the rates of `--rates`, one measured window each."""

    def __init__(self, args: argparse.Namespace, target: Target, svcs: list[Services]) -> None:
        self.args = args
        self.target = target
        self.svcs = svcs
        """One per workspace (one in all without workspaces)."""
        self.rng = random.Random(args.seed)
        self.client = Client(target.ports, CONNECTIONS)
        self.twilio = Twilio(self.client, self.rng, INITIAL_TALK_S)
        self.twilio.numbers = target.numbers
        self.available = [0] * len(svcs)
        self.arrivals = 0

    async def run(self) -> list[Step]:
        """The ramp, then each rate until two miss a target on a saturated app."""
        await self.client.start()
        print(f"filling the queues to {self.args.hold:,} callers", flush=True)
        await self.fill(self.args.hold, "ramp")
        steps: list[Step] = []
        failed = 0
        for rate_h in self.args.rates:
            steps.append(await self.step(rate_h))
            failed += not steps[-1].ok and steps[-1].app_cpu > self.saturated_cpu
            if failed >= 2:
                break
        return steps

    @property
    def saturated_cpu(self) -> float:
        """CPUs the web processes use when they can go no faster (each its own CPU at most)."""
        return SATURATED_CPU * min(len(self.target.ports), os.cpu_count() or 1)

    async def close(self) -> None:
        """Stop the calls in progress, then the connections (each bounded)."""
        await self.twilio.close()
        await self.client.close()

    async def arrive(self, rate: float, seconds: float, start: float) -> None:
        """Poisson arrivals at `rate`/s for `seconds` from `start` (perf_counter)."""
        at, end = start, start + seconds
        while (at := at + self.rng.expovariate(rate)) < end:
            delay = at - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            self.arrivals += 1
            window = self.client.window
            if window is not None and window.covers(at):
                window.arrivals += 1
            self.twilio.spawn(self.twilio.caller(at, plan(self.rng)))

    async def make_available(self, n: int, seconds: float) -> None:
        """Bring agents a0000.. up to `n` available, evenly over `seconds`, as their console
        would (without the console's presence, so offers ring their devices: the app's
        background loop makes the REST requests)."""
        gap = seconds / max(n - sum(self.available), 1)
        while sum(self.available) < n:
            index = min(range(len(self.svcs)), key=lambda i: self.available[i])
            agent = f"a{self.available[index]:04d}"
            self.available[index] += 1
            await self.join(self.svcs[index], agent)
            await asyncio.sleep(gap)

    async def join(self, svc: Services, agent: str) -> None:
        try:
            for offer in await svc.router.set_available(agent):
                await offers.record_ring(svc, offer)
        except STORE_ERRORS as exc:  # a store too slow to answer: this agent stays out
            print(f"  {agent} not made available: {exc!r}", flush=True)

    async def fill(self, target: int, label: str) -> None:
        """Arrivals at `PREFILL_RATE` until `target` callers are on hold."""
        began = time.perf_counter()
        level_since: float | None = None
        while self.twilio.on_hold < target * FILL_SHARE:
            needed = target - self.twilio.on_hold - self.twilio.in_menu
            if needed > 0:
                await self.arrive(PREFILL_RATE, needed / PREFILL_RATE, time.perf_counter())
            await asyncio.sleep(FILL_PAUSE_S)
            self.print_progress()
            now = time.perf_counter()
            level = needed <= target * (1 - FILL_SHARE)
            level_since = (level_since or now) if level else None
            if level_since is not None and now - level_since > LEVEL_S:
                break
            if now - began > FILL_TIMEOUT_S:
                raise RuntimeError(f"{label}: the queues never reached {target} callers")
        took = time.perf_counter() - began
        print(
            f"  {label}: {self.twilio.on_hold:,} on hold and {self.twilio.in_menu:,} in the "
            f"menu after {took:.0f} s",
            flush=True,
        )

    def print_progress(self) -> None:
        failures = dict(list(self.client.failures.items())[:3])
        print(
            f"    {self.twilio.on_hold:,} on hold, {self.arrivals:,} arrived, "
            f"{self.client.total:,} webhooks ({self.client.errors} failed: {failures})",
            flush=True,
        )

    async def sample_hold(self, window: Window) -> None:
        while True:
            window.hold_samples.append(self.twilio.on_hold)
            await asyncio.sleep(HOLD_SAMPLE_S)

    async def step(self, rate_h: float) -> Step:
        """One rate: top up the queues, settle, measure a window."""
        agents, talk = agents_for(rate_h, AGENTS * len(self.svcs))
        self.twilio.talk_s = talk
        print(
            f"rate {rate_h:,.0f} calls/h: {agents} agents available, talk ~{talk:.0f} s", flush=True
        )
        await self.fill(self.args.hold, "top-up")
        start = time.perf_counter()
        settle, measure = self.args.settle, self.args.window
        window = Window(start=start + settle, end=start + settle + measure)
        self.client.window = self.twilio.window = window
        load = [
            asyncio.create_task(self.make_available(agents, settle / 2)),
            asyncio.create_task(self.arrive(rate_h / 3600, settle + measure, start)),
        ]
        result = Step(rate_h, agents, talk, window)
        await self.measure(result)
        await asyncio.gather(*load)
        await asyncio.sleep(ANSWER_GRACE_S)  # answers to the window's last requests
        self.client.window = self.twilio.window = None
        print_step(result)
        return result

    async def measure(self, result: Step) -> None:
        """The window: the app's decision histogram and CPU times before and after it."""
        window, target = result.window, self.target
        await asyncio.sleep(max(window.start - time.perf_counter(), 0))
        before = await scrape_all(target.ports, target.metrics_path)
        cpu_before = sample_cpu(target.app_pids, target.store_pids)
        sampler = asyncio.create_task(self.sample_hold(window))
        await asyncio.sleep(max(window.end - time.perf_counter(), 0))
        sampler.cancel()
        cpu_after = sample_cpu(target.app_pids, target.store_pids)
        after = await scrape_all(target.ports, target.metrics_path)
        result.add_decisions(before, after)
        result.waiting_app = after.get("waiting", float("nan"))
        result.app_cpu, result.store_cpu = cpu_shares(cpu_before, cpu_after)


def print_step(step: Step) -> None:
    """One rate's figures, its table row (every column, to copy by hand if need be) and
    its busiest paths."""
    print(step_line(step), flush=True)
    print("  row:", step_row(step), flush=True)
    for row in path_rows(step)[:6]:
        print("   ", row, flush=True)


async def drive(
    args: argparse.Namespace, target: Target, settings: Settings, url: str
) -> list[Step]:
    """Play Twilio against the app at every rate; close everything, bounded, whatever happens."""
    redis = async_client(url)
    svcs = [
        build_services(one, SystemClock(), redis, ConfigRegistry(one.config_dir))
        for one in settings.each_workspace()
    ]
    bench = Bench(args, target, svcs)
    rest = await RestServer.start(bench.twilio, target.rest_port)
    gc.collect()
    gc.freeze()
    try:
        return await bench.run()
    finally:
        rest.close()
        await bench.close()
        await bounded(redis.aclose(), "the store client")
        print_totals(bench)


def print_totals(bench: Bench) -> None:
    client, twilio = bench.client, bench.twilio
    print(
        f"(client: {client.total:,} webhooks, {client.errors} failed; "
        f"{twilio.rest_calls:,} agent legs rung, {twilio.dequeue_misses} "
        f"empty dequeues, {twilio.twiml_errors} TwiML errors)",
        flush=True,
    )
    for name, n in sorted(client.failures.items(), key=lambda kv: -kv[1])[:10]:
        print(f"  failed: {name} x{n}", flush=True)
    for last, n in sorted(twilio.unqueued.items(), key=lambda kv: -kv[1])[:5]:
        print(f"  {n} callers ended before a queue, last TwiML ...{last}", flush=True)


def metrics_path(settings: Settings) -> str:
    """`/metrics`, or the first workspace's (the decision histogram is the process's)."""
    return f"/w/{settings.workspaces[0].id}/metrics" if settings.workspaces else "/metrics"
