"""Phrases as data: built-in wording per language, config overrides, and `ivr check`."""

from __future__ import annotations

import io
from pathlib import Path

from ivr.config import phrases
from ivr.config.command import run
from ivr.config.loader import load
from tests.phrases_helpers import add_language, add_phrases, line_of


def check_output(config: Path) -> tuple[int, str]:
    out = io.StringIO()
    status = run(config, out)
    return status, out.getvalue()


def test_every_built_in_language_has_every_phrase() -> None:
    """The shipped Malay and Thai files name the same phrases, with the same placeholders."""
    english = phrases.built_in()["en"]
    for code in ("ms", "th"):
        table = phrases.built_in()[code]
        assert sorted(table) == sorted(english), code
        for name, text in table.items():
            assert phrases.placeholders(text) == phrases.placeholders(english[name]), name


def test_fourth_language_without_phrases_is_an_error_at_its_declaration(config_dir: Path) -> None:
    """Adding Indonesian with menu prompts but no phrases fails `ivr check` at `id:`."""
    add_language(config_dir)
    status, out = check_output(config_dir)
    business = config_dir / "business.yaml"
    line = line_of(business, "  id:")
    assert status != 0
    assert f"{business}:{line}:" in out
    assert "language 'id' has no phrase" in out
    assert "callbacks.already" in out and "more" in out


def test_fourth_language_with_its_phrases_passes(config_dir: Path) -> None:
    """With every phrase written in `config/phrases.yaml` and the texts sections, it passes."""
    add_language(config_dir)
    add_phrases(config_dir)
    status, out = check_output(config_dir)
    assert status == 0, out
    config = load(config_dir)
    expected = "[id] You are caller number 3 in line."
    assert phrases.text(config, "id", "hold.position", n=3) == expected


def test_one_missing_phrase_is_named(config_dir: Path) -> None:
    """Leaving out a single phrase names it, at the language's entry in phrases.yaml."""
    add_language(config_dir)
    add_phrases(config_dir)
    path = config_dir / "phrases.yaml"
    text = path.read_text(encoding="utf-8")
    kept = [line for line in text.splitlines() if not line.startswith("      apology:")]
    path.write_text("\n".join(kept), encoding="utf-8")
    status, out = check_output(config_dir)
    assert status != 0
    assert f"{path}:{line_of(path, '  id:')}:" in out
    assert "language 'id' has no phrase hold.apology" in out


def test_override_with_unknown_name_or_placeholder_is_an_error(config_dir: Path) -> None:
    """A misspelt phrase name, or a placeholder the phrase does not fill in, is pinned."""
    path = config_dir / "phrases.yaml"
    path.write_text(
        'phrases:\n  ms:\n    hold:\n      nxt: "Seterusnya."\n      position: "Nombor {count}."\n',
        encoding="utf-8",
    )
    status, out = check_output(config_dir)
    assert status != 0
    assert f"{path}:4:" in out and "unknown phrase hold.nxt" in out and "hold.next" in out
    assert f"{path}:5:" in out and "uses {count}" in out


def test_override_replaces_the_built_in(config_dir: Path) -> None:
    """An admin's wording wins over the built-in one, in that language only."""
    path = config_dir / "phrases.yaml"
    path.write_text('phrases:\n  ms:\n    hold:\n      next: "Giliran anda seterusnya."\n')
    config = load(config_dir)
    assert phrases.text(config, "ms", "hold.next") == "Giliran anda seterusnya."
    assert phrases.text(config, "th", "hold.next") == "คุณเป็นสายถัดไป"
