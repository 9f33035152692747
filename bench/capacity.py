"""Capacity: how many calls one machine carries with callers on hold, open loop.

    .venv/bin/python -m bench.capacity [--quick] [--hold 2000] [--rates 5000 10000 20000 40000]

One run starts a real Valkey (`EmbeddedStore`), the real app under uvicorn as
`ivr serve --no-worker` runs it (one process, signature validation on) on a
temporary copy of `config/` with 1,000 generated agents and queues that keep
their callers (no max wait, no size limit), and a small stand-in for Twilio's
REST API (`IVR_TWILIO_API_URL`) that answers `calls.create`/`update`/`list` and
`queues.delete`. The script then plays Twilio for every call:

- a caller posts `/voice/incoming`, hears each `<Say>`/`<Play>`/`<Pause>` for as long
  as it would play, presses the menu digits in the `<Gather>`s, follows
  `<Redirect>`s, and at `<Enqueue>` fetches its waitUrl again whenever the returned
  TwiML would have finished playing (the hold loop), until an agent dequeues it;
- an agent leg rung through the REST stand-in posts its status callbacks
  (initiated, ringing, answered, completed), answers after `RING_S`, hears the whisper,
  presses 1 and runs the bridge it gets (`<Dial><Queue>`: the caller's `<Queue url>` is
  fetched on the caller's leg; `<Dial><Conference>`: both legs join), talks, and hangs
  up: the Dial action, the caller's Enqueue action and both legs' status callbacks.

Every webhook is sent at the moment Twilio would send it and timed from that
scheduled moment (so a slow server shows its queueing instead of slowing the
client: no coordinated omission). Arrivals are a Poisson stream on a fixed,
seeded schedule. First a fast ramp fills the queues to `--hold` callers; then
each rate of `--rates` (calls per hour) runs for a settling time and a
measurement window, with as many agents available as answer calls at that rate,
so the number on hold stays level (a top-up ramp before each window restores it).

Reported per rate: webhook p50/p99 (client side, from the schedule), routing
decision p99 (server side: `ivr_routing_decision_seconds` on `/metrics`, one
routing Lua script run as the app sees it), callers on hold, and whether the
targets hold (webhook p99 <= 50 ms, decision p99 <= 20 ms). Written to the
`## Capacity` section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import copy
import gc
import hashlib
import itertools
import json
import math
import os
import random
import shutil
import signal
import sys
import tempfile
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import uvloop
import yaml
from twilio.request_validator import RequestValidator

from bench.docs import DOCS, ROOT, write_section
from bench.docs import machine as host_lines
from bench.webhooks import HOST, UVICORN_FLAGS, Server, percentile
from ivr.config.reload import ConfigRegistry
from ivr.core.clock import SystemClock
from ivr.core.settings import Settings
from ivr.core.store import STORE_ERRORS, EmbeddedStore, async_client, free_port
from ivr.handlers import build_services
from ivr.service import Services
from ivr.voice import offers
from tests.clusters import Cluster

SECTION = "## Capacity"
SCALING_SECTION = "## Capacity: shards and workspaces"
TOKEN = "bench-auth-token"
METRICS_TOKEN = "bench-metrics"
PUBLIC_BASE = "https://ivr.example.com"
BUSINESS = "+60312345678"
ACCOUNT = "AC" + "0" * 32

WEBHOOK_P99_TARGET_MS = 50.0
DECISION_P99_TARGET_MS = 20.0
CALLS_TARGET_PER_H = 5000
HOLD_TARGET = 2000
AGENTS = 1000

SAY_S_PER_WORD = 0.4
"""Text-to-speech pace (the app's own estimate, `ivr.voice.hold.SPEECH_S_PER_WORD`)."""
UNKNOWN_PLAY_S = 30.0
"""A `<Play>` of a URL whose length is unknown (not in the generated music clips)."""
MAX_PROMPT_WAIT_S = 6.0
"""A caller presses a menu key at most this long into the prompt (barging in)."""
KEY_S = 1.0
"""From the end of listening to the key press reaching the app."""
RING_S = 2.0
"""How long an agent's phone rings before they answer."""
WRAP_UP_S = 5
"""Generated queues' wrap-up: short, so a few hundred agents carry thousands of calls."""
TALK_MIN_S = 5.0
TALK_MAX_S = 20.0
FIXED_CYCLE_S = 16.0
"""An agent's time per call besides talking: ring, whisper, bridge, wrap-up, re-offer."""
MUSIC_CLIP_S = 15
CONNECTIONS = 48
"""Keep-alive connections the client spreads webhooks over. Kept below the app's store
pool (redis-py's default of 100 connections; a request may hold two): many more webhooks in
flight get degraded answers (`MaxConnectionsError`), a cliff no rate within the targets
comes near (at 200 webhooks/s and 50 ms, 10 are in flight). A request waiting for a free connection
is still timed from its schedule."""
REQUEST_TIMEOUT_S = 15.0
"""Twilio gives up on a webhook after 15 s."""
PREFILL_RATE = 40.0
"""Arrivals per second while filling the queues."""
SECRET = "bench-agent"
SATURATED_CPU = 0.9
FILL_SHARE = 0.98
"""The ramp ends at this share of `--hold` (a few callers may still be in the menu)."""
MAX_CLIENT_LAG_MS = 20.0
"""A client that sent later than this (p99) was starved itself: its latencies say little."""
"""The run stops after two rates that miss a target with the app using this much of a CPU."""


# -- the generated config ------------------------------------------------------------


def cheap_hash(secret: str) -> str:
    """A `secret_hash` (ivr.web.auth format) with tiny scrypt costs: 1,000 logins stay cheap."""
    salt = os.urandom(16)
    digest = hashlib.scrypt(secret.encode(), salt=salt, n=2, r=1, p=1, dklen=32)

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).decode().rstrip("=")

    return f"scrypt$2$1$1${b64(salt)}${b64(digest)}"


def agents_yaml(n: int, rng: random.Random) -> dict[str, object]:
    """`n` agents, each with two of the three queues' skills, English and often Malay."""
    agents: dict[str, object] = {}
    secret_hash = cheap_hash(SECRET)
    for i in range(n):
        skills = {q: rng.randint(2, 5) for q in rng.sample(["billing", "support", "sales"], 2)}
        skills["en"] = 5
        if rng.random() < 0.6:
            skills["ms"] = rng.randint(3, 5)
        agents[f"a{i:04d}"] = {
            "name": f"Agent {i}",
            "skills": skills,
            "device": f"client:a{i:04d}",
            "secret_hash": secret_hash,
        }
    return {"agents": agents}


def queues_yaml() -> dict[str, object]:
    """The sample's three queues, with patient callers: no max wait, size or EWT exit."""
    clips = [
        {"url": f"https://music.example.com/hold-{i}.mp3", "seconds": MUSIC_CLIP_S}
        for i in range(4)
    ]
    hold = {"announce_every_s": 45, "music_clips": clips}
    patient = {"no_agents_after_s": None}  # nobody leaves while no agent is logged in
    return {
        "queues": {
            "billing": {
                "display_name": "Billing",
                **patient,
                "required_skills": {"billing": 1},
                "language_required": False,
                "escalation": [
                    {"after_s": 30, "required_skills": {"billing": 4}, "language_required": True}
                ],
                "ring_timeout_s": 20,
                "wrap_up_s": WRAP_UP_S,
                "hold": {
                    **hold,
                    "messages": [
                        {"every_s": 60, "text": {"en": "You can also pay your bill online."}}
                    ],
                },
            },
            "support": {
                "display_name": "Technical support",
                **patient,
                "required_skills": {"support": 1},
                "strategy": "most_skilled",
                "wrap_up_s": WRAP_UP_S,
                "hold": {**hold, "callback_key": "1", "callback_offer_after_estimate_s": 30},
            },
            "sales": {
                "display_name": "Sales",
                **patient,
                "required_skills": {"sales": 1},
                "wrap_up_s": WRAP_UP_S,
                "weight": 2,
                "hold": hold,
            },
        }
    }


