"""The supervisor view: the floor now (queues, agents, waiting calls) and what may be changed.

Supervisors put agents on break or log them out, change a waiting call's priority, and
listen to, coach or barge into a connected call (`ivr.web.monitor`). Each action is
appended to the event stream as a `SUPERVISOR` entry naming who did it (`by`,
`ivr.web.audit`), next to the routing event of the change itself.
"""

from __future__ import annotations

from typing import Any

from starlette.exceptions import HTTPException

from callbacks import callback
from ivr.core import outbound
from ivr.core.errors import InvalidTransition, RoutingError
from ivr.service import Services
from ivr.voice import offers
from ivr.voice.queue import estimate_for
from ivr.web import labels, monitor, today, voicemails
from ivr.web.audit import record
from queues.agent import BREAK, ON_CALL
from queues.metrics import rollups
from queues.reprioritise import reprioritise

ALERTS_SHOWN = 20
WAITING_SHOWN = 50
"""Waiting calls listed per queue."""


async def floor_view(svc: Services) -> dict[str, Any]:
    """Queues, agents, waiting calls, alerts and config status, as of the service clock."""
    agent_days = today.agent_days(svc, await today.events_today(svc))
    waiting = {name: await waiting_calls(svc, name) for name in svc.registry.current.queues}
    return {
        "queues": [
            await queue_view(svc, name, waiting[name]) for name in svc.registry.current.queues
        ],
        "agents": await agents_view(svc, agent_days),
        "waiting": [call for calls in waiting.values() for call in calls],
        "alerts": await alerts(svc),
        "callbacks": await callbacks_view(svc),
        "voicemails_unhandled": await voicemails.unhandled(svc),
        "outbound": await outbound_view(svc),
        "voicemails_by_queue": {
            queue: {"unhandled": b.count, "oldest_age_s": b.oldest_age_s}
            for queue, b in (await voicemails.backlog(svc)).items()
        },
        "config": {"version": svc.registry.version, "last_error": svc.registry.last_error},
    }


async def outbound_view(svc: Services) -> dict[str, Any]:
    """Agent rings and callback legs asked of Twilio that are not ringing yet (Twilio places
    them at the account's calls per second), and how long the oldest has waited."""
    found = await outbound.backlog(svc.redis, svc.keys, svc.clock.now())
    return {"legs": found.legs, "oldest_s": round(found.oldest_s, 1)}


async def callbacks_view(svc: Services) -> list[dict[str, Any]]:
    """Pending and scheduled callbacks, soonest first, for the floor view."""
    return [
        {
            "id": cb.id,
            "number": cb.number,
            "queue": cb.queue,
            "queue_name": labels.queue_name(svc.registry.current, cb.queue),
            "state": cb.state,
            "kind": cb.kind,
            "due": cb.due,
            "requested_ms": cb.created_ms,
            "attempts": cb.attempts,
            "language": cb.language,
        }
        for cb in await callback.pending(svc)
    ]


async def cancel_callback(svc: Services, by: str, callback_id: str) -> None:
    """Cancel a callback from the floor (recorded with who did it); 404 for one this
    workspace does not have, 409 for one that cannot be cancelled now."""
    if await callback.get(svc, callback_id) is None:
        raise HTTPException(404, "no such callback")
    if not await callback.cancel(svc, callback_id, by):
        raise HTTPException(409, "that callback is being dialled or already over")


async def queue_view(svc: Services, name: str, calls: list[dict[str, Any]]) -> dict[str, Any]:
    """A queue's row. Its figures today are the fold's rollups, as on the reports page and
    `/metrics` (`queues.metrics.rollups.read_today`), so the pages agree on the service level."""
    config = svc.registry.current
    queue = config.queues[name]
    estimate = await estimate_for(svc, name, len(calls) + 1, queue.hold)
    day = await rollups.read_today(svc.redis, svc.keys, config, f"q:{name}", svc.clock.now())
    return {
        "name": name,
        "display_name": queue.display_name or name,
        "waiting": len(calls),
        "oldest_wait_s": max((c["wait_s"] for c in calls), default=None),
        "estimated_wait_s": None if estimate is None else round(estimate),
        "service_level": day.service_level(),
        "service_level_s": queue.service_level_s,
        "answered": day["answered"],
        "abandoned": day["abandoned"],
    }


async def waiting_calls(svc: Services, queue: str) -> list[dict[str, Any]]:
    calls = []
    for position in await svc.router.queue_snapshot(queue, WAITING_SHOWN):
        entry = await svc.router.call(position.call_sid)
        calls.append(
            {
                "call": position.call_sid,
                "caller_label": await caller_label(svc, position.call_sid),
                "queue": queue,
                "queue_name": labels.queue_name(svc.registry.current, queue),
                "position": position.position,
                "state": position.state,
                "wait_s": round(position.waited_s, 1),
                "language": (entry.language if entry else "") or None,
                "language_name": language_name(svc, entry.language if entry else ""),
                "priority": position.priority,
                "agent": (entry.agent if entry else "") or None,
            }
        )
    return calls


