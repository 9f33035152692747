"""Config edits go live in a running server without a restart; broken edits do not."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import httpx

from ivr.devtools.liveserver import LiveServer
from tests.conftest import Twilio
from tests.test_webhooks import call_form, english_main_menu, press
from tests.twiml_helpers import action, heard

LONG = (
    "For billing, press 1 or say billing. For technical support, press 2 or say support."
    " For sales, press 3. To leave a message, press 4. To change language, press 9."
    " To hear this again, press 0."
)
"""The English main menu, which "0" replays."""


def health(server: LiveServer) -> dict[str, str]:
    body: dict[str, str] = httpx.get(server.url + "/healthz").json()
    return body


def wait_for(predicate: Callable[[], bool], timeout: float = 3.0) -> None:
    """Poll until `predicate()` holds: the watcher runs on real time, not the test clock."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "config change did not go live in time"
        time.sleep(0.02)


def edit(config_dir: Path, old: str, new: str) -> None:
    path = config_dir / "menu.yaml"
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new), encoding="utf-8")


def test_an_edit_goes_live_for_new_calls_within_a_second(
    server: LiveServer, twilio: Twilio, config_dir: Path
) -> None:
    """A changed prompt is heard by the next caller, without restarting the server."""
    before = health(server)["config_version"]
    started = time.monotonic()
    edit(config_dir, LONG, "Billing is 1 now.")
    wait_for(lambda: health(server)["config_version"] != before)
    assert time.monotonic() - started < 1.5
    menu = english_main_menu(twilio, "CA" + "2" * 32)
    assert heard(press(twilio, menu, "0", "CA" + "2" * 32)) == "Billing is 1 now."


def test_a_call_in_progress_keeps_the_version_it_started_on(
    server: LiveServer, twilio: Twilio, config_dir: Path
) -> None:
    """A caller already in the menu keeps hearing the prompts of the version they started on."""
    menu = english_main_menu(twilio)
    before = health(server)["config_version"]
    edit(config_dir, LONG, "Billing is 1 now.")
    wait_for(lambda: health(server)["config_version"] != before)
    assert heard(press(twilio, menu, "0")) == LONG


def test_a_broken_edit_keeps_the_last_good_config_live(
    server: LiveServer, twilio: Twilio, config_dir: Path
) -> None:
    """An invalid edit is reported with file:line in /healthz and calls carry on as before."""
    before = health(server)["config_version"]
    edit(
        config_dir,
        '    options:\n      - key: "1"\n        speech: {en: [billing',
        '    optoins:\n      - key: "1"\n        speech: {en: [billing',
    )
    wait_for(lambda: health(server)["config_error"] is not None)
    status = health(server)
    assert status["config_version"] == before
    assert status["config_error"].startswith("menu.yaml:")
    assert str(config_dir) not in status["config_error"], "no server path is shown publicly"
    assert "For billing, press 1" in heard(english_main_menu(twilio))


def test_prompts_with_markup_characters_are_escaped_and_thai_is_intact(
    server: LiveServer, twilio: Twilio, config_dir: Path
) -> None:
    """Prompt text containing < and & reaches the caller verbatim, and Thai text is unchanged."""
    before = health(server)["config_version"]
    edit(config_dir, LONG, "Press 1 for <billing> & 'payments'.")
    wait_for(lambda: health(server)["config_version"] != before)
    menu = english_main_menu(twilio)
    repeat = twilio.post(action(menu), call_form(Digits="0"))
    assert "&lt;billing&gt; &amp;" in repeat.text
    assert heard(repeat.text) == "Press 1 for <billing> & 'payments'."
    thai = twilio.post("/voice/incoming", call_form("CA" + "3" * 32)).text
    assert "สำหรับภาษาไทย กด 3" in thai
