"""`/metrics` for Prometheus: live queue and agent figures, the service level's counters,
FRT and wait histograms, survey sends, voicemails, the job worker's heartbeat, the store's
state, the build, and webhook latency and errors.

Queue and agent figures are read at scrape time from routing's sets and the
metrics rollups (`queues.metrics.rollups`), so every web process reports the same
values; every agent state and every configured queue is there, at 0 when empty,
so an alert on "available == 0" has a series to fire on. Counters (calls, the
service level's within/eligible pair, FRT and wait histograms, handle time by part,
transfers, consults and hold lengths) come from the
fold's all-time rollups, so they only grow. Survey sends happen in the job worker,
so they are counted in the store (`Keys.metrics_survey_sends`, by `survey_sent.lua`)
and read here too. Webhook latency and errors are measured in each process
(`LatencyMiddleware`) and counted in the store (`ivr.web.tally`), so with several
workers every scrape counts every worker's requests. With the store down the scrape
still answers 200, with `ivr_store_up 0` and the build info. A scrape must send
`IVR_METRICS_TOKEN` as `Authorization: Bearer <token>`; with none set, every scrape
gets 401. docs/metrics.md lists the series and the alert rules that use them
(`deploy/prometheus/alerts.yml`).
"""

from __future__ import annotations

import hmac
import platform
import time
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
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

from callbacks import heartbeat
from ivr import __version__
from ivr.core import outbound
from ivr.core.outage import is_outage
from ivr.core.urls import route_path
from ivr.service import Services, services
from ivr.web import tally, voicemails
from queues import agent
from queues.decisions import DECISIONS
from queues.metrics import histogram, rollups, sms_costs
from queues.metrics.fold_controls import CONSULT_OUTCOMES

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
WEBHOOK_PREFIXES = ("/voice", "/sms")


def route_label(path: str) -> str:
    """A bounded label: the first two path segments (/voice/incoming, /sms/incoming)."""
    return "/".join(path.split("/")[:3])


class LatencyMiddleware:
    """Times webhook requests and counts server errors (pure ASGI, no body buffering).

    Add it to the app with `Starlette(..., middleware=[Middleware(prom.LatencyMiddleware)])`.
    """

    def __init__(self, app: ASGIApp, counts: tally.Tally = tally.TALLY) -> None:
        self.app = app
        self.counts = counts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path, started = route_label(route_path(scope["path"])), time.perf_counter()
        status = [500]

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            if status[0] >= 500:
                self.counts.error(path)
            if path.startswith(WEBHOOK_PREFIXES):
                self.counts.latency(path, time.perf_counter() - started)
        svc = getattr(scope["app"].state, "services", None)  # None before the lifespan ran
        if svc is not None:
            await self.counts.flush(svc.redis, svc.keys)  # the response has gone already


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
    """Every store-backed metric family, read now (raises a `STORE_ERRORS` error when down)."""
    config = svc.registry.current
    live = await rollups.live(svc.redis, svc.keys, config, svc.clock.now())
    by_queue = {q: await rollups.all_time(svc.redis, svc.keys, f"q:{q}") for q in config.queues}
    return [
        *queue_gauges(live["queues"]),
        agents_family(live["agents"]),
        calls_family(by_queue),
        callbacks_family(by_queue),
        histogram_family(
            "ivr_callback_answer_seconds",
            "Callbacks: time from the request to the customer connected to an agent",
            by_queue,
            "callback_answer",
        ),
        *service_level_counters(by_queue),
        await survey_sends(svc),
        *await sms_families(svc),
        histogram_family(
            "ivr_frt_seconds", "First response time (arrival to agent)", by_queue, "frt"
        ),
        histogram_family("ivr_wait_seconds", "Queue wait of answered calls", by_queue, "wait"),
        *control_families(by_queue),
        *await voicemail_gauges(svc),
        *await worker_gauges(svc),
        *await outbound_gauges(svc),
        *http_families(await tally.read(svc.redis, svc.keys)),
    ]


def http_families(totals: dict[str, float]) -> list[Metric]:
    """Webhook latency and server errors of every web process (`ivr.web.tally`)."""
    latency = HistogramMetricFamily(
        "ivr_webhook_latency_seconds", "Time to answer a Twilio webhook", labels=["path"]
    )
    for path in tally.paths(totals, "count"):
        latency.add_metric([path], tally.cumulative(totals, path), totals[f"sum|{path}"])
    errors = CounterMetricFamily(
        "ivr_http_errors", "Requests answered with a 5xx or an exception", labels=["path"]
    )
    for path in tally.paths(totals, "errors"):
        errors.add_metric([path], totals[f"errors|{path}"])
    return [latency, errors]


def decisions_family() -> Metric:
    """Routing decision times of this process (`queues.decisions`), by script."""
    family = HistogramMetricFamily(
        "ivr_routing_decision_seconds",
        "Time of one routing script run, as this web process sees it",
        labels=["script"],
    )
    for script in sorted(DECISIONS.counts):
        family.add_metric([script], DECISIONS.cumulative(script), DECISIONS.sums[script])
    return family


