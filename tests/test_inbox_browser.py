"""The voicemail inbox in a real browser: a message left by an emulated caller is listed on
Alice's console, and she calls the caller back from it, end to end through the emulator."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from ivr.devtools.emulator import Emulator
from ivr.devtools.liveserver import LiveServer
from tests.agents import state
from tests.test_browser import (
    OpenPage,
    fixture_browser,
    fixture_open_page,
    fixture_playwright,
    log_in,
    pytestmark,
)
from tests.test_inbox import CALLER, leave_billing_voicemail

__all__ = ["fixture_browser", "fixture_open_page", "fixture_playwright", "pytestmark"]


def test_an_agent_calls_a_voicemail_back_from_the_inbox(
    tw: Emulator, server: LiveServer, open_page: OpenPage
) -> None:
    """The message shows with the account number and a player; Call back rings Alice's
    device, then the customer, who is put through to her; Done empties the inbox."""
    leave_billing_voicemail(tw)
    page = open_page()
    log_in(page, "agent", "alice", "alice-demo")
    page.get_by_role("button", name="Available").click()
    expect(page.locator("#state")).to_have_text("Available")
    item = page.locator("#inbox-list li")
    expect(item).to_have_count(1)
    expect(item).to_contain_text("20261124")
    expect(item).to_contain_text("English")
    expect(item).to_contain_text("+601•••••999")
    player = item.locator("audio")
    expect(player).to_have_attribute("src", re.compile(r"^https://api\.twilio\.com/.*\.mp3$"))

    item.get_by_role("button", name=re.compile("^Call .* back$")).click()
    expect(page.locator("#inbox-status")).to_contain_text("answer client:alice")
    expect(item.get_by_role("button", name=re.compile("^Call .* back$"))).to_be_disabled()
    expect(page.locator("#offer")).to_be_hidden()
    expect(page.locator("#notice")).to_be_hidden()  # no "offer withdrawn": it was taken
    customer = tw.device(CALLER)
    tw.advance(1)
    tw.device("client:alice").answer()
    tw.advance(3)
    assert customer.ringing is not None, "the customer's phone rings"
    answered = customer.answer()
    answered.hears("calling you back about your Billing request")
    assert tw.advance_until(lambda: answered.bridge is not None, 20), "put through"
    assert answered.bridge is not None
    assert answered.bridge.other(answered).to == "client:alice"
    assert state(server, "alice").state == "on_call"
    expect(page.locator("#call")).to_be_visible()
    expect(page.locator("#call-pop")).to_contain_text("20261124")
    expect(page.locator("#notice")).to_be_hidden()

    tw.advance(30)
    answered.hangup()
    tw.advance(1)
    expect(page.locator("#wrap")).to_be_visible()
    page.get_by_label("Resolved").check()
    page.get_by_role("button", name=re.compile("ready for the next call")).click()
    expect(page.locator("#state")).to_have_text("Available")
    item.get_by_role("button", name=re.compile("^Mark the message .* done$")).click()
    expect(page.locator("#inbox-empty")).to_be_visible()
    expect(item).to_have_count(0)
    tw.assert_no_errors()
