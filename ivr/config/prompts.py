"""Prompts: what a caller hears, per language.

A prompt in config is a string (text to say), a mapping with `say` or `play`
(and optional `voice`/`language`), or a list of those. `Localized` maps a
language code to such a prompt.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator


class PromptItem(BaseModel):
    """One thing to say or play."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    say: str | None = None
    play: str | None = None
    voice: str | None = None
    language: str | None = None
    loop: int = Field(default=1, ge=0)

    @model_validator(mode="after")
    def _one_of_say_or_play(self) -> PromptItem:
        if (self.say is None) == (self.play is None):
            raise ValueError("a prompt item needs exactly one of `say` or `play`")
        return self


def _as_items(value: Any) -> Any:
    if isinstance(value, str):
        return [{"say": value}]
    if isinstance(value, dict):
        return [value]
    return value


Prompt = Annotated[list[PromptItem], BeforeValidator(_as_items)]
"""A string, an item, or a list of items: always a list once validated."""

Localized = dict[str, Prompt]
"""Language code -> prompt."""


def pick(localized: Localized | None, language: str, default: str) -> list[PromptItem]:
    """The prompt for `language`, falling back to the default language, or nothing."""
    if not localized:
        return []
    return localized.get(language) or localized.get(default) or []
