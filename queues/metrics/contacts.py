"""Contact detail records: one per call that reached a queue, exported as CSV or JSON Lines.

The fold writes each record (`Keys.metrics_contact`) and indexes it by the
contact's start in `Keys.metrics_contacts()`; records live as long as the
retention. Times are ISO 8601 UTC, durations in seconds; `talk_s` excludes hold
(`hold_s`), and a transferred call is one record, its agent the last one. `repeat_contact` marks a
contact from a number whose previous contact started within the FCR window before
it: the repeat, not the original (whose FCR it fails).
"""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime
from typing import Any, TextIO

import redis.asyncio as aioredis

from ivr.core.keys import Keys

COLUMNS = (
    "call",
    "caller",
    "started_at",
    "queue",
    "agent",
    "language",
    "path",
    "outcome",
    "answered_at",
    "ended_at",
    "frt_s",
    "wait_s",
    "talk_s",
    "hold_s",
    "transfers",
    "disposition",
    "ces",
    "repeat_contact",
)
TIMES = {"started_at": "started_ms", "answered_at": "answered_ms", "ended_at": "ended_ms"}
DURATIONS = {"frt_s": "frt_ms", "wait_s": "wait_ms", "talk_s": "talk_ms", "hold_s": "hold_ms"}
PAGE = 500


def iso(ms: str) -> str:
    return datetime.fromtimestamp(int(ms) / 1000, UTC).isoformat() if ms else ""


def row(raw: dict[str, str]) -> dict[str, Any]:
    """One stored record as an export row."""
    out: dict[str, Any] = {name: raw.get(name, "") for name in COLUMNS}
    for name, source in TIMES.items():
        out[name] = iso(raw.get(source, ""))
    for name, source in DURATIONS.items():
        out[name] = int(raw[source]) / 1000 if raw.get(source) else None
    out["ces"] = int(raw["ces"]) if raw.get("ces") else None
    out["transfers"] = int(raw.get("transfers") or 0)
    # The contact that came back within the FCR window (the earlier one fails FCR).
    out["repeat_contact"] = bool(raw.get("repeat_of"))
    return out


async def records(
    redis: aioredis.Redis,
    keys: Keys,
    start_ms: int,
    end_ms: int,
    queue: str | None = None,
    agent: str | None = None,
) -> list[dict[str, Any]]:
    """Rows of contacts that started in [start, end), oldest first, optionally filtered."""
    calls: list[str] = await redis.zrangebyscore(  # type: ignore[assignment]
        keys.metrics_contacts(), start_ms, f"({end_ms}"
    )
    out = []
    for first in range(0, len(calls), PAGE):
        async with redis.pipeline(transaction=False) as pipe:
            for call in calls[first : first + PAGE]:
                pipe.hgetall(keys.metrics_contact(call))
            for raw in await pipe.execute():
                if raw and queue in (None, raw.get("queue")) and agent in (None, raw.get("agent")):
                    out.append(row(raw))
    return out


def write(rows: list[dict[str, Any]], fmt: str, out: TextIO) -> None:
    """Write rows as `csv` (a header, then one line each) or `jsonl`."""
    if fmt == "jsonl":
        for r in rows:
            out.write(json.dumps(r, ensure_ascii=False) + "\n")
        return
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow({k: "" if v is None else v for k, v in r.items()})
