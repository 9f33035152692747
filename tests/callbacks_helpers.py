"""Helpers for the callback tests: a config that offers callbacks, and running due jobs."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import redis
import yaml
from rq import SimpleWorker

from callbacks import jobs
from ivr import telephony
from ivr.clock import ManualClock
from ivr.emulator import Emulator
from ivr.liveserver import LiveServer
from ivr.store import sync_client
from tests.agents import services_of
from tests.conftest import SAMPLE_CONFIG


def edit_yaml(path: Path, change: Any) -> None:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")


def callback_config(target: Path, **callbacks: Any) -> Path:
    """The sample config where billing and sales offer keep-my-place callbacks on hold."""
    shutil.copytree(SAMPLE_CONFIG, target)

    def queues(data: dict[str, Any]) -> None:
        for name in ("billing", "sales"):
            hold = data["queues"][name].setdefault("hold", {})
            hold.update(callback_key="1", callback_offer_after_estimate_s=60)

    edit_yaml(target / "queues.yaml", queues)
    edit_yaml(target / "callbacks.yaml", lambda data: data["callbacks"].update(callbacks))
    return target


class JobRunner:
    """Runs the jobs due on the emulator's clock through the real pump and an rq worker."""

    def __init__(self, server: LiveServer, tw: Emulator, clock: ManualClock, url: str) -> None:
        svc = services_of(server)
        self.keys = svc.keys
        self.clock = clock
        self.redis = sync_client(url)
        self.binary = redis.Redis.from_url(url)
        self.queue = jobs.rq_queue(self.binary, svc.keys)
        self.pump = jobs.Pump(self.redis, self.queue, svc.keys)
        self.ctx = jobs.JobContext(
            settings=svc.settings,
            clock=clock,
            redis=self.redis,
            keys=svc.keys,
            config=lambda: svc.registry.current,
            rest=telephony.rest_client(svc.settings, tw.http_client()),
        )
        self.ran: list[str] = []

    def due(self) -> bool:
        return bool(self.redis.zrangebyscore(self.keys.jobs_due(), "-inf", self.clock.now()))

    def run_due(self) -> list[str]:
        """Pump what is due and run it to the end in this thread."""
        if not self.due():
            return []
        jobs.set_context(self.ctx)
        ids = self.pump.pump(self.clock.now())
        SimpleWorker([self.queue], connection=self.binary).work(burst=True)
        self.ran += ids
        return ids

    def tick(self) -> None:
        """The emulator's clock hook."""
        self.run_due()

    def close(self) -> None:
        jobs.set_context(None)
        self.redis.close()
        self.binary.close()
