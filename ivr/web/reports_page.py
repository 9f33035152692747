"""The reports dashboard: `/supervisor/reports` and `GET /api/supervisor/reports`.

Every figure is `ivr report`'s own: the queue and agent figures and the staffing
advice come from `ivr.web.report.collect` over the same rollups, and are shown with
`ivr.web.report.show`, so the page and the terminal print the same text; so do the
rows over time (`queues.metrics.intervals`). Only what the charts need is added here:
CES by agent, and (FRT, CES) for each surveyed contact from the detail records.

The live figures (`GET /api/supervisor/reports/live`: now waiting, oldest wait,
service level and answered so far today per queue, agents by state) are
`queues.metrics.rollups.live`, the same as `/metrics`; the page re-reads them on every
routing event of the live stream (`ivr.web.live`) and every few seconds.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from ivr.config.model import Config
from ivr.service import Services, services
from ivr.web import auth, report
from ivr.web.pages import render
from queues.metrics import contacts, rollups

MAX_RANGE_DAYS = 31
"""The longest range one request may ask for (hour rollups are kept 30 days)."""
MS_PER_DAY = 86_400_000
MAX_POINTS = 2_000
"""Scatter points sent at most (the oldest contacts of the range first)."""
MIN_TARGET, MAX_TARGET = 0.5, 0.99
"""Service-level targets the staffing advice accepts (1.0 would need unbounded agents)."""
CES_FIGURES = ("ces_mean", "ces_top_share", "ces_responses")
BAD_DATE = "`from` and `to` must be local dates (YYYY-MM-DD) or date-times (YYYY-MM-DDTHH:MM)"


def parse(config: Config, params: Mapping[str, str], now_s: float) -> argparse.Namespace:
    """The query as `ivr report`'s arguments (with `span`), or a 4xx for a bad value."""
    queue = params.get("queue") or None
    if queue is not None and queue not in config.queues:
        raise HTTPException(404, f"no queue {queue!r}")
    try:
        target = float(params.get("target") or report.DEFAULT_TARGET)
    except ValueError:
        target = -1.0
    if not MIN_TARGET <= target <= MAX_TARGET:
        raise HTTPException(422, f"`target` must be a number from {MIN_TARGET} to {MAX_TARGET}")
    args = argparse.Namespace(
        start=params.get("from") or None,
        end=params.get("to") or None,
        queue=queue,
        agent=None,
        staffing=True,
        target=target,
    )
    try:
        args.span = report.window(config, args, now_s)
    except (ValueError, OverflowError):
        raise HTTPException(422, BAD_DATE) from None
    start, end = args.span
    if start >= end:
        raise HTTPException(422, "`from` must be before `to`")
    try:
        rollups.check_window(args.span, ZoneInfo(config.company.timezone), int(now_s * 1000))
    except rollups.WindowRefused as exc:
        raise HTTPException(422, str(exc)) from None
    if end - start > MAX_RANGE_DAYS * MS_PER_DAY:
        raise HTTPException(422, f"the range may be at most {MAX_RANGE_DAYS} days")
    return args


async def build(svc: Services, args: argparse.Namespace) -> dict[str, Any]:
    """The dashboard's document: `ivr report --format json --staffing`, plus chart data."""
    config = svc.registry.current
    now_ms = int(svc.clock.now() * 1000)  # the hour in progress is observed up to now
    doc = await report.collect(svc.redis, svc.keys, config, args, args.span, now_ms)
    zone = ZoneInfo(config.company.timezone)
    start, end = args.span
    doc["from"] = datetime.fromtimestamp(start / 1000, zone).isoformat()
    doc["to"] = datetime.fromtimestamp(end / 1000, zone).isoformat()
    doc.update(queue=args.queue, target=args.target, timezone=config.company.timezone)
    doc["shown"] = {
        "queues": shown(doc["queues"], report.QUEUE_COLUMNS),
        "agents": shown(doc["agents"], report.AGENT_COLUMNS),
    }
    doc["agent_ces"] = await agent_ces(svc, sorted(config.agents), args.queue, args.span, zone)
    doc["scatter"] = await scatter(svc, args.queue, args.span)
    return doc


def shown(rows: dict[str, dict[str, Any]], columns: tuple[str, ...]) -> dict[str, Any]:
    """Each figure as the terminal report prints it (`ivr.web.report.show`)."""
    return {name: {c: report.show(c, row.get(c)) for c in columns} for name, row in rows.items()}


async def agent_ces(
    svc: Services, agents: list[str], queue: str | None, span: tuple[int, int], zone: ZoneInfo
) -> dict[str, dict[str, Any]]:
    """CES per agent, in the scopes `ivr report` uses for agents (the queue's, if filtered)."""
    out = {}
    for agent in agents:
        scope = f"qa:{queue}:{agent}" if queue else f"a:{agent}"
        figures = (await rollups.read_window(svc.redis, svc.keys, scope, *span, zone)).figures()
        out[agent] = {name: figures[name] for name in CES_FIGURES}
    return out


async def scatter(svc: Services, queue: str | None, span: tuple[int, int]) -> dict[str, Any]:
    """(FRT, CES) of the contacts that started in the range, were answered and were rated."""
    rows = await contacts.records(svc.redis, svc.keys, *span, queue)
    rated = [r for r in rows if r["frt_s"] is not None and r["ces"] is not None]
    points = [
        {k: r[k] for k in ("call", "queue", "agent", "frt_s", "ces")} for r in rated[:MAX_POINTS]
    ]
    return {"points": points, "rated": len(rated), "truncated": len(rated) > MAX_POINTS}


async def reports_api(request: Request) -> Response:
    await auth.require(request, auth.SUPERVISOR)
    svc = services(request)
    args = parse(svc.registry.current, request.query_params, svc.clock.now())
    return JSONResponse(await build(svc, args))


async def live_api(request: Request) -> Response:
    """The floor now, for the page's live card: `queues.metrics.rollups.live` with display names."""
    await auth.require(request, auth.SUPERVISOR)
    svc = services(request)
    config = svc.registry.current
    now = svc.clock.now()
    doc = await rollups.live(svc.redis, svc.keys, config, now)
    for name, figures in doc["queues"].items():
        figures["display_name"] = config.queues[name].display_name or name
    doc["at"] = datetime.fromtimestamp(now, ZoneInfo(config.company.timezone)).isoformat()
    return JSONResponse(doc)


async def reports_page(request: Request) -> Response:
    """The page: filters filled from the query (default today), charts drawn by reports.js."""
    principal = await auth.authenticate(request)
    if principal is None or not principal.csrf:
        return RedirectResponse("/login?as=supervisor", status_code=303)
    if principal.kind != auth.SUPERVISOR:
        return render(request, "forbidden.html", status=403, principal=principal)
    svc = services(request)
    config = svc.registry.current
    today = f"{datetime.fromtimestamp(svc.clock.now(), ZoneInfo(config.company.timezone)):%Y-%m-%d}"
    params = request.query_params
    filters = {
        "from": params.get("from") or today,
        "to": params.get("to") or today,
        "queue": params.get("queue") or "",
        "target": params.get("target") or f"{report.DEFAULT_TARGET:g}",
    }
    queues = {name: q.display_name or name for name, q in sorted(config.queues.items())}
    name = config.supervisors[principal.user].name
    return render(
        request, "reports.html", principal=principal, name=name, filters=filters, queues=queues
    )


routes = [
    Route("/supervisor/reports", reports_page, methods=["GET"]),
    Route("/api/supervisor/reports", reports_api, methods=["GET"]),
    Route("/api/supervisor/reports/live", live_api, methods=["GET"]),
]
