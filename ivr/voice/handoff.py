"""What an agent hands over with a call they transfer, and what the next agent hears of it.

The notes of the agent who transferred the call are kept with it (`Keys.call_handoff`,
as long as the call session), so the next agent's whisper (`whisper`) and screen pop
(`ivr.web.transfer`) carry them with the IVR data, which stays in the call's session
(the same CallSid): nobody asks the caller again.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from ivr.service import Services

NOTES_SPOKEN = 300
"""How much of the notes the whisper reads out (the screen pop shows them all)."""


@dataclass(frozen=True)
class Handoff:
    """What one agent handed over with a call they transferred."""

    agent: str
    name: str
    notes: str
    kind: str
    """queue | agent | number | consult (a warm transfer's consultation)."""
    target: str
    at: float


async def hand_over(
    svc: Services, call_sid: str, agent: str, notes: str, kind: str, target: str
) -> Handoff:
    """Keep what `agent` hands over with `call_sid` (their notes), for the next agent."""
    config = svc.registry.current.agents.get(agent)
    handoff = Handoff(
        agent=agent,
        name=config.name if config else agent,
        notes=notes.strip(),
        kind=kind,
        target=target,
        at=svc.clock.now(),
    )
    key = svc.keys.call_handoff(call_sid)
    async with svc.redis.pipeline(transaction=True) as pipe:
        pipe.rpush(key, json.dumps(asdict(handoff)))
        pipe.expire(key, svc.calls.ttl_s)
        await pipe.execute()
    return handoff


async def withdraw(svc: Services, call_sid: str) -> None:
    """Drop the last handoff if it is a consultation's (cancelled: nothing was handed on)."""
    key = svc.keys.call_handoff(call_sid)
    last: list[str] = await svc.redis.lrange(key, -1, -1)  # type: ignore[assignment]
    if last and json.loads(last[0]).get("kind") == "consult":
        await svc.redis.rpop(key)


async def handoffs(svc: Services, call_sid: str) -> list[Handoff]:
    """What every agent who transferred the call handed over, oldest first."""
    raws: list[str] = await svc.redis.lrange(svc.keys.call_handoff(call_sid), 0, -1)  # type: ignore[assignment]
    return [Handoff(**json.loads(raw)) for raw in raws]


def spoken(handoff: Handoff) -> str:
    """The whisper's words for one handoff: who transferred the call, and their notes."""
    said = f"Transferred by {handoff.name}"
    notes = " ".join(handoff.notes.split()).rstrip(" .")
    if len(notes) > NOTES_SPOKEN:
        notes = notes[:NOTES_SPOKEN].rsplit(" ", 1)[0] + " and more on screen"
    return f"{said}. Notes: {notes}" if notes else f"{said}, no notes"


async def whisper(svc: Services, call_sid: str, text: str) -> str:
    """The offer's whisper `text`, with the latest handoff first for a transferred call."""
    given = await handoffs(svc, call_sid)
    if not given:
        return text
    return f"{spoken(given[-1])}. {text}"
