"""The objects one web process shares between requests, built once at start-up.

A deployment of several workspaces (`IVR_WORKSPACES`) has one `Services` per workspace,
each with its own config, keys (the workspace id is their hash tag), router and webhook
URLs (under `/w/<id>`), held by `Workspaces`. `services(request)` picks the request's:
the webhook resolved by the number called, else the workspace the request names (its
`/w/<id>/` path, `?workspace=<id>`, or the prefix of its API token or session cookie).
A credential is only ever looked up in the store of the workspace it names, so one
made in workspace A is unknown (401) anywhere else, and every object id a user of A
sends is looked up in A's keys alone.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

import anyio.to_thread
import redis.asyncio as aioredis
from starlette.exceptions import HTTPException
from starlette.requests import Request

from callbacks.context import Legs
from ivr.config.model import Config
from ivr.config.reload import ConfigRegistry
from ivr.core import numbers, telephony
from ivr.core.clock import Clock, utcnow
from ivr.core.keys import Keys
from ivr.core.security import Verifier
from ivr.core.session import CallStore
from ivr.core.settings import Settings
from ivr.core.urls import Urls, workspace_path
from queues.router import Router

T = TypeVar("T")
SESSION_COOKIE = "ivr_session"
"""The console's session cookie (`ivr.web.auth`)."""
TOKEN_PREFIX = "ivr_"
"""How every API token starts (`ivr.web.auth.issue_token`)."""
WORKSPACE_SEPARATOR = "."
"""Ends the workspace id that starts a session cookie or token (after `TOKEN_PREFIX`)
in a deployment of several workspaces: no random token part holds one."""


@dataclass
class Services:
    settings: Settings
    clock: Clock
    redis: aioredis.Redis
    keys: Keys
    calls: CallStore
    registry: ConfigRegistry
    verifier: Verifier
    urls: Urls
    router: Router
    twilio_http_client: Any = None
    loop: asyncio.AbstractEventLoop | None = None
    synced_version: str = ""
    folded_at: float | None = None
    """When this process last folded events into metrics (service clock)."""
    rng: random.Random = field(default_factory=random.Random, repr=False)
    """Jitter of retries; a simulation seeds it, so that its replay retries alike."""
    _rest: Any = field(default=None, repr=False)
    legs: Legs = field(init=False, repr=False)
    """The voice layer's part in callbacks, handed in by `build`'s caller."""

    @classmethod
    def build(
        cls,
        settings: Settings,
        clock: Clock,
        redis: aioredis.Redis,
        registry: ConfigRegistry,
        legs: Callable[[Services], Legs],
    ) -> Services:
        """`legs` builds the voice layer's `Legs` on the new services (`ivr.voice.legs`)."""
        keys = Keys(settings.tenant)
        svc = cls(
            settings=settings,
            clock=clock,
            redis=redis,
            keys=keys,
            calls=CallStore(redis, keys, settings.session_ttl_s),
            registry=registry,
            verifier=Verifier(settings),
            urls=Urls(settings.public_base_url + workspace_path(settings.workspace)),
            router=Router(redis, keys, clock),
        )
        svc.legs = legs(svc)
        return svc

    @property
    def workspace(self) -> str:
        """The id of this workspace ('' in a single-workspace deployment)."""
        return self.settings.workspace

    def now(self) -> datetime:
        return utcnow(self.clock)

    def config_for(self, version: str) -> Config:
        """The config a call started on, or the live one if that version is gone."""
        return self.registry.get(version) or self.registry.current

    def use_rest(self, client: Any) -> None:
        """Use this twilio REST client (a job's own) instead of building one."""
        self._rest = client

    async def rest(self, operation: Any) -> Any:
        """Run a blocking twilio REST operation `operation(client)` off the event loop."""
        if self._rest is None:
            self._rest = telephony.rest_client(self.settings, self.twilio_http_client)
        client = self._rest
        return await anyio.to_thread.run_sync(lambda: operation(client))

    async def sync_routing(self) -> None:
        """Give the routing engine the live queues and agents when the config version moved."""
        config = self.registry.current
        if config.version != self.synced_version:
            languages = frozenset(config.languages.available)
            await self.router.sync_config(dict(config.queues), dict(config.agents), languages)
            self.synced_version = config.version

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """From another thread (tests, the demo): run `coro` on the app's loop and wait."""
        assert self.loop is not None, "the app is not running"
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=30)


