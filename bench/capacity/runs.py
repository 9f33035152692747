"""One run (a store, the web processes, the load, then everything stopped) and the
scaling matrix of runs."""

from __future__ import annotations

import argparse
import copy
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bench.capacity.closing import run_bounded
from bench.capacity.config import make_config
from bench.capacity.defaults import AGENTS, METRICS_TOKEN, PUBLIC_BASE, TOKEN
from bench.capacity.driver import Target, drive, metrics_path
from bench.capacity.measure import Step
from bench.capacity.report import Scaled
from bench.capacity.servers import Store, WebServers
from bench.webhooks import HOST
from ivr.core.settings import Settings
from ivr.core.store import free_port

LOG_TAIL_CHARS = 1500
FIRST_WORKSPACE_NUMBER = 5600


@dataclass(frozen=True)
class Configs:
    """The generated config folders: the default one, and one per workspace."""

    default: Path
    workspaces: list[Path]
    numbers: list[str]


def make_configs(work: Path, workspaces: int) -> Configs:
    numbers = [f"+6031234{FIRST_WORKSPACE_NUMBER + i}" for i in range(max(workspaces, 1))]
    folders = [make_config(work, AGENTS, f"ws{i}", numbers[i]) for i in range(workspaces)]
    return Configs(make_config(work, AGENTS), folders, numbers)


def app_env(url: str, configs: Configs, rest_port: int, work: Path) -> dict[str, str]:
    """The web processes' environment."""
    env = dict(os.environ)
    env.pop("IVR_WORKSPACES", None)
    if configs.workspaces:
        env["IVR_WORKSPACES"] = ",".join(f"ws{i}:{f}" for i, f in enumerate(configs.workspaces))
    env.update(
        REDIS_URL=url,
        TWILIO_AUTH_TOKEN=TOKEN,
        PUBLIC_BASE_URL=PUBLIC_BASE,
        IVR_CONFIG_DIR=str(configs.default),
        IVR_VALIDATE_SIGNATURES="true",
        IVR_TWILIO_API_URL=f"http://{HOST}:{rest_port}",
        IVR_METRICS_TOKEN=METRICS_TOKEN,
        IVR_DATA_DIR=str(work / "data"),
        PYTHONUNBUFFERED="1",
    )
    return env


def scratch() -> Path:
    """A fresh folder, in /dev/shm when there is one (a busy disk's fsync stalls do not
    block the store)."""
    shm = Path("/dev/shm")
    return Path(tempfile.mkdtemp(prefix="ivr-capacity-", dir=shm if shm.is_dir() else None))


def run(args: argparse.Namespace, shards: int = 0, workspaces: int = 0) -> tuple[list[Step], bool]:
    """One run: a single embedded store (`shards` 0) or a cluster of `shards` primaries,
    and one contact centre (`workspaces` 0, as today) or that many `IVR_WORKSPACES`.
    The steps measured, and whether the app was pinned to a CPU."""
    cpus = set(os.sched_getaffinity(0))
    app_cpu = max(cpus) if args.pin and args.web_workers == 1 and len(cpus) >= 2 else None
    work = scratch()
    store = Store(work, shards)
    web: WebServers | None = None
    try:
        configs = make_configs(work, workspaces)
        url = store.start()  # on any CPU
        if app_cpu is not None:
            os.sched_setaffinity(0, cpus - {app_cpu})
        rest_port = free_port()
        env = app_env(url, configs, rest_port, work)
        web = WebServers(args.web_workers, env, app_cpu)
        web.start(work)
        settings = Settings.from_env(env, env_file=None)
        path = metrics_path(settings)
        target = Target(web.ports, rest_port, path, configs.numbers, web.pids, store.pids)
        return run_bounded(drive(args, target, settings, url)), app_cpu is not None
    finally:
        stop(web, store, work)
        os.sched_setaffinity(0, cpus)


def stop(web: WebServers | None, store: Store, work: Path) -> None:
    """Stop the web processes and the store (each bounded), show their last words, and
    remove the run's folder."""
    if web is not None:
        web.stop()
        show(web.log_tail()[-LOG_TAIL_CHARS:])
    store.stop()
    show(store.log_tail())
    shutil.rmtree(work, ignore_errors=True)


def show(text: str) -> None:
    if text.strip():
        print(text, flush=True)


def scaling(args: argparse.Namespace) -> list[Scaled]:
    """1 and 3 cluster shards, each with 1, 3 and 6 workspaces, every workspace carrying
    the same load; one fresh cluster and app per run."""
    out = []
    for shards in args.shards:
        for workspaces in args.workspaces:
            one = copy.copy(args)
            one.hold = args.scale_hold * workspaces
            one.rates = [args.scale_rate * workspaces]
            print(f"== {shards} shard(s), {workspaces} workspace(s)", flush=True)
            try:
                steps, _ = run(one, shards, workspaces)
            except (RuntimeError, OSError) as exc:
                print(f"  run failed: {exc}", flush=True)
                steps = []
            out.append(Scaled(shards, workspaces, steps[0] if steps else None))
    return out
