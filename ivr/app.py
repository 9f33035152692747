"""The Starlette application: webhooks, health, and the background tasks of a web process."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

import redis.asyncio as aioredis
import redis.exceptions
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route

from callbacks import heartbeat, jobs
from ivr import background
from ivr.config.reload import ConfigRegistry
from ivr.config.workspaces import numbers_free_of
from ivr.core import logs
from ivr.core.clock import Clock, SystemClock
from ivr.core.errors import UnsafeSettings, WebhookError
from ivr.core.settings import Settings
from ivr.core.store import STORE_ERRORS, EmbeddedStore, async_client, topology_url
from ivr.handlers import build_services
from ivr.service import Services, Workspaces, named_workspace, services_or_default
from ivr.voice import access, called, fallback
from ivr.voice.routes import routes as voice_routes
from ivr.web import api, live, pages, prom
from ivr.web.reports_page import routes as reports_routes

log = logs.get(__name__)

HEALTH_PROBE_TTL_S = 60


async def healthz(request: Request) -> Response:
    """Store connectivity, the job worker's heartbeat, overdue jobs and the live config.

    503 only when the store of this contact centre cannot be read or written (down,
    or refusing writes: a read-only replica, out of memory, a failed disk): this web
    process cannot serve then. On a cluster that is the shard serving its hash tag;
    another shard's outage is not this process's. Jobs not being run make the status
    "degraded" but keep 200: calls still flow, and a proxy's health check must not
    pull a working web process out for it (the WorkerDown alert pages instead). That
    is a worker silent for `heartbeat.STALE_AFTER_S` (`"worker": "down"`), or any job
    still due `jobs.OVERDUE_AFTER_S` past its time (`jobs_overdue`), which also catches
    a worker that never beat at all (it exits at startup, or was never started beside
    `ivr serve --no-worker`). A store no worker ever beat on, with nothing overdue,
    reports `"worker": "not seen"` and stays "ok": a lone web process expects none yet.

    With several workspaces, `/w/<id>/healthz` is that workspace's, as above; plain
    `/healthz` (the proxy's check) is the process's: 200 while at least one workspace
    is served, "ok" only when every one is, each one's state under `workspaces`.
    """
    spaces: Workspaces | None = getattr(request.app.state, "workspaces", None)
    if spaces is not None and spaces.several and not named_workspace(request):
        return await process_health(spaces)
    body = await workspace_health(services_or_default(request))
    return JSONResponse(body, status_code=200 if body["store"] == "ok" else 503)


async def process_health(spaces: Workspaces) -> Response:
    """Plain `/healthz` of several workspaces: 503 only when no workspace is served."""
    each = {svc.workspace: await workspace_health(svc) for svc in spaces.each}
    served = [body for body in each.values() if body["store"] == "ok"]
    everything_ok = all(body["status"] == "ok" for body in each.values())
    body = {"status": "ok" if everything_ok else "degraded", "workspaces": each}
    return JSONResponse(body, status_code=200 if served else 503)


async def workspace_health(svc: Services) -> dict[str, Any]:
    """The health of one workspace: its store, its worker, its overdue jobs, its config."""
    try:
        await svc.redis.set(svc.keys.health_probe(), repr(time.time()), ex=HEALTH_PROBE_TTL_S)
        age = await heartbeat.age_s(svc.redis, svc.keys, time.time())
        overdue = await jobs.overdue(svc.redis, svc.keys, svc.clock.now())
        store = "ok"
    except Exception as exc:  # any failure to read and write means "not healthy"
        store = (
            "refuses writes" if isinstance(exc, redis.exceptions.ResponseError) else "unreachable"
        )
        age, overdue = None, None
    worker = "not seen" if age is None else "down" if heartbeat.is_stale(age) else "ok"
    return {
        "status": "ok" if store == "ok" and worker != "down" and not overdue else "degraded",
        "store": store,
        "worker": worker if store == "ok" else "unknown",
        "worker_heartbeat_age_s": None if age is None else round(age, 1),
        "jobs_overdue": overdue,
        "config_version": svc.registry.version,
        "config_error": svc.registry.last_error,
    }


async def webhook_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, WebhookError)
    if exc.status == 403:
        log.warning("rejected unsigned or forged webhook", path=request.url.path)
    return JSONResponse({"error": exc.detail}, status_code=exc.status)


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return JSONResponse({"error": exc.detail}, status_code=exc.status_code, headers=exc.headers)


def warn_if_unsafe(settings: Settings) -> None:
    if not settings.validate_signatures:
        banner = "!" * 72
        log.warning(banner)
        log.warning("IVR_VALIDATE_SIGNATURES is off: anyone can forge Twilio webhooks.")
        log.warning("Only ever do this for local development.")
        log.warning(banner)


def build_workspaces(settings: Settings, clock: Clock, redis: aioredis.Redis) -> Workspaces:
    """One `Services` per workspace (`IVR_WORKSPACES`), or the one of `IVR_CONFIG_DIR`.
    A workspace's reload is refused when it lists a number another one's live config does."""
    spaces = settings.each_workspace()
    registries = [ConfigRegistry(each.config_dir) for each in spaces]
    for registry in registries:
        registry.vet = numbers_free_of([r for r in registries if r is not registry])
    return Workspaces(
        [
            build_services(each, clock, redis, registry)
            for each, registry in zip(spaces, registries, strict=True)
        ]
    )


async def first_sync(spaces: Workspaces) -> None:
    """Sync each workspace's routing with its config before serving. A store that is down
    stops a single workspace's process (it cannot serve); with several, a workspace whose
    store (its cluster shard) is down is skipped: it answers the degraded TwiML, and its
    timer loop's `background.tick` retries the sync until the store is back. Only when
    every workspace's store is down does the process stop."""
    failed: list[Exception] = []
    for svc in spaces.each:
        try:
            await svc.sync_routing()
        except STORE_ERRORS as exc:
            if not spaces.several:
                raise
            failed.append(exc)
            log.warning(
                "workspace store down at start; degraded until it is back",
                workspace=svc.workspace,
                error=str(exc),
            )
    if failed and len(failed) == len(spaces.each):
        raise failed[0]


def app_routes(several: bool) -> list[BaseRoute]:
    """Every route. With several workspaces, the Twilio routes on the shared paths find
    their workspace by the number called, and every route is also served under each
    workspace's `/w/<id>/` (the URLs handed to Twilio, per-workspace /metrics)."""
    routes: list[BaseRoute] = [
        *(called.shared_routes() if several else voice_routes),  # ivr/voice/routes.py
        Route("/healthz", healthz, methods=["GET"]),
        *api.routes,  # the console (ivr/web/api.py, ivr/web/live.py, ivr/web/pages.py)
        *live.routes,
        *reports_routes,  # the reports dashboard (ivr/web/reports_page.py)
        *pages.routes,
        *prom.routes,  # /metrics (ivr/web/prom.py)
    ]
    if not several:
        return routes
    scoped = [*voice_routes, *routes[len(voice_routes) :]]
    return [*routes, Mount("/w/{workspace}", routes=scoped)]


def create_app(
    settings: Settings | None = None,
    *,
    clock: Clock | None = None,
    twilio_http_client: Any = None,
    run_timers: bool = True,
) -> Starlette:
    """Build the app. With no store URL in `settings`, an embedded Valkey is started.

    `run_timers=False` leaves routing timers to whoever calls `background.tick`
    (tests on a controlled clock drive it from the emulator's clock).
    """
    settings = settings or Settings.from_env()
    clock = clock or SystemClock()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        refused = settings.unsafe()
        if refused:
            raise UnsafeSettings(refused)
        warn_if_unsafe(settings)
        embedded = None if settings.redis_url else EmbeddedStore(settings.data_dir)
        if settings.redis_url:  # one cluster node's URL means its cluster
            url = await asyncio.to_thread(topology_url, settings.redis_url)
        else:
            url = embedded.start()  # type: ignore[union-attr]
        redis = async_client(url, settings.store_max_connections)
        spaces = build_workspaces(settings, clock, redis)
        for svc in spaces.each:
            svc.twilio_http_client = twilio_http_client
            svc.loop = asyncio.get_running_loop()
        await first_sync(spaces)
        app.state.services, app.state.workspaces = spaces.default, spaces
        stop = asyncio.Event()
        interval = settings.reload_interval_s
        tasks = [asyncio.create_task(s.registry.watch(interval, stop)) for s in spaces.each]
        if run_timers:
            tasks += [asyncio.create_task(background.run(s, stop)) for s in spaces.each]
        log.info("ready", config_version=spaces.default.registry.version, store=url)
        try:
            yield
        finally:
            stop.set()
            for task in tasks:
                await task
            await redis.aclose()
            if embedded is not None:
                embedded.stop()

    return Starlette(
        routes=app_routes(several=bool(settings.workspaces)),
        middleware=[Middleware(prom.LatencyMiddleware), Middleware(access.WebhookLog)],
        lifespan=lifespan,
        exception_handlers={
            WebhookError: webhook_error,
            HTTPException: http_error,
            **dict.fromkeys(STORE_ERRORS, fallback.store_down),
            redis.exceptions.ResponseError: fallback.store_refused,  # READONLY, NOREPLICAS…
        },
    )
