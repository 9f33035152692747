"""The objects one web process shares between requests, built once at start-up."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

import anyio.to_thread
import redis.asyncio as aioredis
from starlette.requests import Request

from callbacks.context import Legs
from ivr.config.model import Config
from ivr.config.reload import ConfigRegistry
from ivr.core import telephony
from ivr.core.clock import Clock, utcnow
from ivr.core.keys import Keys
from ivr.core.security import Verifier
from ivr.core.session import CallStore
from ivr.core.settings import Settings
from ivr.core.urls import Urls
from queues.router import Router

T = TypeVar("T")


@dataclass
class Services:
    settings: Settings
    clock: Clock
    redis: aioredis.Redis
    keys: Keys
    calls: CallStore
    registry: ConfigRegistry
    verifier: Verifier
    urls: Urls
    router: Router
    twilio_http_client: Any = None
    loop: asyncio.AbstractEventLoop | None = None
    synced_version: str = ""
    folded_at: float | None = None
    """When this process last folded events into metrics (service clock)."""
    rng: random.Random = field(default_factory=random.Random, repr=False)
    """Jitter of retries; a simulation seeds it, so that its replay retries alike."""
    _rest: Any = field(default=None, repr=False)
    legs: Legs = field(init=False, repr=False)
    """The voice layer's part in callbacks, handed in by `build`'s caller."""

    @classmethod
    def build(
        cls,
        settings: Settings,
        clock: Clock,
        redis: aioredis.Redis,
        registry: ConfigRegistry,
        legs: Callable[[Services], Legs],
    ) -> Services:
        """`legs` builds the voice layer's `Legs` on the new services (`ivr.voice.legs`)."""
        keys = Keys(settings.tenant)
        svc = cls(
            settings=settings,
            clock=clock,
            redis=redis,
            keys=keys,
            calls=CallStore(redis, keys, settings.session_ttl_s),
            registry=registry,
            verifier=Verifier(settings),
            urls=Urls(settings.public_base_url),
            router=Router(redis, keys, clock),
        )
        svc.legs = legs(svc)
        return svc

    def now(self) -> datetime:
        return utcnow(self.clock)

    def config_for(self, version: str) -> Config:
        """The config a call started on, or the live one if that version is gone."""
        return self.registry.get(version) or self.registry.current

    def use_rest(self, client: Any) -> None:
        """Use this twilio REST client (a job's own) instead of building one."""
        self._rest = client

    async def rest(self, operation: Any) -> Any:
        """Run a blocking twilio REST operation `operation(client)` off the event loop."""
        if self._rest is None:
            self._rest = telephony.rest_client(self.settings, self.twilio_http_client)
        client = self._rest
        return await anyio.to_thread.run_sync(lambda: operation(client))

    async def sync_routing(self) -> None:
        """Give the routing engine the live queues and agents when the config version moved."""
        config = self.registry.current
        if config.version != self.synced_version:
            languages = frozenset(config.languages.available)
            await self.router.sync_config(dict(config.queues), dict(config.agents), languages)
            self.synced_version = config.version

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """From another thread (tests, the demo): run `coro` on the app's loop and wait."""
        assert self.loop is not None, "the app is not running"
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=30)


def services(request: Request) -> Services:
    svc: Services = request.app.state.services
    return svc