def queue_gauges(queues: dict[str, Any]) -> list[Metric]:
    """Calls waiting, oldest wait and service level today, for every configured queue."""
    waiting = GaugeMetricFamily("ivr_queue_waiting", "Calls in the queue now", labels=["queue"])
    oldest = GaugeMetricFamily(
        "ivr_queue_oldest_wait_seconds", "Longest current wait", labels=["queue"]
    )
    sl = GaugeMetricFamily(
        "ivr_queue_service_level_today", "Service level so far today", labels=["queue"]
    )
    for q, figures in queues.items():
        waiting.add_metric([q], figures["waiting"])
        oldest.add_metric([q], figures["oldest_wait_s"])
        if figures["service_level_today"] is not None:
            sl.add_metric([q], figures["service_level_today"])
    return [waiting, oldest, sl]


def agents_family(by_state: dict[str, int]) -> Metric:
    """The configured agents by state, every routing state present (0 when nobody is in it),
    so an `ivr_agents{state="available"} == 0` alert has a series to fire on."""
    agents = GaugeMetricFamily("ivr_agents", "Agents by state", labels=["state"])
    for state, n in sorted((dict.fromkeys(agent.STATES, 0) | by_state).items()):
        agents.add_metric([state], n)
    return agents


def calls_family(by_queue: dict[str, rollups.Totals]) -> Metric:
    calls = CounterMetricFamily(
        "ivr_queue_calls", "Calls leaving a queue, by outcome", labels=["queue", "outcome"]
    )
    for q, totals in by_queue.items():
        for outcome in ("answered", "abandoned", "abandoned_short", "callbacks", "timeouts"):
            calls.add_metric([q, outcome], totals[outcome])
    return calls


CALLBACK_OUTCOMES = {
    "requested": "callbacks_requested",
    "reached": "callbacks_reached",
    "completed": "callbacks_completed",
}
"""`ivr_callbacks_total` outcomes and the rollup fields they read."""


def callbacks_family(by_queue: dict[str, rollups.Totals]) -> Metric:
    """Callbacks, their own contact type (in no `ivr_queue_calls` outcome but `callbacks`, the
    inbound calls that left for one): completion is increase(completed) / increase(requested)."""
    family = CounterMetricFamily(
        "ivr_callbacks",
        "Callbacks requested, reached (customer connected) and completed (reached and handled)",
        labels=["queue", "outcome"],
    )
    for q, totals in by_queue.items():
        for outcome, field in CALLBACK_OUTCOMES.items():
            family.add_metric([q, outcome], totals[field])
    return family


HANDLE_PARTS = {"talk": "talk_ms", "hold": "hold_ms", "acw": "wrap_ms"}
"""`ivr_handle_seconds_total` parts and the rollup fields they read: AHT's three terms."""


def control_families(by_queue: dict[str, rollups.Totals]) -> list[Metric]:
    """Handle time by part and contacts handled (AHT over a window is the increase of the
    one over the other), transfers by kind and mode, consults by outcome, and hold lengths."""
    handled = CounterMetricFamily(
        "ivr_queue_handled", "Contacts handled in the queue (once per contact)", labels=["queue"]
    )
    parts = CounterMetricFamily(
        "ivr_handle_seconds",
        "Agent time on the queue's contacts: talk (hold excluded), hold, after-call work",
        labels=["queue", "part"],
    )
    transfers = CounterMetricFamily(
        "ivr_transfers", "Calls transferred out of the queue", labels=["queue", "kind", "mode"]
    )
    consults = CounterMetricFamily(
        "ivr_consults", "Warm transfers' consults, by outcome", labels=["queue", "outcome"]
    )
    for q, totals in by_queue.items():
        handled.add_metric([q], totals["handled"])
        for part, field in HANDLE_PARTS.items():
            parts.add_metric([q, part], totals[field] / 1000)
        for (kind, mode), n in totals.transfers_by().items():
            transfers.add_metric([q, kind, mode], n)
        for outcome in CONSULT_OUTCOMES:
            consults.add_metric([q, outcome], totals[f"consults_{outcome}"])
    hold = histogram_family("ivr_hold_seconds", "Length of each hold", by_queue, "hold")
    return [handled, parts, transfers, consults, hold]


def service_level_counters(by_queue: dict[str, rollups.Totals]) -> list[Metric]:
    """The two sides of the one service level (`Totals.service_level_terms`), all time: the
    service level over a window is increase(within) / increase(eligible)."""
    within = CounterMetricFamily(
        "ivr_queue_service_level_within",
        "Calls answered or abandoned within the queue's service-level threshold",
        labels=["queue"],
    )
    eligible = CounterMetricFamily(
        "ivr_queue_service_level_eligible",
        "Calls counted in the service level (answered, abandoned, timed out)",
        labels=["queue"],
    )
    for q, totals in by_queue.items():
        inside, counted = totals.service_level_terms()
        within.add_metric([q], inside)
        eligible.add_metric([q], counted)
    return [within, eligible]


