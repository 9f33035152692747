"""Call sessions: each call's IVR state in the store, keyed by CallSid, with a TTL.

A session records the node the caller is at, their language, retry counters,
the data collected, the path taken and the config version the call started
on. Every gather/record action carries the session's `step`; a webhook for a
step that was already handled (a Twilio retry) gets the TwiML that was
returned the first time, and changes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.client import Pipeline
from redis.exceptions import WatchError

from ivr.keys import Keys


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
        return json.dumps(asdict(self), ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> CallSession:
        raw: dict[str, Any] = json.loads(text)
        known = {k: v for k, v in raw.items() if k in cls.__dataclass_fields__}
        return cls(**known)


FINAL_STATUSES = frozenset({"completed", "busy", "failed", "no-answer", "canceled"})


class CallStore:
    """Reads and writes call sessions atomically."""

    def __init__(self, redis: aioredis.Redis, keys: Keys, ttl_s: int) -> None:
        self.redis = redis
        self.keys = keys
        self.ttl_s = ttl_s

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
        effects: Callable[[Pipeline], object] | None = None,
    ) -> str:
        """Store `session` if the call is still at `handled_step` (None: a new call).

        `effects` adds more writes to the same transaction (a voicemail record),
        so they happen exactly once with the step. Returns the TwiML to answer
        with: `twiml` when this request won, or the response stored by the
        request that handled the step first.
        """
        key = self.keys.call(session.sid)
        responses = self.keys.call_responses(session.sid)
        field_name = str(handled_step if handled_step is not None else 0)
        async with self.redis.pipeline(transaction=True) as pipe:
            try:
                await pipe.watch(key)
                current = await pipe.get(key)
                if not _may_commit(None if current is None else str(current), handled_step):
                    await pipe.unwatch()  # type: ignore[no-untyped-call]
                    return await self.response_for(session.sid, int(field_name)) or twiml
                pipe.multi()  # type: ignore[no-untyped-call]
                pipe.set(key, session.to_json(), ex=self.ttl_s)
                pipe.hset(responses, field_name, twiml)
                pipe.expire(responses, self.ttl_s)
                if effects is not None:
                    effects(pipe)
                await pipe.execute()
            except WatchError:
                return await self.response_for(session.sid, int(field_name)) or twiml
        return twiml

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

    async def status(self, sid: str) -> dict[str, str]:
        """What the status callbacks have told us about the call."""
        result = await self.redis.hgetall(self.keys.call_status(sid))
        return {str(k): str(v) for k, v in result.items()}


def _may_commit(current: str | None, handled_step: int | None) -> bool:
    if handled_step is None:
        return current is None
    return current is not None and CallSession.from_json(current).step == handled_step
