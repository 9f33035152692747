"""The Twilio Queue resources of callers' own queues, deleted once their caller is out.

Each caller waits in a Twilio queue of their own (`ivr.voice.queue.queue_name`). Twilio
creates a Queue resource for every name it has not seen and keeps it until it is
deleted ("Queues persist"), so without this an account gains one resource per call,
for ever. The Enqueue action (`/voice/queue/done`) names the QueueSid the caller just
left, whatever its QueueResult (bridged, hangup, leave, redirected...): that queue is
released. Hold fetches and the bridge's Queue url name it too, and are noted, so the
call's final status callback releases every queue the call was in, should that action
have been lost (a web process down when it came). An agent's `<Dial><Queue>` action
(`/voice/agent/done`) releases the queue it names as well: a dial that came after the
caller's queue was deleted made it again.

No deletion is on a caller's path: `release` makes it due in a sorted set, and the
background loop (`pump`) makes the REST requests, one process claiming each with a lease
(`ivr.core.lease`): a deletion whose process died before it was over is made by another
`DELETE_LEASE_S` later. A 404 is
a queue already gone: done. A transient API error (5xx, 429, a timeout) or a 400 (the
caller is back in the queue: rejoined after a failed bridge, or moved to another queue,
and Twilio deletes only empty queues) is tried again later with backoff, up to
`MAX_TRIES`; when the call then ends, its release makes the deletion due at once again.
"""

from __future__ import annotations

from collections.abc import Mapping

from twilio.base.exceptions import TwilioRestException

from ivr.core import lease, logs
from ivr.core.telephony import REST_ERRORS, REST_TIMEOUT_S, transient
from ivr.service import Services

log = logs.get(__name__)

RETRY_BASE_S = 5.0
"""The first retry of a failed deletion waits about this long; each next one doubles."""
RETRY_MAX_S = 300.0
MAX_TRIES = 12
"""Deletions tried before one is given up (about 35 minutes of backoff)."""
SEEN_TTL_S = 86400
"""How long the queues a call was in are remembered: longer than any call lasts."""
DELETE_LEASE_S = REST_TIMEOUT_S + 1.0
"""How long a process's claim on a due deletion lasts: longer than its REST request."""
CLAIM_BATCH = 50
"""At most this many deletions per pass, so one pass never holds the loop long."""


async def note(svc: Services, call_sid: str, form: Mapping[str, str]) -> None:
    """Remember the queue a request about `call_sid` names (QueueSid), for `call_over`."""
    queue_sid = form.get("QueueSid", "")
    if not queue_sid:
        return
    key = svc.keys.queue_sids(call_sid)
    async with svc.redis.pipeline(transaction=False) as pipe:
        pipe.sadd(key, queue_sid)
        pipe.expire(key, SEEN_TTL_S)
        await pipe.execute()


async def release(svc: Services, queue_sid: str) -> None:
    """Have Twilio's queue `queue_sid` deleted now (sooner, if a retry was due later)."""
    if queue_sid:
        await svc.redis.zadd(svc.keys.queue_deletes(), {queue_sid: svc.clock.now()}, lt=True)


async def left(svc: Services, call_sid: str, form: Mapping[str, str]) -> None:
    """The caller left the queue an Enqueue action names: note it and release it."""
    await note(svc, call_sid, form)
    await release(svc, form.get("QueueSid", ""))


async def call_over(svc: Services, call_sid: str) -> None:
    """The call ended: release every queue it was seen in."""
    key = svc.keys.queue_sids(call_sid)
    sids: set[str] = await svc.redis.smembers(key)  # type: ignore[assignment]
    for queue_sid in sorted(sids):
        await release(svc, queue_sid)
    await svc.redis.delete(key)


async def pump(svc: Services) -> int:
    """Make the deletions due now, each claimed by one process; how many were claimed."""
    key = svc.keys.queue_deletes()
    due: list[str] = await svc.redis.zrangebyscore(  # type: ignore[assignment]
        key, "-inf", svc.clock.now(), start=0, num=CLAIM_BATCH
    )
    now = svc.clock.now()
    claimed = [sid for sid in due if await lease.take(svc.redis, key, sid, now, DELETE_LEASE_S)]
    for queue_sid in claimed:
        await delete(svc, queue_sid)
    return len(claimed)


async def delete(svc: Services, queue_sid: str) -> None:
    """One try at deleting a queue; a failure worth retrying is made due again later."""
    try:
        await svc.rest(lambda c: c.queues(queue_sid).delete())
    except REST_ERRORS as exc:
        if not (isinstance(exc, TwilioRestException) and exc.status == 404):
            await failed(svc, queue_sid, exc)
            return
    await done(svc, queue_sid)


async def done(svc: Services, queue_sid: str) -> None:
    """The queue is deleted (or given up): nothing more is due for it."""
    await svc.redis.zrem(svc.keys.queue_deletes(), queue_sid)
    await svc.redis.hdel(svc.keys.queue_delete_tries(), queue_sid)


async def failed(svc: Services, queue_sid: str, exc: Exception) -> None:
    """Retry with backoff and jitter, while it may still succeed and tries are left."""
    code = getattr(exc, "code", None)
    tries = int(await svc.redis.hincrby(svc.keys.queue_delete_tries(), queue_sid, 1))
    not_empty = isinstance(exc, TwilioRestException) and exc.status == 400
    if tries >= MAX_TRIES or not (transient(exc) or not_empty):
        log.warning("could not delete a Twilio queue", queue=queue_sid, code=code, tries=tries)
        await done(svc, queue_sid)
        return
    delay = min(RETRY_MAX_S, RETRY_BASE_S * 2 ** (tries - 1)) * (0.5 + svc.rng.random() / 2)
    at = svc.clock.now() + delay
    await svc.redis.zadd(svc.keys.queue_deletes(), {queue_sid: at}, xx=True)  # for the claim
    log.info(
        "deleting a Twilio queue failed; retrying", queue=queue_sid, code=code, in_s=round(delay, 1)
    )
