"""Backing up the embedded store while `ivr serve` runs, and restoring it into a fresh one.

A backup is one RDB snapshot: `BGSAVE` on the running server (a fork writes a
point-in-time copy to `dump.rdb` and renames it into place when complete), then a
copy of that file. A restore cannot just drop the file into a data directory: with
`appendonly yes` Valkey loads its append-only file and ignores a `dump.rdb`. So the
snapshot becomes the base of a new multi-part append-only file (an RDB base is one
of the forms Valkey writes itself), which the embedded server then loads on start.

    python -m ivr.backup save IVR_DATA_DIR FILE      # online: the service keeps running
    python -m ivr.backup restore FILE IVR_DATA_DIR   # into a fresh data directory

This covers the embedded store only. A server of your own (`REDIS_URL`) is backed
up with its own tools (`valkey-cli --rdb FILE`, or its host's snapshots).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import redis

from ivr.core.errors import StoreError
from ivr.core.settings import Settings
from ivr.core.store import EmbeddedStore, resolve_url, sync_client

SAVE_TIMEOUT_S = 600.0
"""A snapshot of a store this service fills (calls, queues, metrics) takes well under this."""
POLL_S = 0.05
AOF_DIR = "appendonlydir"
AOF_BASE = "appendonly.aof.1.base.rdb"
AOF_MANIFEST = "appendonly.aof.manifest"
"""Valkey's default `appenddirname` and `appendfilename` (the embedded config keeps them)."""
RDB_MAGIC = (b"VALKEY", b"REDIS")
"""How an RDB file starts (Valkey 8+ writes the first, older servers the second)."""


def save(data_dir: Path, target: Path) -> int:
    """Snapshot the store of `data_dir` into `target`; how many keys the store held then.

    Uses the server `ivr serve` runs on that directory, or starts one for the purpose."""
    if not (
        Path(data_dir) / "valkey"
    ).is_dir():  # a mistyped path would snapshot a new, empty store
        raise StoreError(f"{data_dir} holds no store (no valkey/ in it): give the IVR_DATA_DIR")
    url, embedded = resolve_url(Settings(data_dir=data_dir, redis_url=None))
    client = sync_client(url)
    try:
        keys = int(client.dbsize())
        snapshot = fresh_snapshot(client)
        copy_atomically(snapshot, target)
    finally:
        client.close()
        if embedded is not None:
            embedded.stop()
    return keys


def fresh_snapshot(client: redis.Redis) -> Path:
    """Ask for a new RDB snapshot and wait for it; its path on disk."""
    saves = int(client.info("persistence")["rdb_saves"])
    client.bgsave(schedule=True)  # waits its turn behind an AOF rewrite
    deadline = time.monotonic() + SAVE_TIMEOUT_S
    while True:
        info = client.info("persistence")
        if int(info["rdb_saves"]) > saves and not int(info["rdb_bgsave_in_progress"]):
            break
        if time.monotonic() > deadline:
            raise StoreError(f"the store's snapshot did not finish within {SAVE_TIMEOUT_S} s")
        time.sleep(POLL_S)
    if info["rdb_last_bgsave_status"] != "ok":
        raise StoreError("the store could not write its snapshot (see valkey.log)")
    folder = str(client.config_get("dir")["dir"])
    return Path(folder) / str(client.config_get("dbfilename")["dbfilename"])


def copy_atomically(source: Path, target: Path) -> None:
    """Copy `source` to `target` so that `target` is either absent or complete."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial")
    shutil.copyfile(source, partial)
    with open(partial, "rb") as handle:
        os.fsync(handle.fileno())
    os.replace(partial, target)


def restore(source: Path, data_dir: Path) -> int:
    """Make `data_dir` a store holding the snapshot `source`; how many keys it loaded.

    Refuses a data directory that already has a store: restore into a fresh one, and
    move it into place (or point `IVR_DATA_DIR` at it) once it is checked."""
    if not is_rdb(source):
        raise StoreError(f"{source} is not an RDB snapshot (made by `ivr.backup save`)")
    aof = Path(data_dir) / "valkey" / AOF_DIR
    if aof.exists() and any(aof.iterdir()):
        raise StoreError(f"{data_dir} already holds a store: restore into a fresh directory")
    aof.mkdir(parents=True, exist_ok=True)
    aof.parent.chmod(0o700)
    shutil.copyfile(source, aof / AOF_BASE)
    (aof / AOF_MANIFEST).write_text(f"file {AOF_BASE} seq 1 type b\n", encoding="utf-8")
    return loaded_keys(Path(data_dir))


def is_rdb(path: Path) -> bool:
    with open(path, "rb") as handle:
        return handle.read(6).startswith(RDB_MAGIC)


def loaded_keys(data_dir: Path) -> int:
    """Start the embedded server on `data_dir` once, to load and count what it holds."""
    with EmbeddedStore(data_dir) as store:
        client = sync_client(store.url)
        try:
            return int(client.dbsize())
        finally:
            client.close()


def add_parsers(subparsers: Any) -> None:
    """Register `backup DATA_DIR FILE` and `restore FILE DATA_DIR` (`ivr backup`, `ivr restore`)."""
    saving = subparsers.add_parser(
        "backup", help="snapshot the embedded store of DATA_DIR into FILE"
    )
    saving.add_argument("data_dir", type=Path, help="the service's IVR_DATA_DIR")
    saving.add_argument("file", type=Path, help="where to write the snapshot")
    restoring = subparsers.add_parser(
        "restore", help="make a new DATA_DIR hold a snapshot from FILE"
    )
    restoring.add_argument("file", type=Path, help="a snapshot written by `ivr backup`")
    restoring.add_argument("data_dir", type=Path, help="a new, empty IVR_DATA_DIR")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m ivr.ops.backup", description="back up or restore the embedded store"
    )
    add_parsers(parser.add_subparsers(dest="command", required=True))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    return run(build_parser().parse_args(argv))


def run(args: argparse.Namespace) -> int:
    """`ivr backup` or `ivr restore`, parsed: print what was done; 1 with the reason if not."""
    try:
        if args.command == "backup":
            keys = save(args.data_dir, args.file)
            print(f"snapshot written to {args.file} (the store held {keys} keys)")
        else:
            keys = restore(args.file, args.data_dir)
            print(f"restored {keys} keys into {args.data_dir}")
    except (StoreError, OSError, redis.RedisError) as exc:
        print(f"ivr backup: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
