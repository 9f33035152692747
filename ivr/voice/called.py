"""The workspace of a webhook on a shared path, found from the number called or texted.

With several workspaces, a Twilio number's own webhooks (`/voice/incoming`, its status
callback and fallback, `/sms/incoming`) stay on the shared paths, so one
`ivr twilio configure` serves every number; the number in `To` (`Called` as a fallback)
picks the workspace whose config lists it. Every URL the service hands Twilio after
that is under the workspace's own `/w/<id>/` path (`ivr.service.workspace_path`). A
number no workspace lists is answered politely, never with a 500.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from twilio.twiml.messaging_response import MessagingResponse
from twilio.twiml.voice_response import VoiceResponse

from ivr.core import logs
from ivr.core.urls import PATHS, route_path
from ivr.service import Workspaces
from ivr.voice.routes import ENDPOINTS, Endpoint
from ivr.voice.twiml import xml

log = logs.get(__name__)
NOT_IN_SERVICE = "Sorry, the number you have called is not in service. Goodbye."
"""What a caller hears on a number no workspace lists (no workspace's phrases apply)."""


def shared_routes() -> list[Route]:
    """Every Twilio route on its shared path, each finding its workspace by number."""
    return [Route(PATHS[n], by_number(ENDPOINTS[n]), methods=["POST"], name=n) for n in PATHS]


def by_number(endpoint: Endpoint) -> Endpoint:
    """`endpoint`, run in the workspace that owns the number called or texted."""

    async def resolved(request: Request) -> Response:
        spaces: Workspaces = request.app.state.workspaces
        form = await spaces.default.verifier.form(request)  # every workspace signs alike
        number = form.get("To") or form.get("Called", "")
        svc = spaces.owning(number)
        if svc is None:
            log.warning("webhook for a number no workspace lists", number=number)
            return refusal(request)
        request.state.services = svc
        return await endpoint(request)

    return resolved


def refusal(request: Request) -> Response:
    """A polite end: the caller hears the number is not in service; a text gets no reply."""
    if route_path(request.url.path).startswith("/sms/"):
        return xml(str(MessagingResponse()))
    response = VoiceResponse()
    response.say(NOT_IN_SERVICE)
    response.hangup()
    return xml(response)
