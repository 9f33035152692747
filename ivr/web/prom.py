"""`/metrics` for Prometheus: live queue and agent figures, FRT and wait histograms, survey
sends, and this process's webhook latency and errors.

Queue and agent figures are read at scrape time from routing's sets and the
metrics rollups (`queues.metrics.rollups`), so every web process reports the same
values. FRT and wait histograms come from the fold's all-time rollups, so they
only grow. Survey sends happen in the job worker, so they are counted in the
store (`Keys.metrics_survey_sends`, by `survey_sent.lua`) and read here too.
Webhook latency and errors are this process's own counters (`LatencyMiddleware`);
with several workers each one counts its own share. A scrape must send
`IVR_METRICS_TOKEN` as `Authorization: Bearer <token>`; with none set, every scrape gets 401.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ivr.service import Services, services
from queues.metrics import histogram, rollups

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
WEBHOOK_PREFIXES = ("/voice", "/sms")
LATENCY_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 15.0)
"""Twilio gives up on a webhook after 15 s."""

REGISTRY = CollectorRegistry(auto_describe=True)
WEBHOOK_LATENCY = Histogram(
    "ivr_webhook_latency_seconds",
    "Time to answer a Twilio webhook",
    ["path"],
    buckets=LATENCY_BUCKETS_S,
    registry=REGISTRY,
)
ERRORS = Counter(
    "ivr_http_errors", "Requests answered with a 5xx or an exception", ["path"], registry=REGISTRY
)


def route_label(path: str) -> str:
    """A bounded label: the first two path segments (/voice/incoming, /sms/incoming)."""
    return "/".join(path.split("/")[:3])


class LatencyMiddleware:
    """Times webhook requests and counts server errors (pure ASGI, no body buffering).

    Add it to the app with `Starlette(..., middleware=[Middleware(prom.LatencyMiddleware)])`.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path, started, status = route_label(scope["path"]), time.perf_counter(), [500]

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            if status[0] >= 500:
                ERRORS.labels(path=path).inc()
            if path.startswith(WEBHOOK_PREFIXES):
                WEBHOOK_LATENCY.labels(path=path).observe(time.perf_counter() - started)


def histogram_family(
    name: str, doc: str, by_queue: dict[str, rollups.Totals], field: str
) -> Metric:
    family = HistogramMetricFamily(name, doc, labels=["queue"])
    for queue, totals in by_queue.items():
        counts = totals.hist(field)
        buckets = [
            (f"{le:g}" if le != float("inf") else "+Inf", n)
            for le, n in histogram.cumulative(counts)
        ]
        family.add_metric([queue], buckets, totals[f"{field}_ms"] / 1000)
    return family


async def families(svc: Services) -> list[Metric]:
    """Every store-backed metric family, read now."""
    config = svc.registry.current
    live = await rollups.live(svc.redis, svc.keys, config, svc.clock.now())
    waiting = GaugeMetricFamily("ivr_queue_waiting", "Calls in the queue now", labels=["queue"])
    oldest = GaugeMetricFamily(
        "ivr_queue_oldest_wait_seconds", "Longest current wait", labels=["queue"]
    )
    sl = GaugeMetricFamily(
        "ivr_queue_service_level_today", "Service level so far today", labels=["queue"]
    )
    for q, figures in live["queues"].items():
        waiting.add_metric([q], figures["waiting"])
        oldest.add_metric([q], figures["oldest_wait_s"])
        if figures["service_level_today"] is not None:
            sl.add_metric([q], figures["service_level_today"])
    agents = GaugeMetricFamily("ivr_agents", "Agents by state", labels=["state"])
    for state, n in sorted(live["agents"].items()):
        agents.add_metric([state], n)
    by_queue = {q: await rollups.all_time(svc.redis, svc.keys, f"q:{q}") for q in config.queues}
    calls = CounterMetricFamily(
        "ivr_queue_calls", "Calls leaving a queue, by outcome", labels=["queue", "outcome"]
    )
    for q, totals in by_queue.items():
        for outcome in ("answered", "abandoned", "abandoned_short", "callbacks", "timeouts"):
            calls.add_metric([q, outcome], totals[outcome])
    return [
        waiting,
        oldest,
        sl,
        agents,
        calls,
        await survey_sends(svc),
        histogram_family(
            "ivr_frt_seconds", "First response time (arrival to agent)", by_queue, "frt"
        ),
        histogram_family("ivr_wait_seconds", "Queue wait of answered calls", by_queue, "wait"),
    ]


async def survey_sends(svc: Services) -> Metric:
    """Survey SMS sent, by queue and language, as counted in the store."""
    family = CounterMetricFamily(
        "ivr_survey_sends", "CES survey messages sent", labels=["queue", "language"]
    )
    counts = await svc.redis.hgetall(svc.keys.metrics_survey_sends())
    for field, n in sorted(counts.items()):
        queue, _, language = str(field).rpartition("|")
        family.add_metric([queue, language], int(n))
    return family


class Snapshot:
    """A one-shot collector over families already read (the registry API is synchronous)."""

    def __init__(self, found: list[Metric]) -> None:
        self.found = found

    def collect(self) -> Iterator[Metric]:
        yield from self.found


def authorised(request: Request, token: str | None) -> bool:
    """Whether the request carries the metrics token; with none configured, nobody does."""
    if not token:
        return False
    header = request.headers.get("authorization", "")
    return hmac.compare_digest(header.encode(), f"Bearer {token}".encode())


async def metrics(request: Request) -> Response:
    """The Prometheus text exposition; 401 without the bearer token when one is set."""
    svc = services(request)
    if not authorised(request, svc.settings.metrics_token):
        hint = "send IVR_METRICS_TOKEN as a bearer token (and set it, if it is not set)\n"
        return Response(hint, status_code=401, headers={"WWW-Authenticate": "Bearer"})
    scrape = CollectorRegistry(auto_describe=False)
    scrape.register(Snapshot(await families(svc)))
    body = generate_latest(scrape) + generate_latest(REGISTRY)
    return Response(body, media_type=CONTENT_TYPE)


routes: list[Any] = [Route("/metrics", metrics, methods=["GET"])]
