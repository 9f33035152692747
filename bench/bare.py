"""The baseline for `bench.webhooks`: a bare Starlette endpoint doing the minimum.

It reads the same urlencoded Twilio form the real webhooks read
(`await request.form()`), checks that `CallSid` is there, and answers with a
small constant TwiML document. No signature check, no store, no config: the
gap between this and the real app is what the app itself costs.

    .venv/bin/uvicorn bench.bare:app --http httptools --loop uvloop
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

TWIML = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    "<Response><Say>Welcome to Acme Telco.</Say><Hangup/></Response>"
)


async def webhook(request: Request) -> Response:
    form = await request.form()
    if not form.get("CallSid"):
        return Response("missing CallSid", status_code=400)
    return Response(TWIML, media_type="application/xml")


async def healthz(request: Request) -> Response:
    return Response("ok")


app = Starlette(
    routes=[
        Route("/voice/incoming", webhook, methods=["POST"]),
        Route("/voice/menu", webhook, methods=["POST"]),
        Route("/healthz", healthz, methods=["GET"]),
    ]
)
