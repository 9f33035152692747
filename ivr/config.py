"""Loading the configuration: every YAML file under `config/`, merged and validated.

Top-level sections from all files are merged; a mapping section (such as
`nodes`) may be split across files, but one name defined twice is an error.
Every problem is reported as a `Problem` with file:line:column.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field

from ivr.errors import ConfigError, Problem
from ivr.hours import Hours
from ivr.menu import Company, Customer, Languages, MenuSettings, Node
from queues.models import AgentConfig, QueueConfig


class Config(BaseModel):
    """The whole validated configuration, with the version it was loaded as."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    company: Company
    languages: Languages
    hours: dict[str, Hours] = Field(default_factory=dict)
    menu: MenuSettings
    nodes: dict[str, Node]
    customers: dict[str, Customer] = Field(default_factory=dict)
    queues: dict[str, QueueConfig] = Field(default_factory=dict)
    agents: dict[str, AgentConfig] = Field(default_factory=dict)
    version: str = ""


def config_files(directory: Path) -> list[Path]:
    """The YAML files that make up a config directory, in a stable order."""
    return sorted(p for p in Path(directory).glob("*.y*ml") if p.is_file())


def version_of(files: list[Path]) -> str:
    """A short content hash: the same files give the same version in every process."""
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def load(directory: Path) -> Config:
    """Load and validate a config directory, or raise `ConfigError`."""
    files = config_files(directory)
    merged: dict[str, Any] = {}
    for path in files:
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise ConfigError([Problem(str(path), 1, 1, f"YAML syntax error: {exc}")]) from exc
        for key, value in data.items():
            if isinstance(value, dict) and isinstance(merged.get(key), dict):
                merged[key] = {**merged[key], **value}
            else:
                merged[key] = value
    return Config.model_validate({**merged, "version": version_of(files)})
