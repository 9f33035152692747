"""Helpers for the callback tests: a config that offers callbacks, and running due jobs."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import yaml

from callbacks import callback as callbacks
from callbacks import inprocess
from ivr.core.clock import ManualClock
from ivr.devtools.emulator import Emulator
from ivr.devtools.liveserver import LiveServer
from ivr.handlers import HANDLERS
from ivr.service import Services
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


def callback_state(svc: Services, cb_id: str) -> str | None:
    """The callback's state as stored, or None when there is no such callback."""
    cb = svc.run(callbacks.get(svc, cb_id))
    return cb.state if cb else None


def menu_callback_config(target: Path) -> Path:
    """Callbacks configured, and "press 5 to be called back" in the main menu."""
    callback_config(target)

    def menu(data: dict[str, Any]) -> None:
        option = {"key": "5", "then": {"callback": {"queue": "billing"}}}
        data["nodes"]["main"]["options"].append(option)

    edit_yaml(target / "menu.yaml", menu)
    return target


class JobRunner(inprocess.JobRunner):
    """Runs the jobs due on the emulator's clock, and remembers which ran."""

    def __init__(self, server: LiveServer, tw: Emulator, clock: ManualClock, url: str) -> None:
        super().__init__(services_of(server), url, tw.http_client(), HANDLERS)
        self.ran: list[str] = []

    def run_due(self) -> list[str]:
        """Pump what is due and run it to the end in this thread."""
        ids = self.run() if self.due() else []
        self.ran += ids
        return ids

    def tick(self) -> None:
        """The emulator's clock hook."""
        self.run_due()
