"""Reading the app's `/metrics`: routing decision bucket counts and calls waiting.

Decision times live in each web process (`queues.decisions`), so with several processes
every one is read, on its own port, and their buckets are added up.
"""

from __future__ import annotations

import asyncio

import httpx

from bench.capacity.defaults import METRICS_TOKEN, SCRAPE_TIMEOUT_S
from bench.webhooks import HOST

Scrape = dict[str, float]
"""`le|<bound>` -> decisions at or below it (summed over scripts and processes), and
`waiting` -> calls waiting in the workspace's queues."""


async def scrape_all(ports: list[int], path: str) -> Scrape:
    """Every process's `/metrics` at `path`: decision buckets summed, calls waiting once
    (the store's count, the same from every process). Nothing when one did not answer."""
    async with httpx.AsyncClient(timeout=SCRAPE_TIMEOUT_S) as http:
        reads = await asyncio.gather(*(read_metrics(http, port, path) for port in ports))
    if not all(reads):
        return {}
    out: Scrape = {"waiting": reads[0].get("waiting", 0.0)}
    for read in reads:
        for key, value in read.items():
            if key.startswith("le|"):
                out[key] = out.get(key, 0.0) + value
    return out


async def read_metrics(http: httpx.AsyncClient, port: int, path: str) -> Scrape:
    """One process's routing decision buckets and calls waiting ({} if it did not answer)."""
    try:
        response = await http.get(
            f"http://{HOST}:{port}{path}", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}
        )
    except httpx.HTTPError as exc:
        print(f"  /metrics of :{port} not read: {exc!r}", flush=True)
        return {}
    return parse(response.text)


def parse(text: str) -> Scrape:
    """The decision histogram (summed over scripts) and calls waiting of one exposition."""
    out: Scrape = {}
    for line in text.splitlines():
        if line.startswith("ivr_routing_decision_seconds_bucket"):
            key = "le|" + line.split('le="', 1)[1].split('"', 1)[0]
            out[key] = out.get(key, 0.0) + float(line.rsplit(" ", 1)[1])
        elif line.startswith("ivr_queue_waiting{"):
            out["waiting"] = out.get("waiting", 0.0) + float(line.rsplit(" ", 1)[1])
    return out
