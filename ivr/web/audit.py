"""The audit trail of supervisor actions: `SUPERVISOR` entries in the event stream.

Each names who acted (`by`, e.g. `supervisor:sam`), when (`ts`, service-clock ms) and
what: `reason` for floor actions (`break:<reason>`, `offline`, `priority 0 -> 50`),
`action` for monitoring (`monitor_listen`, `monitor_whisper`, `monitor_barge`,
`monitor_stop`), with the `agent` and `call` concerned.
"""

from __future__ import annotations

from typing import Any

from ivr.service import Services

SUPERVISOR_EVENT = "SUPERVISOR"


async def record(svc: Services, by: str, **fields: str) -> None:
    """Append one supervisor action to the event stream."""
    entry: dict[Any, Any] = {"type": SUPERVISOR_EVENT, "ts": str(int(svc.clock.now() * 1000))}
    entry.update(by=by, **fields)
    await svc.redis.xadd(svc.keys.events(), entry)
