"""The emulator hub: lets a second terminal be an agent's phone in `ivr call`.

The first `ivr call` runs the service and the emulator in-process and serves
this small HTTP API next to them. `ivr call --agent alice` in another
terminal uses it to go available, see its phone ring, hear the whisper,
press keys and hang up. The hub also answers Twilio REST paths, so an
`ivr serve` started with `IVR_TWILIO_API_URL` pointing here rings the same
simulated phones.
"""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ivr.devtools.emulator import Emulator
from ivr.service import Services
from ivr.voice import offers

DEFAULT_HUB_PORT = 8765


def build(tw: Emulator, svc: Services | None, devices: dict[str, str]) -> Starlette:
    """The hub app for emulator `tw`; `devices` maps agents to their phones.

    In-process (`svc` given) an agent terminal also makes the agent available;
    with a separately running service the agent logs in at /agent for that.
    """
    rest = tw.http_client()

    async def rest_endpoint(request: Request) -> Response:
        data = form_fields((await request.body()).decode())
        auth = _basic(request.headers.get("authorization", ""))
        answer = await run_in_threadpool(
            rest.request, request.method, str(request.url), data=data, auth=auth
        )
        return Response(answer.text, status_code=answer.status_code, media_type="application/json")

    def agent(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in devices:
            return JSONResponse({"error": f"unknown agent {name!r}"}, status_code=404)
        state: str | None = None  # a separately running service: the agent goes available there
        if svc is not None:
            if request.method == "POST":
                offered = svc.run(svc.router.set_available(name))
                svc.run(offers.dispatch_offers(svc, offered))
            state = svc.run(svc.router.agent_state(name)).state
        return JSONResponse({"agent": name, "device": devices[name], "state": state})

    def device(request: Request) -> Response:
        return JSONResponse(describe(tw, request.path_params["address"]))

    async def act(request: Request) -> Response:
        form = dict(parse_qsl((await request.body()).decode()))
        address, verb = request.path_params["address"], request.path_params["verb"]
        result = await run_in_threadpool(perform, tw, address, verb, form.get("digits", ""))
        return JSONResponse(result, status_code=200 if "error" not in result else 409)

    return Starlette(
        routes=[
            Route("/2010-04-01/{path:path}", rest_endpoint, methods=["GET", "POST", "DELETE"]),
            Route("/agent/{name}", agent, methods=["GET", "POST"]),
            Route("/device/{address}", device, methods=["GET"]),
            Route("/device/{address}/{verb}", act, methods=["POST"]),
        ]
    )


def form_fields(body: str) -> dict[str, object]:
    """A REST request's form; a field given more than once (StatusCallbackEvent) is a list,
    as the twilio client hands it to the emulator in-process."""
    fields: dict[str, object] = {}
    for name, value in parse_qsl(body):
        if name not in fields:
            fields[name] = value
        elif isinstance(seen := fields[name], list):
            seen.append(value)
        else:
            fields[name] = [seen, value]
    return fields


def _basic(header: str) -> tuple[str, str] | None:
    if not header.lower().startswith("basic "):
        return None
    user, _, password = base64.b64decode(header[6:]).decode().partition(":")
    return user, password


def describe(tw: Emulator, address: str) -> dict[str, Any]:
    """What the phone is doing and everything it heard on its current or last call."""
    phone = tw.device(address)
    last = phone.calls[-1] if phone.calls else None
    return {
        "ringing": phone.ringing is not None,
        "in_call": phone.call is not None,
        "status": last.status if last else "idle",
        "heard": [u.text or u.url for u in last.heard if u.kind != "pause"] if last else [],
        "call": last.sid if last else None,
    }


def perform(tw: Emulator, address: str, verb: str, digits: str) -> dict[str, Any]:
    """answer / reject / hangup / press on the simulated phone."""
    phone = tw.device(address)
    try:
        if verb == "answer":
            phone.answer()
        elif verb == "reject":
            phone.reject()
        elif verb == "hangup":
            phone.hangup()
        elif verb == "press" and phone.call is not None:
            tw.deliver(phone.call, "dtmf", digits)
        else:
            return {"error": f"cannot {verb} now"}
    except Exception as exc:  # the emulator refuses what a real phone could not do
        return {"error": str(exc)}
    return describe(tw, address)
