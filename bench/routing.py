"""Skill-based routing cost at 10k agents and a growing backlog of waiting calls.

    .venv/bin/python -m bench.routing [--quick]

One run, on a fresh embedded Valkey in a temporary directory, drives the real
async `queues.router.Router` (redis.asyncio client, `ManualClock`):

1. A baseline: a minimal Lua script (ZADD + HSET + XADD on three keys sharing one
   hash tag) run through EVALSHA; its server `usec_per_call` is the yardstick.
2. 50 queues (each requires one skill), 10k agents with 3-5 skills at random
   levels; 90% speak 1-2 of en/ms/zh/ta, 10% ("offer agents") only `ar`.
   `sync_config`, then every agent logs in: used_memory delta / agents.
3. The `en/ms/zh/ta` agents log off; the `ar` agents stay available. Waiting
   calls (en/ms/zh/ta, random queue) are added with concurrent `enter`s until
   the backlog is 100, 1k, 10k, 100k: used_memory delta / calls.
4. At each size, with CONFIG RESETSTAT first, one-at-a-time decisions:
   - *enter -> queued*: a call enters a bucket with nobody available;
   - *agent takes call*: an offline / wrapping-up agent of that bucket
     `set_available` / `set_ready`s and is offered the best call of its buckets;
   - *enter -> offered*: an `ar` call enters and is offered at once.
   The backlog stays at its size (each take is matched by an enter; offered and
   taken calls are accepted and completed outside the measurement).
   Server time comes from INFO commandstats (EVALSHA usec, deltas around each
   decision; a call-side offer also runs the `deregister` script, which is
   counted); client time is the wall time of the Router call.

Results are printed and written to the `## Routing` section of `docs/benchmarks.md`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any, cast

import redis.asyncio as aioredis

from bench.docs import DOCS, machine, write_section
from ivr.config.queues import AgentConfig, QueueConfig, Strategy
from ivr.core.clock import ManualClock
from ivr.core.keys import Keys
from ivr.core.store import EmbeddedStore, async_client
from queues.router import Router

SECTION = "## Routing"

AGENTS = 10_000
SKILLS = 50
LANGUAGES = ("en", "ms", "zh", "ta")
OFFER_LANGUAGE = "ar"
OFFER_SHARE = 0.10
STRATEGIES: tuple[Strategy, ...] = (
    "longest_idle",
    "round_robin",
    "fewest_calls",
    "least_talk_time",
    "most_skilled",
    "random",
)
SIZES = (100, 1_000, 10_000, 100_000)
QUICK_SIZES = (100, 1_000, 10_000)
CYCLES = 2_000
QUICK_CYCLES = 250
CONCURRENCY = 64
BASELINE_CALLS = 5_000
RATIO_TARGET = 3.0
GROWTH_TARGET = 1.5
SCRIPT_STATS = ("cmdstat_evalsha", "cmdstat_eval", "cmdstat_fcall", "cmdstat_evalsha_ro")
BASELINE_LUA = """
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
redis.call('XADD', KEYS[3], '*', 'm', ARGV[2])
return 1
"""
KINDS = ("enter -> queued", "agent takes call", "enter -> offered")


# -- server stats ----------------------------------------------------------------


Stats = dict[str, tuple[int, int]]
"""Command name -> (calls, usec)."""


async def command_stats(redis: aioredis.Redis) -> Stats:
    raw = await redis.info("commandstats")
    return {
        name: (int(v["calls"]), int(v["usec"])) for name, v in raw.items() if isinstance(v, dict)
    }


def script_usec(before: Stats, after: Stats) -> tuple[int, int]:
    """(script calls, script usec) between two snapshots."""
    calls = usec = 0
    for name in SCRIPT_STATS:
        c0, u0 = before.get(name, (0, 0))
        c1, u1 = after.get(name, (0, 0))
        calls, usec = calls + c1 - c0, usec + u1 - u0
    return calls, usec


async def used_memory(redis: aioredis.Redis) -> int:
    raw = await redis.info("memory")
    return int(raw["used_memory"])


async def reset_stats(redis: aioredis.Redis) -> None:
    await cast(Awaitable[Any], redis.config_resetstat())


async def baseline(redis: aioredis.Redis, calls: int) -> float:
    """Server usec per call of the minimal 3-command script."""
    keys = Keys("bench")
    names = [f"{keys.prefix}:z", f"{keys.prefix}:h", f"{keys.prefix}:s"]
    script = redis.register_script(BASELINE_LUA)
    await script(keys=names, args=[0, "warm", "x"])
    await reset_stats(redis)
    before = await command_stats(redis)
    for i in range(calls):
        await script(keys=names, args=[i, f"m{i}", "payload-of-some-size"])
    n, usec = script_usec(before, await command_stats(redis))
    await redis.delete(*names)
    return usec / n


# -- config ------------------------------------------------------------------------


@dataclass
class World:
    queues: dict[str, QueueConfig]
    agents: dict[str, AgentConfig]
    main_agents: list[str]
    offer_agents: list[str]
    # (queue, language) pairs each main agent can take a call from
    reach: dict[str, list[tuple[str, str]]]
    offer_queues: list[str]


def build_world(rng: random.Random) -> World:
    skills = [f"s{i:02d}" for i in range(SKILLS)]
    queues = {
        f"q{i:02d}": QueueConfig(
            required_skills={skills[i]: rng.choice((1, 1, 2, 3))},
            strategy=STRATEGIES[i % len(STRATEGIES)],
        )
        for i in range(SKILLS)
    }
    agents: dict[str, AgentConfig] = {}
    main: list[str] = []
    offer: list[str] = []
    for i in range(AGENTS):
        name = f"agent{i:05d}"
        held = {s: rng.randint(1, 5) for s in rng.sample(skills, rng.randint(3, 5))}
        if i < AGENTS * OFFER_SHARE:
            langs = {OFFER_LANGUAGE: 5}
            offer.append(name)
        else:
            langs = {lang: rng.randint(3, 5) for lang in rng.sample(LANGUAGES, rng.randint(1, 2))}
            main.append(name)
        agents[name] = AgentConfig(name=name, skills=held | langs, device=f"client:{name}")
    reach: dict[str, list[tuple[str, str]]] = {}
    offer_set = set(offer)
    offer_queues: set[str] = set()
    for name, agent in agents.items():
        served = [
            q
            for q, cfg in queues.items()
            if all(agent.skills.get(s, 0) >= lvl for s, lvl in cfg.required_skills.items())
        ]
        if name in offer_set:
            offer_queues.update(served)
        else:
            langs_held = [lang for lang in LANGUAGES if lang in agent.skills]
            reach[name] = [(q, lang) for q in served for lang in langs_held]
    main = [a for a in main if reach[a]]
    return World(queues, agents, main, offer, reach, sorted(offer_queues))


# -- measurement --------------------------------------------------------------------


@dataclass
class Sample:
    decisions: int = 0
    scripts: int = 0
    usec: int = 0
    wall: list[float] = field(default_factory=list)
    server: list[int] = field(default_factory=list)
    inner: dict[str, list[int]] = field(default_factory=dict)

    def add(self, before: Stats, after: Stats, wall: float) -> None:
        calls, usec = script_usec(before, after)
        self.decisions += 1
        self.scripts += calls
        self.usec += usec
        self.server.append(usec)
        self.wall.append(wall)
        for name, (c1, u1) in after.items():
            if name in SCRIPT_STATS or name.startswith("cmdstat_info"):
                continue
            c0, u0 = before.get(name, (0, 0))
            if c1 > c0:
                got = self.inner.setdefault(name.removeprefix("cmdstat_"), [0, 0])
                got[0] += c1 - c0
                got[1] += u1 - u0

    @property
    def usec_per_decision(self) -> float:
        return self.usec / self.decisions if self.decisions else float("nan")

    @property
    def median_usec(self) -> float:
        return statistics.median(self.server) if self.server else float("nan")

    @property
    def client_rate(self) -> float:
        return len(self.wall) / sum(self.wall) if self.wall else float("nan")

    def p99_ms(self) -> float:
        if len(self.wall) < 2:
            return float("nan")
        return statistics.quantiles(self.wall, n=100)[98] * 1000


@dataclass
class Level:
    size: int
    fill_calls: int = 0
    fill_s: float = 0.0
    bytes_per_call: float = float("nan")
    stream_per_call: float = float("nan")
    hash_per_call: float = float("nan")
    used_memory: int = 0
    baseline: float = float("nan")
    samples: dict[str, Sample] = field(default_factory=lambda: {k: Sample() for k in KINDS})


class Bench:
    def __init__(
        self, redis: aioredis.Redis, world: World, rng: random.Random, cycles: int
    ) -> None:
        self.redis = redis
        self.world = world
        self.rng = rng
        self.cycles = cycles
        self.clock = ManualClock()
        self.router = Router(redis, Keys("main"), self.clock)
        self.seq = 0
        self.waiting = 0
        # main agents: "offline" or "wrap_up" (never left available or on a call)
        self.state = {a: "offline" for a in world.main_agents}

    def sid(self) -> str:
        self.seq += 1
        return f"CA{self.seq:032d}"

    def tick(self) -> None:
        self.clock.advance(0.001)

    async def gather(self, jobs: Sequence[Callable[[], Awaitable[Any]]]) -> None:
        gate = asyncio.Semaphore(CONCURRENCY)

        async def one(job: Callable[[], Awaitable[Any]]) -> None:
            async with gate:
                await job()

        await asyncio.gather(*(one(j) for j in jobs))

    async def setup_agents(self) -> tuple[float, float]:
        """sync_config, every agent logs in; (bytes per agent config, bytes per logged-in agent)."""
        mem0 = await used_memory(self.redis)
        # As the service does (ivr/service.py): only the configured caller languages are
        # languages, so agents are not listed under buckets named after their other skills.
        languages = frozenset({*LANGUAGES, OFFER_LANGUAGE})
        await self.router.sync_config(self.world.queues, self.world.agents, languages)
        mem1 = await used_memory(self.redis)
        await self.gather([partial(self.router.set_available, a) for a in self.world.agents])
        mem2 = await used_memory(self.redis)
        await self.gather([partial(self.router.set_offline, a) for a in self.world.main_agents])
        return (mem1 - mem0) / AGENTS, (mem2 - mem0) / AGENTS

    async def fill(self, level: Level) -> None:
        count = level.size - self.waiting
        mem0 = await used_memory(self.redis)
        stream0, hash0 = await self.key_bytes()
        queues = list(self.world.queues)

        async def enter() -> None:
            self.tick()
            entry = await self.router.enter(
                self.sid(), self.rng.choice(queues), language=self.rng.choice(LANGUAGES)
            )
            if entry.status != "queued":
                raise RuntimeError(f"fill: expected queued, got {entry.status}")

        began = time.perf_counter()
        await self.gather([enter] * count)
        level.fill_s = time.perf_counter() - began
        level.fill_calls = count
        self.waiting = level.size
        level.used_memory = await used_memory(self.redis)
        level.bytes_per_call = (level.used_memory - mem0) / count
        stream1, hash1 = await self.key_bytes()
        level.stream_per_call = (stream1 - stream0) / count
        level.hash_per_call = (hash1 - hash0) / count
        stored = await self.router.calls_held()
        if stored != self.waiting:
            raise RuntimeError(f"expected {self.waiting} calls stored, found {stored}")

    async def key_bytes(self) -> tuple[int, int]:
        """MEMORY USAGE (every element) of the events stream and the calls hash."""
        events = await self.redis.memory_usage(Keys("main").events(), samples=0)
        return int(events or 0), await self.router.calls_bytes()

    async def timed(self, sample: Sample, op: Awaitable[Any]) -> Any:
        """Run one decision (`op`, not yet started) between two commandstats snapshots."""
        before = await command_stats(self.redis)
        began = time.perf_counter()
        out = await op
        wall = time.perf_counter() - began
        sample.add(before, await command_stats(self.redis), wall)
        return out

    async def measure(self, level: Level) -> None:
        await reset_stats(self.redis)
        queued, takes = level.samples[KINDS[0]], level.samples[KINDS[1]]
        for _ in range(self.cycles):
            agent = self.rng.choice(self.world.main_agents)
            queue, language = self.rng.choice(self.world.reach[agent])
            self.tick()
            sid = self.sid()
            entry = await self.timed(queued, self.router.enter(sid, queue, language=language))
            if entry.status != "queued":
                raise RuntimeError(f"expected queued, got {entry.status}")
            self.tick()
            move = (
                self.router.set_ready
                if self.state[agent] == "wrap_up"
                else self.router.set_available
            )
            offers = await self.timed(takes, move(agent))
            if len(offers) != 1:
                raise RuntimeError(f"{agent} was offered {len(offers)} calls, expected 1")
            await self.serve(offers[0].id, agent, offers[0].call_sid)
            self.state[agent] = "wrap_up"

        await reset_stats(self.redis)
        offered = level.samples[KINDS[2]]
        for _ in range(self.cycles):
            queue = self.rng.choice(self.world.offer_queues)
            self.tick()
            sid = self.sid()
            entry = await self.timed(
                offered, self.router.enter(sid, queue, language=OFFER_LANGUAGE)
            )
            if entry.reservation is None:
                raise RuntimeError(f"expected an offer, got {entry.status}")
            agent = entry.reservation.agent
            await self.serve(entry.reservation.id, agent, sid)
            if await self.router.set_ready(agent):
                raise RuntimeError(f"{agent} took an unexpected call")

    async def serve(self, reservation: str, agent: str, sid: str) -> None:
        self.tick()
        await self.router.accept(reservation, agent)
        self.tick()
        await self.router.complete(sid)


# -- report -------------------------------------------------------------------------


@dataclass
class Result:
    base_before: float
    base_after: float
    bytes_per_agent_config: float
    bytes_per_agent: float
    buckets_per_agent: float
    reachable_per_agent: float
    levels: list[Level]
    valkey: str
    aof_rewrites: int
    seconds: float
    load: tuple[float, float]

    @property
    def base(self) -> float:
        return (self.base_before + self.base_after) / 2


def verdict(ok: bool) -> str:
    return "**met**" if ok else "**NOT met**"


def fmt_inner(sample: Sample, top: int = 8) -> str:
    rows = sorted(sample.inner.items(), key=lambda kv: -kv[1][0])[:top]
    return ", ".join(f"{name} {c / sample.decisions:.1f}" for name, (c, _) in rows)


def section(result: Result, quick: bool) -> str:
    base = result.base
    command = ".venv/bin/python -m bench.routing" + (" --quick" if quick else "")
    first, last = result.levels[0], result.levels[-1]
    lines = [
        SECTION,
        "",
        f"Written by `bench/routing.py` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC "
        f"({result.seconds:.0f} s); reproduce with:",
        "",
        "```sh",
        command,
        "```",
        "",
        *machine(),
        f"- {result.valkey}, embedded (`ivr.core.store.EmbeddedStore`, append-only file, "
        f"`appendfsync everysec`; {result.aof_rewrites} AOF rewrite(s) during the run)",
        f"- 1-minute load average {result.load[0]:.2f} at the start, {result.load[1]:.2f} "
        "at the end",
        "",
        "Setup: 50 queues, each requiring one of 50 skills (level 1-3; the six strategies in",
        f"turn); {AGENTS:,} agents with 3-5 skills at levels 1-5; 90% speak 1-2 of en/ms/zh/ta,",
        "10% only `ar`. Waiting calls are en/ms/zh/ta callers in random queues; the `ar` agents",
        "stay available throughout, the others are offline or in wrap-up, so the backlog waits.",
        f"An agent is listed in {result.buckets_per_agent:.1f} buckets on average. One client,",
        "one decision at a time through the async `Router` (ManualClock). Server time is EVALSHA",
        "usec from `INFO commandstats` (deltas around each decision, after CONFIG RESETSTAT);",
        "a call-side offer (enter -> offered) includes the `deregister` script the Router runs",
        "after it; an agent-side one (agent takes call) needs none.",
        f"Baseline: a 3-command Lua script (ZADD + HSET + XADD, one hash tag), "
        f"{result.base_before:.2f} usec/call",
        f"before and {result.base_after:.2f} after the run; ratios use the mean, {base:.2f} usec.",
        "",
        "| waiting calls | decision | server usec / decision (mean) | median "
        "| scripts / decision | x baseline | client decisions/s | client p99 (ms) "
        "| server ceiling /s |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for level in result.levels:
        for kind in KINDS:
            s = level.samples[kind]
            u = s.usec_per_decision
            lines.append(
                f"| {level.size:,} | {kind} | {u:.1f} | {s.median_usec:.0f} "
                f"| {s.scripts / s.decisions:.1f} "
                f"| {u / base:.1f} | {s.client_rate:,.0f} | {s.p99_ms():.2f} | {1e6 / u:,.0f} |"
            )
    lines += [
        "",
        "| waiting calls | fill: concurrent enters/s | used_memory (MB) "
        "| bytes / waiting call (this step) | of which events stream | of which calls hash "
        "| baseline usec/call after this size |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for level in result.levels:
        rate = level.fill_calls / level.fill_s if level.fill_s else float("nan")
        lines.append(
            f"| {level.size:,} | {rate:,.0f} | {level.used_memory / 2**20:.1f} "
            f"| {level.bytes_per_call:,.0f} | {level.stream_per_call:,.0f} "
            f"| {level.hash_per_call:,.0f} | {level.baseline:.2f} |"
        )
    lines += [
        "",
        f"Memory per agent: {result.bytes_per_agent:,.0f} bytes logged in and available "
        f"(of which {result.bytes_per_agent_config:,.0f} is its config record), "
        f"used_memory delta over {AGENTS:,} agents.",
        f"Fill rate: {CONCURRENCY} `enter`s in flight on one client. The first step also "
        "creates the",
        "per-bucket sorted sets, so its bytes per call are not representative; read the last step.",
        "",
        f"Commands inside the scripts per decision at {last.size:,} waiting calls "
        "(`INFO commandstats`):",
        "",
    ]
    for kind in KINDS:
        lines.append(f"- {kind}: {fmt_inner(last.samples[kind])}")
    nb = result.buckets_per_agent
    lines += [
        "",
        f"Where the time goes (B = {nb:.1f} buckets per agent, of which "
        f"{result.reachable_per_agent:.1f} have a language a caller can have; the layout is",
        "synced with the caller languages, as the service does):",
        "",
        "- *agent takes call*: one script, `status.lua`. It reads the head of each of the",
        "  agent's B waiting sets (B ZRANGEs; the queues' weights come in the context, so no",
        "  queue record is read) and takes the best call: the call's and the agent's records,",
        "  then 8 writes (call, agent, reservation, ring timer, round-robin counter, waiting",
        "  set, AGENTSTATUS and OFFERED events), plus one SADD per queue when the agent logs in",
        "  from offline, or a ZREM of its wrap-up timer when it ends wrap-up. The agent is",
        "  listed only when it takes nothing, so here it is neither listed nor unlisted, and",
        "  there is no `deregister` to run. Its context is ~0.45 KB with ~2B+12 KEYS.",
        "- *enter -> offered*: `enter.lua` offers the call before it would join the waiting",
        "  set; the `deregister.lua` that follows (B ZREMs, plain KEYS and ARGV, no JSON",
        "  context) is about a fifth of the server time.",
        "- *enter -> queued*: 9 commands (4 writes), decoding the ~0.45 KB context and the",
        "  queue's ~0.25 KB routing record (its config dump follows on a second line of the",
        "  same ~0.3 KB value and is not decoded).",
        "- Left in every script, measured by taking parts out: EVALSHA itself, decoding the",
        "  JSON context, creating `common.lua`'s helper closures on each run (3-4 usec), and",
        "  3-5 usec per write command, two to three times its own commandstats time. A reply",
        "  of 1 KiB or more (such as a stored value read with HGET) adds about 5 usec.",
        "- No script does work that grows with the number of waiting calls (the command counts",
        "  per decision are the same at every size); the growth is sorted sets getting larger",
        "  (O(log n)) and the data set outgrowing CPU caches, which slows the 3-command",
        "  baseline too (last column of the second table). From 10,000 to 100,000 calls this",
        "  adds 35-65 usec per decision on this machine, as much as it did before the scripts",
        "  were trimmed, so the growth ratios rose as the decisions got cheaper.",
    ]
    lines += ["", "Targets:", ""]
    worst = max(
        (lv.samples[k].usec_per_decision / base, lv.size, k) for lv in result.levels for k in KINDS
    )
    lines.append(
        f"- server time per decision <= {RATIO_TARGET:g}x the 3-command script: "
        f"worst {worst[0]:.1f}x ({worst[2]} at {worst[1]:,} calls): "
        f"{verdict(worst[0] <= RATIO_TARGET)}"
    )
    for kind in KINDS:
        a, b = first.samples[kind], last.samples[kind]
        growth = b.usec_per_decision / a.usec_per_decision
        lines.append(
            f"- growth {first.size:,} -> {last.size:,} waiting calls, {kind}: {growth:.2f}x "
            f"(target <= {GROWTH_TARGET:g}x): {verdict(growth <= GROWTH_TARGET)} "
            f"(median {b.median_usec / a.median_usec:.2f}x)"
        )
    if quick:
        lines.append(
            f"- (`--quick` stops at {last.size:,} waiting calls; the 100k point needs a full run)"
        )
    lines.append("")
    return "\n".join(lines)


# -- run ------------------------------------------------------------------------------


async def run(url: str, quick: bool, seed: int) -> Result:
    began = time.monotonic()
    load_before = os.getloadavg()[0]
    rng = random.Random(seed)
    world = build_world(rng)
    redis = async_client(url)
    try:
        server = await redis.info("server")
        valkey = f"Valkey {server.get('valkey_version', server.get('redis_version', '?'))}"
        base_before = await baseline(redis, BASELINE_CALLS)
        bench = Bench(redis, world, rng, QUICK_CYCLES if quick else CYCLES)
        print(f"baseline {base_before:.2f} usec/call", flush=True)
        config_bytes, agent_bytes = await bench.setup_agents()
        layout = await bench.router.layout()
        buckets = statistics.mean(len(layout.agent_buckets(a)) for a in world.agents)
        callable_ = {"-", OFFER_LANGUAGE, *LANGUAGES}
        reachable = statistics.mean(
            sum(b.language in callable_ for b in layout.agent_buckets(a)) for a in world.agents
        )
        print(f"agents: {agent_bytes:,.0f} bytes each, {buckets:.1f} buckets", flush=True)
        levels = []
        for size in QUICK_SIZES if quick else SIZES:
            level = Level(size)
            await bench.fill(level)
            await bench.measure(level)
            level.baseline = await baseline(redis, BASELINE_CALLS // 2)
            levels.append(level)
            summary = ", ".join(f"{k} {level.samples[k].usec_per_decision:.1f} us" for k in KINDS)
            print(f"{size:>7,} waiting: {level.bytes_per_call:,.0f} B/call; {summary}", flush=True)
        base_after = await baseline(redis, BASELINE_CALLS)
        persistence = await redis.info("persistence")
        rewrites = int(persistence.get("aof_rewrites", 0))
    finally:
        await redis.aclose()
    return Result(
        base_before,
        base_after,
        config_bytes,
        agent_bytes,
        buckets,
        reachable,
        levels,
        valkey,
        rewrites,
        time.monotonic() - began,
        (load_before, os.getloadavg()[0]),
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.routing", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="stop at 10k calls, fewer decisions")
    parser.add_argument("--seed", type=int, default=7, help="random seed for the config")
    parser.add_argument("--docs", type=Path, default=DOCS, help="markdown file to update")
    parser.add_argument("--no-docs", action="store_true", help="print only; do not write docs")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-routing-") as tmp:
        store = EmbeddedStore(Path(tmp))
        try:
            url = store.start()
            result = asyncio.run(run(url, args.quick, args.seed))
        finally:
            store.stop()
    text = section(result, args.quick)
    print()
    print(text)
    if not args.no_docs:
        write_section(args.docs, SECTION, text)
        print(f"written to {args.docs}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