class Workspaces:
    """The `Services` of each workspace of a web process (one, unnamed, by default)."""

    def __init__(self, each: list[Services]) -> None:
        self.each = each
        self.by_id = {svc.settings.workspace: svc for svc in each}

    @property
    def default(self) -> Services:
        """The first workspace: the only one of a single-workspace deployment."""
        return self.each[0]

    @property
    def several(self) -> bool:
        """Whether the deployment names its workspaces (`IVR_WORKSPACES`)."""
        return bool(self.default.settings.workspace)

    def owning(self, number: str) -> Services | None:
        """The workspace whose live config lists `number` (a call's `To`), or None."""
        number = numbers.normalise(number)
        return next((s for s in self.each if number in s.registry.current.numbers), None)

    def named(self, request: Request) -> Services:
        """The workspace a request names, or 404; 403 for a credential of another
        workspace than the `/w/<id>/` path asks for."""
        name, held = named_workspace(request), held_workspace(request)
        path = request.path_params.get("workspace")
        if path and held and path != held:
            raise HTTPException(403, "this login is for another workspace")
        svc = self.by_id.get(name) if name else None
        if svc is None:
            hint = "name one: /w/<id>/..., ?workspace=<id>, or a credential of it"
            raise HTTPException(404, f"no such workspace {name!r}; {hint}")
        return svc


def named_workspace(request: Request) -> str:
    """The workspace id a request names: its `/w/<id>/` path, else `?workspace=` (a login
    page names the one to log in to, whatever old cookie the browser holds), else the
    workspace of its credential (`held_workspace`); '' if none. A credential is checked in
    the workspace named, so one of another workspace is unknown there (401)."""
    if name := request.path_params.get("workspace"):
        return str(name)
    return request.query_params.get("workspace", "") or held_workspace(request)


def held_workspace(request: Request) -> str:
    """The workspace of a request's bearer token, else of its session cookie ('' if none)."""
    header = request.headers.get("authorization", "")
    token = header[7:].strip() if header.lower().startswith("bearer ") else ""
    if token.startswith(TOKEN_PREFIX):  # ours, not /metrics' own bearer token
        return credential_workspace(token.removeprefix(TOKEN_PREFIX))
    return credential_workspace(request.cookies.get(SESSION_COOKIE, ""))


def credential_workspace(credential: str) -> str:
    """The workspace a session cookie (or an API token after its `TOKEN_PREFIX`) was made
    in ('' without one)."""
    name, sep, _ = credential.partition(WORKSPACE_SEPARATOR)
    return name if sep else ""


def credential_prefix(svc: Services) -> str:
    """What starts each session cookie and token `svc` makes ('' with one workspace)."""
    workspace = svc.settings.workspace
    return workspace + WORKSPACE_SEPARATOR if workspace else ""


def services_or_default(request: Request) -> Services:
    """As `services`, but the first workspace for a request that names none (`/healthz`)."""
    spaces: Workspaces | None = getattr(request.app.state, "workspaces", None)
    if spaces is not None and spaces.several and not named_workspace(request):
        return spaces.default
    return services(request)


def services(request: Request) -> Services:
    """The request's workspace: set by the webhook that resolved the number called, the
    only one, or the one the request names (404 if none)."""
    chosen: Services | None = getattr(request.state, "services", None)
    if chosen is not None:
        return chosen
    spaces: Workspaces | None = getattr(request.app.state, "workspaces", None)
    if spaces is None or not spaces.several:
        svc: Services = request.app.state.services
        return svc
    chosen = spaces.named(request)
    request.state.services = chosen
    return chosen