def make_config(work: Path, agents: int, name: str = "config", number: str = "") -> Path:
    """A copy of config/ with generated agents and queues, open around the clock (and
    listing `number`, for a workspace)."""
    folder = work / name
    shutil.copytree(ROOT / "config", folder)
    rng = random.Random(17)
    (folder / "agents.yaml").write_text(yaml.safe_dump(agents_yaml(agents, rng)))
    (folder / "queues.yaml").write_text(yaml.safe_dump(queues_yaml(), allow_unicode=True))
    business = yaml.safe_load((folder / "business.yaml").read_text())
    always = ["00:00-24:00"]
    office = business["hours"]["office"]
    office["weekly"] = {d: always for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
    office["holidays"], office["special"] = [], {}
    if number:
        business["numbers"] = [number]
    (folder / "business.yaml").write_text(yaml.safe_dump(business, allow_unicode=True))
    return folder


def music_seconds() -> dict[str, float]:
    clips = queues_yaml()["queues"]["billing"]["hold"]["music_clips"]  # type: ignore[index]
    return {c["url"]: float(c["seconds"]) for c in clips}


# -- latency records -----------------------------------------------------------------


@dataclass
class Window:
    """Webhook latencies of requests scheduled inside one measurement window."""

    start: float = 0.0
    end: float = math.inf
    latencies: list[float] = field(default_factory=list)
    lags: list[float] = field(default_factory=list)
    by_path: dict[str, list[float]] = field(default_factory=dict)
    errors: int = 0
    arrivals: int = 0
    answered: int = 0
    hold_samples: list[int] = field(default_factory=list)

    def covers(self, due: float) -> bool:
        return self.start <= due < self.end


# -- HTTP: the webhook client --------------------------------------------------------


class Client:
    """Signed webhook POSTs over a pool of keep-alive connections, timed from `due`."""

    def __init__(self, port: int, connections: int) -> None:
        self.port = port
        self.connections = connections
        self.queue: asyncio.Queue[tuple[list[float], bytes, asyncio.Future[tuple[int, bytes]]]]
        self.queue = asyncio.Queue()
        self.workers: list[asyncio.Task[None]] = []
        self.validator = RequestValidator(TOKEN)
        self.window: Window | None = None
        self.total = 0
        self.errors = 0
        self.failures: dict[str, int] = {}

    async def start(self) -> None:
        for _ in range(self.connections):
            self.workers.append(asyncio.create_task(self._worker()))

    async def close(self) -> None:
        for task in self.workers:
            task.cancel()
        await asyncio.gather(*self.workers, return_exceptions=True)

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.open_connection(HOST, self.port)

    async def _worker(self) -> None:
        reader, writer = await self._connect()
        while True:
            sent, request, done = await self.queue.get()
            sent[0] = time.perf_counter()
            try:
                if reader.at_eof() or writer.is_closing():
                    raise ConnectionResetError("closed while idle")
                writer.write(request)
                answer = await asyncio.wait_for(read_response(reader), REQUEST_TIMEOUT_S)
            except (ConnectionError, asyncio.IncompleteReadError):
                # uvicorn closes a keep-alive connection idle for 5 s: nothing of this request
                # was answered, so send it again on a new connection (as any HTTP client does)
                writer.close()
                reader, writer = await self._reconnect()
                try:
                    writer.write(request)
                    answer = await asyncio.wait_for(read_response(reader), REQUEST_TIMEOUT_S)
                except Exception as again:  # noqa: BLE001
                    writer.close()
                    if not done.done():
                        done.set_exception(again)
                    reader, writer = await self._reconnect()
                    continue
            except Exception as exc:  # noqa: BLE001 (any failure: answer it, start afresh)
                writer.close()
                if not done.done():
                    done.set_exception(exc)
                reader, writer = await self._reconnect()
                continue
            if not done.done():
                done.set_result(answer)

    async def _reconnect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        while True:
            try:
                return await self._connect()
            except OSError:
                await asyncio.sleep(0.1)

    async def post(self, url: str, form: dict[str, str], due: float) -> str:
        """POST a signed webhook at `due` (perf_counter time); its body ('' on failure)."""
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        full = url if url.startswith("http") else PUBLIC_BASE + url
        parts = urlsplit(full)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        body = urlencode(form).encode()
        signature = self.validator.compute_signature(full, form)
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {HOST}:{self.port}\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\n"
            f"X-Twilio-Signature: {signature}\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        sent = [time.perf_counter()]  # when a connection writes it (the worker sets it)
        done: asyncio.Future[tuple[int, bytes]] = asyncio.get_running_loop().create_future()
        await self.queue.put((sent, head.encode() + body, done))
        ok, text, why = True, "", ""
        try:
            status, raw = await done
            ok, why = status < 400, str(status)
            text = raw.decode()
        except Exception as exc:  # noqa: BLE001 (counted as a failed webhook)
            ok, why = False, type(exc).__name__
        if not ok:
            name = f"{parts.path} {why}"
            self.failures[name] = self.failures.get(name, 0) + 1
        self.record(parts.path, due, sent[0], ok)
        return text

    def record(self, path: str, due: float, sent: float, ok: bool) -> None:
        latency = time.perf_counter() - due
        self.total += 1
        self.errors += not ok
        w = self.window
        if w is not None and w.covers(due):
            w.latencies.append(latency)
            w.lags.append(sent - due)
            w.by_path.setdefault(path, []).append(latency)
            w.errors += not ok


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    length = 0
    chunked = False
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip())
        if name.strip().lower() == "transfer-encoding" and "chunked" in value:
            chunked = True
    if chunked:
        body = b""
        while True:
            size = int((await reader.readuntil(b"\r\n")).strip(), 16)
            chunk = await reader.readexactly(size + 2)
            if size == 0:
                break
            body += chunk[:-2]
        return status, body
    return status, await reader.readexactly(length)


# -- the Twilio side: queues, calls and the REST stand-in ----------------------------


@dataclass
class Leg:
    """One phone call leg as Twilio keeps it."""

    sid: str
    from_: str
    to: str
    direction: str = "inbound"
    status_callback: str = ""
    interrupt: asyncio.Future[tuple[str, object]] | None = None
    queue: str = ""
    queue_sid: str = ""
    enqueued_at: float = 0.0
    hung_up: bool = False
    answered_at: float = 0.0
    last: str = ""
    """The last TwiML document the leg got."""

    def form(self, status: str = "in-progress", **extra: str) -> dict[str, str]:
        form = {
            "AccountSid": ACCOUNT,
            "ApiVersion": "2010-04-01",
            "CallSid": self.sid,
            "CallStatus": status,
            "Direction": self.direction,
            "From": self.from_,
            "To": self.to,
            "Caller": self.from_,
            "Called": self.to,
        }
        form.update(extra)
        return form


@dataclass
class Conf:
    """A conference as Twilio keeps it: its members (leg, label, endConferenceOnExit)."""

    name: str
    sid: str
    noun: ET.Element
    members: dict[str, tuple[Leg, str, bool]] = field(default_factory=dict)
    seq: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    talking: bool = False


