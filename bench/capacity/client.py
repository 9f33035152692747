"""The webhook client: signed POSTs over keep-alive connections, timed from their schedule.

With several web processes, the connections are spread over them in turn (as a proxy
in front of several web hosts would), and a webhook takes whichever connection is free.
"""

from __future__ import annotations

import asyncio
import time
from urllib.parse import urlencode, urlsplit

from twilio.request_validator import RequestValidator

from bench.capacity.closing import cancel_and_wait, report_stuck
from bench.capacity.defaults import CLOSE_TIMEOUT_S, PUBLIC_BASE, REQUEST_TIMEOUT_S, TOKEN
from bench.capacity.measure import Window
from bench.webhooks import HOST

Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]
Answer = tuple[int, bytes]
Request = tuple[list[float], bytes, asyncio.Future[Answer]]
RECONNECT_PAUSE_S = 0.1


class Client:
    """Signed webhook POSTs over a pool of keep-alive connections, timed from `due`."""

    def __init__(self, ports: list[int], connections: int) -> None:
        self.ports = ports
        self.connections = connections
        self.queue: asyncio.Queue[Request] = asyncio.Queue()
        self.workers: list[asyncio.Task[None]] = []
        self.writers: set[asyncio.StreamWriter] = set()
        self.validator = RequestValidator(TOKEN)
        self.window: Window | None = None
        self.closing = False
        self.total = 0
        self.errors = 0
        self.failures: dict[str, int] = {}

    async def start(self) -> None:
        for i in range(self.connections):
            self.workers.append(asyncio.create_task(self._worker(self.ports[i % len(self.ports)])))

    async def close(self) -> None:
        """Stop every connection (bounded), fail the requests still queued, close sockets."""
        self.closing = True
        stuck = await cancel_and_wait(self.workers, CLOSE_TIMEOUT_S)
        report_stuck("webhook connections", stuck)
        while not self.queue.empty():
            self.queue.get_nowait()[2].cancel()
        for writer in self.writers:
            writer.close()
        self.writers.clear()

    async def open(self, port: int) -> Connection:
        """A new connection to `port`, retried until the server takes it."""
        while True:
            try:
                reader, writer = await asyncio.open_connection(HOST, port)
            except OSError:
                await asyncio.sleep(RECONNECT_PAUSE_S)
                continue
            self.writers.add(writer)
            return reader, writer

    async def _reconnect(self, port: int, old: Connection) -> Connection:
        old[1].close()
        self.writers.discard(old[1])
        return await self.open(port)

    async def _worker(self, port: int) -> None:
        connection = await self.open(port)
        while not self.closing:
            sent, request, done = await self.queue.get()
            sent[0] = time.perf_counter()
            connection, outcome = await self._exchange(port, connection, request)
            if done.done():
                continue
            if isinstance(outcome, BaseException):
                done.set_exception(outcome)
            else:
                done.set_result(outcome)

    async def _exchange(
        self, port: int, connection: Connection, request: bytes
    ) -> tuple[Connection, Answer | Exception]:
        """Send `request` and read its answer (or the failure), on a usable connection."""
        try:
            return connection, await send(connection, request)
        except (ConnectionError, asyncio.IncompleteReadError):
            # uvicorn closes a keep-alive connection idle for 5 s: nothing of this request
            # was answered, so send it again on a new connection (as any HTTP client does)
            connection = await self._reconnect(port, connection)
            try:
                return connection, await send(connection, request)
            except Exception as again:  # noqa: BLE001 (any failure: answer it, start afresh)
                return await self._reconnect(port, connection), again
        except Exception as exc:  # noqa: BLE001
            return await self._reconnect(port, connection), exc

    async def post(self, url: str, form: dict[str, str], due: float) -> str:
        """POST a signed webhook at `due` (perf_counter time); its body ('' on failure)."""
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        if self.closing:
            raise asyncio.CancelledError("the webhook client is closed")
        full = url if url.startswith("http") else PUBLIC_BASE + url
        path = urlsplit(full).path
        sent = [time.perf_counter()]  # when a connection writes it (the worker sets it)
        done: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        await self.queue.put((sent, self.request(full, form), done))
        ok, text, why = True, "", ""
        try:
            status, raw = await done
            ok, why, text = status < 400, str(status), raw.decode()
        except Exception as exc:  # noqa: BLE001 (counted as a failed webhook)
            ok, why = False, type(exc).__name__
        if not ok:
            self.failures[f"{path} {why}"] = self.failures.get(f"{path} {why}", 0) + 1
        self.record(path, due, sent[0], ok)
        return text

    def request(self, full: str, form: dict[str, str]) -> bytes:
        """The raw HTTP/1.1 request, signed as Twilio signs it."""
        parts = urlsplit(full)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        body = urlencode(form).encode()
        head = (
            f"POST {target} HTTP/1.1\r\nHost: {HOST}\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\n"
            f"X-Twilio-Signature: {self.validator.compute_signature(full, form)}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        return head.encode() + body

    def record(self, path: str, due: float, sent: float, ok: bool) -> None:
        latency = time.perf_counter() - due
        self.total += 1
        self.errors += not ok
        if self.window is not None and self.window.covers(due):
            self.window.add(path, latency, sent - due, ok)


async def send(connection: Connection, request: bytes) -> Answer:
    """Write `request` and read its answer, within Twilio's timeout. `asyncio.timeout`, not
    `asyncio.wait_for`: the latter can drop a cancellation (see `closing`)."""
    reader, writer = connection
    if reader.at_eof() or writer.is_closing():
        raise ConnectionResetError("closed while idle")
    writer.write(request)
    async with asyncio.timeout(REQUEST_TIMEOUT_S):
        return await read_response(reader)


async def read_response(reader: asyncio.StreamReader) -> Answer:
    """One HTTP/1.1 response: its status and body (Content-Length or chunked)."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    length, chunked = 0, False
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip())
        if name.strip().lower() == "transfer-encoding" and "chunked" in value:
            chunked = True
    if chunked:
        return status, await read_chunks(reader)
    return status, await reader.readexactly(length)


async def read_chunks(reader: asyncio.StreamReader) -> bytes:
    body = b""
    while True:
        size = int((await reader.readuntil(b"\r\n")).strip(), 16)
        chunk = await reader.readexactly(size + 2)
        if size == 0:
            return body
        body += chunk[:-2]
