"""Hot reload: the live config, swapped for a new version when its files change.

A config that fails to load never goes live: the last good one stays, and the
failure is logged and kept in `last_error`. So does one its `vet` finds errors in (in a
deployment of several workspaces: a number another workspace's live config lists). Calls
in progress keep the version they started on, found again by `ConfigRegistry.get`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

from ivr.config.loader import config_files, load, load_placed
from ivr.config.model import Config, Positions
from ivr.core import logs
from ivr.core.errors import ConfigError, Problem

DEFAULT_KEEP = 20
"""How many good versions stay retrievable for calls still using them."""

log = logs.get(__name__)

Fingerprint = tuple[tuple[str, int, int], ...]
Vet = Callable[[Config, Positions], list[Problem]]
"""Errors a reloaded config has beyond its own folder, pinned where they are written."""


def fingerprint(directory: Path) -> Fingerprint:
    """Name, mtime (ns) and size of each config file: cheap to take, changes on any edit."""
    found = []
    for path in config_files(directory):
        with contextlib.suppress(OSError):  # deleted since it was listed: it is gone
            stat = path.stat()
            found.append((path.name, stat.st_mtime_ns, stat.st_size))
    return tuple(found)


class ConfigRegistry:
    """The live config of a directory and the last few good versions before it."""

    def __init__(self, directory: Path, keep: int = DEFAULT_KEEP) -> None:
        self._directory = Path(directory)
        self._keep = keep
        self._versions: OrderedDict[str, Config] = OrderedDict()
        self._lock = threading.Lock()
        # Taken before loading, so an edit made during the load is seen next time.
        self._fingerprint = fingerprint(self._directory)
        self._current = load(self._directory)
        self._remember(self._current)
        self.last_error: str | None = None
        """Each error of the last failed reload, one `file:line:col: ...` per line."""
        self.vet: Vet | None = None
        """Checks a reloaded config against what lies outside its folder (set by the app)."""

    def __repr__(self) -> str:
        return f"ConfigRegistry(directory={str(self._directory)!r}, version={self.version!r})"

    @property
    def current(self) -> Config:
        """The config new calls use."""
        return self._current

    @property
    def version(self) -> str:
        """The version of the live config."""
        return self._current.version

    def get(self, version: str) -> Config | None:
        """A recent good version, or None if it was never loaded or is too old."""
        return self._versions.get(version)

    def reload(self) -> bool:
        """Load the files again if they changed; True when a different version went live."""
        with self._lock:
            seen = fingerprint(self._directory)
            if seen == self._fingerprint:
                return False
            self._fingerprint = seen
            try:
                config, _warnings, positions = load_placed(self._directory)
                if found := self.vet(config, positions) if self.vet else []:
                    raise ConfigError(found)
            except ConfigError as exc:
                self._fail(exc)
                return False
            self.last_error = None
            return self._activate(config)

    async def watch(self, interval: float, stop: asyncio.Event) -> None:
        """Poll for changes every `interval` seconds until `stop` is set."""
        while not stop.is_set():
            try:
                # Parsing is blocking work; keep it off the event loop that serves calls.
                await asyncio.to_thread(self.reload)
            except Exception:  # a bug here must not end hot reload for the process
                log.exception("config reload crashed; the live version stays", version=self.version)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval)

    def _activate(self, config: Config) -> bool:
        if config.version == self.version:
            return False  # touched or edited back and forth: same content
        config = self._versions.get(config.version, config)
        self._remember(config)
        self._current = config
        log.info("config version is live", version=config.version)
        return True

    def _remember(self, config: Config) -> None:
        self._versions[config.version] = config
        self._versions.move_to_end(config.version)
        while len(self._versions) > self._keep:
            self._versions.popitem(last=False)

    def _shown(self, problem: Problem) -> str:
        """A problem as `/healthz` shows it: its file named inside the config folder, so no
        absolute path of the server is shown (the log line names the folder)."""
        with contextlib.suppress(ValueError):
            where = Path(problem.file).resolve().relative_to(self._directory.resolve())
            problem = dataclasses.replace(problem, file=str(where))
        return str(problem)

    def _fail(self, exc: ConfigError) -> None:
        errors = [p for p in exc.problems if p.severity == "error"]
        self.last_error = "\n".join(self._shown(p) for p in errors) or str(exc)
        log.error(
            "config not loaded; the live version stays",
            directory=str(self._directory),
            version=self.version,
            errors="\n".join(str(p) for p in errors) or str(exc),
        )
