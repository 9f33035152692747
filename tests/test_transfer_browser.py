"""Transfers driven from the agent console in a real browser (system Chromium), against
the live app and the emulator: cold to a queue and to an agent, warm cancelled and
completed. Each test asserts what the caller and the agents hear."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import Page, expect

from ivr.devtools.emulator import Emulator
from ivr.devtools.emulator.calls import Call
from ivr.devtools.liveserver import LiveServer
from tests.agents import go_available, state
from tests.test_browser import (
    OpenPage,
    fixture_browser,
    fixture_open_page,
    fixture_playwright,
    fixture_screenshots,
    log_in,
    pytestmark,
)
from tests.test_connect_e2e import billing_caller
from tests.test_transfer_e2e import CHAI_PHONE, agent_leg, joined

__all__ = [
    "fixture_browser",
    "fixture_open_page",
    "fixture_playwright",
    "fixture_screenshots",
    "pytestmark",
]

NOTES = "Disputes the late fee on the June bill."
WAIT_S = 5.0
NAP_S = 0.02


def on_a_call(tw: Emulator, page: Page, device: str) -> Call:
    """The agent on `page` accepts the offer shown; their device rings and is answered,
    and the caller is put through. Returns the caller's call."""
    expect(page.locator("#offer")).to_be_visible()
    rung = len(tw.device(device).calls)
    page.get_by_role("button", name="Accept").click()
    # The accept has rung the device once its REST call reached the emulator: only then
    # may time move on (the page's "ringing" notice can be cleared by a view read before
    # the accept landed, so it is no signal).
    until(lambda: rung < len(tw.device(device).calls) or asked(tw, device))
    tw.advance(1)
    tw.device(device).answer()
    expect(page.locator("#call-state")).to_have_text("Connected")
    (call,) = [c for c in tw.calls if c.to != device and c.direction == "inbound" and not c.ended]
    return call


def asked(tw: Emulator, device: str) -> bool:
    """Whether a call to `device` waits in Twilio's outbound queue (asked, not yet placed)."""
    return any(c.to == device for c in tw.outbound_backlog)


def until(done: Callable[[], bool], within_s: float = WAIT_S) -> None:
    """Wait (real time, in short naps) for something the live app does on its own."""
    deadline = time.monotonic() + within_s
    while not done():
        assert time.monotonic() < deadline, "not done in time"
        time.sleep(NAP_S)


def alice_on_a_call(tw: Emulator, open_page: OpenPage) -> tuple[Page, Call]:
    """Alice, in her console, takes a billing caller and writes notes."""
    page = open_page()
    log_in(page, "agent", "alice", "alice-demo")
    page.get_by_role("button", name="Available").click()
    expect(page.locator("#state")).to_have_text("Available")
    caller = billing_caller(tw)
    tw.advance(1)
    call = on_a_call(tw, page, "client:alice")
    assert call.sid == caller.sid
    caller.hears("Connecting you now")
    tw.advance(2)
    page.get_by_label("Call notes").fill(NOTES)
    return page, caller


def open_transfer(page: Page, to: str) -> None:
    """Open the Transfer dialog and pick what kind of target."""
    page.get_by_role("button", name="Transfer…").click()
    dialog = page.locator("#transfer-dialog")
    expect(dialog).to_be_visible()
    dialog.get_by_label(to).check()


