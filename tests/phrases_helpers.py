"""A fourth language for the sample config: Indonesian, every text of it marked `[id]`.

The marker makes "every spoken string and SMS is in that language" checkable: a
phrase that went English, or Malay, would lack it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from ivr.config import phrases
from tests.callbacks_helpers import edit_yaml

CODE = "id"
MARK = "[id] "
SAY_LANGUAGE = "id-ID"
VOICE = "Google.id-ID-Standard-A"
LANGUAGE_KEY = "4"
OWN_SECTIONS = ("callbacks", "surveys")
"""Phrase groups written in their own config section (`callbacks.texts`, `surveys.texts`)."""


def marked(value: Any) -> Any:
    """`value` (a text, a prompt item list, or a mapping of texts) in Indonesian."""
    if isinstance(value, str):
        return MARK + value
    if isinstance(value, dict) and "say" in value:
        return {**value, "say": MARK + value["say"], "language": SAY_LANGUAGE}
    if isinstance(value, dict):
        return {key: marked(text) for key, text in value.items()}
    return [marked(item) for item in value]


def _localize(data: Any) -> None:
    """Give every English prompt (a text or a list of items) an Indonesian twin."""
    if isinstance(data, dict):
        english = data.get("en")
        if isinstance(english, str | dict) or (english and isinstance(english[0], dict)):
            data[CODE] = marked(english)
        for key, child in list(data.items()):
            if key not in ("speech", "languages", CODE):
                _localize(child)
    elif isinstance(data, list):
        for child in data:
            _localize(child)


def _language_menu(data: dict[str, Any]) -> None:
    node = data["nodes"]["language"]
    for kind in ("long", "short"):
        node["prompts"][kind]["en"].append(
            {"say": "Untuk Bahasa Indonesia, tekan 4.", "language": SAY_LANGUAGE}
        )
    option = {"key": LANGUAGE_KEY, "then": [{"set_language": CODE}, {"goto": "opening_hours"}]}
    node["options"].append(option)


def add_language(config: Path) -> None:
    """Declare Indonesian, offer it in the language menu and write every menu prompt in it;
    no phrases yet."""

    def declare(data: dict[str, Any]) -> None:
        language = {"name": "Bahasa Indonesia", "say_language": SAY_LANGUAGE, "voice": VOICE}
        data["languages"]["available"][CODE] = language

    edit_yaml(config / "business.yaml", declare)
    edit_yaml(config / "menu.yaml", _language_menu)
    for name in ("business.yaml", "menu.yaml", "queues.yaml", "callbacks.yaml"):
        edit_yaml(config / name, _localize)


def add_phrases(config: Path) -> None:
    """Write every phrase in Indonesian: `phrases.yaml`, and the callback and survey texts."""
    english = phrases.built_in()["en"]
    groups: dict[str, dict[str, str]] = {}
    for name, text in english.items():
        group, _, key = name.partition(".")
        words = ", ".join(f"ID{word.strip()}" for word in text.split(","))
        groups.setdefault(group, {})[key] = words if group == "sms" else MARK + text
    own = {group: groups.pop(group) for group in OWN_SECTIONS}
    for section in OWN_SECTIONS:
        edit_yaml(config / f"{section}.yaml", lambda d, s=section: d[s]["texts"].update(id=own[s]))
    document = {"phrases": {CODE: groups}}
    text = yaml.safe_dump(document, allow_unicode=True, sort_keys=False, width=1000)
    (config / "phrases.yaml").write_text(text, encoding="utf-8")


def line_of(path: Path, text: str) -> int:
    """The 1-based line of the first line of `path` that contains `text`."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return next(index for index, line in enumerate(lines, 1) if text in line)
