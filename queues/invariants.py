"""Consistency checks over the whole routing state, for tests and diagnostics.

`snapshot` reads every routing key of a layout in one MULTI/EXEC, so the
picture is consistent even while other processes route; `problems` lists
every broken invariant in it. Both walk every agent and call: never call them
on a hot path.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis

from queues.layout import Layout


@dataclass(frozen=True)
class Snapshot:
    """Every agent, call, reservation and bucket of one layout at one instant."""

    agents: dict[str, dict[str, Any]]
    calls: dict[str, dict[str, Any]]
    reservations: dict[str, dict[str, Any]]
    waiting: dict[str, dict[str, float]]
    available: dict[str, dict[str, float]]
    queued: dict[str, dict[str, float]]


async def snapshot(redis: aioredis.Redis, layout: Layout) -> Snapshot:
    """Read the whole routing state atomically."""
    keys = layout.keys
    buckets = {b for agent in layout.agents for b in layout.agent_buckets(agent)}
    waiting_keys = sorted({layout.waiting_key(b) for b in buckets})
    available_keys = sorted({layout.available_key(b) for b in buckets})
    queue_keys = sorted(keys.queue_calls(q) for q in layout.queues)
    async with redis.pipeline(transaction=True) as pipe:
        pipe.hgetall(keys.routing_agents())
        pipe.hgetall(keys.routing_calls())
        pipe.hgetall(keys.routing_reservations())
        for key in [*waiting_keys, *available_keys, *queue_keys]:
            pipe.zrange(key, 0, -1, withscores=True)
        replies = await pipe.execute()
    agents, calls, reservations, *sets = replies
    zsets = [dict(entries) for entries in sets]
    n, m = len(waiting_keys), len(available_keys)
    return Snapshot(
        agents={k: json.loads(v) for k, v in agents.items()},
        calls={k: json.loads(v) for k, v in calls.items()},
        reservations={k: json.loads(v) for k, v in reservations.items()},
        waiting=dict(zip(waiting_keys, zsets[:n], strict=True)),
        available=dict(zip(available_keys, zsets[n : n + m], strict=True)),
        queued=dict(zip(queue_keys, zsets[n + m :], strict=True)),
    )


def problems(snap: Snapshot, layout: Layout) -> list[str]:
    """Every broken invariant: calls, agents and reservations agree; work is conserved."""
    found = _call_problems(snap, layout)
    holders = Counter(c["agent"] for c in snap.calls.values() if c["agent"])
    found += [f"agent {a} holds {n} calls" for a, n in holders.items() if n > 1]
    for agent, state in snap.agents.items():
        found += _agent_problems(snap, layout, agent, state)
    return found


def _call_problems(snap: Snapshot, layout: Layout) -> list[str]:
    found = []
    for sid, call in snap.calls.items():
        bucket = layout.waiting_key(layout.call_bucket(call["queue"], call["step"], call["lang"]))
        queued = sid in snap.queued.get(layout.keys.queue_calls(call["queue"]), {})
        homes = [key for key, members in snap.waiting.items() if sid in members]
        # A call transferred to an agent by name waits for them only, in no bucket.
        expected = [bucket] if call["state"] == "waiting" and not call.get("pin") else []
        if homes != expected:
            found.append(f"call {sid} ({call['state']}) waits in {homes}, expected {expected}")
        if queued != (call["state"] != "connected"):
            found.append(f"call {sid} ({call['state']}) queued={queued}")
        if call["state"] == "ringing" and call["res"] not in snap.reservations:
            found.append(f"ringing call {sid} has no reservation")
        consulted = (call.get("consult") or {}).get("agent")
        if consulted and snap.agents.get(consulted, {}).get("call") != sid:
            found.append(f"call {sid} consults {consulted}, who is not on it")
        if call["state"] in ("ringing", "connected"):
            agent = snap.agents.get(call["agent"], {})
            want = "reserved" if call["state"] == "ringing" else "on_call"
            if agent.get("state") != want or agent.get("call") != sid:
                found.append(f"call {sid} ({call['state']}) but agent {call['agent']}: {agent}")
    return found


def _agent_problems(snap: Snapshot, layout: Layout, agent: str, state: dict[str, Any]) -> list[str]:
    found = []
    if state["state"] in ("reserved", "on_call"):
        call = snap.calls.get(state["call"])
        consulted = call is not None and (call.get("consult") or {}).get("agent") == agent
        if call is None or (call["agent"] != agent and not consulted):
            found.append(f"agent {agent} is {state['state']} on {state['call']}: {call}")
    if state["state"] != "available" or state["listed"] != 1 or agent not in layout.agents:
        return found
    for bucket in layout.agent_buckets(agent):
        if agent not in snap.available[layout.available_key(bucket)]:
            found.append(f"available agent {agent} missing from {bucket}")
        waiting = snap.waiting[layout.waiting_key(bucket)]
        if waiting:
            found.append(f"agent {agent} sits available while {sorted(waiting)} wait in {bucket}")
    return found
