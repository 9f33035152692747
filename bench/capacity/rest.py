"""The stand-in for Twilio's REST API that the app is pointed at (`IVR_TWILIO_API_URL`):
`calls.create`, `calls(sid).update`, `calls.list` and `queues(sid).delete`."""

from __future__ import annotations

import asyncio
import json
from typing import cast
from urllib.parse import parse_qs, urlsplit

from bench.capacity.callers import Twilio
from bench.webhooks import HOST

Reply = tuple[int, object]
EMPTY_PAGE = {
    "calls": [],
    "meta": {"key": "calls", "page": 0, "page_size": 20, "next_page_url": None},
}


class Rest(asyncio.Protocol):
    """A tiny HTTP/1.1 server answering the few Twilio REST requests the app makes."""

    def __init__(self, twilio: Twilio, open_transports: set[asyncio.Transport]) -> None:
        self.twilio = twilio
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None
        self.open_transports = open_transports

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self.open_transports.add(self.transport)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.transport is not None:
            self.open_transports.discard(self.transport)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while (request := self.take_request()) is not None:
            self.reply(*answer(self.twilio, *request))

    def take_request(self) -> tuple[str, str, str] | None:
        """(method, target, body) of the next complete request in the buffer, if any."""
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return None
        lines = bytes(self.buffer[:end]).decode("latin-1").split("\r\n")
        length = 0
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value.strip())
        if len(self.buffer) < end + 4 + length:
            return None
        body = bytes(self.buffer[end + 4 : end + 4 + length]).decode()
        del self.buffer[: end + 4 + length]
        method, target = lines[0].split(" ")[:2]
        return method, target, body

    def reply(self, status: int, payload: object) -> None:
        assert self.transport is not None
        data = b"" if payload is None else json.dumps(payload).encode()
        head = f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n"
        head += f"Content-Length: {len(data)}\r\n\r\n"
        self.transport.write(head.encode() + data)


def answer(twilio: Twilio, method: str, target: str, body: str) -> Reply:
    """The REST API's answer to one request."""
    path = urlsplit(target).path
    params = {k: v[0] for k, v in parse_qs(body).items()}
    if path.endswith("/Calls.json"):
        return (201, twilio.ring(params)) if method == "POST" else (200, EMPTY_PAGE)
    if "/Queues/" in path and method == "DELETE":
        return 204, None
    if "/Calls/" in path and method == "POST":
        found = twilio.update(path.rsplit("/", 1)[1].removesuffix(".json"), params)
        return (200, found) if found is not None else not_found("not found")
    return not_found(f"not in the stand-in: {method} {path}")


def not_found(message: str) -> Reply:
    return 404, {"code": 20404, "message": message, "status": 404}


class RestServer:
    """The REST stand-in listening on `port`; closing it also drops the app's connections."""

    def __init__(self, server: asyncio.AbstractServer, transports: set[asyncio.Transport]) -> None:
        self.server = server
        self.transports = transports

    @classmethod
    async def start(cls, twilio: Twilio, port: int) -> RestServer:
        transports: set[asyncio.Transport] = set()
        loop = asyncio.get_running_loop()
        server = await loop.create_server(lambda: Rest(twilio, transports), HOST, port)
        return cls(server, transports)

    def close(self) -> None:
        """Stop listening and close every open connection (the app's keep-alive ones too)."""
        self.server.close()
        for transport in list(self.transports):
            transport.close()
        self.transports.clear()
