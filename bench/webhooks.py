"""Webhook throughput and latency: the real app against a bare Starlette baseline.

    .venv/bin/python -m bench.webhooks [--duration 10] [--connections 32]

One run measures, on identical uvicorn settings (one worker process each,
`--http httptools --loop uvloop`, warning-level logging, no access log):

1. `POST /voice/incoming` on the real app, signature validation on, every
   request a new call (a distinct, properly signed `CallSid`);
2. `POST /voice/menu?step=1` with `Digits=1` on the real app, every request a
   call created beforehand and still at step 1 (real work, never the retry cache);
3. `bench/bare.py`, which parses the same form and returns a small TwiML document.

Throughput and closed-loop latency come from wrk at saturation, fed by a Lua
script that walks pre-generated (body, signature) pairs, each used at most once
for the app. Latency at half load comes from an open-loop asyncio client that
sends on a fixed schedule and measures from the scheduled send time, so a slow
server cannot hide its queueing by slowing the client down (coordinated
omission). Results are printed and written to the `## Webhooks` section of
`docs/benchmarks.md`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import math
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO, cast
from urllib.parse import urlencode

import httpx
import redis
from twilio.request_validator import RequestValidator

from bench import docs
from bench.docs import DOCS, ROOT, write_section
from ivr.core.keys import Keys
from ivr.core.session import CallSession
from ivr.core.settings import DEFAULT_SESSION_TTL_S
from ivr.core.store import EmbeddedStore, free_port, sync_client

SECTION = "## Webhooks"

HOST = "127.0.0.1"
TOKEN = "bench-auth-token"
PUBLIC_BASE = "https://ivr.example.com"
BUSINESS = "+60312345678"
INCOMING = "/voice/incoming"
FORM_TYPE = "application/x-www-form-urlencoded"
UVICORN_FLAGS = [
    "--workers",
    "1",
    "--http",
    "httptools",
    "--loop",
    "uvloop",
    "--log-level",
    "warning",
    "--no-access-log",
]
WARMUP_S = 1.0
POOL_SLACK = 1.3
"""Pre-generate this many times the requests the fastest endpoint could use."""
RATIO_TARGET = 0.6
P99_TARGET_MS = 10.0
MAX_CLIENT_LAG_MS = 2.0
"""Open-loop sends later than this (p99) mean the client, not the server, was behind."""
SAMPLE = 40
"""Requests checked one by one (200, XML, TwiML) before each measurement."""

LUA = r"""
-- Walks pre-generated (body, signature) pairs from a file, one per request.
-- args: path, file, mode ("once" or "cycle"), first line (1-based).
local bodies, sigs = {}, {}
local n, i = 0, 0
local path, mode
local headers = {}
used = 0
exhausted = 0

function init(args)
  path, mode = args[1], args[3]
  local first = tonumber(args[4])
  local line_no = 0
  for line in io.lines(args[2]) do
    line_no = line_no + 1
    if line_no >= first then
      local tab = line:find("\t", 1, true)
      n = n + 1
      bodies[n] = line:sub(1, tab - 1)
      sigs[n] = line:sub(tab + 1)
    end
  end
  headers["Content-Type"] = "application/x-www-form-urlencoded"
end

function request()
  i = i + 1
  if i > n then
    if mode == "once" then
      exhausted = 1
      return wrk.format("GET", "/__pool_exhausted__")
    end
    i = 1
  end
  used = used + 1
  headers["X-Twilio-Signature"] = sigs[i]
  return wrk.format("POST", path, headers, bodies[i])
end

local threads = {}
function setup(thread) table.insert(threads, thread) end

