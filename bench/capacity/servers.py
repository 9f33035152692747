"""The processes a run starts: the store (an embedded Valkey or a Valkey Cluster) and one
or more web processes, each `uvicorn ivr.app:create_app` as `ivr serve --no-worker`
runs it, on its own port. Stopping them is bounded: a process that ignores SIGTERM is
killed, with a message."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from pathlib import Path
from typing import TextIO

import httpx

from bench.capacity.defaults import KILL_WAIT_S, READY_TIMEOUT_S, STOP_TIMEOUT_S
from bench.docs import ROOT
from bench.webhooks import HOST, UVICORN_FLAGS, pinned
from ivr.core.store import EmbeddedStore, die_with_parent, free_port
from ivr.devtools.clusters import Cluster

APP = "ivr.app:create_app"
READY_POLL_S = 0.1
LOG_TAIL_LINES = 20


class WebServer:
    """One uvicorn process serving the app on its own port."""

    def __init__(self, name: str, env: dict[str, str], cpu: int | None) -> None:
        self.name = name
        self.port = free_port()
        self.cmd = [sys.executable, "-m", "uvicorn", APP, "--factory", "--host", HOST]
        self.cmd += ["--port", str(self.port), *UVICORN_FLAGS]
        self.env = env
        self.cpu = cpu
        self.proc: subprocess.Popen[bytes] | None = None
        self.log: TextIO | None = None
        self.log_path: Path | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self, log_dir: Path) -> None:
        self.log_path = log_dir / f"{self.name}.log"
        self.log = self.log_path.open("w")
        self.proc = subprocess.Popen(
            pinned(self.cmd, self.cpu),
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=self.log,
            preexec_fn=die_with_parent(),  # noqa: PLW1509 (only async-signal-safe work)
        )

    def ready(self) -> bool:
        """Whether `/healthz` answers 200 (raises if the process has exited)."""
        if self.proc is None or self.proc.poll() is not None:
            raise RuntimeError(f"{self.name} exited at start:\n{self.log_tail()}")
        with contextlib.suppress(httpx.HTTPError):
            return httpx.get(self.url + "/healthz", timeout=1.0).status_code == 200
        return False

    def log_tail(self) -> str:
        """The last lines the process wrote to stderr (its log stays readable once stopped)."""
        if self.log is not None:
            self.log.flush()
        if self.log_path is None or not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text().splitlines()[-LOG_TAIL_LINES:])

    def terminate(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()

    def reap(self, deadline: float) -> None:
        """Wait for the process until `deadline` (monotonic); then kill it, with a message."""
        if self.proc is not None:
            reap(self.proc, self.name, deadline)
        self.proc = None
        if self.log is not None:
            self.log.close()
            self.log = None


class WebServers:
    """`n` web processes on their own ports, as `n` web hosts behind a proxy."""

    def __init__(self, n: int, env: dict[str, str], cpu: int | None) -> None:
        self.servers = [WebServer(f"app{i}" if n > 1 else "app", env, cpu) for i in range(n)]

    @property
    def ports(self) -> list[int]:
        return [s.port for s in self.servers]

    @property
    def pids(self) -> list[int]:
        return [s.proc.pid for s in self.servers if s.proc is not None]

    def start(self, log_dir: Path) -> None:
        """Start every process, then wait until each answers `/healthz`."""
        for server in self.servers:
            server.start(log_dir)
        deadline = time.monotonic() + READY_TIMEOUT_S
        for server in self.servers:
            while not server.ready():
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{server.name} did not start:\n{server.log_tail()}")
                time.sleep(READY_POLL_S)

    def log_tail(self) -> str:
        return "\n".join(s.log_tail() for s in self.servers)

    def stop(self) -> None:
        """SIGTERM to all at once; any still running after `STOP_TIMEOUT_S` is killed."""
        for server in self.servers:
            server.terminate()
        deadline = time.monotonic() + STOP_TIMEOUT_S
        for server in self.servers:
            server.reap(deadline)


def reap(proc: subprocess.Popen[bytes], name: str, deadline: float) -> None:
    """Wait for `proc` until `deadline`; kill it then, and give up after `KILL_WAIT_S`."""
    try:
        proc.wait(timeout=max(deadline - time.monotonic(), 0.0))
        return
    except subprocess.TimeoutExpired:
        print(f"  {name} (pid {proc.pid}) still running after SIGTERM; killing it", flush=True)
    proc.kill()
    try:
        proc.wait(timeout=KILL_WAIT_S)
    except subprocess.TimeoutExpired:
        print(
            f"  {name} (pid {proc.pid}) not gone {KILL_WAIT_S:g} s after SIGKILL; left", flush=True
        )


class Store:
    """An embedded Valkey (`shards` 0) or a Valkey Cluster of `shards` primaries."""

    def __init__(self, work: Path, shards: int) -> None:
        self.embedded = EmbeddedStore(work / "store")
        self.cluster = Cluster(work / "cluster", primaries=shards) if shards else None
        self.log = work / "store" / "valkey" / "valkey.log"

    def start(self) -> str:
        """Start it; its URL."""
        if self.cluster is None:
            return self.embedded.start()
        self.cluster.start()
        return self.cluster.url

    @property
    def pids(self) -> list[int]:
        if self.cluster is not None:
            return [n.process.pid for n in self.cluster.nodes if n.process is not None]
        process = self.embedded._process  # no public accessor: the bench reads its CPU time
        return [process.pid] if process is not None else []

    def stop(self) -> None:
        """Stop every store process (each bounded: killed when it does not exit)."""
        self.embedded.stop()
        if self.cluster is not None:
            self.cluster.stop()

    def log_tail(self) -> str:
        return "\n".join(self.log.read_text().splitlines()[-5:]) if self.log.exists() else ""