async def voicemail_gauges(svc: Services) -> list[Metric]:
    """Voicemails nobody has dealt with yet (`ivr.web.voicemails`: not marked handled), and
    when the oldest of them was left (absent with none)."""
    waiting = await voicemails.listing(svc, unhandled_only=True)
    count = GaugeMetricFamily("ivr_voicemails_unhandled", "Voicemails waiting to be dealt with")
    count.add_metric([], len(waiting))
    oldest = GaugeMetricFamily(
        "ivr_voicemail_oldest_unhandled_timestamp_seconds",
        "When the oldest unhandled voicemail was left (Unix seconds)",
    )
    if waiting:
        oldest.add_metric([], min(float(row["at"] or 0) for row in waiting))
    return [count, oldest, *await voicemail_queue_gauges(svc)]


async def voicemail_queue_gauges(svc: Services) -> list[Metric]:
    """The same backlog per queue (`queue=""`: left in the menu), with the oldest one's age
    on the service clock (absent for a queue with none)."""
    count = GaugeMetricFamily(
        "ivr_queue_voicemails_unhandled",
        "Voicemails waiting to be dealt with, per queue",
        labels=["queue"],
    )
    age = GaugeMetricFamily(
        "ivr_queue_voicemail_oldest_unhandled_age_seconds",
        "How long the queue's oldest unhandled voicemail has waited",
        labels=["queue"],
    )
    for queue, backlog in sorted((await voicemails.backlog(svc)).items()):
        count.add_metric([queue], backlog.count)
        if backlog.oldest_age_s is not None:
            age.add_metric([queue], backlog.oldest_age_s)
    return [count, age]


async def worker_gauges(svc: Services) -> list[Metric]:
    """Seconds since a job worker last beat (`callbacks.heartbeat`); absent when none ever did."""
    family = GaugeMetricFamily(
        "ivr_worker_heartbeat_age_seconds", "Seconds since any job worker last went round its loop"
    )
    age = await heartbeat.age_s(svc.redis, svc.keys, time.time())
    if age is not None:
        family.add_metric([], age)
    return [family]


async def outbound_gauges(svc: Services) -> list[Metric]:
    """The outbound backlog (`ivr.core.outbound`): agent rings and callback legs asked of
    Twilio and not ringing yet (waiting for the account's calls per second), and the age of
    the oldest (0 with none)."""
    found = await outbound.backlog(svc.redis, svc.keys, svc.clock.now())
    legs = GaugeMetricFamily(
        "ivr_outbound_backlog", "Outbound legs requested and not ringing yet (paced by CPS)"
    )
    legs.add_metric([], found.legs)
    oldest = GaugeMetricFamily(
        "ivr_outbound_backlog_oldest_seconds", "How long the oldest of those legs has waited"
    )
    oldest.add_metric([], found.oldest_s)
    return [legs, oldest]


def build_info() -> Metric:
    """`ivr_build_info{version, python} 1`: which release is running."""
    family = GaugeMetricFamily(
        "ivr_build_info", "The running release", labels=["version", "python"]
    )
    family.add_metric([__version__, platform.python_version()], 1)
    return family


async def store_families(svc: Services) -> list[Metric]:
    """`ivr_store_up` and, with the store up, every store-backed family. With it down the
    scrape still answers (200), so Prometheus sees `ivr_store_up 0` rather than a failed
    scrape."""
    up = GaugeMetricFamily("ivr_store_up", "Whether the store (Valkey/Redis) answered this scrape")
    try:
        found = await families(svc)
    except Exception as exc:  # down, or refusing reads (MASTERDOWN): `is_outage`
        if not is_outage(exc):
            raise
        up.add_metric([], 0)
        return [up]
    up.add_metric([], 1)
    return [up, *found]


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


async def sms_families(svc: Services) -> list[Metric]:
    """Texts sent and the carrier segments they cost, by text and encoding."""
    sent = CounterMetricFamily(
        "ivr_sms_sent", "SMS messages Twilio accepted", labels=["kind", "encoding"]
    )
    billed = CounterMetricFamily(
        "ivr_sms_segments",
        "Carrier segments of those messages (each billed as one SMS)",
        labels=["kind", "encoding"],
    )
    for (what, kind, encoding), n in sorted((await sms_costs.totals(svc.redis, svc.keys)).items()):
        (sent if what == "messages" else billed).add_metric([kind, encoding], n)
    return [sent, billed]


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
    await tally.TALLY.flush(svc.redis, svc.keys)  # this process's latest requests count too
    scrape = CollectorRegistry(auto_describe=False)
    scrape.register(Snapshot([build_info(), decisions_family(), *await store_families(svc)]))
    body = generate_latest(scrape)
    return Response(body, media_type=CONTENT_TYPE)


routes: list[Any] = [Route("/metrics", metrics, methods=["GET"])]