class Twilio:
    """The bench's Twilio: runs calls' TwiML, keeps the queues, answers the REST API."""

    def __init__(self, client: Client, rng: random.Random, talk_s: float) -> None:
        self.client = client
        self.rng = rng
        self.talk_s = talk_s
        self.queues: dict[str, Leg] = {}
        """Queue name -> the caller in it (the app gives every caller its own queue)."""
        self.queue_sids: dict[str, str] = {}
        self.legs: dict[str, Leg] = {}
        self.music = music_seconds()
        self.tasks: set[asyncio.Task[None]] = set()
        self.rest_calls = 0
        self.dequeue_misses = 0
        self.bridged = 0
        self.twiml_errors = 0
        self.window: Window | None = None
        self.conferences: dict[str, Conf] = {}
        self.numbers = [BUSINESS]
        """The numbers callers dial, in turn (one per workspace)."""
        self.turn = itertools.count()
        self.in_menu = 0
        """Callers not yet in a queue (in the menu, or between a menu and `<Enqueue>`)."""
        self.unqueued: dict[str, int] = {}
        """Callers who ended before reaching a queue, by the last TwiML they got."""

    def spawn(self, coro: object) -> None:
        task = asyncio.ensure_future(coro)  # type: ignore[call-overload]
        self.tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self.twiml_errors += 1
            print(f"  call task failed: {task.exception()!r}", flush=True)

    @property
    def on_hold(self) -> int:
        return len(self.queues)

    # -- timing of what a caller hears
    def play_s(self, node: ET.Element) -> float:
        """How long `node` (Say, Play, Pause, or a Gather's children) takes to play."""
        tag = node.tag
        loop = int(node.get("loop", "1") or 1) or 3  # loop=0: repeats; counted as 3
        if tag == "Say":
            return len((node.text or "").split()) * SAY_S_PER_WORD * loop
        if tag == "Play":
            return self.music.get((node.text or "").strip(), UNKNOWN_PLAY_S) * loop
        if tag == "Pause":
            return float(node.get("length", "1"))
        return sum(self.play_s(child) for child in node)

    # -- a caller
    async def caller(self, due: float, plan: list[str]) -> None:
        dialled = self.numbers[next(self.turn) % len(self.numbers)]
        leg = Leg("CA" + uuid.uuid4().hex, f"+6019{self.rng.randrange(10**7):07d}", dialled)
        self.legs[leg.sid] = leg
        self.in_menu += 1
        text = await self.client.post("/voice/incoming", leg.form("ringing"), due)
        try:
            await self.run(leg, text, time.perf_counter(), plan)
        finally:
            if not leg.queue_sid:
                self.in_menu -= 1
                last = leg.last[-160:]
                self.unqueued[last] = self.unqueued.get(last, 0) + 1
        leg.hung_up = True
        await self.client.post("/voice/status", leg.form("completed"), time.perf_counter())
        self.legs.pop(leg.sid, None)

    async def run(self, leg: Leg, text: str, at: float, plan: list[str]) -> None:
        """Run a TwiML document on `leg` from time `at`, following where it leads."""
        while text and not leg.hung_up:
            leg.last = text
            try:
                root = ET.fromstring(text)
            except ET.ParseError:
                self.twiml_errors += 1
                return
            step = await self.verbs(leg, root, at, plan)
            if step is None:
                return
            text, at = step

    async def verbs(
        self, leg: Leg, root: ET.Element, at: float, plan: list[str]
    ) -> tuple[str, float] | None:
        """Run the verbs of one document; the next document and its time, or None at the end."""
        for node in root:
            tag = node.tag
            if tag in ("Say", "Play", "Pause"):
                at += self.play_s(node)
            elif tag == "Gather":
                heard = self.play_s(node)
                if plan:
                    at += min(heard, MAX_PROMPT_WAIT_S) + KEY_S
                    form = leg.form(Digits=plan.pop(0))
                    return await self.follow(leg, node.get("action", ""), form, at)
                at += heard + float(node.get("timeout", "5"))
                if node.get("actionOnEmptyResult") == "true":
                    return await self.follow(leg, node.get("action", ""), leg.form(), at)
            elif tag == "Redirect":
                return await self.follow(leg, (node.text or "").strip(), leg.form(), at)
            elif tag == "Enqueue":
                return await self.enqueue(leg, node, at)
            elif tag == "Dial":
                return await self.dial(leg, node, at)
            elif tag in ("Hangup", "Reject", "Leave"):
                return None
            elif tag == "Record":
                return None  # a voicemail: the bench's callers do not leave one
        return None

    async def follow(
        self, leg: Leg, url: str, form: dict[str, str], at: float
    ) -> tuple[str, float] | None:
        if not url or leg.hung_up:
            return None
        text = await self.client.post(url, form, at)
        return text, time.perf_counter()

    # -- the hold loop
    async def enqueue(self, leg: Leg, node: ET.Element, at: float) -> tuple[str, float] | None:
        name = (node.text or "").strip()
        if not leg.queue_sid:
            self.in_menu -= 1
        leg.queue = name
        leg.queue_sid = self.queue_sids.setdefault(name, "QU" + uuid.uuid4().hex)
        leg.enqueued_at = at
        self.queues[name] = leg
        wait_url = node.get("waitUrl", "")
        action = node.get("action", "")
        result = "hangup"
        try:
            result = await self.hold(leg, wait_url, at)
        finally:
            self.queues.pop(name, None)
        if result == "redirect":
            assert leg.interrupt is not None
            url = str(leg.interrupt.result()[1])
            leg.interrupt = None
            now = time.perf_counter()
            if action:  # the action hears of it; its TwiML is not run
                form = leg.form(QueueResult="redirected", QueueSid=leg.queue_sid)
                self.spawn(self.client.post(action, form, now))
            return await self.follow(leg, url, leg.form(), now)
        if result == "bridged":
            assert leg.interrupt is not None
            agent = leg.interrupt.result()[1]
            leg.interrupt = None
            return await self.bridged_caller(leg, action, agent)  # type: ignore[arg-type]
        form = leg.form(QueueResult=result, QueueSid=leg.queue_sid, QueueTime=self.waited(leg))
        return await self.follow(leg, action, form, time.perf_counter())

    def waited(self, leg: Leg) -> str:
        return str(int(time.perf_counter() - leg.enqueued_at))

    async def hold(self, leg: Leg, wait_url: str, at: float) -> str:
        """Fetch waitUrl and play it, again and again; how the wait ended."""
        leg.interrupt = asyncio.get_running_loop().create_future()
        url = wait_url
        while True:
            form = leg.form(
                QueueSid=leg.queue_sid,
                QueueTime=self.waited(leg),
                QueuePosition="1",
                CurrentQueueSize="1",
                AvgQueueTime="0",
            )
            text = await self.client.post(url, form, at)
            if leg.interrupt.done():
                return str(leg.interrupt.result()[0])
            at, url, ended = self.hold_document(text, time.perf_counter(), wait_url)
            if ended:
                return "leave"
            delay = max(at - time.perf_counter(), 1.0)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(leg.interrupt), delay)
            if leg.interrupt.done():
                return str(leg.interrupt.result()[0])
            at = max(at, time.perf_counter())

    def hold_document(self, text: str, at: float, wait_url: str) -> tuple[float, str, bool]:
        """When a hold document ends, what is fetched next, and whether it left the queue."""
        try:
            root = ET.fromstring(text)
        except ET.ParseError:
            self.twiml_errors += 1
            return at + 5, wait_url, False
        for node in root:
            if node.tag == "Redirect":
                return at, (node.text or "").strip(), False
            if node.tag in ("Leave", "Hangup"):
                return at, wait_url, True
            if node.tag == "Gather":
                at += self.play_s(node) + float(node.get("timeout", "5"))
            else:
                at += self.play_s(node)
        return at, wait_url, False

    async def bridged_caller(self, leg: Leg, action: str, agent: Leg) -> tuple[str, float] | None:
        """Talk until the agent hangs up, then go on at the Enqueue action."""
        waited = self.waited(leg)
        await agent_gone(agent)
        form = leg.form(QueueResult="bridged", QueueSid=leg.queue_sid, QueueTime=waited)
        return await self.follow(leg, action, form, time.perf_counter())

    # -- an agent leg
    def ring(self, params: dict[str, str]) -> dict[str, str]:
        """`calls.create`: a leg to an agent's device, rung now; its JSON."""
        leg = Leg("CA" + uuid.uuid4().hex, params.get("From", ""), params.get("To", ""))
        leg.direction = "outbound-api"
        leg.status_callback = params.get("StatusCallback", "")
        leg.interrupt = asyncio.get_running_loop().create_future()
        self.legs[leg.sid] = leg
        self.rest_calls += 1
        self.spawn(self.agent(leg, params.get("Url", "")))
        return call_json(leg, "queued")

    async def agent(self, leg: Leg, url: str) -> None:
        now = time.perf_counter()
        await self.status(leg, "initiated", now + 0.05)
        await self.status(leg, "ringing", now + 0.3)
        answer_at = now + RING_S
        if leg.hung_up:
            return
        leg.answered_at = answer_at
        self.spawn(self.status(leg, "in-progress", answer_at))
        text = await self.client.post(url, leg.form(), answer_at)
        await self.run(leg, text, time.perf_counter(), ["1"])
        leg.hung_up = True
        if leg.interrupt is not None and not leg.interrupt.done():
            leg.interrupt.set_result(("gone", None))
        await self.status(leg, "completed", time.perf_counter())
        self.legs.pop(leg.sid, None)

    async def status(self, leg: Leg, status: str, at: float) -> None:
        if leg.status_callback:
            extra = {"CallDuration": "30"} if status == "completed" else {}
            await self.client.post(leg.status_callback, leg.form(status, **extra), at)

    async def dial(self, leg: Leg, node: ET.Element, at: float) -> tuple[str, float] | None:
        """An agent's `<Dial>`: take the caller from a `<Queue>`, or join a `<Conference>`."""
        action = node.get("action", "")
        noun = node[0] if len(node) else None
        form = leg.form()
        if noun is not None and noun.tag == "Queue":
            caller = self.queues.pop((noun.text or "").strip(), None)
            if caller is None or caller.interrupt is None or caller.interrupt.done():
                self.dequeue_misses += 1
                form["DialCallStatus"] = "no-answer"
                return await self.follow(leg, action, form, at)
            form["QueueSid"] = caller.queue_sid
            url = noun.get("url", "")
            if url:
                extra = {"QueueSid": caller.queue_sid, "QueueTime": self.waited(caller)}
                extra["DequeingCallSid"] = leg.sid
                await self.client.post(url, caller.form(**extra), at)
            caller.interrupt.set_result(("bridged", leg))
            self.bridged += 1
            if self.window is not None:
                self.window.answered += 1
            talk = self.talk_s * (0.5 + self.rng.random())
            await asyncio.sleep(talk)
            form.update(DialCallStatus="completed", DialCallDuration=str(int(talk)))
        elif noun is not None and noun.tag == "Conference":
            return await self.conference(leg, action, noun, at)
        else:
            form["DialCallStatus"] = "completed"
        if leg.interrupt is not None and not leg.interrupt.done():
            leg.interrupt.set_result(("gone", None))
        return await self.follow(leg, action, form, time.perf_counter())

    # -- conferences
    async def conference(
        self, leg: Leg, action: str, noun: ET.Element, at: float
    ) -> tuple[str, float] | None:
        """In a `<Conference>` until it ends, the leg hangs up or is redirected by REST."""
        name = (noun.text or "").strip()
        conf = self.conferences.get(name)
        if conf is None:
            conf = self.conferences[name] = Conf(name, "CF" + uuid.uuid4().hex, noun)
        label = noun.get("participantLabel", "")
        end_on_exit = noun.get("endConferenceOnExit") == "true"
        leg.interrupt = asyncio.get_running_loop().create_future()
        conf.members[leg.sid] = (leg, label, end_on_exit)
        joined = time.perf_counter()
        if len(conf.members) == 1:
            await self.conf_event(conf, "conference-start", leg, label, at)
        await self.conf_event(conf, "participant-join", leg, label, at)
        if len(conf.members) == 2 and not conf.talking:
            conf.talking = True
            self.bridged += 1
            if self.window is not None:
                self.window.answered += 1
            caller = next(m for m, _, _ in conf.members.values() if m.direction == "inbound")
            self.spawn(self.hang_up_after(caller, self.talk_s * (0.5 + self.rng.random())))
        kind, value = await leg.interrupt
        conf.members.pop(leg.sid, None)
        now = time.perf_counter()
        if kind != "ended":
            await self.conf_event(conf, "participant-leave", leg, label, now)
            if end_on_exit or not conf.members:
                await self.end_conference(conf, leg, now)
        if kind == "hangup":
            leg.hung_up = True
            return None
        if kind == "redirect":
            return await self.follow(leg, str(value), leg.form(), now)
        duration = str(int(now - joined))
        form = leg.form(DialCallStatus="completed", DialCallDuration=duration)
        return await self.follow(leg, action, form, now)

    async def end_conference(self, conf: Conf, leg: Leg, at: float) -> None:
        self.conferences.pop(conf.name, None)
        for other, _, _ in list(conf.members.values()):
            if other.interrupt is not None and not other.interrupt.done():
                other.interrupt.set_result(("ended", None))
        await self.conf_event(conf, "conference-end", leg, "", at)

    async def hang_up_after(self, leg: Leg, seconds: float) -> None:
        await asyncio.sleep(seconds)
        if leg.interrupt is not None and not leg.interrupt.done():
            leg.interrupt.set_result(("hangup", None))

    async def conf_event(self, conf: Conf, event: str, leg: Leg, label: str, at: float) -> None:
        """A conference status callback, when its `statusCallbackEvent` asks for it."""
        url = conf.noun.get("statusCallback", "")
        wanted = conf.noun.get("statusCallbackEvent", "").split()
        if not url or event.split("-", 1)[1] not in wanted:
            return
        form = {
            "AccountSid": ACCOUNT,
            "ConferenceSid": conf.sid,
            "FriendlyName": conf.name,
            "StatusCallbackEvent": event,
            "SequenceNumber": str(next(conf.seq)),
            "Timestamp": datetime.now(UTC).strftime("%a, %d %b %Y %H:%M:%S +0000"),
        }
        if event.startswith("participant"):
            form.update(CallSid=leg.sid, ParticipantLabel=label)
        await self.client.post(url, form, at)

    # -- REST from the app
    def update(self, sid: str, params: dict[str, str]) -> dict[str, str] | None:
        """`calls(sid).update`: a redirect (url) or a hang-up (status=completed)."""
        leg = self.legs.get(sid)
        if leg is None:
            return None
        if params.get("Status") in ("completed", "canceled"):
            leg.hung_up = True
            if leg.interrupt is not None and not leg.interrupt.done():
                leg.interrupt.set_result(("hangup", None))
        elif params.get("Url") and leg.interrupt is not None and not leg.interrupt.done():
            leg.interrupt.set_result(("redirect", params["Url"]))
        return call_json(leg, "in-progress")


