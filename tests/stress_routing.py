"""Multi-process stress run of the router: random operations from many processes at once.

Run alone for a longer soak: `.venv/bin/python -m tests.stress_routing REDIS_URL --seconds 120
--processes 8`. After every operation each process checks the invariants on an atomic
snapshot (no agent on two calls, calls and agents agree, work conservation); at the end
the event log is folded to check that no call was lost or duplicated and that every offer
went to the best waiting call of its queue (priority, then FIFO).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import random
import time
from collections import Counter
from typing import Any, cast

from ivr.config.queues import AgentConfig, QueueConfig
from ivr.core.clock import SystemClock
from ivr.core.errors import RoutingError
from ivr.core.keys import Keys
from ivr.core.store import async_client
from queues.events import EventType, read_events
from queues.invariants import problems, snapshot
from queues.queue import pack_score
from queues.router import Router

KEYS = Keys("stress")
QUEUES = {
    "a": QueueConfig(required_skills={"x": 1}, ring_timeout_s=1, wrap_up_s=0),
    "b": QueueConfig(required_skills={"y": 1}, ring_timeout_s=1, wrap_up_s=1, weight=2),
    "c": QueueConfig(required_skills={"x": 2, "z": 1}, ring_timeout_s=1, strategy="round_robin"),
}
OPERATIONS = {
    "enter": 30,
    "available": 15,
    "break": 4,
    "offline": 2,
    "accept": 15,
    "reject": 6,
    "complete": 12,
    "hangup": 8,
    "timers": 10,
}


def agents(count: int = 12) -> dict[str, AgentConfig]:
    """Agents with overlapping skill sets, fixed by their index."""
    rng = random.Random(7)
    made = {}
    for i in range(count):
        skills = {s: rng.randint(1, 3) for s in ("x", "y", "z") if rng.random() < 0.6} or {"x": 1}
        made[f"ag{i:02d}"] = AgentConfig(
            name=f"Agent {i}",
            device=f"client:ag{i:02d}",
            skills=skills,
            reject_delay_s=rng.choice([0, 1]),
            no_answer_delay_s=rng.choice([0, 1]),
            busy_delay_s=0,
        )
    return made


async def prepare(url: str) -> None:
    """Flush the tenant's keys and sync the stress config."""
    redis = async_client(url)
    await redis.flushdb()
    await Router(redis, KEYS, SystemClock()).sync_config(QUEUES, agents())
    await redis.aclose()


async def _operate(router: Router, rng: random.Random, name: str, made: list[str]) -> None:
    agent = rng.choice(sorted(agents()))
    if name == "enter":
        sid = f"{made[0]}-{len(made)}"
        made.append(sid)
        await router.enter(sid, rng.choice(sorted(QUEUES)), rng.choice([0, 0, 0, 5]))
    elif name == "available":
        await router.set_available(agent)
    elif name == "break":
        await router.set_break(agent, "lunch")
    elif name == "offline":
        await router.set_offline(agent)
    elif name in ("accept", "reject", "complete"):
        state = await router.agent_state(agent)
        if name == "accept" and state.reservation:
            await router.accept(state.reservation, agent)
        elif name == "reject" and state.reservation:
            await router.reject(state.reservation, agent, busy=rng.random() < 0.3)
        elif name == "complete" and state.state == "on_call":
            await router.complete(state.call_sid)
    elif name == "hangup" and len(made) > 1:
        await router.hangup(rng.choice(made[1:]))
    elif name == "timers":
        await router.run_due()


async def _work(url: str, seed: int, seconds: float) -> tuple[list[str], list[str]]:
    redis = async_client(url)
    router = Router(redis, KEYS, SystemClock())
    layout = await router.load()
    rng = random.Random(seed)
    made = [f"p{seed}"]
    found: list[str] = []
    names, weights = list(OPERATIONS), list(OPERATIONS.values())
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not found:
        name = rng.choices(names, weights)[0]
        # A refused move (another process got there first) changes nothing.
        with contextlib.suppress(RoutingError):
            await _operate(router, rng, name, made)
        found = [f"after {name}: {p}" for p in problems(await snapshot(redis, layout), layout)]
    await redis.aclose()
    return made[1:], found