def test_cold_transfers_to_a_queue_and_to_an_agent(
    tw: Emulator, server: LiveServer, open_page: OpenPage, screenshots: Path
) -> None:
    """Alice sends her caller to the support queue from the dialog: she wraps up, the
    caller hears where they go, and Chai's console offers the call with Alice's notes.
    Chai takes it and sends it back to Alice by name: her console offers it with his."""
    alice, caller = alice_on_a_call(tw, open_page)
    chai = open_page()
    log_in(chai, "agent", "chai", "chai-demo")
    chai.get_by_role("button", name="Available").click()
    expect(chai.locator("#state")).to_have_text("Available")

    open_transfer(alice, "A queue")
    queue = alice.get_by_label("Queue", exact=True)
    expect(queue.locator("option")).to_contain_text(["Billing", "Sales", "Technical support"])
    queue.select_option(label="Technical support")
    number = alice.get_by_label("Phone number", exact=True)
    expect(number).to_be_hidden()  # only the chosen kind of target shows
    alice.screenshot(path=str(screenshots / "agent-transfer.png"))
    alice.locator("#transfer-go").click()
    expect(alice.locator("#transfer-dialog")).to_be_hidden()
    expect(alice.locator("#wrap")).to_be_visible()
    caller.hears("Please hold while we put you through to Technical support")
    expect(chai.locator("#offer")).to_be_visible()
    expect(chai.locator("#offer-handoff")).to_contain_text(f"Transferred by Alice Tan: {NOTES}")
    expect(chai.locator("#offer-pop")).to_contain_text("20261124")
    on_a_call(tw, chai, CHAI_PHONE)
    caller.hears("Connecting you now")
    expect(chai.locator("#call-handoff")).to_contain_text("Transferred by Alice Tan")
    expect(chai.locator("#call-pop")).to_contain_text("20261124")

    expect(alice.get_by_label("Transferred")).to_be_checked()  # chosen for her
    alice.get_by_role("button", name=re.compile("ready for the next call")).click()
    expect(alice.locator("#state")).to_have_text("Available")
    chai.get_by_label("Call notes").fill("Not a fault: back to billing.")
    open_transfer(chai, "An agent")
    chai.get_by_label("Agent", exact=True).select_option(label="Alice Tan")
    chai.locator("#transfer-go").click()
    expect(chai.locator("#wrap")).to_be_visible()
    caller.hears("Please hold while we put you through to Alice")
    expect(alice.locator("#offer")).to_be_visible()
    handoff = alice.locator("#offer-handoff")
    expect(handoff).to_contain_text("Transferred by Alice Tan")
    expect(handoff).to_contain_text("Transferred by Chaiwat S.: Not a fault: back to billing.")
    on_a_call(tw, alice, "client:alice")
    caller.hears("Connecting you now")
    assert state(server, "alice").state == "on_call"
    tw.assert_no_errors()


def test_warm_transfer_cancelled_then_completed(
    tw: Emulator, server: LiveServer, open_page: OpenPage, screenshots: Path
) -> None:
    """Alice consults Chai while the caller holds (the header says so), cancels and is
    back with the caller; then consults again and completes: Chai has the caller."""
    alice, caller = alice_on_a_call(tw, open_page)
    go_available(server, "chai")

    def consult() -> Call:
        open_transfer(alice, "An agent")
        alice.get_by_label("Agent", exact=True).select_option(label="Chaiwat S.")
        alice.get_by_label(re.compile("Talk to them first")).check()
        alice.locator("#transfer-go").click()
        expect(alice.locator("#call-state")).to_have_text("Consulting Chaiwat S. — caller on hold")
        expect(alice.locator("#consult-bar")).to_be_visible()
        caller.hears("Please stay on the line")
        tw.advance(1)
        leg = tw.device(CHAI_PHONE).answer()
        leg.hears("Consultation from Alice Tan")
        assert tw.advance_until(lambda: joined(tw, caller, CHAI_PHONE), 60)
        agent_leg(tw, "client:alice").say("can you take this one")
        leg.hears("take this one")
        assert "can you take this one" not in caller.transcript()
        return leg

    first = consult()
    alice.get_by_role("button", name=re.compile("^Cancel — back to the caller")).click()
    expect(alice.locator("#call-state")).to_have_text("Connected")
    expect(alice.locator("#consult-bar")).to_be_hidden()
    assert tw.advance_until(lambda: first.ended, 5)
    agent_leg(tw, "client:alice").say("sorry about the wait")
    caller.hears("sorry about the wait")
    assert state(server, "chai").state == "available"

    second = consult()
    expect(alice.locator("#call-handoff")).to_be_hidden()  # her own notes: not news to her
    alice.screenshot(path=str(screenshots / "agent-consulting.png"))
    alice_leg = agent_leg(tw, "client:alice")
    alice.get_by_role("button", name="Complete transfer").click()
    expect(alice.locator("#wrap")).to_be_visible()
    assert tw.advance_until(lambda: alice_leg.ended, 5)
    second.say("hello I can help with that")
    caller.hears("I can help with that")
    assert state(server, "chai").state == "on_call"
    tw.assert_no_errors()
