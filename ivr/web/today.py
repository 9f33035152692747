"""Today's numbers for the console pages: small folds over the routing event stream.

"Today" starts at midnight in the company's time zone. Definitions (see
docs/console.md):

* handled: COMPLETEAGENT + COMPLETECALLER events of the agent, and the TRANSFERs with
  which they handed a call on (each ends a handle, with its talk: docs/metrics.md).
* AHT: (talk + after-call work) / handled. After-call work runs from the
  agent's `wrap_up` AGENTSTATUS to its next AGENTSTATUS.
* FRT share: the share of the agent's answered inbound calls whose first response
  time (CONNECT `original_wait_ms`: arrival to agent) was within the queue's
  `service_level_s`. A callback's CONNECT is no inbound answer (its wait is virtual:
  the customer is not on the line), as in the reports (docs/metrics.md); nor is the
  CONNECT of a transferred call (marked `transfer`: the caller was answered before).
* CES: the mean of the survey scores (`Keys.survey_scores`) of handled calls.

A queue's figures today (service level, answered, abandoned) are not folded
here: the floor view reads the fold's rollups (`queues.metrics.rollups.read_today`), as
the reports page and `/metrics` do.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from ivr.service import Services
from queues.events import Event, EventType
from queues.metrics.fold_events import CALLBACK_PREFIX

MAX_EVENTS = 200_000
BATCH = 1000
"""A day's events read at most (far beyond a day of a mid-size floor)."""
COMPLETED = frozenset({EventType.COMPLETEAGENT, EventType.COMPLETECALLER, EventType.TRANSFER})
KNOWN = frozenset(t.value for t in EventType)


def start_of_day_ms(svc: Services) -> int:
    zone = ZoneInfo(svc.registry.current.company.timezone)
    now = datetime.fromtimestamp(svc.clock.now(), zone)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    return int(midnight.timestamp() * 1000)


async def events_today(svc: Services) -> list[Event]:
    """Today's routing events, oldest first (other entries, such as SUPERVISOR, are skipped).

    Read newest first by their `ts` (the service clock), not by stream id (the
    store's clock), until one from before midnight.
    """
    start, top = start_of_day_ms(svc), "+"
    found: list[tuple[str, dict[str, str]]] = []
    while len(found) < MAX_EVENTS:
        batch: list[tuple[str, dict[str, str]]] = await svc.redis.xrevrange(
            svc.keys.events(), max=top, count=BATCH
        )  # type: ignore[assignment]
        for eid, data in batch:
            if int(data.get("ts", "0")) < start:
                return _known(reversed(found))
            found.append((eid, data))
        if len(batch) < BATCH:
            break
        top = f"({batch[-1][0]}"
    return await inbound(svc, _known(reversed(found)))


async def inbound(svc: Services, events: list[Event]) -> list[Event]:
    """The events without callbacks' CONNECTs: a callback's routing entry (`CB…`) or a
    customer-first callback's leg (`Keys.callback_leg`) is answered, but no inbound call."""
    connects = sorted({e.get("call") for e in events if e.type == EventType.CONNECT})
    legs = [c for c in connects if not c.startswith(CALLBACK_PREFIX)]
    found = await svc.redis.mget([svc.keys.callback_leg(c) for c in legs]) if legs else []
    callbacks = {c for c in connects if c.startswith(CALLBACK_PREFIX)}
    callbacks |= {c for c, cb in zip(legs, found, strict=True) if cb}
    return [e for e in events if e.type != EventType.CONNECT or e.get("call") not in callbacks]


def _known(entries: Iterable[tuple[str, dict[str, str]]]) -> list[Event]:
    return [
        Event(id=eid, type=EventType(data["type"]), ts_ms=int(data["ts"]), fields=data)
        for eid, data in entries
        if data.get("type") in KNOWN
    ]


@dataclass
class AgentDay:
    handled: int = 0
    talk_ms: int = 0
    wrap_ms: int = 0
    answered: int = 0
    within_sl: int = 0
    missed: int = 0
    calls: list[str] = field(default_factory=list)
    wrap_started: int | None = None

    def add(self, event: Event, sl_ms: int) -> None:
        if event.type in COMPLETED:
            self.handled += 1
            self.talk_ms += int(event.get("talk_ms", "0") or 0)
            self.calls.append(event.get("call"))
        elif event.type == EventType.CONNECT and event.get("transfer") != "1":
            self.answered += 1
            self.within_sl += int(event.get("original_wait_ms", "0") or 0) <= sl_ms
        elif event.type == EventType.RINGNOANSWER:
            self.missed += 1
        elif event.type == EventType.AGENTSTATUS:
            self._status(event)

    def _status(self, event: Event) -> None:
        if self.wrap_started is not None:
            self.wrap_ms += event.ts_ms - self.wrap_started
            self.wrap_started = None
        if event.get("reason") == "wrap_up":
            self.wrap_started = event.ts_ms


def agent_days(svc: Services, events: list[Event]) -> dict[str, AgentDay]:
    """Each agent's day so far, by agent id."""
    queues = svc.registry.current.queues
    days: dict[str, AgentDay] = defaultdict(AgentDay)
    for event in events:
        agent = event.get("agent")
        if agent:
            queue = queues.get(event.get("queue"))
            sl_ms = (queue.service_level_s if queue else 20) * 1000
            days[agent].add(event, sl_ms)
    return days


async def agent_stats(svc: Services, day: AgentDay) -> dict[str, float | int | None]:
    """The agent console's personal numbers for today."""
    scores = await ces_of(svc, day.calls)
    return {
        "handled": day.handled,
        "aht_s": round((day.talk_ms + day.wrap_ms) / day.handled / 1000, 1)
        if day.handled
        else None,
        "frt_share": round(day.within_sl / day.answered, 3) if day.answered else None,
        "ces": round(sum(scores) / len(scores), 2) if scores else None,
        "missed": day.missed,
    }


async def ces_of(svc: Services, calls: list[str]) -> list[float]:
    if not calls:
        return []
    raw = await svc.redis.hmget(svc.keys.survey_scores(), calls)
    return [float(v) for v in raw if v not in (None, "")]