def work(args: tuple[str, int, float]) -> tuple[list[str], list[str]]:
    """One process: random operations for `seconds`; the calls it made and problems seen."""
    return asyncio.run(_work(*args))


def fold(events: list[Any], made: list[str], calls: dict[str, Any]) -> list[str]:
    """Check the event log: each call entered once, connected at most once, never lost, and
    every offer went to the best waiting call of its queue."""
    found = []
    entered = Counter(e.get("call") for e in events if e.type == EventType.ENTERQUEUE)
    connected = Counter(e.get("call") for e in events if e.type == EventType.CONNECT)
    ended = {e.get("call") for e in events if e.type in ENDINGS}
    found += [f"call {s} entered {n} times" for s, n in entered.items() if n > 1]
    found += [f"call {s} connected {n} times" for s, n in connected.items() if n > 1]
    found += [f"call {s} lost" for s in made if s in entered and s not in ended | set(calls)]
    found += [f"call {s} ended and still queued" for s in ended & set(calls)]
    return found + fifo(events)


ENDINGS = {
    EventType.ABANDON,
    EventType.COMPLETEAGENT,
    EventType.COMPLETECALLER,
    EventType.EXITWITHTIMEOUT,
}


def fifo(events: list[Any]) -> list[str]:
    """Every OFFERED call was the best (priority, original time, sid) waiting in its queue."""
    scores: dict[str, tuple[int, str]] = {}
    waiting: dict[str, set[str]] = {q: set() for q in QUEUES}
    found = []
    for e in events:
        sid, queue = e.get("call"), e.get("queue")
        if e.type == EventType.ENTERQUEUE:
            orig = e.ts_ms - int(e.get("wait_ms"))
            scores[sid] = (pack_score(int(e.get("priority")), orig), sid)
            waiting[queue].add(sid)
        elif e.type == EventType.OFFERED:
            better = [s for s in waiting[queue] if scores[s] < scores[sid]]
            if better:
                found.append(f"{sid} offered while {sorted(better)} waited ahead in {queue}")
            waiting[queue].discard(sid)
        elif e.type in (EventType.RINGNOANSWER, EventType.REJECTED):
            waiting[queue].add(sid)
        elif e.type in (EventType.ABANDON, EventType.EXITWITHTIMEOUT):
            waiting[queue].discard(sid)
    return found


async def verify(url: str, made: list[str]) -> list[str]:
    """The end-of-run checks over the event log and the final state."""
    redis = async_client(url)
    router = Router(redis, KEYS, SystemClock())
    layout = await router.load()
    found = problems(await snapshot(redis, layout), layout)
    # The client decodes responses: the hash's fields and values are str.
    raw = cast(dict[str, str], await redis.hgetall(KEYS.routing_calls()))
    calls = {k: json.loads(v) for k, v in raw.items()}
    events = await read_events(redis, KEYS, count=10_000_000)
    await redis.aclose()
    return found + fold(events, made, calls)


def run(url: str, processes: int, seconds: float) -> tuple[int, list[str]]:
    """The whole stress run: how many calls were made, and every problem found."""
    asyncio.run(prepare(url))
    context = multiprocessing.get_context("spawn")
    with context.Pool(processes) as pool:
        results = pool.map(work, [(url, seed, seconds) for seed in range(processes)])
    made = [sid for calls, _ in results for sid in calls]
    found = [p for _, problems_seen in results for p in problems_seen]
    return len(made), found + asyncio.run(verify(url, made))


def main() -> None:
    """Command line: a longer soak against a server you name."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("url")
    parser.add_argument("--processes", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    count, found = run(args.url, args.processes, args.seconds)
    print(f"{count} calls, {len(found)} problems")
    for problem in found[:50]:
        print(problem)


if __name__ == "__main__":
    main()
