"""The console's JSON API under `/api/`: everything the pages do, for scripts as well.

Authentication is the session cookie (with `X-CSRF-Token` on every change) or
a bearer token. Errors are `{"error": "..."}` with a clear status: 401 not
logged in, 403 not yours, 404 unknown, 409 not now, 410 the offer ended, 422 a
bad value. The document is `ivr.web.openapi`, served at `/api/openapi.json`.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ivr.service import services
from ivr.web import auth, console, controls, inbox, missed, monitor, openapi, supervisor, voicemails

NO_CONTENT = 204


async def json_body(request: Request) -> dict[str, Any]:
    """The request's JSON object, or 400."""
    try:
        data = json.loads(await request.body() or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise HTTPException(400, "the body must be JSON") from None
    if not isinstance(data, dict):
        raise HTTPException(400, "the body must be a JSON object")
    return data


def text_field(data: dict[str, Any], name: str, default: str | None = None) -> str:
    """A string field, or 422 when it is missing (without default) or not a string."""
    value = data.get(name, default)
    if not isinstance(value, str):
        raise HTTPException(422, f"`{name}` must be a string")
    return value


# -- session and tokens ---------------------------------------------------------------
async def login(request: Request) -> Response:
    svc = services(request)
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
        # A cross-site form cannot send JSON, so this stops login CSRF.
        raise HTTPException(415, "send the credentials as application/json")
    data = await json_body(request)
    kind, user, secret = (text_field(data, k) for k in ("kind", "user", "secret"))
    if kind not in auth.KINDS:
        raise HTTPException(422, "`kind` must be agent or supervisor")
    if not await auth.login(svc, kind, user, secret, auth.client_address(request)):
        raise HTTPException(401, "unknown id or wrong secret")
    token, csrf = await auth.start_session(svc, kind, user)
    response = JSONResponse({"kind": kind, "user": user, "csrf": csrf})
    auth.set_session_cookie(response, svc, token)
    return response


async def logout(request: Request) -> Response:
    svc = services(request)
    await auth.require(request)
    token = request.cookies.get(auth.SESSION_COOKIE)
    if token:
        await auth.end_session(svc, token)
    response = Response(status_code=NO_CONTENT)
    auth.clear_session_cookie(response, svc)
    return response


async def revoke_tokens(request: Request) -> Response:
    """With a bearer token: revoke that token. With a session: revoke every token it minted."""
    svc = services(request)
    principal = await auth.require(request)
    if principal.session:
        await auth.revoke_session_tokens(svc, principal.session)
    else:
        await auth.revoke_token(svc, auth.bearer(request))
    return Response(status_code=NO_CONTENT)


async def me(request: Request) -> Response:
    principal = await auth.require(request)
    body = {"kind": principal.kind, "user": principal.user}
    return JSONResponse({**body, "csrf": principal.csrf} if principal.csrf else body)


async def new_token(request: Request) -> Response:
    principal = await auth.require(request)
    token = await auth.issue_token(services(request), principal)
    return JSONResponse({"token": token, "ttl_s": auth.TOKEN_TTL_S}, status_code=201)


# -- agent ----------------------------------------------------------------------------
async def agent_view(request: Request) -> Response:
    principal = await auth.require(request, auth.AGENT)
    return JSONResponse(await console.agent_view(services(request), principal.user))


async def agent_status(request: Request) -> Response:
    principal = await auth.require(request, auth.AGENT)
    data = await json_body(request)
    status, reason = text_field(data, "status"), text_field(data, "reason", "")
    await console.set_status(services(request), principal.user, status, reason)
    return Response(status_code=NO_CONTENT)


async def accept(request: Request) -> Response:
    principal = await auth.require(request, auth.AGENT)
    offer = request.path_params["offer"]
    return JSONResponse(await console.accept(services(request), principal.user, offer))


async def reject(request: Request) -> Response:
    principal = await auth.require(request, auth.AGENT)
    await console.reject(services(request), principal.user, request.path_params["offer"])
    return Response(status_code=NO_CONTENT)


async def notes(request: Request) -> Response:
    principal = await auth.require(request, auth.AGENT)
    text = text_field(await json_body(request), "notes")
    call = request.path_params["call"]
    await console.save_notes(services(request), principal.user, call, text)
    return Response(status_code=NO_CONTENT)


async def wrap_up(request: Request) -> Response:
    principal = await auth.require(request, auth.AGENT)
    data = await json_body(request)
    disposition, text = text_field(data, "disposition"), text_field(data, "notes", "")
    call = request.path_params["call"]
    filed = await console.wrap_up(services(request), principal.user, call, disposition, text)
    return JSONResponse(filed)


def flag_field(data: dict[str, Any], name: str) -> bool:
    """A boolean field, or 400."""
    value = data.get(name)
    if not isinstance(value, bool):
        raise HTTPException(400, f"`{name}` must be true or false")
    return value


async def hold(request: Request) -> Response:
    principal = await auth.require(request, auth.AGENT)
    on = flag_field(await json_body(request), "hold")
    call = request.path_params["call"]
    return JSONResponse(await controls.hold(services(request), principal.user, call, on))


async def mute(request: Request) -> Response:
    principal = await auth.require(request, auth.AGENT)
    on = flag_field(await json_body(request), "mute")
    call = request.path_params["call"]
    return JSONResponse(await controls.mute(services(request), principal.user, call, on))


async def hang_up(request: Request) -> Response:
    principal = await auth.require(request, auth.AGENT)
    await controls.hang_up(services(request), principal.user, request.path_params["call"])
    return Response(status_code=NO_CONTENT)


async def digits(request: Request) -> Response:
    principal = await auth.require(request, auth.AGENT)
    value = (await json_body(request)).get("digits")
    if not isinstance(value, str):
        raise HTTPException(400, "`digits` must be a string")
    call = request.path_params["call"]
    await controls.send_digits(services(request), principal.user, call, value)
    return Response(status_code=NO_CONTENT)


async def softphone_token(request: Request) -> Response:
    principal = await auth.require(request, auth.AGENT)
    response = JSONResponse(console.softphone_token(services(request), principal.user))
    response.headers["Cache-Control"] = "no-store"
    return response


# -- the agent's voicemail inbox (ivr/web/inbox.py) -----------------------------------
async def agent_voicemails(request: Request) -> Response:
    principal = await auth.require(request, auth.AGENT)
    return JSONResponse({"voicemails": await inbox.inbox(services(request), principal.user)})


async def take_voicemail(request: Request) -> Response:
    principal = await auth.require(request, auth.AGENT)
    voicemail = request.path_params["voicemail"]
    owner = await inbox.take(services(request), principal.user, voicemail)
    return JSONResponse({"id": voicemail, "owner": owner})


async def call_back_voicemail(request: Request) -> Response:
    """Call the caller back: 201 with the new callback, 200 with the one already made."""
    principal = await auth.require(request, auth.AGENT)
    voicemail = request.path_params["voicemail"]
    made = await inbox.call_back(services(request), principal.user, voicemail)
    body = {"id": voicemail, **asdict(made)}
    return JSONResponse(body, status_code=201 if made.created else 200)


async def missed_calls(request: Request) -> Response:
    principal = await auth.require(request, auth.AGENT)
    return JSONResponse({"missed": await missed.listing(services(request), principal.user)})


async def call_back_missed(request: Request) -> Response:
    """Call a missed caller back: 201 with the new callback, 200 with the one already made."""
    principal = await auth.require(request, auth.AGENT)
    call = request.path_params["call"]
    made = await missed.call_back(services(request), principal.user, call)
    body = {"id": call, **asdict(made)}
    return JSONResponse(body, status_code=201 if made.created else 200)


async def voicemail_done(request: Request) -> Response:
    principal = await auth.require(request, auth.AGENT)
    await inbox.done(services(request), principal.user, request.path_params["voicemail"])
    return Response(status_code=NO_CONTENT)


# -- supervisor -------------------------------------------------------------------------
async def floor(request: Request) -> Response:
    await auth.require(request, auth.SUPERVISOR)
    return JSONResponse(await supervisor.floor_view(services(request)))


async def list_voicemails(request: Request) -> Response:
    """The voicemails callers left (`?unhandled=1`: only those still to handle), as JSON,
    or as a CSV download with `?format=csv`."""
    await auth.require(request, auth.SUPERVISOR)
    only = request.query_params.get("unhandled", "") in ("1", "true")
    rows = await voicemails.listing(services(request), unhandled_only=only)
    if request.query_params.get("format") == "csv":
        headers = {"Content-Disposition": 'attachment; filename="voicemails.csv"'}
        return Response(voicemails.as_csv(rows), media_type="text/csv", headers=headers)
    return JSONResponse({"voicemails": rows})


async def voicemail_handled(request: Request) -> Response:
    """Mark a voicemail handled (the caller was called back)."""
    await auth.require(request, auth.SUPERVISOR)
    if not await voicemails.mark_handled(services(request), request.path_params["voicemail"]):
        raise HTTPException(404, "no such voicemail")
    return Response(status_code=NO_CONTENT)


async def agent_break(request: Request) -> Response:
    principal = await auth.require(request, auth.SUPERVISOR)
    reason = text_field(await json_body(request), "reason", "")
    agent = request.path_params["agent"]
    await supervisor.put_on_break(services(request), principal.by, agent, reason)
    return Response(status_code=NO_CONTENT)


async def agent_logout(request: Request) -> Response:
    principal = await auth.require(request, auth.SUPERVISOR)
    agent = request.path_params["agent"]
    await supervisor.log_out(services(request), principal.by, agent)
    return Response(status_code=NO_CONTENT)


async def priority(request: Request) -> Response:
    principal = await auth.require(request, auth.SUPERVISOR)
    value = (await json_body(request)).get("priority")
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 99:
        raise HTTPException(422, "`priority` must be an integer from 0 to 99")
    call = request.path_params["call"]
    old = await supervisor.change_priority(services(request), principal.by, call, value)
    return JSONResponse({"old": old, "priority": value})


async def cancel_callback(request: Request) -> Response:
    principal = await auth.require(request, auth.SUPERVISOR)
    callback_id = request.path_params["callback"]
    await supervisor.cancel_callback(services(request), principal.by, callback_id)
    return Response(status_code=NO_CONTENT)


async def start_monitor(request: Request) -> Response:
    """Listen, whisper or barge on a connected call (or switch mode while on it)."""
    principal = await auth.require(request, auth.SUPERVISOR)
    mode = (await json_body(request)).get("mode")
    if not isinstance(mode, str):
        raise HTTPException(400, "`mode` must be listen, whisper or barge")
    call = request.path_params["call"]
    return JSONResponse(await monitor.start(services(request), principal.user, call, mode))


async def supervisor_token(request: Request) -> Response:
    """A Voice SDK token for the supervisor's softphone (monitoring rings it)."""
    principal = await auth.require(request, auth.SUPERVISOR)
    response = JSONResponse(monitor.softphone_token(services(request), principal.user))
    response.headers["Cache-Control"] = "no-store"
    return response


async def stop_monitor(request: Request) -> Response:
    principal = await auth.require(request, auth.SUPERVISOR)
    await monitor.stop(services(request), principal.user, request.path_params["call"])
    return Response(status_code=NO_CONTENT)


async def document(request: Request) -> Response:
    return JSONResponse(openapi.document())


routes = [
    Route("/api/openapi.json", document, methods=["GET"]),
    Route("/api/session", login, methods=["POST"]),
    Route("/api/session", logout, methods=["DELETE"]),
    Route("/api/me", me, methods=["GET"]),
    Route("/api/tokens", new_token, methods=["POST"]),
    Route("/api/tokens", revoke_tokens, methods=["DELETE"]),
    Route("/api/agent", agent_view, methods=["GET"]),
    Route("/api/agent/status", agent_status, methods=["POST"]),
    Route("/api/agent/offers/{offer}/accept", accept, methods=["POST"]),
    Route("/api/agent/offers/{offer}/reject", reject, methods=["POST"]),
    Route("/api/agent/calls/{call}/notes", notes, methods=["PUT"]),
    Route("/api/agent/calls/{call}/wrapup", wrap_up, methods=["POST"]),
    Route("/api/agent/calls/{call}/hold", hold, methods=["POST"]),
    Route("/api/agent/calls/{call}/mute", mute, methods=["POST"]),
    Route("/api/agent/calls/{call}/hangup", hang_up, methods=["POST"]),
    Route("/api/agent/calls/{call}/digits", digits, methods=["POST"]),
    Route("/api/agent/token", softphone_token, methods=["GET"]),
    Route("/api/agent/voicemails", agent_voicemails, methods=["GET"]),
    Route("/api/agent/voicemails/{voicemail}/assign", take_voicemail, methods=["POST"]),
    Route("/api/agent/voicemails/{voicemail}/callback", call_back_voicemail, methods=["POST"]),
    Route("/api/agent/voicemails/{voicemail}/done", voicemail_done, methods=["POST"]),
    Route("/api/agent/missed", missed_calls, methods=["GET"]),
    Route("/api/agent/missed/{call}/callback", call_back_missed, methods=["POST"]),
    Route("/api/supervisor/floor", floor, methods=["GET"]),
    Route("/api/supervisor/agents/{agent}/break", agent_break, methods=["POST"]),
    Route("/api/supervisor/agents/{agent}/logout", agent_logout, methods=["POST"]),
    Route("/api/supervisor/callbacks/{callback}/cancel", cancel_callback, methods=["POST"]),
    Route("/api/supervisor/calls/{call}/priority", priority, methods=["PUT"]),
    Route("/api/supervisor/calls/{call}/monitor", start_monitor, methods=["POST"]),
    Route("/api/supervisor/calls/{call}/monitor", stop_monitor, methods=["DELETE"]),
    Route("/api/supervisor/token", supervisor_token, methods=["GET"]),
    Route("/api/supervisor/voicemails", list_voicemails, methods=["GET"]),
    Route("/api/supervisor/voicemails/{voicemail}/handled", voicemail_handled, methods=["POST"]),
]
