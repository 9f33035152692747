"""The console's transfers: where an agent can send their call, and doing it.

    POST /api/agent/calls/{call}/transfer           {"to": "queue"|"agent"|"number",
                                                      "target": "...", "warm": bool,
                                                      "notes": "..." (optional)}
    POST /api/agent/calls/{call}/transfer/complete   (warm: the consulted agent takes it)
    POST /api/agent/calls/{call}/transfer/cancel     (warm: back to the customer)
    GET  /api/agent/transfer/targets                 queues and available agents, by name

Cold goes to a queue, a named agent or a number; warm consults an available agent while
the customer is on hold. What the agent hands over (the notes in the body, else the ones
saved on the call when it sends none) is kept with the call for the next agent's whisper
and screen pop (`ivr.voice.transfer`). Errors: 400 bad input, 404 no such call, 409 not theirs / not
connected / refused (with the reason, or the caller not in the call yet), 502 Twilio's
API failed after retries.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import asdict
from typing import Any

from starlette.exceptions import HTTPException
from twilio.base.exceptions import TwilioRestException

from ivr.core import numbers
from ivr.core.errors import (
    CallControlError,
    RoutingError,
    TransferRefused,
    UnknownAgent,
    UnknownQueue,
)
from ivr.core.telephony import REST_ERRORS
from ivr.service import Services
from ivr.voice import handoff
from ivr.voice import transfer as voice
from ivr.web import labels
from queues.agent import AVAILABLE, ON_CALL, AgentState

KINDS = ("queue", "agent", "number")
CONSULT_REASON = "consult"
"""Routing's reason of an agent on a call they are consulted about (consult_start.lua)."""
NOTES_MAX = 4000
TWILIO_FAILED = "Twilio's API failed, so the transfer may be incomplete: {error}"
NOT_FOUND = 404
NOT_ON_THE_LINE = "the caller is not in the call (not yet, or no longer): try again in a moment"
"""Twilio knows no such participant: the caller has not joined the conference yet (the
first second of a call) or has just left it. A consultation is undone first."""


async def targets(svc: Services, agent: str) -> dict[str, Any]:
    """Where the agent can transfer to: every queue by display name (with how many agents
    take its calls now), and the other agents who are available, by name."""
    config = svc.registry.current
    queues = [
        {"id": q, "name": labels.queue_name(config, q), "staffed": await svc.router.staffed(q)}
        for q in sorted(config.queues, key=lambda q: labels.queue_name(config, q))
    ]
    others = sorted(a for a in config.agents if a != agent)
    states = await svc.router.agent_states(others)
    agents = [
        {"id": a, "name": config.agents[a].name}
        for a, s in states.items()
        if s.state == AVAILABLE and not s.held
    ]
    return {"queues": queues, "agents": sorted(agents, key=lambda a: a["name"])}


def parsed(data: dict[str, Any]) -> tuple[str, str, bool, str | None]:
    """(to, target, warm, notes) of a transfer's body; 400 when one is wrong."""
    to, target, warm = data.get("to"), data.get("target"), data.get("warm", False)
    notes = data.get("notes")
    if to not in KINDS:
        raise HTTPException(400, "`to` must be queue, agent or number")
    if not isinstance(target, str) or not target.strip() or len(target) > 64:
        raise HTTPException(400, "`target` must name a queue, an agent or a phone number")
    if not isinstance(warm, bool):
        raise HTTPException(400, "`warm` must be true or false")
    if warm and to != "agent":
        raise HTTPException(400, "a warm transfer consults an agent: `to` must be agent")
    if notes is not None and not isinstance(notes, str):
        raise HTTPException(400, "`notes` must be a string")
    if to == "number":
        number = numbers.e164(target.strip(), valid=True)
        if number is None:
            raise HTTPException(400, f"{target!r} is not a phone number (use +country code)")
        target = number
    return str(to), target.strip(), warm, None if notes is None else notes[:NOTES_MAX]


async def start(svc: Services, agent: str, call_sid: str, data: dict[str, Any]) -> dict[str, Any]:
    """Transfer the agent's connected call as the body asks (cold, or a warm consult)."""
    to, target, warm, notes = parsed(data)
    await theirs(svc, agent, call_sid)
    # The notes sent, else those saved on the call (the page may send its box emptied by a
    # view read just before its own save landed).
    given = notes or await saved_notes(svc, agent, call_sid)
    async with refusals():
        if warm:
            await voice.consult(svc, call_sid, agent, target, given)
        else:
            await voice.cold(svc, call_sid, agent, to, target, given)
    return {"call": call_sid, "to": to, "target": target, "warm": warm}


