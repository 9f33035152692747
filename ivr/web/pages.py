"""The console's HTML pages: login, logout, `/agent` and `/supervisor`.

Pages render the first view server-side (as JSON the page script reads) and
the script keeps it current from the live stream and the JSON API, so what a
page shows is exactly what `/api/...` answers.
"""

from __future__ import annotations

import hmac
import secrets
from pathlib import Path
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from ivr.core.urls import workspace_path
from ivr.service import Workspaces, named_workspace, services
from ivr.web import auth, console, monitor, supervisor

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=str(HERE / "templates"))
VOICE_SDK_URL = "/static/vendor/twilio.min.js"
"""Twilio hosts the Voice SDK 2.x on no CDN of its own (only 1.x was on sdk.twilio.com):
this is the npm package's browser build. Without it, calls ring the agent's device."""
HOME = {auth.AGENT: "/agent", auth.SUPERVISOR: "/supervisor"}
SECURITY_HEADERS = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
    "Content-Security-Policy": "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",  # no inline script: data rides in application/json blocks
            "style-src 'self'",
            "img-src 'self' data:",
            # the Voice SDK's signalling, event gateway and ringtones (vendored: static/vendor)
            "connect-src 'self' https://*.twilio.com wss://*.twilio.com",
            "media-src 'self' https://*.twilio.com blob:",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    ),
}


def render(request: Request, template: str, status: int = 200, **context: Any) -> Response:
    response = templates.TemplateResponse(request, template, context, status_code=status)
    response.headers.update(SECURITY_HEADERS)
    return response


def unnamed_workspace(request: Request) -> Workspaces | None:
    """The workspaces of a deployment of several, when `request` names none of them."""
    spaces: Workspaces | None = getattr(request.app.state, "workspaces", None)
    if spaces is None or not spaces.several or named_workspace(request):
        return None
    return spaces


def login_url(request: Request, kind: str) -> str:
    """Where a console page sends a browser without a session: its workspace's login."""
    if workspace := request.path_params.get("workspace"):
        return f"{workspace_path(str(workspace))}/login?as={kind}"
    if workspace := request.query_params.get("workspace"):
        return f"/login?as={kind}&workspace={workspace}"
    return f"/login?as={kind}"


async def login_page(request: Request) -> Response:
    """The login form, with a double-submit CSRF value (no session exists yet). With
    several workspaces and none named, a page linking each one's login."""
    kind = request.query_params.get("as", auth.AGENT)
    kind = kind if kind in auth.KINDS else auth.AGENT
    if spaces := unnamed_workspace(request):
        return render(request, "workspaces.html", kind=kind, workspaces=list(spaces.by_id))
    return _login_form(request, kind, "")


def _login_form(request: Request, kind: str, error: str, user: str = "") -> Response:
    csrf = secrets.token_urlsafe(24)
    response = render(
        request,
        "login.html",
        status=401 if error else 200,
        kind=kind,
        error=error,
        user=user,
        csrf=csrf,
        action=request.url.path + (f"?{request.url.query}" if request.url.query else ""),
    )
    secure = auth.secure_cookies(services(request))
    response.set_cookie(auth.LOGIN_COOKIE, csrf, httponly=True, samesite="strict", secure=secure)
    return response


async def login(request: Request) -> Response:
    svc = services(request)
    form = await request.form()
    kind, user = str(form.get("kind", "")), str(form.get("user", "")).strip()
    secret, sent = str(form.get("secret", "")), str(form.get("csrf", ""))
    expected = request.cookies.get(auth.LOGIN_COOKIE, "")
    if not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
        return _login_form(request, kind, "The form expired. Please try again.", user)
    try:
        ok = await auth.login(svc, kind, user, secret, auth.client_address(request))
    except HTTPException as exc:  # locked out for a while: say so on the form
        response = _login_form(request, kind, f"Too many attempts: {exc.detail}.", user)
        response.status_code = 429
        response.headers.update(exc.headers or {})
        return response
    if not ok:
        return _login_form(request, kind, "Unknown id or wrong secret.", user)
    token, _ = await auth.start_session(svc, kind, user)
    response = RedirectResponse(HOME[kind], status_code=303)
    auth.set_session_cookie(response, svc, token)
    response.delete_cookie(auth.LOGIN_COOKIE)
    return response


async def logout(request: Request) -> Response:
    """End the session (CSRF-checked: a form field, since this is a plain form post)."""
    svc = services(request)
    token = request.cookies.get(auth.SESSION_COOKIE, "")
    principal = await auth.touch(svc, token) if token else None
    form = await request.form()
    if principal is not None and hmac.compare_digest(
        str(form.get("csrf", "")).encode(), principal.csrf.encode()
    ):
        await auth.end_session(svc, token)
    workspace = svc.settings.workspace  # with several, the login form must name it
    response = RedirectResponse(f"/login?workspace={workspace}" if workspace else "/login", 303)
    auth.clear_session_cookie(response, svc)
    return response


async def agent_page(request: Request) -> Response:
    if unnamed_workspace(request):
        return RedirectResponse(login_url(request, auth.AGENT), status_code=303)
    principal = await auth.authenticate(request)
    if principal is None or not principal.csrf:
        return RedirectResponse(login_url(request, auth.AGENT), status_code=303)
    if principal.kind != auth.AGENT:
        return render(request, "forbidden.html", status=403, principal=principal)
    view = await console.agent_view(services(request), principal.user)
    return render(
        request, "agent.html", principal=principal, view=view, voice_sdk_url=VOICE_SDK_URL
    )


async def supervisor_page(request: Request) -> Response:
    if unnamed_workspace(request):
        return RedirectResponse(login_url(request, auth.SUPERVISOR), status_code=303)
    principal = await auth.authenticate(request)
    if principal is None or not principal.csrf:
        return RedirectResponse(login_url(request, auth.SUPERVISOR), status_code=303)
    if principal.kind != auth.SUPERVISOR:
        return render(request, "forbidden.html", status=403, principal=principal)
    svc = services(request)
    view = await supervisor.floor_view(svc)
    name = svc.registry.current.supervisors[principal.user].name
    phone = monitor.phone(svc, principal.user)
    return render(
        request,
        "supervisor.html",
        principal=principal,
        name=name,
        view=view,
        phone=phone,
        voice_sdk_url=VOICE_SDK_URL,
    )


routes = [
    Route("/login", login_page, methods=["GET"]),
    Route("/login", login, methods=["POST"]),
    Route("/logout", logout, methods=["POST"]),
    Route("/agent", agent_page, methods=["GET"]),
    Route("/supervisor", supervisor_page, methods=["GET"]),
    Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
]