async def agent_gone(agent: Leg) -> None:
    while agent.interrupt is not None and not agent.interrupt.done():
        await asyncio.shield(agent.interrupt)


def call_json(leg: Leg, status: str) -> dict[str, str]:
    return {
        "sid": leg.sid,
        "account_sid": ACCOUNT,
        "to": leg.to,
        "from": leg.from_,
        "status": status,
        "direction": leg.direction,
    }


class Rest(asyncio.Protocol):
    """A tiny HTTP/1.1 server answering the few Twilio REST requests the app makes."""

    def __init__(self, twilio: Twilio) -> None:
        self.twilio = twilio
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            lines = bytes(self.buffer[:end]).decode("latin-1").split("\r\n")
            length = 0
            for line in lines[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value.strip())
            if len(self.buffer) < end + 4 + length:
                return
            body = bytes(self.buffer[end + 4 : end + 4 + length]).decode()
            del self.buffer[: end + 4 + length]
            method, target = lines[0].split(" ")[:2]
            status, payload = self.answer(method, target, body)
            self.reply(status, payload)

    def answer(self, method: str, target: str, body: str) -> tuple[int, object]:
        path = urlsplit(target).path
        params = {k: v[0] for k, v in parse_qs(body).items()}
        if path.endswith("/Calls.json") and method == "POST":
            return 201, self.twilio.ring(params)
        if path.endswith("/Calls.json"):
            return 200, {
                "calls": [],
                "meta": {"key": "calls", "page": 0, "page_size": 20, "next_page_url": None},
            }
        if "/Queues/" in path and method == "DELETE":
            return 204, None
        if "/Calls/" in path and method == "POST":
            sid = path.rsplit("/", 1)[1].removesuffix(".json")
            found = self.twilio.update(sid, params)
            if found is None:
                return 404, {"code": 20404, "message": "not found", "status": 404}
            return 200, found
        return 404, {
            "code": 20404,
            "message": f"not in the stand-in: {method} {path}",
            "status": 404,
        }

    def reply(self, status: int, payload: object) -> None:
        assert self.transport is not None
        data = b"" if payload is None else json.dumps(payload).encode()
        head = f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n"
        head += f"Content-Length: {len(data)}\r\n\r\n"
        self.transport.write(head.encode() + data)


