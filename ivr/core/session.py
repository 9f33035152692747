"""Call sessions: each call's IVR state in the store, keyed by CallSid, with a TTL.

A session records the node the caller is at, their language, retry counters,
the data collected, the path taken and the config version the call started
on. Every gather/record action carries the session's `step`; a webhook for a
step that was already handled (a Twilio retry) gets the TwiML that was
returned the first time, and changes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis

from ivr.core import lua
from ivr.core.keys import Keys


@dataclass
class CallSession:
    """What the service remembers about one call."""

    sid: str
    caller: str
    called: str
    started_at: float
    config_version: str
    language: str
    node: str = ""
    home: str = ""
    step: int = 0
    no_input: int = 0
    invalid: int = 0
    caller_name: str | None = None
    stack: list[str] = field(default_factory=list)
    seen: list[str] = field(default_factory=list)
    path: list[str] = field(default_factory=list)
    data: dict[str, str] = field(default_factory=dict)
    queue: str | None = None
    priority: int = 0
    outcome: str | None = None

    def to_json(self) -> str:
        # vars() rather than asdict(): no deep copy, and every field is JSON already.
        return json.dumps(vars(self), ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> CallSession:
        raw: dict[str, Any] = json.loads(text)
        known = {k: v for k, v in raw.items() if k in cls.__dataclass_fields__}
        return cls(**known)


FINAL_STATUSES = frozenset({"completed", "busy", "failed", "no-answer", "canceled"})
LEG_ORDER = {"queued": 0, "initiated": 0, "ringing": 1, "in-progress": 2}
"""A status's place in a leg's life, for an event that carries no SequenceNumber."""


Record = tuple[str, dict[str, str]]
"""A stream key and the fields of one entry to append to it."""


class CallStore:
    """Reads and writes call sessions atomically."""

    def __init__(self, redis: aioredis.Redis, keys: Keys, ttl_s: int) -> None:
        self.redis = redis
        self.keys = keys
        self.ttl_s = ttl_s
        self._commit = redis.register_script(lua.read("ivr.core", "call_commit"))
        self._leg_event = redis.register_script(lua.read("ivr.core", "leg_event"))

    async def get(self, sid: str) -> CallSession | None:
        text = await self.redis.get(self.keys.call(sid))
        return CallSession.from_json(str(text)) if text else None

    async def response_for(self, sid: str, step: int) -> str | None:
        """The TwiML already returned for `step` of this call, if any."""
        result = await self.redis.hget(self.keys.call_responses(sid), str(step))
        return None if result is None else str(result)

    async def commit(
        self,
        session: CallSession,
        handled_step: int | None,
        twiml: str,
        record: Record | None = None,
    ) -> str:
        """Store `session` if the call is still at `handled_step` (None: a new call).

        `record` (a stream key and its fields, e.g. a voicemail) is appended in
        the same atomic step, so it happens exactly once. Returns the TwiML to
        answer with: `twiml` when this request won, or the response stored by
        the request that handled the step first. One round trip (a Lua script).
        """
        keys = [self.keys.call(session.sid), self.keys.call_responses(session.sid)]
        step = "new" if handled_step is None else str(handled_step)
        args: list[str] = [step, session.to_json(), str(handled_step or 0), twiml, str(self.ttl_s)]
        if record is not None:
            keys.append(record[0])
            args += [part for pair in record[1].items() for part in pair]
        won, stored = await self._commit(keys=keys, args=args)
        return twiml if won else (str(stored) if stored else twiml)

    async def record_status(self, sid: str, form: dict[str, str]) -> bool:
        """Apply a status callback once (by SequenceNumber, else by status); False if seen."""
        key = self.keys.call_status(sid)
        mark = form.get("SequenceNumber") or form.get("CallStatus", "")
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hsetnx(key, f"seen:{mark}", form.get("Timestamp", "1"))
            pipe.expire(key, self.ttl_s)
            first, _ = await pipe.execute()
        if not first:
            return False
        if form.get("CallStatus") in FINAL_STATUSES:
            fields: dict[str | bytes, str | bytes] = {
                "status": form["CallStatus"],
                "duration_s": form.get("CallDuration", ""),
            }
            await self.redis.hset(key, mapping=fields)  # type: ignore[arg-type]
        return True

    async def leg_event(self, sid: str, form: Mapping[str, str]) -> bool:
        """Whether a status callback of leg `sid` is news: not a repeat, not after the leg's
        final status, not older (by SequenceNumber) than one already taken. One atomic step."""
        status, seq = form.get("CallStatus", ""), form.get("SequenceNumber", "")
        if not (seq.isascii() and seq.isdigit()):  # "²" is a digit to Python, not to Lua
            seq = ""
        final = status in FINAL_STATUSES
        order = seq or str(LEG_ORDER.get(status, len(LEG_ORDER)))
        args = [seq or status, order, "1" if final else "0", status, str(self.ttl_s)]
        return bool(await self._leg_event(keys=[self.keys.call_status(sid)], args=args))

    async def status(self, sid: str) -> dict[str, str]:
        """What the status callbacks have told us about the call."""
        result = await self.redis.hgetall(self.keys.call_status(sid))
        return {str(k): str(v) for k, v in result.items()}
