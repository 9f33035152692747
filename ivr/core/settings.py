"""Settings, read once from the environment (and `.env`) into one object.

Secrets and deployment facts come from the environment; nothing deeper in the
code reads `os.environ`. Names with an `IVR_` prefix are this service's own;
the Twilio and Redis names are the ones their operators already know.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from starlette.config import Config

from ivr.core.errors import SettingsError

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
DEFAULT_WORKERS = 1
DEFAULT_DATA_DIR = "var"
DEFAULT_CONFIG_DIR = "config"
DEFAULT_TENANT = "main"
DEFAULT_MAX_BODY_BYTES = 64 * 1024
"""Twilio webhooks are a few kilobytes; anything far larger is not Twilio."""
DEFAULT_SESSION_TTL_S = 6 * 3600
"""A call's state outlives any real call (Twilio's Dial limit is 4 h)."""
DEFAULT_RELOAD_INTERVAL_S = 0.5
DEFAULT_CONSOLE_IDLE_S = 30 * 60
"""A console session with no request (and no open page) for this long is logged out."""
DEFAULT_STORE_WAIT_MS = 100
"""How long a write that must not be lost waits for a replica (`IVR_STORE_WAIT_REPLICAS`)."""
DEFAULT_STORE_MAX_CONNECTIONS = 1000
"""Store connections one process keeps open at most (`IVR_STORE_MAX_CONNECTIONS`; on a
cluster, commands in flight, and connections to each shard). Each webhook in flight holds
one for a few milliseconds, each open console one for its 2 s blocking read."""
WORKSPACE_ID = re.compile(r"[a-z0-9][a-z0-9-]{0,31}")
"""A workspace id: it is a Redis hash tag, a URL path segment (`/w/<id>/...`) and the
prefix of its console cookies and API tokens, so it stays short and plain."""


@dataclass(frozen=True)
class Workspace:
    """One contact centre of a deployment: its id and its config folder."""

    id: str
    config_dir: Path


def parse_workspaces(text: str) -> tuple[Workspace, ...]:
    """`IVR_WORKSPACES` (`sales:config/sales,support:config/support`) as workspaces; an
    empty value is none (the single-workspace deployment of `IVR_CONFIG_DIR`)."""
    found: list[Workspace] = []
    for entry in filter(None, (part.strip() for part in text.split(","))):
        name, sep, folder = entry.partition(":")
        if not sep or not WORKSPACE_ID.fullmatch(name.strip()) or not folder.strip():
            raise SettingsError(
                f"IVR_WORKSPACES: {entry!r} is not `id:config-folder` (an id of lower-case"
                " letters, digits and dashes, up to 32)"
            )
        if any(w.id == name.strip() for w in found):
            raise SettingsError(f"IVR_WORKSPACES: workspace {name.strip()!r} is named twice")
        found.append(Workspace(name.strip(), Path(folder.strip())))
    return tuple(found)


def positive(name: str, value: int) -> int:
    """`value`, or `SettingsError` naming the setting when it is not at least 1."""
    if value < 1:
        raise SettingsError(f"{name} must be at least 1, not {value}")
    return value


@dataclass(frozen=True)
class Settings:
    """Everything the service is told by its operator."""

    twilio_account_sid: str = "AC00000000000000000000000000000000"
    twilio_auth_token: str = ""
    public_base_url: str = "http://127.0.0.1:8000"
    redis_url: str | None = None
    twilio_api_url: str | None = None
    """Origin to send Twilio REST calls to instead of api.twilio.com (the emulator)."""
    validate_signatures: bool = True
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    workers: int = DEFAULT_WORKERS
    data_dir: Path = field(default_factory=lambda: Path(DEFAULT_DATA_DIR))
    config_dir: Path = field(default_factory=lambda: Path(DEFAULT_CONFIG_DIR))
    tenant: str = DEFAULT_TENANT
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    session_ttl_s: int = DEFAULT_SESSION_TTL_S
    reload_interval_s: float = DEFAULT_RELOAD_INTERVAL_S
    log_json: bool = False
    metrics_token: str | None = None
    twilio_api_key: str = ""
    """An API key SID (SK…) for signing softphone access tokens; empty: no softphone."""
    twilio_api_secret: str = ""
    twilio_twiml_app_sid: str = ""
    """The TwiML app the softphone's outgoing calls use (optional)."""
    console_idle_s: int = DEFAULT_CONSOLE_IDLE_S
    store_wait_replicas: int = 0
    """Replicas a write that must not be lost waits for (`WAIT`); 0: none (no replicas)."""
    store_wait_ms: int = DEFAULT_STORE_WAIT_MS
    store_max_connections: int = DEFAULT_STORE_MAX_CONNECTIONS
    """At this many connections in use, a command waits briefly for one (`ivr.core.pool`)."""
    workspaces: tuple[Workspace, ...] = ()
    """The contact centres of a deployment with several (`IVR_WORKSPACES`); empty: one,
    `config_dir` under `tenant`, as before workspaces existed."""
    workspace: str = ""
    """The workspace these settings are scoped to (`for_workspace`); empty with one."""

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, env_file: str | Path | None = ".env"
    ) -> Settings:
        """Read settings from `environ` (default `os.environ`) and an optional `.env` file."""
        env = os.environ if environ is None else environ
        path = Path(env_file) if env_file is not None else None
        cfg = Config(env_file=path if path and path.is_file() else None, environ=env)
        return cls(
            twilio_account_sid=cfg("TWILIO_ACCOUNT_SID", default=cls.twilio_account_sid),
            twilio_auth_token=cfg("TWILIO_AUTH_TOKEN", default=""),
            public_base_url=cfg("PUBLIC_BASE_URL", default=cls.public_base_url).rstrip("/"),
            redis_url=cfg("REDIS_URL", default=None) or None,
            twilio_api_url=cfg("IVR_TWILIO_API_URL", default=None) or None,
            validate_signatures=cfg("IVR_VALIDATE_SIGNATURES", cast=bool, default=True),
            host=cfg("IVR_HOST", default=DEFAULT_HOST),
            port=cfg("IVR_PORT", cast=int, default=DEFAULT_PORT),
            workers=cfg("IVR_WORKERS", cast=int, default=DEFAULT_WORKERS),
            data_dir=Path(cfg("IVR_DATA_DIR", default=DEFAULT_DATA_DIR)),
            config_dir=Path(cfg("IVR_CONFIG_DIR", default=DEFAULT_CONFIG_DIR)),
            tenant=cfg("IVR_TENANT", default=DEFAULT_TENANT),
            max_body_bytes=cfg("IVR_MAX_BODY_BYTES", cast=int, default=DEFAULT_MAX_BODY_BYTES),
            session_ttl_s=cfg("IVR_SESSION_TTL_S", cast=int, default=DEFAULT_SESSION_TTL_S),
            reload_interval_s=cfg(
                "IVR_RELOAD_INTERVAL_S", cast=float, default=DEFAULT_RELOAD_INTERVAL_S
            ),
            log_json=cfg("IVR_LOG_JSON", cast=bool, default=False),
            metrics_token=cfg("IVR_METRICS_TOKEN", default=None) or None,
            twilio_api_key=cfg("TWILIO_API_KEY", default=""),
            twilio_api_secret=cfg("TWILIO_API_SECRET", default=""),
            twilio_twiml_app_sid=cfg("TWILIO_TWIML_APP_SID", default=""),
            console_idle_s=cfg("IVR_CONSOLE_IDLE_S", cast=int, default=DEFAULT_CONSOLE_IDLE_S),
            store_wait_replicas=cfg("IVR_STORE_WAIT_REPLICAS", cast=int, default=0),
            store_wait_ms=cfg("IVR_STORE_WAIT_MS", cast=int, default=DEFAULT_STORE_WAIT_MS),
            store_max_connections=positive(
                "IVR_STORE_MAX_CONNECTIONS",
                cfg("IVR_STORE_MAX_CONNECTIONS", cast=int, default=DEFAULT_STORE_MAX_CONNECTIONS),
            ),
            workspaces=parse_workspaces(cfg("IVR_WORKSPACES", default="")),
        )

    def unsafe(self) -> str | None:
        """Why starting the web service with these settings would be unsafe, or None.

        Without `TWILIO_AUTH_TOKEN` every webhook signature would be checked against the
        empty key, which anyone can compute: refuse, unless signature checks are turned
        off on purpose (`IVR_VALIDATE_SIGNATURES=false`, for local tries only)."""
        if self.validate_signatures and not self.twilio_auth_token:
            return (
                "TWILIO_AUTH_TOKEN is not set, so no webhook signature can be checked. Set it"
                " (your Twilio account's auth token), or for a local try only set"
                " IVR_VALIDATE_SIGNATURES=false."
            )
        return None

    def each_workspace(self) -> list[Settings]:
        """These settings once per workspace (`for_workspace`); just these with one."""
        return [self.for_workspace(w) for w in self.workspaces] or [self]

    def for_workspace(self, workspace: Workspace) -> Settings:
        """The settings of one workspace: its config folder, and its id as the tenant (the
        hash tag of its keys)."""
        return self.with_(
            config_dir=workspace.config_dir, tenant=workspace.id, workspace=workspace.id
        )

    def with_(self, **changes: object) -> Settings:
        """A copy with some fields changed (flags override the environment)."""
        return replace(self, **changes)  # type: ignore[arg-type]