# -- the app's metrics ---------------------------------------------------------------


def cpu_s(pid: int) -> float:
    """User + system CPU seconds a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def store_cpu_s(pids: list[int]) -> float:
    return sum(cpu_s(pid) for pid in pids)


def scrape(port: int, path: str = "/metrics") -> dict[str, float]:
    """As `read_metrics`, or nothing when the app does not answer in time."""
    try:
        return read_metrics(port, path)
    except httpx.HTTPError as exc:
        print(f"  /metrics not read: {exc!r}", flush=True)
        return {}


def read_metrics(port: int, path: str) -> dict[str, float]:
    """Routing decision bucket counts (summed over scripts) and calls waiting, from /metrics
    (the decisions are the process's; calls waiting, the workspace's)."""
    text = httpx.get(
        f"http://{HOST}:{port}{path}",
        headers={"Authorization": f"Bearer {METRICS_TOKEN}"},
        timeout=30,
    ).text
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("ivr_routing_decision_seconds_bucket"):
            le = line.split('le="', 1)[1].split('"', 1)[0]
            out[f"le|{le}"] = out.get(f"le|{le}", 0.0) + float(line.rsplit(" ", 1)[1])
        elif line.startswith("ivr_queue_waiting{"):
            out["waiting"] = out.get("waiting", 0.0) + float(line.rsplit(" ", 1)[1])
    return out


def bucket_p(
    before: dict[str, float], after: dict[str, float], q: float
) -> tuple[float, float, int]:
    """(p`q` in ms, interpolated within its bucket; share <= 20 ms; count) of the decisions
    between two scrapes."""
    bounds = sorted(
        (float(k[3:]) if k != "le|+Inf" else math.inf, k) for k in after if k.startswith("le|")
    )
    cum = [(b, after[k] - before.get(k, 0.0)) for b, k in bounds]
    total = cum[-1][1] if cum else 0.0
    if total <= 0:
        return math.nan, math.nan, 0
    within = next((n for b, n in cum if b >= DECISION_P99_TARGET_MS / 1000), total) / total
    rank, low, below = q * total, 0.0, 0.0
    for bound, n in cum:
        if n >= rank:
            if bound == math.inf:
                return math.inf, within, int(total)
            share = (rank - below) / max(n - below, 1e-9)
            return (low + (bound - low) * share) * 1000, within, int(total)
        low, below = bound, n
    return math.nan, within, int(total)


# -- the run ---------------------------------------------------------------------------


def plan(rng: random.Random) -> list[str]:
    """The keys one caller presses: language, then billing (with an account), support or sales."""
    language = "2" if rng.random() < 0.3 else "1"
    pick = rng.random()
    if pick < 0.4:
        return [language, "1", "20261124"]
    return [language, "2" if pick < 0.8 else "3"]


@dataclass
class Step:
    rate_h: float
    agents: int
    talk_s: float
    window: Window
    decision_p99_ms: float = math.nan
    decision_within: float = math.nan
    decisions: int = 0
    waiting_app: float = math.nan
    app_cpu: float = math.nan
    """Share of one CPU the app process used during the window."""
    store_cpu: float = math.nan

    @property
    def webhook_p99_ms(self) -> float:
        return percentile(self.window.latencies, 0.99) * 1000

    @property
    def webhook_p50_ms(self) -> float:
        return percentile(self.window.latencies, 0.5) * 1000

    @property
    def hold_min(self) -> int:
        return min(self.window.hold_samples, default=0)

    @property
    def hold_mean(self) -> float:
        s = self.window.hold_samples
        return sum(s) / len(s) if s else 0.0

    @property
    def ok(self) -> bool:
        return (
            self.window.errors == 0
            and self.webhook_p99_ms <= WEBHOOK_P99_TARGET_MS
            and self.decision_p99_ms <= DECISION_P99_TARGET_MS
        )


def agents_for(rate_h: float, agents: int) -> tuple[int, float]:
    """Agents to make available so they answer `rate_h` calls an hour, and the talk time."""
    per_s = rate_h / 3600
    talk = max(TALK_MIN_S, min(TALK_MAX_S, 0.9 * agents / per_s - FIXED_CYCLE_S))
    return min(agents, math.ceil(per_s * (talk + FIXED_CYCLE_S))), talk


class Bench:
    def __init__(
        self,
        args: argparse.Namespace,
        app_port: int,
        svcs: list[Services],
        pids: tuple[int, list[int]],
    ) -> None:
        self.args = args
        self.pids = pids
        """The app's and the store's process ids (for their CPU time)."""
        self.app_port = app_port
        self.svcs = svcs
        """One per workspace (one in all without workspaces)."""
        self.metrics_path = "/metrics"
        self.rng = random.Random(args.seed)
        self.client = Client(app_port, CONNECTIONS)
        self.twilio = Twilio(self.client, self.rng, 30.0)
        self.available = [0] * len(svcs)
        self.arrivals = 0

    async def arrive(self, rate: float, seconds: float, start: float) -> None:
        """Poisson arrivals at `rate`/s for `seconds` from `start` (perf_counter)."""
        at = start
        end = start + seconds
        while True:
            at += self.rng.expovariate(rate)
            if at >= end:
                return
            delay = at - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            self.arrivals += 1
            w = self.client.window
            if w is not None and w.covers(at):
                w.arrivals += 1
            self.twilio.spawn(self.twilio.caller(at, plan(self.rng)))

    async def make_available(self, n: int, seconds: float) -> None:
        """Bring agents a0000.. up to `n` available, evenly over `seconds`, as their console
        would (without the console's presence, so offers ring their devices: the app's
        background loop makes the REST requests)."""
        gap = seconds / max(n - sum(self.available), 1)
        while sum(self.available) < n:
            index = min(range(len(self.svcs)), key=lambda i: self.available[i])
            svc = self.svcs[index]
            agent = f"a{self.available[index]:04d}"
            self.available[index] += 1
            try:
                for offer in await svc.router.set_available(agent):
                    await offers.record_ring(svc, offer)
            except STORE_ERRORS as exc:  # a store too slow to answer: this agent stays out
                print(f"  {agent} not made available: {exc!r}", flush=True)
            await asyncio.sleep(gap)

    async def fill(self, target: int, label: str) -> None:
        """Arrivals at `PREFILL_RATE` until `target` callers are on hold."""
        began = time.perf_counter()
        while self.twilio.on_hold < target * FILL_SHARE:
            missing = target - self.twilio.on_hold
            needed = missing - self.twilio.in_menu
            if needed > 0:
                seconds = needed / PREFILL_RATE
                await self.arrive(PREFILL_RATE, seconds, time.perf_counter())
            await asyncio.sleep(1.0)
            print(
                f"    {self.twilio.on_hold:,} on hold, {self.arrivals:,} arrived, "
                f"{self.client.total:,} webhooks ({self.client.errors} failed: "
                f"{dict(list(self.client.failures.items())[:3])})",
                flush=True,
            )
            if time.perf_counter() - began > 600:
                raise RuntimeError(f"{label}: the queues never reached {target} callers")
        print(
            f"  {label}: {self.twilio.on_hold:,} on hold after {time.perf_counter() - began:.0f} s",
            flush=True,
        )

    async def sample_hold(self, window: Window) -> None:
        while True:
            window.hold_samples.append(self.twilio.on_hold)
            await asyncio.sleep(1.0)

    async def step(self, rate_h: float) -> Step:
        agents, talk = agents_for(rate_h, AGENTS * len(self.svcs))
        self.twilio.talk_s = talk
        rate = rate_h / 3600
        print(
            f"rate {rate_h:,.0f} calls/h: {agents} agents available, talk ~{talk:.0f} s", flush=True
        )
        await self.fill(self.args.hold, "top-up")
        settle, measure = self.args.settle, self.args.window
        start = time.perf_counter()
        joining = asyncio.create_task(self.make_available(agents, settle / 2))
        window = Window(start=start + settle, end=start + settle + measure)
        self.client.window = self.twilio.window = window
        arrivals = asyncio.create_task(self.arrive(rate, settle + measure, start))
        await asyncio.sleep(max(window.start - time.perf_counter(), 0))
        before = await asyncio.to_thread(scrape, self.app_port, self.metrics_path)
        cpu_before = (cpu_s(self.pids[0]), store_cpu_s(self.pids[1]), time.perf_counter())
        sampler = asyncio.create_task(self.sample_hold(window))
        await asyncio.sleep(max(window.end - time.perf_counter(), 0))
        sampler.cancel()
        cpu_after = (cpu_s(self.pids[0]), store_cpu_s(self.pids[1]), time.perf_counter())
        after = await asyncio.to_thread(scrape, self.app_port, self.metrics_path)
        await arrivals
        await joining
        await asyncio.sleep(2.0)  # answers to the window's last requests
        self.client.window = self.twilio.window = None
        result = Step(rate_h, agents, talk, window)
        result.decision_p99_ms, result.decision_within, result.decisions = bucket_p(
            before, after, 0.99
        )
        result.waiting_app = after.get("waiting", math.nan)
        elapsed = cpu_after[2] - cpu_before[2]
        result.app_cpu = (cpu_after[0] - cpu_before[0]) / elapsed
        result.store_cpu = (cpu_after[1] - cpu_before[1]) / elapsed
        print(
            f"  webhooks {len(window.latencies):,}: p50 {result.webhook_p50_ms:.1f} ms, "
            f"p99 {result.webhook_p99_ms:.1f} ms, errors {window.errors}; "
            f"decisions {result.decisions:,}: p99 {result.decision_p99_ms:.1f} ms; "
            f"on hold {result.hold_min:,}-{max(window.hold_samples, default=0):,} "
            f"(app: {result.waiting_app:,.0f}); answered {window.answered}, "
            f"arrived {window.arrivals}; "
            f"client lag p99 {percentile(window.lags, 0.99) * 1000:.1f} ms; "
            f"CPU app {result.app_cpu:.2f} store {result.store_cpu:.2f}",
            flush=True,
        )
        for row in paths_table(result)[2:8]:
            print("   ", row, flush=True)
        return result

    async def run(self) -> list[Step]:
        await self.client.start()
        print(f"filling the queues to {self.args.hold:,} callers", flush=True)
        await self.fill(self.args.hold, "ramp")
        steps = []
        failed = 0
        for rate_h in self.args.rates:
            result = await self.step(rate_h)
            steps.append(result)
            failed += not result.ok and result.app_cpu > SATURATED_CPU
            if failed >= 2:
                break
        await self.client.close()
        return steps


async def drive(
    args: argparse.Namespace,
    app_port: int,
    rest_port: int,
    settings: Settings,
    redis_url: str,
    pids: tuple[int, list[int]],
    numbers: list[str],
) -> list[Step]:
    redis = async_client(redis_url)
    svcs = [
        build_services(one, SystemClock(), redis, ConfigRegistry(one.config_dir))
        for one in settings.each_workspace()
    ]
    bench = Bench(args, app_port, svcs, pids)
    bench.twilio.numbers = numbers
    if settings.workspaces:
        bench.metrics_path = f"/w/{settings.workspaces[0].id}/metrics"
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: Rest(bench.twilio), HOST, rest_port)
    gc.collect()
    gc.freeze()
    try:
        return await bench.run()
    finally:
        server.close()
        for task in list(bench.twilio.tasks):
            task.cancel()
        await asyncio.gather(*bench.twilio.tasks, return_exceptions=True)
        await redis.aclose()
        print(
            f"(client: {bench.client.total:,} webhooks, {bench.client.errors} failed; "
            f"{bench.twilio.rest_calls:,} agent legs rung, {bench.twilio.dequeue_misses} "
            f"empty dequeues, {bench.twilio.twiml_errors} TwiML errors)",
            flush=True,
        )
        for name, n in sorted(bench.client.failures.items(), key=lambda kv: -kv[1])[:10]:
            print(f"  failed: {name} x{n}", flush=True)
        for last, n in sorted(bench.twilio.unqueued.items(), key=lambda kv: -kv[1])[:5]:
            print(f"  {n} callers ended before a queue, last TwiML ...{last}", flush=True)


def run(args: argparse.Namespace, shards: int = 0, workspaces: int = 0) -> tuple[list[Step], bool]:
    """One run: a single embedded store (`shards` 0) or a cluster of `shards` primaries,
    and one contact centre (`workspaces` 0, as today) or that many `IVR_WORKSPACES`."""
    cpus = sorted(os.sched_getaffinity(0))
    server_cpu = cpus[-1] if args.pin and len(cpus) >= 2 else None
    shm = Path("/dev/shm")
    work = Path(tempfile.mkdtemp(prefix="ivr-capacity-", dir=shm if shm.is_dir() else None))
    store = EmbeddedStore(work / "store")
    cluster = Cluster(work / "cluster", primaries=shards) if shards else None
    app: Server | None = None
    if args.pin and server_cpu is not None:
        os.sched_setaffinity(0, set(cpus))  # the store starts on any CPU
    try:
        config_dir = make_config(work, AGENTS)
        numbers = [f"+6031234{5600 + i}" for i in range(max(workspaces, 1))]
        folders = [make_config(work, AGENTS, f"ws{i}", numbers[i]) for i in range(workspaces)]
        if cluster is not None:
            cluster.start()
            url = cluster.url
            store_pids = [n.process.pid for n in cluster.nodes if n.process is not None]
        else:
            url = store.start()
            assert store._process is not None
            store_pids = [store._process.pid]
        if server_cpu is not None:
            os.sched_setaffinity(0, set(cpus[:-1]))
        rest_port = free_port()
        env = dict(os.environ)
        if folders:
            env["IVR_WORKSPACES"] = ",".join(f"ws{i}:{f}" for i, f in enumerate(folders))
        else:
            env.pop("IVR_WORKSPACES", None)
        env.update(
            REDIS_URL=url,
            TWILIO_AUTH_TOKEN=TOKEN,
            PUBLIC_BASE_URL=PUBLIC_BASE,
            IVR_CONFIG_DIR=str(config_dir),
            IVR_VALIDATE_SIGNATURES="true",
            IVR_TWILIO_API_URL=f"http://{HOST}:{rest_port}",
            IVR_METRICS_TOKEN=METRICS_TOKEN,
            IVR_DATA_DIR=str(work / "data"),
            PYTHONUNBUFFERED="1",
        )
        app = Server("app", "ivr.app:create_app", factory=True, env=env, cpu=server_cpu)
        app.start(work)
        app.wait_ready(timeout=60)
        settings = Settings.from_env(env, env_file=None)
        assert app.proc is not None
        steps: list[Step] = uvloop.run(
            drive(args, app.port, rest_port, settings, url, (app.proc.pid, store_pids), numbers)
        )
        return steps, server_cpu is not None
    finally:
        if app is not None:
            print(app.log_tail()[-1500:])
            app.stop()
        store.stop()
        if cluster is not None:
            cluster.stop()
        valkey_log = work / "store" / "valkey" / "valkey.log"
        if valkey_log.exists():
            print("\n".join(valkey_log.read_text().splitlines()[-5:]))
        shutil.rmtree(work, ignore_errors=True)


# -- the report --------------------------------------------------------------------------


def verdict(ok: bool) -> str:
    return "**met**" if ok else "**NOT met**"


def table(steps: Sequence[Step]) -> list[str]:
    rows = [
        "| calls/hour | agents available | answered in window | on hold (min / mean) "
        "| webhooks | webhook p50 / p99 (ms) | client lag p99 (ms) | decisions "
        "| decision p99 (ms) | decisions <= 20 ms | CPU app / store | within targets |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for s in steps:
        w = s.window
        rows.append(
            f"| {s.rate_h:,.0f} | {s.agents} | {w.answered} | {s.hold_min:,} / {s.hold_mean:,.0f} "
            f"| {len(w.latencies):,} | {s.webhook_p50_ms:.1f} / {s.webhook_p99_ms:.1f} "
            f"| {percentile(w.lags, 0.99) * 1000:.1f} | {s.decisions:,} | {s.decision_p99_ms:.1f} "
            f"| {s.decision_within:.2%} | {s.app_cpu:.2f} / {s.store_cpu:.2f} "
            f"| {'yes' if s.ok else 'no'} |"
        )
    return rows


def paths_table(step: Step) -> list[str]:
    rows = ["| path | requests | p50 (ms) | p99 (ms) |", "|---|---:|---:|---:|"]
    for path, values in sorted(step.window.by_path.items(), key=lambda kv: -len(kv[1])):
        rows.append(
            f"| `{path}` | {len(values):,} | {percentile(values, 0.5) * 1000:.1f} "
            f"| {percentile(values, 0.99) * 1000:.1f} |"
        )
    return rows


def conclusions(steps: Sequence[Step], hold: int) -> list[str]:
    good = [s for s in steps if s.ok]
    best = max(good, key=lambda s: s.rate_h, default=None)
    out = []
    if best is None:
        out.append("- No measured rate kept both p99s within their targets.")
    else:
        out.append(
            f"- Highest sustained rate within both targets: **{best.rate_h:,.0f} calls/hour** "
            f"with **{best.hold_min:,} callers on hold** (the fewest seen in its window; "
            f"webhook p99 {best.webhook_p99_ms:.1f} ms, decision p99 "
            f"{best.decision_p99_ms:.1f} ms)."
        )
        if best is steps[-1]:
            out.append("  The highest rate tried; the limit is above it.")
    out += cpu_estimate(steps)
    met = best is not None and best.rate_h >= CALLS_TARGET_PER_H and best.hold_min >= HOLD_TARGET
    out.append(
        f"- Target: one box carries a 1,000-agent centre's peak (>= {CALLS_TARGET_PER_H:,} "
        f"calls/hour with >= {HOLD_TARGET:,} on hold): {verdict(met)}"
        + ("" if hold >= HOLD_TARGET else f" (this run held only {hold:,}: `--quick`)")
    )
    lag = max((percentile(s.window.lags, 0.99) for s in steps if s.window.lags), default=0.0) * 1000
    if not met and lag > MAX_CLIENT_LAG_MS:
        out.append(
            f"  **Inconclusive**: the client itself sent up to {lag:,.0f} ms late (p99), so "
            "the machine, not the app, set these latencies (other work on it; see the load "
            "average). Rerun on a quiet machine."
        )
    return out


def cpu_estimate(steps: Sequence[Step]) -> list[str]:
    """What the app's CPU share says, whatever the latency on a busy machine: a straight
    line through (rate, CPU share) of the runs, and the rate at which it reaches one CPU."""
    points = [(s.rate_h, s.app_cpu) for s in steps if not math.isnan(s.app_cpu)]
    if len(points) < 2 or len({r for r, _ in points}) < 2:
        return []
    n = len(points)
    mean_r = sum(r for r, _ in points) / n
    mean_u = sum(u for _, u in points) / n
    slope = sum((r - mean_r) * (u - mean_u) for r, u in points) / sum(
        (r - mean_r) ** 2 for r, _ in points
    )
    base = mean_u - slope * mean_r
    if slope <= 0:
        return []
    full = (1.0 - base) / slope
    return [
        f"- CPU: the app used {base:.2f} of a CPU for the hold loops and routing of this many "
        f"waiting callers and {slope * 3600 * 1000:.1f} ms of CPU per call on top "
        f"(a straight line through the {n} rates); at that cost one CPU of its own would be "
        f"busy all the time at about **{full:,.0f} calls/hour**. The webhook p99 is only "
        "trustworthy well below that, and on a quiet machine."
    ]


def section(steps: Sequence[Step], args: argparse.Namespace, pinned: bool, host: list[str]) -> str:
    rates = " ".join(f"{r:g}" for r in args.rates)
    command = (
        ".venv/bin/python -m bench.capacity --quick"
        if args.quick
        else f".venv/bin/python -m bench.capacity --hold {args.hold} --rates {rates} "
        f"--settle {args.settle:g} --window {args.window:g}"
    )
    pin = (
        "The app runs pinned to the last CPU; the client, the REST stand-in and Valkey share "
        "the others (`taskset`)."
        if pinned
        else "Nothing is pinned to a CPU."
    )
    lines = [
        SECTION,
        "",
        f"Written by `bench/capacity.py` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; "
        "reproduce with:",
        "",
        "```sh",
        command,
        "```",
        "",
        *host,
        "",
        "Setup:",
        "",
        "- The app as `ivr serve --no-worker` runs it: `uvicorn ivr.app:create_app --factory "
        + " ".join(UVICORN_FLAGS)
        + "`,",
        "  one process, signature validation on, on an embedded Valkey. " + pin,
        f"- Config: `config/` with {AGENTS:,} generated agents (two of billing/support/sales "
        "each, English, 60 % Malay),",
        "  queues that keep their callers (no max wait, size or wait-estimate exit; billing's "
        "language escalation and",
        "  support's callback offer kept), hold music as 15 s clips, "
        f"wrap-up {WRAP_UP_S} s, open around the clock.",
        "- Callers (the script plays Twilio): `/voice/incoming`, the menu's `<Gather>`s with "
        "keys (language, then 40 % billing",
        "  with an account number, 40 % support, 20 % sales), then `<Enqueue>`: the waitUrl "
        "(`/voice/hold`) fetched again",
        f"  when its TwiML would end (`<Say>` at {SAY_S_PER_WORD} s a word, clips at their "
        "length, `<Pause>`s, a `<Gather>`'s",
        "  timeout). Agents: the app rings them through its REST client (pointed at a stand-in "
        "in the script); each leg posts",
        f"  its status callbacks, answers after {RING_S:g} s, presses 1 after the whisper, runs "
        "the bridge it gets (`<Dial><Conference>`",
        "  with its status callbacks and the caller moved in by a REST redirect out of "
        "`<Enqueue>`, or `<Dial><Queue>` and its `url`),",
        "  talks; the caller hangs up (conference end, Dial action, both legs' `completed`).",
        "- Open loop: Poisson arrivals on a seeded schedule; every webhook is due when Twilio "
        "would send it and timed",
        "  from then, over up to "
        f"{CONNECTIONS} keep-alive connections. First a ramp of {PREFILL_RATE:g} calls/s fills "
        f"the queues to {args.hold:,} callers;",
        f"  then each rate runs {args.settle:g} s to settle and {args.window:g} s measured, "
        "with enough agents available to",
        "  answer that rate (short talk times: the webhooks per call do not depend on them), "
        "so the hold count stays level.",
        "- *Routing decision*: one routing Lua script run (enter, status, accept, complete, "
        "...), timed in the app from",
        "  sending the EVALSHA to decoding its answer (`ivr_routing_decision_seconds` on "
        "`/metrics`, read before and after",
        "  each window; p99 interpolated within its histogram bucket).",
        f"- Targets: webhook p99 <= {WEBHOOK_P99_TARGET_MS:g} ms and routing decision p99 <= "
        f"{DECISION_P99_TARGET_MS:g} ms, with no failed webhook.",
        "",
        *table(steps),
        "",
        *conclusions(steps, args.hold),
        "",
    ]
    if steps:
        best = max((s for s in steps if s.ok), key=lambda s: s.rate_h, default=steps[0])
        lines += [
            f"Webhooks by path at {best.rate_h:,.0f} calls/hour:",
            "",
            *paths_table(best),
            "",
        ]
    return "\n".join(lines)


@dataclass
class Scaled:
    """One run of the scaling matrix."""

    shards: int
    workspaces: int
    step: Step | None
    """None when the run failed (the error is printed)."""


def scaling(args: argparse.Namespace) -> list[Scaled]:
    """1 and 3 cluster shards, each with 1, 3 and 6 workspaces, every workspace carrying
    the same load; one fresh cluster and app per run."""
    out = []
    for shards in args.shards:
        for workspaces in args.workspaces:
            one = copy.copy(args)
            one.hold = args.scale_hold * workspaces
            one.rates = [args.scale_rate * workspaces]
            print(f"== {shards} shard(s), {workspaces} workspace(s)", flush=True)
            try:
                steps, _ = run(one, shards, workspaces)
            except (RuntimeError, OSError) as exc:
                print(f"  run failed: {exc}", flush=True)
                steps = []
            out.append(Scaled(shards, workspaces, steps[0] if steps else None))
    return out


def most_workspaces(runs: Sequence[Scaled], shards: int) -> int:
    return max(
        (r.workspaces for r in runs if r.shards == shards and r.step and r.step.ok), default=0
    )


def scaling_section(runs: Sequence[Scaled], args: argparse.Namespace, host: list[str]) -> str:
    rows = [
        "| shards | workspaces | calls/hour | on hold (min) | webhook p50 / p99 (ms) "
        "| decision p99 (ms) | CPU app / store | within targets |",
        "|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in runs:
        st = r.step
        if st is None:
            rows.append(f"| {r.shards} | {r.workspaces} | - | - | run failed | - | - | no |")
            continue
        rows.append(
            f"| {r.shards} | {r.workspaces} | {st.rate_h:,.0f} | {st.hold_min:,} "
            f"| {st.webhook_p50_ms:.1f} / {st.webhook_p99_ms:.1f} | {st.decision_p99_ms:.1f} "
            f"| {st.app_cpu:.2f} / {st.store_cpu:.2f} | {'yes' if st.ok else 'no'} |"
        )
    one, three = most_workspaces(runs, 1), most_workspaces(runs, 3)
    ratio = three / one if one else math.nan
    lines = [
        SCALING_SECTION,
        "",
        f"Written by `bench/capacity.py --scaling` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC.",
        "",
        *host,
        "",
        "Each row is a fresh Valkey Cluster of that many primaries on loopback (no replicas, no",
        "persistence: `tests/clusters.py`), the app on it (`REDIS_URL=redis+cluster://…`, one",
        "process, pinned as above) with that many `IVR_WORKSPACES` (each a copy of the",
        "generated config with its own number; callers dial them in turn), and the same",
        f"load per workspace: {args.scale_hold:,} callers on hold and {args.scale_rate:,.0f} "
        f"calls/hour, {args.settle:g} s settling, {args.window:g} s measured. *CPU store* adds up",
        "every primary. Decision p99 is the app's (one process serves every workspace).",
        "",
        *rows,
        "",
        f"- Most workspaces within both targets: {one} on one shard, {three} on three "
        f"(ratio {ratio:.2f}; target >= 2.5): {verdict(ratio >= 2.5)}",
        "- One web process on one core serves every workspace here, so the app's CPU, not",
        "  the store, sets the limit: more shards cannot raise it on this machine. Scaling out",
        "  needs more web processes (and hosts) in front of the shards.",
        "",
    ]
    return "\n".join(lines)


QUICK = {"hold": 200, "rates": [5000.0, 10000.0], "settle": 30.0, "window": 20.0}


def stop(signum: int, frame: object) -> None:
    """SIGTERM as Ctrl-C, so the servers are stopped on the way out."""
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.capacity", description=__doc__)
    parser.add_argument("--hold", type=int, default=2100, help="callers to keep on hold")
    parser.add_argument(
        "--rates",
        type=float,
        nargs="+",
        default=[5000, 10000, 20000, 40000, 80000],
        help="arrival rates to try, calls per hour (stops after the second one that fails)",
    )
    parser.add_argument("--settle", type=float, default=45.0, help="seconds before each window")
    parser.add_argument("--window", type=float, default=60.0, help="seconds measured per rate")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="200 on hold, two short rates")
    parser.add_argument("--pin", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument(
        "--scaling", action="store_true", help="the cluster shards x workspaces matrix instead"
    )
    parser.add_argument("--shards", type=int, nargs="+", default=[1, 3])
    parser.add_argument("--workspaces", type=int, nargs="+", default=[1, 3, 6])
    parser.add_argument("--scale-hold", type=int, default=150, help="on hold per workspace")
    parser.add_argument("--scale-rate", type=float, default=2500, help="calls/hour per workspace")
    parser.add_argument("--docs", type=Path, default=DOCS, help="markdown file to update")
    parser.add_argument("--no-docs", action="store_true", help="print only; do not write docs")
    args = parser.parse_args(argv)
    if args.quick:
        for name, value in QUICK.items():
            setattr(args, name, value)
    if args.pin and shutil.which("taskset") is None:
        args.pin = False
    load = Path("/proc/loadavg").read_text().split()[:3]
    host = [
        *host_lines(),
        f"- load average before the run: {' / '.join(load)} (1 / 5 / 15 min; other work on "
        "the machine skews the numbers)",
    ]
    began = time.monotonic()
    signal.signal(signal.SIGTERM, stop)
    if args.scaling:
        text = scaling_section(scaling(args), args, host)
        heading = SCALING_SECTION
    else:
        steps, pinned = run(args)
        text = section(steps, args, pinned, host)
        heading = SECTION
    print()
    print(text)
    if not args.no_docs:
        write_section(args.docs, heading, text)
        print(f"written to {args.docs}")
    print(f"total {time.monotonic() - began:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
