"""Live updates for the console pages: server-sent events fed by the routing event stream.

Each open page holds one `GET /api/live` connection. The server blocks on
`XREAD` of `Keys.events()` and forwards every new event (type, agent, call,
queue) as an SSE message; the page then re-reads its view through the JSON
API. Nothing polls: a quiet floor costs one blocked read per page.

An agent's open connection also keeps a presence key alive: while it exists,
`ivr.voice.offers.ring` shows offers in the console instead of ringing the device
(`ivr.voice.presence`).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from ivr.core import logs
from ivr.core.outage import is_outage
from ivr.service import Services, services
from ivr.voice import presence
from ivr.web import auth

log = logs.get(__name__)
BLOCK_MS = 2000
"""How long one XREAD waits; a keep-alive comment is sent after each quiet wait."""
ROUNDS_PER_CONNECTION = 30
"""A stream ends after this many waits (about a minute) and the browser reconnects,
so a server shutting down never waits on a page left open."""
RETRY_MS = 1000
FORWARDED = ("type", "agent", "call", "queue", "reason", "by")


async def stream(request: Request) -> Response:
    """`text/event-stream` of routing events for a logged-in agent or supervisor."""
    principal = await auth.require(request)
    svc = services(request)
    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    return StreamingResponse(
        _events(svc, principal), media_type="text/event-stream", headers=headers
    )


async def _events(svc: Services, principal: auth.Principal) -> AsyncIterator[str]:
    """The stream, ended quietly by a store outage (one warning, no traceback): the
    response has started, so it cannot become a 503, and the page reconnects after
    `RETRY_MS` (getting a 503 until the store is back)."""
    try:
        async for message in _forward(svc, principal):
            yield message
    except Exception as exc:
        if not is_outage(exc):
            raise
        log.warning("live stream ended: the store is unavailable", error=str(exc))


async def _forward(svc: Services, principal: auth.Principal) -> AsyncIterator[str]:
    agent = principal.user if principal.kind == auth.AGENT else ""
    last = await _last_id(svc)
    yield f"retry: {RETRY_MS}\nevent: hello\ndata: {{}}\n\n"
    for _ in range(ROUNDS_PER_CONNECTION):
        if agent:
            await presence.mark_present(svc, agent)
        found: list[tuple[str, list[tuple[str, dict[str, str]]]]] = await svc.redis.xread(
            {svc.keys.events(): last}, count=100, block=BLOCK_MS
        )  # type: ignore[assignment]  # decode_responses=True: str, in RESP2 list form
        if not found:
            yield ": keep-alive\n\n"
            continue
        for entry_id, fields in found[0][1]:
            last = entry_id
            data = {k: fields[k] for k in FORWARDED if k in fields}
            yield f"event: change\nid: {entry_id}\ndata: {json.dumps(data)}\n\n"


async def _last_id(svc: Services) -> str:
    """The id of the newest event, so the stream starts from now (`$` could skip one)."""
    newest = await svc.redis.xrevrange(svc.keys.events(), count=1)
    return str(newest[0][0]) if newest else "0-0"


routes = [Route("/api/live", stream, methods=["GET"])]
