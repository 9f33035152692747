"""A canned-TwiML Starlette app and fixtures for the emulator's own fidelity tests.

Each test routes paths to fixed TwiML (or to a function of the request) and
then reads `app.hits` to see exactly what the emulator sent, including whether
the X-Twilio-Signature validates against the public URL.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from twilio.request_validator import RequestValidator

from ivr.core.clock import ManualClock
from ivr.devtools.emulator import Emulator
from ivr.devtools.liveserver import LiveServer

PUBLIC = "https://ivr.example.com"
TOKEN = "secret"
BUSINESS = "+60312345678"
CALLER = "+60123456789"


@dataclass(frozen=True)
class Hit:
    """One request the app received."""

    method: str
    path: str
    query: str
    params: dict[str, str]
    signed: bool


Responder = str | Callable[[Hit], str | Response]


def twiml(body: str) -> str:
    """Wrap verbs in a <Response>."""
    return f"<Response>{body}</Response>"


class CannedApp:
    """Answers each path with its responder and records every request."""

    def __init__(self) -> None:
        self.routes: dict[str, Responder] = {}
        self.hits: list[Hit] = []
        self.asgi = Starlette(
            routes=[Route("/{path:path}", self._endpoint, methods=["GET", "POST"])]
        )

    def reset(self) -> None:
        self.routes.clear()
        self.hits.clear()

    def route(self, path: str, responder: Responder) -> None:
        self.routes[path] = responder

    def hits_to(self, path: str) -> list[Hit]:
        return [h for h in self.hits if h.path == path]

    async def _endpoint(self, request: Request) -> Response:
        hit = await _hit(request)
        self.hits.append(hit)
        responder = self.routes.get(hit.path)
        if responder is None:
            return Response("not found", status_code=404)
        answer = responder if isinstance(responder, str) else responder(hit)
        if isinstance(answer, Response):
            return answer
        return Response(answer, media_type="text/xml")


async def _hit(request: Request) -> Hit:
    query = request.url.query
    public = PUBLIC + request.url.path + (f"?{query}" if query else "")
    if request.method == "POST":
        params = {k: str(v) for k, v in (await request.form()).items()}
        signed_params = params
    else:
        params, signed_params = dict(request.query_params), {}
    signature = request.headers.get("X-Twilio-Signature", "")
    signed = RequestValidator(TOKEN).validate(public, signed_params, signature)
    return Hit(request.method, request.url.path, query, params, signed)


_APP = CannedApp()


@pytest.fixture(name="server", scope="session")
def fixture_server() -> Iterator[LiveServer]:
    """The canned app on a real uvicorn server for the whole session."""
    with LiveServer(_APP.asgi) as server:
        yield server


@pytest.fixture(name="app")
def fixture_app(server: LiveServer) -> Iterator[CannedApp]:
    """The canned app with no routes and no recorded requests."""
    _APP.reset()
    yield _APP
    _APP.reset()


@pytest.fixture(name="tw")
def fixture_tw(server: LiveServer) -> Iterator[Emulator]:
    """An emulator on a manual clock with BUSINESS routed to /voice, /status and /sms."""
    with Emulator(server.url, public_base_url=PUBLIC, auth_token=TOKEN, clock=ManualClock()) as tw:
        tw.add_number(BUSINESS, voice_url="/voice", voice_status_callback="/status", sms_url="/sms")
        yield tw
