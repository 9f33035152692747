"""One INFO line per Twilio webhook: which call, which endpoint, which step, what came of it.

    webhook  endpoint=menu call=CA1f... step=2 status=200 outcome=gather ms=12.5

`WebhookLog` is a pure ASGI middleware on the routes of `ivr.core.urls.PATHS`. It
copies the request body as the endpoint reads it (no second read, nothing buffered
that the endpoint did not ask for) to find the call's SID, even on a request refused
with 403, and the first bytes of the answer to name its outcome: the last top-level
TwiML verb (what the call does next: `gather`, `enqueue`, `dial`, `redirect`,
`hangup`), `noted` for an empty 204, `refused` for a 4xx and `failed` for a 5xx
(the one case logged at WARNING). The ids our own URLs carry are named too: on an
agent's leg, `for_call` is the caller's call, so one grep for a caller's SID finds
both sides. No number, form field or header is logged, and no value that is not of
an id's form; the line goes through the masking all lines do (`ivr.core.logs`).

While the endpoint runs, the SID is bound to the request's logging context, so every
other line it logs (and uvicorn's access line) carries `call=CA...` as well.
"""

from __future__ import annotations

import contextlib
import contextvars
import re
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs
from xml.etree import ElementTree

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ivr.core import logs
from ivr.core.urls import PATHS, route_path

log = logs.get(__name__)

ENDPOINTS = {path: name for name, path in PATHS.items()}
"""Webhook path -> route name, the `endpoint` of the line."""
SID = re.compile(r"[A-Z]{2}[0-9a-fA-F]{32}")
"""A Twilio SID: anything else in the SID field (a forgery's junk) is not logged."""
SID_FIELDS = (("CallSid", "call"), ("MessageSid", "message"))
ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
"""An id of ours in a query (a SID, a reservation, a callback): nothing else is logged."""
QUERY_IDS = (("call", "for_call"), ("res", "reservation"), ("cb", "callback"))
KEPT_BYTES = 64 * 1024
"""Of the request and of the answer, what is kept to read the SID and the TwiML from."""
MAX_COUNTER_DIGITS = 9
REFUSALS = {400: "refused: unreadable", 403: "refused: signature", 413: "refused: too large"}


class Exchange:
    """What one webhook request and its answer showed, as they went through."""

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.request = bytearray()
        self.answer = bytearray()
        self.status = 500  # an exception that escapes before an answer is a 500
        self.bound: Mapping[str, contextvars.Token[Any]] = {}

    def receiving(self, receive: Receive) -> Receive:
        async def wrapped() -> Message:
            message = await receive()
            if message["type"] != "http.request":
                return message
            if len(self.request) < KEPT_BYTES:
                self.request += message.get("body", b"")[: KEPT_BYTES - len(self.request)]
            if not message.get("more_body", False) and not self.bound:
                # Awaited by the endpoint, in its context: its own lines carry the SID too.
                self.bound = structlog.contextvars.bind_contextvars(**self.sids())
            return message

        return wrapped

    def unbind(self) -> None:
        with contextlib.suppress(ValueError):  # bound in another task's context: gone with it
            structlog.contextvars.reset_contextvars(**self.bound)

    def sending(self, send: Send) -> Send:
        async def wrapped(message: Message) -> None:
            if message["type"] == "http.response.start":
                self.status = int(message["status"])
            elif message["type"] == "http.response.body" and len(self.answer) < KEPT_BYTES:
                self.answer += message.get("body", b"")
            await send(message)

        return wrapped

    def sids(self) -> dict[str, str]:
        """The call's (or message's) SID from the form, if it is one."""
        form = parse_qs(self.request.decode("utf-8", "replace"))  # at most KEPT_BYTES
        found = {}
        for field, label in SID_FIELDS:
            value = form.get(field, [""])[0]
            if SID.fullmatch(value):
                found[label] = value
        return found

    def outcome(self) -> str:
        """What came of the request, in a word or two (see the module docstring)."""
        if self.status >= 500:
            return "failed"
        if self.status >= 400:
            return REFUSALS.get(self.status, "refused")
        if not self.answer:
            return "noted"
        return last_verb(bytes(self.answer))


def last_verb(twiml: bytes) -> str:
    """The last top-level verb of a TwiML answer, lower-cased; `nothing` for an empty
    `<Response/>` (Twilio hangs up), `answered` for anything that is not TwiML."""
    try:
        root = ElementTree.fromstring(twiml)  # noqa: S314 (our own answer, not input)
    except ElementTree.ParseError:
        return "answered"
    verbs = [child.tag.lower() for child in root]
    return verbs[-1] if verbs else "nothing"


def from_query(scope: Scope) -> dict[str, str | int | None]:
    """From the query string: the `step` of a menu webhook (None for others), a callback
    dial's `attempt`, and the ids our own URLs carry (the caller's call on an agent's leg,
    the reservation, the callback). A value not of the expected form is left out."""
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    found: dict[str, str | int | None] = {"step": None}
    for name in ("step", "attempt"):
        value = query.get(name, [""])[0]
        if value.isascii() and value.isdigit() and len(value) <= MAX_COUNTER_DIGITS:
            found[name] = int(value)
    for name, label in QUERY_IDS:
        value = query.get(name, [""])[0]
        if ID.fullmatch(value):
            found[label] = value
    return found


class WebhookLog:
    """Logs each Twilio webhook request once, when its answer has gone (pure ASGI).

    Add it with `Starlette(..., middleware=[Middleware(access.WebhookLog)])`.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = route_path(scope.get("path", "")) if scope["type"] == "http" else ""
        endpoint = ENDPOINTS.get(path)
        if endpoint is None:
            await self.app(scope, receive, send)
            return
        seen = Exchange()
        try:
            await self.app(scope, seen.receiving(receive), seen.sending(send))
        finally:
            write(endpoint, scope, seen)
            seen.unbind()


def write(endpoint: str, scope: Scope, seen: Exchange) -> None:
    """The webhook's line: INFO, or WARNING when it failed with a 5xx."""
    fields = {
        "endpoint": endpoint,
        **seen.sids(),
        **from_query(scope),
        "status": seen.status,
        "outcome": seen.outcome(),
        "ms": round((time.perf_counter() - seen.started) * 1000, 1),
    }
    (log.warning if seen.status >= 500 else log.info)("webhook", **fields)
