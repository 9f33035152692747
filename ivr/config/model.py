"""The validated configuration as one object (`Config`), and where each value was written.

`ivr.config.loader` builds a `Config` from the YAML files; `ivr.config.check` checks one;
every other layer reads it. `Positions` maps each value back to its file:line, so every
problem names the place an admin wrote.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, get_origin

from pydantic import BaseModel, ConfigDict, Field

from ivr.config.callbacks import CallbacksConfig
from ivr.config.hours import Hours
from ivr.config.menu import Company, Customer, Fallback, Languages, MenuSettings, Node
from ivr.config.queues import AgentConfig, QueueConfig
from ivr.config.sms import SmsConfig
from ivr.config.surveys import SurveysConfig
from ivr.core.errors import Problem

DataPath = tuple[Any, ...]
"""Keys and list indexes from the top of the merged config down to one value."""
Where = tuple[str, int, int]
"""A file, a 1-based line and a 1-based column."""


class SupervisorConfig(BaseModel):
    """A person who watches the floor in the supervisor view (`config/supervisors.yaml`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    secret_hash: str
    device: str | None = None
    """Where a call they monitor rings them (`client:NAME` or an E.164 number); without one
    they watch the floor but cannot listen, whisper or barge (`ivr.web.monitor`)."""


class Config(BaseModel):
    """The whole validated configuration, with the version it was loaded as."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    company: Company
    numbers: list[str] = Field(default_factory=list)
    """The Twilio numbers callers dial and text (E.164): with several workspaces, the number
    called picks the workspace (`ivr.service.Workspaces`)."""
    languages: Languages
    hours: dict[str, Hours] = Field(default_factory=dict)
    menu: MenuSettings
    nodes: dict[str, Node]
    customers: dict[str, Customer] = Field(default_factory=dict)
    queues: dict[str, QueueConfig] = Field(default_factory=dict)
    agents: dict[str, AgentConfig] = Field(default_factory=dict)
    supervisors: dict[str, SupervisorConfig] = Field(default_factory=dict)
    surveys: SurveysConfig = Field(default_factory=SurveysConfig)
    callbacks: CallbacksConfig = Field(default_factory=CallbacksConfig)
    fallback: Fallback = Field(default_factory=Fallback)
    """Degraded mode: what callers hear when the store is down (`ivr.voice.fallback`)."""
    sms: SmsConfig = Field(default_factory=SmsConfig)
    """Limits on what one text may cost (`ivr.config.texting`)."""
    phrases: dict[str, dict[str, dict[str, str]]] = Field(default_factory=dict)
    """Overrides of the built-in phrases, per language (`ivr.config.phrases`)."""
    version: str = ""


SPLIT_SECTIONS = frozenset(
    name for name, field in Config.model_fields.items() if get_origin(field.annotation) is dict
)
"""Sections whose entries may be spread over several files (`nodes`, `queues`, ...)."""
RESERVED_SECTIONS = frozenset({"version"})
"""Sections the loader fills in itself."""


class Positions:
    """Where each value of the merged config was written: data path -> file, line, column."""

    def __init__(self, root: Where) -> None:
        self._marks: dict[DataPath, Where] = {(): root}

    def __contains__(self, path: DataPath) -> bool:
        return path in self._marks

    def add(self, marks: dict[DataPath, Where]) -> None:
        """Take the places from one file; a place already known (an earlier file) wins."""
        for path, where in marks.items():
            self._marks.setdefault(path, where)

    def copy(self, old: DataPath, new: DataPath, value: Any) -> None:
        """Record the places under `old` again under `new` (a renamed key)."""
        for suffix in _sub_paths(value):
            if old + suffix in self._marks:
                self._marks.setdefault(new + suffix, self._marks[old + suffix])

    def locate(self, loc: Sequence[Any]) -> Where:
        """The place of the deepest written value along `loc`, skipping parts not written.

        Parts of a pydantic `loc` that have no counterpart in the file (the `0` of a
        single action written without a list, `[key]`) are skipped, not fatal.
        """
        path: DataPath = ()
        for part in loc:
            if path + (part,) in self._marks:
                path = path + (part,)
        return self._marks[path]

    def problem(
        self, loc: Sequence[Any], message: str, hint: str = "", severity: str = "error"
    ) -> Problem:
        """A problem pinned to the place of `loc`."""
        file, line, column = self.locate(loc)
        return Problem(file, line, column, message, hint, severity)


def _sub_paths(value: Any) -> Iterable[DataPath]:
    yield ()
    items = value.items() if isinstance(value, dict) else enumerate(value)
    if isinstance(value, dict | list):
        for key, child in items:
            yield from ((key,) + rest for rest in _sub_paths(child))