async def complete(svc: Services, agent: str, call_sid: str) -> dict[str, Any]:
    """The consulted agent takes the call; this agent leaves it and wraps up."""
    await theirs(svc, agent, call_sid)
    async with refusals():
        await voice.consult_complete(svc, call_sid, agent)
    return {"call": call_sid, "completed": True}


async def cancel(svc: Services, agent: str, call_sid: str) -> dict[str, Any]:
    """The consultation ends; the agent is back with the customer, off hold."""
    await theirs(svc, agent, call_sid)
    async with refusals():
        await voice.consult_cancel(svc, call_sid, agent)
    return {"call": call_sid, "cancelled": True}


async def theirs(svc: Services, agent: str, call_sid: str) -> None:
    """404 for a call routing does not know (another workspace's among them), 409 for a
    call that is not this agent's (as the call controls answer)."""
    routed = await svc.router.call(call_sid)
    if routed is None:
        raise HTTPException(404, "no such call")
    if routed.agent != agent:
        raise HTTPException(409, "that call is not yours")


async def saved_notes(svc: Services, agent: str, call_sid: str) -> str:
    """The notes the agent saved on this call in the console ("" when none)."""
    record: dict[str, str] = await svc.redis.hgetall(svc.keys.console_call(agent))  # type: ignore[assignment]
    return record.get("notes", "") if record.get("call") == call_sid else ""


async def handoff_view(svc: Services, call_sid: str) -> list[dict[str, Any]]:
    """What earlier agents handed over with the call, for the screen pop (oldest first)."""
    return [asdict(h) for h in await handoff.handoffs(svc, call_sid)]


@contextlib.asynccontextmanager
async def refusals() -> AsyncIterator[None]:
    """Turn a refused or failed transfer into the API's answer: 400, 409 or 502."""
    try:
        yield
    except UnknownQueue as exc:
        raise HTTPException(400, f"there is no queue {exc}") from None
    except UnknownAgent as exc:
        raise HTTPException(400, f"there is no agent {exc}") from None
    except TransferRefused as exc:
        raise HTTPException(409, str(exc)) from None
    except CallControlError as exc:
        raise HTTPException(exc.status, exc.message) from None
    except RoutingError:
        raise HTTPException(409, "the call is not connected to you") from None
    except TwilioRestException as exc:
        if exc.status == NOT_FOUND:
            raise HTTPException(409, NOT_ON_THE_LINE) from None
        raise HTTPException(502, TWILIO_FAILED.format(error=exc)) from None
    except REST_ERRORS as exc:
        raise HTTPException(502, TWILIO_FAILED.format(error=exc)) from None


async def call_view(svc: Services, agent: str, call_sid: str) -> dict[str, Any]:
    """The console's view of a call's transfers: what earlier agents handed over to this
    one, whom the agent is consulting (the caller on hold), or who is consulting them, and
    whether the agent transferred it (their wrap-up then offers "Transferred")."""
    routed = await svc.router.call(call_sid)
    consulting = consulted_by = None
    if routed is not None and routed.agent == agent and routed.consult:
        consulting = named(svc, routed.consult)
    elif routed is not None and routed.consult == agent:
        consulted_by = named(svc, routed.agent)
    given = await handoff_view(svc, call_sid)
    # The agent's own handoff last, and the call no longer theirs: they handed it on.
    handed_on = bool(given) and given[-1]["agent"] == agent
    handed_on = handed_on and (routed is None or routed.agent != agent)
    while given and given[-1]["agent"] == agent:
        given.pop()  # what the agent handed on: not news to them
    return {
        "handoff": given,
        "consulting": consulting,
        "consulted_by": consulted_by,
        "transferred": handed_on,
    }


async def consulted_only(
    svc: Services, agent: str, record: dict[str, str], state: AgentState
) -> bool:
    """Whether the console's call record is of a call the agent was only consulted about
    (a warm transfer cancelled or never completed to them): it is not theirs to wrap up.
    While on the call the record is marked `consult` (routing's reason), and unmarked once
    the call is handed to them."""
    key = svc.keys.console_call(agent)
    if state.state == ON_CALL and record.get("call") == state.call_sid:
        consulted = state.reason == CONSULT_REASON
        if consulted != (record.get("consult") == "1"):
            await svc.redis.hset(key, "consult", "1" if consulted else "")
        return False
    return record.get("consult") == "1"


def named(svc: Services, agent: str) -> dict[str, str]:
    config = svc.registry.current.agents.get(agent)
    return {"agent": agent, "name": config.name if config else agent}
