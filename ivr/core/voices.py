"""Twilio's `<Say>` voices for each language (`voices.yaml`, from Twilio's published list).

A voice Twilio does not offer for the `<Say language>` it is used with may fail the `<Say>`,
leaving the caller in silence: `ivr check` warns about one, and the emulator fails it.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import yaml

VOICES_FILE = Path(__file__).with_name("voices.yaml")


@cache
def listed() -> dict[str, tuple[str, ...]]:
    """Language (as `<Say language>` names it, e.g. `ms-MY`) -> the voices Twilio offers."""
    table = yaml.safe_load(VOICES_FILE.read_text(encoding="utf-8"))
    return {language: tuple(voices) for language, voices in table.items()}


def offered(language: str) -> tuple[str, ...]:
    """The voices Twilio offers for `language`, any case (none for a language it cannot speak)."""
    wanted = language.casefold()
    return next((v for lang, v in listed().items() if lang.casefold() == wanted), ())


def exists(voice: str, language: str) -> bool:
    """Whether Twilio offers `voice` for `language` (names compared without case)."""
    return voice.casefold() in {name.casefold() for name in offered(language)}


def languages_of(voice: str) -> list[str]:
    """The languages Twilio offers `voice` in, as written in the list (for hints)."""
    wanted = voice.casefold()
    return [lang for lang, names in listed().items() if wanted in map(str.casefold, names)]
