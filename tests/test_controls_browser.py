"""The call controls in a real browser (system Chromium via Playwright): hold and resume,
mute and unmute, the keypad and hang-up, by button and by shortcut, each checked by what
the caller and the agent hear in the emulator (issue 18)."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import Page, expect

from ivr.devtools.emulator import Emulator
from ivr.devtools.emulator.calls import Call
from ivr.devtools.liveserver import LiveServer
from tests.agents import state
from tests.test_browser import (
    MASKED_CALLER,
    OpenPage,
    assert_plain,
    fixture_browser,
    fixture_open_page,
    fixture_playwright,
    fixture_screenshots,
    is_png,
    log_in,
    pytestmark,
)
from tests.test_connect_e2e import billing_caller

__all__ = [
    "fixture_browser",
    "fixture_open_page",
    "fixture_playwright",
    "fixture_screenshots",
    "pytestmark",
]


def on_a_call(tw: Emulator, page: Page) -> tuple[Call, Call]:
    """Alice, logged in, takes a billing caller from the console: (caller, her device's leg)."""
    log_in(page, "agent", "alice", "alice-demo")
    page.get_by_role("button", name="Available").click()
    expect(page.locator("#state")).to_have_text("Available")
    call = billing_caller(tw)
    tw.advance(1)
    expect(page.locator("#offer")).to_be_visible()
    page.get_by_role("button", name=re.compile("^Accept")).click()
    expect(page.locator("#call-connecting")).to_be_visible()
    tw.advance(1)
    leg = tw.device("client:alice").answer()
    call.hears("Connecting you now")
    tw.advance(2)
    assert call.bridge is not None
    expect(page.locator("#call-state")).to_have_text("Connected")
    return call, leg


def test_hold_and_resume_from_the_console(
    tw: Emulator, server: LiveServer, open_page: OpenPage, screenshots: Path
) -> None:
    """Hold: the header says on hold, the button says Resume, the caller hears the hold
    music and not Alice; Resume (the H shortcut): connected, and they hear each other."""
    page = open_page()
    call, leg = on_a_call(tw, page)
    hold = page.locator("#hold")
    expect(hold).to_have_attribute("aria-keyshortcuts", "H")
    hold.click()
    expect(page.locator("#call-state")).to_have_text(re.compile("^On hold"))
    expect(hold).to_have_attribute("aria-pressed", "true")
    expect(page.locator("#hold-label")).to_have_text("Resume")
    call.hears("Please stay on the line")
    leg.say("a word with my supervisor")
    assert "a word with my supervisor" not in call.transcript()
    assert_plain(page)
    page.screenshot(path=str(screenshots / "agent-on-hold.png"))
    assert is_png(screenshots / "agent-on-hold.png")
    tw.advance(20)
    page.keyboard.press("h")
    expect(page.locator("#call-state")).to_have_text("Connected")
    expect(page.locator("#hold-label")).to_have_text("Hold")
    leg.say("thank you for waiting")
    call.hears("thank you for waiting")
    tw.assert_no_errors()


def test_mute_and_the_keypad_from_the_console(
    tw: Emulator, server: LiveServer, open_page: OpenPage
) -> None:
    """Mute (M): the caller no longer hears Alice, who still hears them; unmute; then the
    keypad plays 1 and # to the caller."""
    page = open_page()
    call, leg = on_a_call(tw, page)
    page.keyboard.press("m")
    expect(page.locator("#mute")).to_have_attribute("aria-pressed", "true")
    expect(page.locator("#mute-label")).to_have_text("Unmute")
    leg.say("quietly checking")
    call.say("hello, are you there")
    leg.hears("hello, are you there")
    assert "quietly checking" not in call.transcript()
    page.locator("#mute").click()
    expect(page.locator("#mute-label")).to_have_text("Mute")
    leg.say("I am back")
    call.hears("I am back")
    page.get_by_role("button", name="Keypad").click()
    page.locator('#keypad button[data-digit="1"]').click()
    expect(page.locator("#keypad-sent")).to_have_text("Sent 1")
    page.locator('#keypad button[data-digit="#"]').click()
    expect(page.locator("#keypad-sent")).to_have_text("Sent 1#")
    call.hears("1")
    call.hears("#")
    tw.assert_no_errors()


def test_hang_up_from_the_console(tw: Emulator, server: LiveServer, open_page: OpenPage) -> None:
    """Hang up (X): the caller's call ends and Alice is wrapping up on the page."""
    page = open_page()
    call, _ = on_a_call(tw, page)
    expect(page.locator("#hangup")).to_have_attribute("aria-keyshortcuts", "X")
    page.keyboard.press("x")
    expect(page.locator("#announce")).to_have_text("Call ended.")
    tw.advance(2)
    expect(page.locator("#wrap")).to_be_visible()
    expect(page.locator("#wrap-title")).to_have_text(f"Wrapping up — {MASKED_CALLER}")
    assert tw.advance_until(lambda: call.ended, 5)
    assert state(server, "alice").state == "wrap_up"
    tw.assert_no_errors()
