"""The objects one web process shares between requests, built once at start-up."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import redis.asyncio as aioredis
from starlette.requests import Request

from ivr.attendant import Urls
from ivr.call import CallStore
from ivr.clock import Clock, utcnow
from ivr.config import Config
from ivr.keys import Keys
from ivr.reload import ConfigRegistry
from ivr.security import Verifier
from ivr.settings import Settings


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

    @classmethod
    def build(
        cls, settings: Settings, clock: Clock, redis: aioredis.Redis, registry: ConfigRegistry
    ) -> Services:
        keys = Keys(settings.tenant)
        return cls(
            settings=settings,
            clock=clock,
            redis=redis,
            keys=keys,
            calls=CallStore(redis, keys, settings.session_ttl_s),
            registry=registry,
            verifier=Verifier(settings),
            urls=Urls(settings.public_base_url),
        )

    def now(self) -> datetime:
        return utcnow(self.clock)

    def config_for(self, version: str) -> Config:
        """The config a call started on, or the live one if that version is gone."""
        return self.registry.get(version) or self.registry.current


def services(request: Request) -> Services:
    svc: Services = request.app.state.services
    return svc
