"""`/api/live` through a store outage: the stream ends quietly and the page reconnects."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from ivr.app import create_app
from ivr.core.clock import ManualClock
from ivr.core.settings import Settings
from ivr.devtools.liveserver import LiveServer
from tests.conftest import AUTH_TOKEN, PUBLIC_BASE, SAMPLE_CONFIG
from tests.consoles import Console
from tests.stores import Store


@pytest.fixture(name="live")
def fixture_live(store: Store, clock: ManualClock, tmp_path: Path) -> Iterator[LiveServer]:
    """The real app on a real server, on the store the test can kill."""
    settings = Settings(
        twilio_auth_token=AUTH_TOKEN,
        public_base_url=PUBLIC_BASE,
        redis_url=store.url,
        config_dir=SAMPLE_CONFIG,
        data_dir=tmp_path / "var",
    )
    with LiveServer(create_app(settings, clock=clock, run_timers=False)) as server:
        yield server


@pytest.mark.parametrize("outage", ["kill", "hang"])
def test_a_store_outage_ends_the_stream_quietly(
    live: LiveServer, store: Store, caplog: pytest.LogCaptureFixture, outage: str
) -> None:
    """The store dies (or hangs: a read times out) mid-stream: the stream ends cleanly, with
    one warning and no traceback."""
    alice = Console(live, "agent", "alice")
    headers = {"Cookie": f"ivr_session={alice.cookie}"}
    try:
        with (
            caplog.at_level(logging.WARNING),
            alice.http.stream("GET", "/api/live", headers=headers) as response,
        ):
            assert response.status_code == 200
            lines = response.iter_lines()
            assert next(lines).startswith("retry:")
            getattr(store, outage)()
            list(lines)  # ends, rather than breaking off mid-response
    finally:
        alice.close()
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert not errors, [r.getMessage() for r in errors]
    warnings = [r for r in caplog.records if "live" in r.name and r.levelno == logging.WARNING]
    assert len(warnings) == 1, [r.getMessage() for r in caplog.records]
