"""What the service's texts cost: messages and carrier segments sent, by text and encoding.

Counted in the store (`Keys.metrics_sms_segments`) once Twilio accepted each message, so
every process adds to one total that `/metrics` reads (`ivr_sms_sent_total`,
`ivr_sms_segments_total`). A count is added after the send, not with it: a process killed
between the two leaves one message uncounted, never one counted twice. `ivr check` prices
the same texts ahead of time (`ivr.config.texting`).
"""

from __future__ import annotations

import redis.asyncio as aioredis

from ivr.core import segments
from ivr.core.keys import Keys


async def sent(redis: aioredis.Redis, keys: Keys, kind: str, body: str) -> None:
    """Count one message of text `kind` (`sms_confirm`, `survey_question`, ...) as sent."""
    cost = segments.count(body)
    async with redis.pipeline(transaction=True) as pipe:
        pipe.hincrby(keys.metrics_sms_segments(), f"messages|{kind}|{cost.encoding}", 1)
        pipe.hincrby(keys.metrics_sms_segments(), f"segments|{kind}|{cost.encoding}", cost.count)
        await pipe.execute()


async def totals(redis: aioredis.Redis, keys: Keys) -> dict[tuple[str, str, str], int]:
    """(`messages` or `segments`, kind, encoding) -> count, as counted so far."""
    raw = await redis.hgetall(keys.metrics_sms_segments())
    out = {}
    for field, value in raw.items():
        what, kind, encoding = str(field).split("|", 2)
        out[(what, kind, encoding)] = int(value)
    return out
