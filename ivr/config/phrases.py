"""Phrases: what the service says and texts on its own, per language, as data.

Menu prompts are written in the config (`menu`, `nodes`). Everything else a caller
hears or reads (the hold loop, connecting, voicemail, callbacks, survey SMS,
weekday names, SMS keywords) is a phrase named `group.name` (`hold.next`). The
built-in wording ships per language in `ivr/config/defaults/<language>.yaml`; the
config's `phrases:` section overrides it or adds a language:

    phrases:
      id:
        hold: {next: "Anda berikutnya."}

`ivr check` reports a configured language that lacks a phrase (`ivr.config.check`), so at
run time the fallback to the default language (then English) is a last resort,
not a way for a language to go silently English. `{placeholders}` are filled in
when a phrase is used.
"""

from __future__ import annotations

import string
from functools import cache
from pathlib import Path
from typing import Protocol

import yaml

from ivr.config.menu import Languages

DEFAULTS_DIR = Path(__file__).with_name("defaults")
"""The built-in phrases, one YAML file per language (package data)."""
REFERENCE = "en"
"""The language whose built-in file names every phrase the service can speak."""
AGENT_FACING = frozenset({"callbacks.whisper"})
"""Phrases outside the `agent` group that agents hear, in the default language only."""
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
"""The `time.*` names of the days, Monday first (as `date.weekday()` counts)."""

Overrides = dict[str, dict[str, dict[str, str]]]
"""The config's `phrases:` section: language -> group -> name -> text."""


class Config(Protocol):
    """What phrases need of a config (`ivr.config.model.Config`): its languages and overrides."""

    @property
    def languages(self) -> Languages: ...

    @property
    def phrases(self) -> Overrides: ...


@cache
def built_in() -> dict[str, dict[str, str]]:
    """The shipped phrases: language -> `group.name` -> text."""
    found = {}
    for path in sorted(DEFAULTS_DIR.glob("*.yaml")):
        groups = yaml.safe_load(path.read_text(encoding="utf-8"))
        found[path.stem] = {
            f"{group}.{name}": str(text)
            for group, texts in groups.items()
            for name, text in texts.items()
        }
    return found


def names() -> list[str]:
    """Every phrase the service can speak, sorted."""
    return sorted(built_in()[REFERENCE])


def for_agents(name: str) -> bool:
    """Whether agents, not callers, hear `name` (so only the default language needs it)."""
    return name.startswith("agent.") or name in AGENT_FACING


def placeholders(text: str) -> set[str]:
    """The `{names}` a phrase fills in."""
    return {field for _, field, _, _ in string.Formatter().parse(text) if field}


def lookup(overrides: Overrides, language: str, name: str) -> str | None:
    """`name` in `language` exactly: the config's override, else the built-in, else None."""
    group, _, key = name.partition(".")
    found = overrides.get(language, {}).get(group, {}).get(key)
    return found if found is not None else built_in_text(language, name)


def built_in_text(language: str, name: str) -> str | None:
    """The shipped wording of `name` in exactly `language`, or None."""
    return built_in().get(language, {}).get(name)


def text(config: Config, language: str, name: str, **values: object) -> str:
    """Phrase `name` in `language`, filled in (falling back to the default language)."""
    for code in (language, config.languages.default, REFERENCE):
        found = lookup(config.phrases, code, name)
        if found is not None:
            return found.format(**values)
    raise KeyError(name)


def agent_text(config: Config, name: str, **values: object) -> str:
    """A phrase said to an agent: in the default language."""
    return text(config, config.languages.default, name, **values)


def words(config: Config, language: str, name: str) -> list[str]:
    """A comma-separated word list phrase (`sms.stop_words`) of exactly `language`."""
    found = lookup(config.phrases, language, name) or ""
    return [word.strip() for word in found.split(",") if word.strip()]


KEYWORD_LISTS = {
    "stop": ("surveys", "stop_words"),
    "start": ("surveys", "start_words"),
    "help": ("surveys", "help_words"),
    "cancel": ("callbacks", "cancel_words"),
}
"""The config lists that add SMS keywords of each kind to a language's `sms.<kind>_words`."""


def keywords(config: Config, kind: str, language: str) -> list[str]:
    """The SMS keywords of `kind` (stop, start, help, cancel) in `language`."""
    section, field = KEYWORD_LISTS[kind]
    listed: list[str] = getattr(getattr(config, section), field).get(language, [])
    return [*listed, *words(config, language, f"sms.{kind}_words")]