async def agents_view(svc: Services, days: dict[str, today.AgentDay]) -> list[dict[str, Any]]:
    config = svc.registry.current.agents
    states = await svc.router.agent_states(list(config))
    now = svc.clock.now()
    back = await svc.router.breaks_end(list(config))
    rows = []
    for agent, cfg in config.items():
        state = states[agent]
        ends = back.get(agent) if state.state == BREAK else None
        rows.append(
            {
                "id": agent,
                "name": cfg.name,
                "state": state.state,
                "state_label": labels.state_label(state.state),
                "reason": state.reason,
                "back_in_s": None if ends is None else round(max(0.0, ends - now), 1),
                "in_state_s": round(now - state.since, 1) if state.since else None,
                "call": state.call_sid or None,
                "call_label": await call_label(svc, state.call_sid) if state.call_sid else None,
                "missed_today": days[agent].missed if agent in days else 0,
                "handled_today": days[agent].handled if agent in days else 0,
            }
        )
    return await with_monitors(svc, rows)


async def with_monitors(svc: Services, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each agent row with who monitors its call and how (`monitor`: {by, by_name, mode} or
    None), so every supervisor sees a call being listened to, coached or barged into. Only
    a call in progress shows one (a monitor left from a call now in wrap-up is not)."""
    talking = [row for row in rows if row["call"] and row["state"] == ON_CALL]
    found = await monitor.watching(svc, [row["call"] for row in talking])
    people = svc.registry.current.supervisors
    for row in rows:
        watched = found.get(row["call"]) if row in talking else None
        if watched:
            known = people.get(watched["by"])
            watched = {**watched, "by_name": known.name if known else watched["by"]}
        row["monitor"] = watched
    return rows


def language_name(svc: Services, code: str) -> str | None:
    """The language's name as the config gives it ("English"), None when there is none."""
    known = svc.registry.current.languages.available.get(code)
    return known.name if known else code or None


async def caller_label(svc: Services, call_sid: str) -> str:
    """The caller's name or masked number (the call's sid is never shown)."""
    session = await svc.calls.get(call_sid)
    return (
        labels.caller_label(session.caller_name, session.caller)
        if session
        else labels.UNKNOWN_CALLER
    )


async def call_label(svc: Services, call_sid: str) -> str:
    """An agent's current call as the floor shows it: "Billing — Jane Doe"."""
    routed = await svc.router.call(call_sid)
    who = await caller_label(svc, call_sid)
    return f"{labels.queue_name(svc.registry.current, routed.queue)} — {who}" if routed else who


async def alerts(svc: Services) -> list[dict[str, Any]]:
    """Low CES scores needing follow-up, newest first, one per call (written by the surveys).

    A low score is alerted when it arrives and again with the customer's comment;
    the later entry carries both, so only the newest entry of each call is shown.
    """
    entries: list[tuple[str, dict[str, str]]] = await svc.redis.xrevrange(
        svc.keys.survey_alerts(), count=ALERTS_SHOWN * 2
    )  # type: ignore[assignment]
    newest: dict[str, dict[str, Any]] = {}
    for eid, fields in entries:
        newest.setdefault(fields.get("call") or eid, {"id": eid, **fields})
    return list(newest.values())[:ALERTS_SHOWN]


# -- actions ------------------------------------------------------------------------
def known_agent(svc: Services, agent: str) -> None:
    if agent not in svc.registry.current.agents:
        raise HTTPException(404, f"no agent {agent!r}")


async def put_on_break(svc: Services, by: str, agent: str, reason: str) -> None:
    known_agent(svc, agent)
    reason = reason.strip()[:60] or "supervisor"
    try:
        await svc.router.set_break(agent, reason)
    except InvalidTransition as exc:
        raise HTTPException(409, str(exc)) from None
    await record(svc, by, agent=agent, reason=f"break:{reason}")


async def log_out(svc: Services, by: str, agent: str) -> None:
    """Log an agent out, whatever holds them: a ringing offer or a call not yet bridged
    goes back to its caller's place first (`offers.free_agent`)."""
    known_agent(svc, agent)
    try:
        await svc.router.set_offline(agent)
    except InvalidTransition:
        await offers.free_agent(svc, agent)
        try:
            await svc.router.set_offline(agent)
        except InvalidTransition as exc:
            raise HTTPException(409, str(exc)) from None
    await record(svc, by, agent=agent, reason="offline")


async def change_priority(svc: Services, by: str, call_sid: str, priority: int) -> int:
    """Re-prioritise a waiting call (the script records the change with `by`)."""
    if not await svc.router.has_call(call_sid):
        raise HTTPException(404, "no such call waiting")
    try:
        return await reprioritise(svc.router, call_sid, priority, by)
    except RoutingError as exc:
        raise HTTPException(409, str(exc)) from None