function done(summary, latency, requests)
  local used_total, exhausted_any = 0, 0
  for _, t in ipairs(threads) do
    used_total = used_total + t:get("used")
    exhausted_any = math.max(exhausted_any, t:get("exhausted"))
  end
  local e = summary.errors
  io.write(string.format(
    "BENCH %d %d %d %d %d %d %d %.0f %.0f %d %d\n",
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99), used_total, exhausted_any))
end
"""


# -- requests ----------------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    sid: str
    caller: str


def new_calls(n: int) -> list[Call]:
    """Calls nobody has seen: random CallSids from unknown Malaysian mobiles."""
    rng = random.Random()
    return [Call("CA" + uuid.uuid4().hex, f"+6019{rng.randrange(10**7):07d}") for _ in range(n)]


def voice_form(call: Call, **extra: str) -> dict[str, str]:
    """The fields Twilio posts with a voice webhook (a realistic subset)."""
    form = {
        "AccountSid": "AC" + "0" * 32,
        "ApiVersion": "2010-04-01",
        "CallSid": call.sid,
        "CallStatus": "ringing" if not extra else "in-progress",
        "Called": BUSINESS,
        "CalledCountry": "MY",
        "Caller": call.caller,
        "CallerCountry": "MY",
        "Direction": "inbound",
        "From": call.caller,
        "FromCountry": "MY",
        "To": BUSINESS,
        "ToCountry": "MY",
    }
    form.update(extra)
    return form


Signed = tuple[str, str]
"""(urlencoded body, X-Twilio-Signature)"""


def sign_all(path: str, forms: Sequence[dict[str, str]]) -> list[Signed]:
    validator = RequestValidator(TOKEN)
    url = PUBLIC_BASE + path
    return [(urlencode(f), validator.compute_signature(url, f)) for f in forms]


def write_pool(file: Path, pool: Sequence[Signed]) -> None:
    with file.open("w") as out:
        out.writelines(f"{body}\t{sig}\n" for body, sig in pool)


def raw_request(port: int, path: str, signed: Signed) -> bytes:
    body, sig = signed
    data = body.encode()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\n"
        f"Content-Type: {FORM_TYPE}\r\nX-Twilio-Signature: {sig}\r\n"
        f"Content-Length: {len(data)}\r\n\r\n"
    )
    return head.encode() + data


def menu_forms(calls: Sequence[Call]) -> list[dict[str, str]]:
    return [voice_form(c, Digits="1", FinishedOnKey="", msg="Gather End") for c in calls]


# -- processes ---------------------------------------------------------------------


def pinned(cmd: list[str], cpu: int | None) -> list[str]:
    return ["taskset", "-c", str(cpu), *cmd] if cpu is not None else cmd


class Server:
    """One uvicorn process serving `target` on its own port."""

    def __init__(
        self, name: str, target: str, *, factory: bool, env: dict[str, str], cpu: int | None
    ) -> None:
        self.name = name
        self.port = free_port()
        flags = ["--factory"] if factory else []
        self.cmd = [sys.executable, "-m", "uvicorn", target, "--host", HOST]
        self.cmd += ["--port", str(self.port), *UVICORN_FLAGS, *flags]
        self.env = env
        self.cpu = cpu
        self.proc: subprocess.Popen[bytes] | None = None
        self.log: TextIO | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self, log_dir: Path) -> None:
        self.log = (log_dir / f"{self.name}.log").open("w")
        # stdout: nothing of ours is written there (no `ivr.core.logs.configure` under plain
        # uvicorn, so the app's records go to stdlib logging without a root handler).
        self.proc = subprocess.Popen(
            pinned(self.cmd, self.cpu),
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=self.log,
        )

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is None or self.proc.poll() is not None:
                break
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.url + "/healthz", timeout=1.0).status_code == 200:
                    return
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} server did not start:\n{self.log_tail()}")

    def log_tail(self) -> str:
        if self.log is None:
            return ""
        self.log.flush()
        return "\n".join(Path(self.log.name).read_text().splitlines()[-20:])

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        if self.log is not None:
            self.log.close()
            self.log = None


# -- wrk: throughput at saturation ---------------------------------------------------


@dataclass(frozen=True)
class WrkResult:
    requests: int
    duration_s: float
    errors: dict[str, int]
    p50_ms: float
    p99_ms: float
    used: int
    exhausted: bool

    @property
    def rps(self) -> float:
        return self.requests / self.duration_s


def run_wrk(
    server: Server,
    path: str,
    pool_file: Path,
    *,
    script: Path,
    duration: float,
    connections: int,
    once: bool,
    first: int = 1,
    cpu: int | None = None,
) -> WrkResult:
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{duration:g}s", "--timeout", "10s"]
    cmd += ["-s", str(script), server.url + path, "--", path, str(pool_file)]
    cmd += ["once" if once else "cycle", str(first)]
    out = subprocess.run(pinned(cmd, cpu), capture_output=True, text=True, check=True).stdout
    line = next((x for x in out.splitlines() if x.startswith("BENCH ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no result:\n{out}")
    n = [int(v) for v in line.split()[1:]]
    names = ("connect", "read", "write", "status", "timeout")
    return WrkResult(
        requests=n[0],
        duration_s=n[1] / 1e6,
        errors=dict(zip(names, n[2:7], strict=True)),
        p50_ms=n[7] / 1000,
        p99_ms=n[8] / 1000,
        used=n[9],
        exhausted=bool(n[10]),
    )


def check_wrk(name: str, result: WrkResult) -> None:
    if result.exhausted:
        raise RuntimeError(f"{name}: the request pool ran out; rerun with a shorter --duration")
    bad = {k: v for k, v in result.errors.items() if v}
    if bad:
        raise RuntimeError(f"{name}: wrk saw errors {bad} (non-2xx counts as 'status')")


# -- the open-loop client: latency at a fixed rate ------------------------------------


@dataclass
class LoopResult:
    target_rps: float
    sent: int = 0
    completed: int = 0
    bad: int = 0
    duration_s: float = 0.0
    latencies: list[float] = field(default_factory=list)
    lags: list[float] = field(default_factory=list)

    @property
    def achieved_rps(self) -> float:
        return self.completed / self.duration_s if self.duration_s else 0.0

    def p(self, q: float) -> float:
        return percentile(self.latencies, q) * 1000

    def lag_p99_ms(self) -> float:
        return percentile(self.lags, 0.99) * 1000


def percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


async def read_response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    if "chunked" in headers.get("transfer-encoding", ""):
        raise RuntimeError("chunked responses are not supported by this client")
    length = int(headers.get("content-length", "0"))
    body = await reader.readexactly(length) if length else b""
    return status, headers, body


def is_twiml(status: int, headers: dict[str, str], body: bytes) -> bool:
    return (
        status == 200
        and headers.get("content-type", "").startswith("application/xml")
        and b"<Response>" in body
    )


class LoopClient:
    """Hands each scheduled request to an idle connection, or queues it until one is free."""

    def __init__(self, result: LoopResult, total: int) -> None:
        self.result = result
        self.total = total
        self.idle: list[LoopConnection] = []
        self.backlog: deque[tuple[float, bytes]] = deque()
        self.finished: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def submit(self, due: float, request: bytes) -> None:
        if self.idle:
            self.idle.pop().send(due, request)
        else:
            self.backlog.append((due, request))

    def answered(self, conn: LoopConnection, due: float, sent: float, ok: bool) -> None:
        done = time.perf_counter()
        result = self.result
        result.latencies.append(done - due)
        result.lags.append(sent - due)
        result.completed += 1
        result.bad += not ok
        if self.backlog:
            conn.send(*self.backlog.popleft())
        else:
            self.idle.append(conn)
        if result.completed == self.total and not self.finished.done():
            self.finished.set_result(None)

    def failed(self, exc: BaseException) -> None:
        if not self.finished.done():
            self.finished.set_exception(exc)


class LoopConnection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection with at most one request in flight."""

    def __init__(self, client: LoopClient) -> None:
        self.client = client
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.due = self.sent = 0.0
        self.busy = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self.client.idle.append(self)

    def send(self, due: float, request: bytes) -> None:
        assert self.transport is not None
        self.due, self.busy = due, True
        self.sent = time.perf_counter()
        self.transport.write(request)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        head = bytes(self.buffer[:end]).decode("latin-1").split("\r\n")
        headers = {}
        for line in head[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        if len(self.buffer) < end + 4 + length:
            return
        body = bytes(self.buffer[end + 4 : end + 4 + length])
        del self.buffer[: end + 4 + length]
        self.busy = False
        ok = is_twiml(int(head[0].split(" ", 2)[1]), headers, body)
        self.client.answered(self, self.due, self.sent, ok)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.busy:
            self.client.failed(exc or ConnectionError("the server closed a busy connection"))


async def open_loop(
    port: int, requests: Sequence[bytes], rate: float, connections: int
) -> LoopResult:
    """Send `requests` at `rate`/s on a fixed schedule; latency counts from the schedule."""
    result = LoopResult(target_rps=rate)
    client = LoopClient(result, len(requests))
    loop = asyncio.get_running_loop()
    transports = []
    for _ in range(connections):
        transport, _ = await loop.create_connection(lambda: LoopConnection(client), HOST, port)
        transports.append(transport)
    interval = 1.0 / rate
    start = time.perf_counter() + 0.01
    try:
        for i, request in enumerate(requests):
            due = start + i * interval
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            client.submit(due, request)
            result.sent += 1
        await asyncio.wait_for(client.finished, timeout=60)
    finally:
        for transport in transports:
            transport.close()
    result.duration_s = len(requests) * interval
    return result


async def fetch_all(
    port: int, requests: Sequence[bytes]
) -> list[tuple[int, dict[str, str], bytes]]:
    """Send requests one at a time on one connection (the pre-flight check)."""
    reader, writer = await asyncio.open_connection(HOST, port)
    out = []
    try:
        for request in requests:
            writer.write(request)
            out.append(await read_response(reader))
    finally:
        writer.close()
    return out


def run_async(coro: Any) -> Any:
    import uvloop

    return uvloop.run(coro)


def preflight(name: str, server: Server, path: str, pool: Sequence[Signed]) -> None:
    """Refuse to measure unless every sample request gets 200 with TwiML (not 403)."""
    requests = [raw_request(server.port, path, s) for s in pool]
    responses: list[tuple[int, dict[str, str], bytes]] = run_async(fetch_all(server.port, requests))
    for status, headers, body in responses:
        if not is_twiml(status, headers, body):
            raise RuntimeError(f"{name}: pre-flight got {status} {body[:300]!r}")
        if b"something went wrong" in body:
            raise RuntimeError(f"{name}: the call was unknown to the app: {body[:300]!r}")
    print(f"  pre-flight: {len(responses)} requests, all 200 TwiML", flush=True)


# -- calls in the store --------------------------------------------------------------


class CallBank:
    """Calls the app has created and that are still at their first menu step."""

    def __init__(self, client: redis.Redis, keys: Keys) -> None:
        self.redis = client
        self.keys = keys
        self.fresh: list[Call] = []
        self.template: CallSession | None = None
        self.template_twiml = ""
        self.cloned = 0

    def add_created(self, calls: Sequence[Call]) -> int:
        """Keep the calls whose session exists and is at step 1; return how many."""
        added = 0
        for batch in chunks(calls, 5000):
            pipe = self.redis.pipeline(transaction=False)
            for call in batch:
                pipe.get(self.keys.call(call.sid))
            for call, text in zip(batch, pipe.execute(), strict=True):
                if text and CallSession.from_json(str(text)).step == 1:
                    self.fresh.append(call)
                    added += 1
        if self.template is None and self.fresh:
            sid = self.fresh[0].sid
            self.template = CallSession.from_json(str(self.redis.get(self.keys.call(sid))))
            self.template_twiml = str(self.redis.hget(self.keys.call_responses(sid), "0"))
        return added

    def take(self, n: int) -> list[Call]:
        """`n` calls at step 1: app-created first, then copies of one (if short)."""
        if len(self.fresh) < n:
            self.fresh += self.clone(n - len(self.fresh))
        taken, self.fresh = self.fresh[:n], self.fresh[n:]
        return taken

    def clone(self, n: int) -> list[Call]:
        """Copies of an app-created call (session and step-0 TwiML) under new CallSids."""
        if self.template is None:
            raise RuntimeError("no app-created call to copy")
        calls = new_calls(n)
        for batch in chunks(calls, 5000):
            pipe = self.redis.pipeline(transaction=False)
            for call in batch:
                self.template.sid, self.template.caller = call.sid, call.caller
                pipe.set(
                    self.keys.call(call.sid), self.template.to_json(), ex=DEFAULT_SESSION_TTL_S
                )
                responses = self.keys.call_responses(call.sid)
                pipe.hset(responses, "0", self.template_twiml)
                pipe.expire(responses, DEFAULT_SESSION_TTL_S)
            pipe.execute()
        self.cloned += n
        return calls

    def count_at_step(self, calls: Sequence[Call], step: int) -> int:
        count = 0
        for batch in chunks(calls, 5000):
            pipe = self.redis.pipeline(transaction=False)
            for call in batch:
                pipe.get(self.keys.call(call.sid))
            count += sum(
                1
                for text in pipe.execute()
                if text and CallSession.from_json(str(text)).step == step
            )
        return count


def chunks(items: Sequence[Call], size: int) -> Iterator[Sequence[Call]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


# -- the run -------------------------------------------------------------------------


@dataclass
class Case:
    name: str
    endpoint: str
    wrk: WrkResult | None = None
    loop: LoopResult | None = None


PoolMaker = Callable[[int], list[tuple[Call, Signed]]]
"""Makes `n` signed requests, each for its own call."""


def wrk_options(work: Path, args: argparse.Namespace, gen_cpu: int | None) -> dict[str, Any]:
    return {"script": work / "pool.lua", "connections": args.connections, "cpu": gen_cpu}


def report_wrk(result: WrkResult) -> None:
    print(
        f"  wrk: {result.rps:,.0f} req/s, p50 {result.p50_ms:.2f} ms, "
        f"p99 {result.p99_ms:.2f} ms ({result.requests:,} requests)",
        flush=True,
    )


def measure_cycle(
    case: Case,
    server: Server,
    path: str,
    pool: Sequence[Signed],
    work: Path,
    args: argparse.Namespace,
    gen_cpu: int | None,
) -> None:
    """The baseline: a small pool used round and round (it keeps no state)."""
    file = work / f"{case.name}.pool"
    write_pool(file, pool)
    preflight(case.name, server, path, pool[:SAMPLE])
    options = wrk_options(work, args, gen_cpu)
    check_wrk(case.name, run_wrk(server, path, file, duration=WARMUP_S, once=False, **options))
    case.wrk = run_wrk(server, path, file, duration=args.duration, once=False, **options)
    check_wrk(case.name, case.wrk)
    report_wrk(case.wrk)


def measure_once(
    case: Case,
    server: Server,
    path: str,
    make_pool: PoolMaker,
    ceiling_rps: float,
    work: Path,
    args: argparse.Namespace,
    gen_cpu: int | None,
) -> tuple[list[Call], list[Call]]:
    """Pre-flight, warm up, measure, never sending a request twice.

    The warm-up pool is sized for `ceiling_rps` (the bare rate, which no app
    endpoint reaches); the measured pool for twice the warm-up's rate. Returns
    the calls sent (pre-flight, warm-up and measurement) and those left unsent.
    """
    file = work / f"{case.name}.pool"
    options = wrk_options(work, args, gen_cpu)
    warm_pool = make_pool(SAMPLE + int(ceiling_rps * WARMUP_S * POOL_SLACK) + 100)
    preflight(case.name, server, path, [s for _, s in warm_pool[:SAMPLE]])
    write_pool(file, [s for _, s in warm_pool[SAMPLE:]])
    warm = run_wrk(server, path, file, duration=WARMUP_S, once=True, **options)
    check_wrk(case.name + " warm-up", warm)
    n = int(min(ceiling_rps * POOL_SLACK, 2 * warm.rps + 200) * args.duration) + 1000
    print(f"  warm-up: {warm.rps:,.0f} req/s; signing {n:,} requests", flush=True)
    pool = make_pool(n)
    write_pool(file, [s for _, s in pool])
    case.wrk = run_wrk(server, path, file, duration=args.duration, once=True, **options)
    check_wrk(case.name, case.wrk)
    report_wrk(case.wrk)
    sent = SAMPLE + warm.used
    used = [c for c, _ in warm_pool[:sent] + pool[: case.wrk.used]]
    unused = [c for c, _ in warm_pool[sent:] + pool[case.wrk.used :]]
    return used, unused


def measure_loop(
    case: Case, server: Server, path: str, pool: Sequence[Signed], rate: float, conns: int
) -> None:
    requests = [raw_request(server.port, path, s) for s in pool]
    gc.collect()
    gc.freeze()  # no collector pauses in the client while it keeps time
    gc.disable()
    try:
        result: LoopResult = run_async(open_loop(server.port, requests, rate, conns))
    finally:
        gc.enable()
        gc.unfreeze()
    case.loop = result
    if result.bad or result.completed != result.sent:
        raise RuntimeError(
            f"{case.name}: open loop got {result.bad} bad responses, "
            f"{result.sent - result.completed} unanswered"
        )
    print(
        f"  open loop at {rate:,.0f} req/s: p50 {result.p(0.5):.2f} ms, "
        f"p99 {result.p(0.99):.2f} ms (send lag p99 {result.lag_p99_ms():.2f} ms)",
        flush=True,
    )


def run(args: argparse.Namespace) -> list[Case]:
    cpus = sorted(os.sched_getaffinity(0))
    server_cpu = cpus[-1] if args.pin and len(cpus) >= 2 else None
    gen_cpu = cpus[0] if server_cpu is not None else None
    if gen_cpu is not None:  # this process, the Valkey it starts, wrk: all off the server core
        os.sched_setaffinity(0, set(cpus[:-1]))
    work = Path(tempfile.mkdtemp(prefix="ivr-bench-"))
    (work / "pool.lua").write_text(LUA)
    store = EmbeddedStore(work / "store")
    servers: list[Server] = []
    client: redis.Redis | None = None
    try:
        url = store.start()
        client = sync_client(url)
        env = dict(os.environ)
        env.update(
            REDIS_URL=url,
            TWILIO_AUTH_TOKEN=TOKEN,
            PUBLIC_BASE_URL=PUBLIC_BASE,
            IVR_CONFIG_DIR="config",
            IVR_VALIDATE_SIGNATURES="true",
            PYTHONUNBUFFERED="1",
        )
        app = Server("app", "ivr.app:create_app", factory=True, env=env, cpu=server_cpu)
        bare = Server("bare", "bench.bare:app", factory=False, env=env, cpu=server_cpu)
        servers += [app, bare]
        for server in servers:
            server.start(work)
        for server in servers:
            server.wait_ready()
        return measure(args, work, app, bare, CallBank(client, Keys()), gen_cpu)
    finally:
        for server in servers:
            server.stop()
        if client is not None:
            client.close()
        store.stop()
        shutil.rmtree(work, ignore_errors=True)


def measure(
    args: argparse.Namespace,
    work: Path,
    app: Server,
    bare: Server,
    bank: CallBank,
    gen_cpu: int | None,
) -> list[Case]:
    c_bare = Case("bare", "bare Starlette `POST /voice/incoming` (baseline)")
    c_in = Case("incoming", "app `POST /voice/incoming` (new call)")
    c_menu = Case("menu", "app `POST /voice/menu?step=1`, `Digits=1`")

    def incoming_pool(n: int) -> list[tuple[Call, Signed]]:
        calls = new_calls(n)
        return list(zip(calls, sign_all(INCOMING, [voice_form(c) for c in calls]), strict=True))

    def menu_pool(n: int) -> list[tuple[Call, Signed]]:
        calls = bank.take(n)
        return list(zip(calls, sign_all(menu, menu_forms(calls)), strict=True))

    print("bare baseline", flush=True)
    bare_pool = sign_all(INCOMING, [voice_form(c) for c in new_calls(2000)])
    measure_cycle(c_bare, bare, INCOMING, bare_pool, work, args, gen_cpu)
    assert c_bare.wrk is not None
    ceiling = c_bare.wrk.rps

    print("app /voice/incoming", flush=True)
    used, _ = measure_once(c_in, app, INCOMING, incoming_pool, ceiling, work, args, gen_cpu)
    created = bank.add_created(used)
    assert bank.template is not None
    print(f"  {created:,} of {len(used):,} calls sent exist in the store at step 1", flush=True)
    step = bank.template.step
    menu = f"/voice/menu?step={step}"

    print(f"app {menu}", flush=True)
    used, unused = measure_once(c_menu, app, menu, menu_pool, ceiling, work, args, gen_cpu)
    bank.fresh = unused + bank.fresh
    advanced = bank.count_at_step(used, step + 1)
    print(f"  {advanced:,} of {len(used):,} calls sent moved on to step {step + 1}", flush=True)

    print("latency at half load (open loop)", flush=True)
    for case, server, path in (
        (c_bare, bare, INCOMING),
        (c_in, app, INCOMING),
        (c_menu, app, menu),
    ):
        assert case.wrk is not None
        rate = case.wrk.rps / 2
        n = int(rate * args.latency_duration)
        if case is c_bare:
            pool = [bare_pool[i % len(bare_pool)] for i in range(n)]
        else:
            pairs = (incoming_pool if case is c_in else menu_pool)(n)
            pool = [s for _, s in pairs]
        print(f"  {case.name}:", flush=True)
        measure_loop(case, server, path, pool, rate, args.connections)
        if case is c_in:
            bank.add_created([c for c, _ in pairs])
    if bank.cloned:
        print(f"({bank.cloned:,} menu calls were copies of an app-created call)", flush=True)
    return [c_bare, c_in, c_menu]


# -- the report ----------------------------------------------------------------------


def machine() -> list[str]:
    cpu, python = docs.machine()
    wrk = subprocess.run(["wrk", "--version"], capture_output=True, text=True).stdout
    load = Path("/proc/loadavg").read_text().split()[:3] if Path("/proc/loadavg").exists() else []
    return [
        cpu,
        f"- load average before the run: {' / '.join(load) or 'unknown'} (1 / 5 / 15 min; other "
        "work on the machine skews the numbers)",
        python,
        f"- {wrk.splitlines()[0].split(' Copyright')[0] if wrk else 'wrk'}",
    ]


def verdict(ok: bool) -> str:
    return "**met**" if ok else "**NOT met**"


def table(cases: Sequence[Case]) -> list[str]:
    bare = cases[0].wrk
    assert bare is not None
    rows = [
        "| endpoint | max req/s | wrk p50 / p99 (ms) | ratio to bare "
        "| half-load req/s | open-loop p50 / p99 (ms) | client lag p99 (ms) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for case in cases:
        w, lp = case.wrk, case.loop
        assert w is not None and lp is not None
        ratio = "1.00 (baseline)" if case is cases[0] else f"{w.rps / bare.rps:.2f}"
        rows.append(
            f"| {case.endpoint} | {w.rps:,.0f} | {w.p50_ms:.2f} / {w.p99_ms:.2f} | {ratio} "
            f"| {lp.achieved_rps:,.0f} | {lp.p(0.5):.2f} / {lp.p(0.99):.2f} "
            f"| {lp.lag_p99_ms():.2f} |"
        )
    return rows


def targets(cases: Sequence[Case]) -> list[str]:
    bare = cases[0].wrk
    assert bare is not None
    out = []
    for case in cases[1:]:
        assert case.wrk is not None
        ratio = case.wrk.rps / bare.rps
        out.append(
            f"- {case.endpoint}: throughput ratio {ratio:.2f} (target >= {RATIO_TARGET}): "
            f"{verdict(ratio >= RATIO_TARGET)}"
        )
    for case in cases:
        assert case.loop is not None
        p99 = case.loop.p(0.99)
        lag = case.loop.lag_p99_ms()
        status = verdict(p99 < P99_TARGET_MS)
        if lag > MAX_CLIENT_LAG_MS and p99 >= P99_TARGET_MS:
            status = (
                f"**inconclusive** (the client itself sent up to {lag:.1f} ms late: the load "
                "generator was starved, most likely by other work on the machine; rerun)"
            )
        out.append(
            f"- {case.endpoint}: p99 at half load {p99:.2f} ms (target < {P99_TARGET_MS:g} ms): "
            + status
        )
    return out


def section(
    cases: Sequence[Case], args: argparse.Namespace, pinned_cpus: bool, host: list[str]
) -> str:
    command = f".venv/bin/python -m bench.webhooks --duration {args.duration:g} "
    command += f"--connections {args.connections}"
    if args.latency_duration != 5.0:
        command += f" --latency-duration {args.latency_duration:g}"
    pin = (
        "Each server is pinned to the last CPU; wrk, the open-loop client\n"
        "  and Valkey share the others (`taskset`)."
        if pinned_cpus
        else "Nothing is pinned to a CPU."
    )
    lines = [
        SECTION,
        "",
        f"Written by `bench/webhooks.py` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; "
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
        "- Both servers: `uvicorn <app> " + " ".join(UVICORN_FLAGS) + "`,",
        "  one process each. " + pin,
        "- The app: `uvicorn ivr.app:create_app --factory` on an embedded Valkey (append-only",
        "  file, `appendfsync everysec`) with signature validation on. Every `/voice/incoming`",
        "  request is a new call with its own signed `CallSid`; every menu request is a call",
        "  created beforehand that is still at step 1, so it runs the menu and commits step 2",
        "  (never the retry cache). No request is sent twice.",
        "- The baseline (`bench/bare.py`): parses the same form with `await request.form()` and",
        "  returns a constant TwiML document.",
        f"- *max req/s*, *wrk p50 / p99*: wrk, 1 thread, {args.connections} connections, "
        f"{args.duration:g} s after a",
        f"  {WARMUP_S:g} s warm-up. Closed loop, so these latencies are at saturation.",
        f"- *open-loop*: {args.connections} keep-alive connections sending at half the max rate "
        f"for {args.latency_duration:g} s;",
        "  latency is timed from each request's scheduled send time, so queueing is not hidden",
        "  by coordinated omission. *client lag* is how late the client itself sent (included",
        "  in the latency).",
        "",
        *table(cases),
        "",
        "Targets:",
        "",
        *targets(cases),
        "",
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.webhooks", description=__doc__)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=32, help="connections (wrk and client)")
    parser.add_argument(
        "--latency-duration", type=float, default=5.0, help="seconds per half-load run"
    )
    parser.add_argument(
        "--pin",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="pin the servers to one CPU and the load generators to the rest (default on)",
    )
    parser.add_argument("--docs", type=Path, default=DOCS, help="markdown file to update")
    parser.add_argument("--no-docs", action="store_true", help="print only; do not write docs")
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        parser.error("wrk is not installed")
    if args.pin and shutil.which("taskset") is None:
        args.pin = False
    began = time.monotonic()
    pinned_cpus = args.pin and len(os.sched_getaffinity(0)) >= 2
    host = machine()  # before `run` pins this process (`nproc` follows the affinity)
    cases = run(args)
    text = section(cases, args, pinned_cpus, host)
    print()
    print(text)
    if not args.no_docs:
        write_section(args.docs, SECTION, text)
        print(f"written to {args.docs}")
    print(f"total {time.monotonic() - began:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
