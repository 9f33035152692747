"""Supervisor monitoring from the live view in a real browser: Sam listens to Alice's call,
whispers to her, barges in and stops, from the buttons on her row, and the emulator
checks what each party hears at each step."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Locator, expect

from ivr.devtools.emulator import Emulator
from ivr.devtools.liveserver import LiveServer
from tests.test_browser import (
    OpenPage,
    fixture_browser,
    fixture_open_page,
    fixture_playwright,
    fixture_screenshots,
    is_png,
    log_in,
    pytestmark,
)
from tests.test_monitor import SAM, connected_to_alice, fixture_config_dir, heard

__all__ = [
    "fixture_browser",
    "fixture_config_dir",
    "fixture_open_page",
    "fixture_playwright",
    "fixture_screenshots",
    "pytestmark",
]


def press(row: Locator, name: str) -> None:
    row.get_by_role("button", name=name, exact=False).first.click()


def test_listen_whisper_barge_and_stop_from_the_live_view(
    tw: Emulator, server: LiveServer, open_page: OpenPage, screenshots: Path
) -> None:
    """Each button changes who hears Sam, and the row says what Sam is doing."""
    customer = connected_to_alice(tw, server)
    agent = tw.device("client:alice")
    sam = tw.device(SAM)
    sam.auto = "answer"
    boss = open_page()
    log_in(boss, "supervisor", "sam", "sam-demo")
    softphone = boss.locator("#softphone")  # no API key here: Sam's client:sam rings elsewhere
    expect(softphone).to_contain_text("Softphone not configured")
    expect(softphone).to_contain_text("Monitoring rings client:sam")
    row = boss.locator('#agents tr[data-agent="alice"]')
    state = row.locator(".monitor-state")

    press(row, "Listen:")
    expect(state).to_have_text("Listening: nobody hears you")
    expect(boss.locator("#action-error")).to_be_hidden()
    tw.advance(1)
    sam.say("just listening")
    customer.say("my card was charged twice")
    tw.advance(3)
    assert "charged twice" in heard(sam)
    assert "just listening" not in heard(customer) + heard(agent)

    press(row, "Whisper:")
    expect(state).to_have_text("Whispering: only the agent hears you")
    tw.advance(1)
    sam.say("offer the refund")
    tw.advance(3)
    assert "offer the refund" in heard(agent) and "offer the refund" not in heard(customer)
    other = open_page()  # Ria, another supervisor, sees it and gets no buttons for it
    log_in(other, "supervisor", "ria", "sam-demo")
    other_row = other.locator('#agents tr[data-agent="alice"]')
    expect(other_row.locator(".monitor-state")).to_have_text("Sam Lee is whispering to the agent")
    expect(other_row.get_by_role("button", name="Listen:", exact=False)).to_have_count(0)
    boss.screenshot(path=str(screenshots / "supervisor-monitoring.png"), full_page=True)
    assert is_png(screenshots / "supervisor-monitoring.png")

    press(row, "Barge:")
    expect(state).to_have_text("In the call: everyone hears you")
    tw.advance(1)
    sam.say("this is the supervisor")
    tw.advance(3)
    assert "this is the supervisor" in heard(customer) and "this is the supervisor" in heard(agent)

    press(row, "Stop monitoring")
    expect(state).to_be_hidden()
    expect(row.get_by_role("button", name="Listen:", exact=False)).to_be_visible()
    tw.advance(1)
    assert sam.call is None
    tw.assert_no_errors()
