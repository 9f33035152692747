"""Shared fixtures: one real Valkey server for the session, flushed around each test.

With `REDIS_URL` set the tests use that server instead (its database is flushed:
never point it at data you care about).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from ivr.store import EmbeddedStore, sync_client

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_CONFIG = ROOT / "config"


@pytest.fixture(name="redis_url", scope="session")
def fixture_redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL of a real Valkey/Redis server for the whole test session."""
    if os.environ.get("REDIS_URL"):
        yield os.environ["REDIS_URL"]
        return
    embedded = EmbeddedStore(tmp_path_factory.mktemp("store"))
    url = embedded.start()
    yield url
    embedded.stop()


@pytest.fixture(name="r")
def fixture_r(redis_url: str) -> Iterator[redis.Redis]:
    """A blocking client on a freshly flushed database."""
    client = sync_client(redis_url)
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


@pytest.fixture(name="sample_config_dir")
def fixture_sample_config_dir() -> Path:
    """The sample configuration shipped in `config/`."""
    return SAMPLE_CONFIG
