"""The console pages in a real browser (system Chromium via Playwright) against the live app.

An agent takes a call from a simulated caller waiting in the emulator, while a
supervisor watches the floor change live. Screenshots go to docs/img/.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

import httpx
import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    Page,
    Playwright,
    ViewportSize,
    expect,
    sync_playwright,
)

from ivr.devtools.emulator import Emulator
from ivr.devtools.liveserver import LiveServer
from tests.agents import state
from tests.consoles import Console
from tests.test_connect_e2e import billing_caller

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
"""The machine's network is closed: without these Chromium floods refused connections."""
SCREENSHOTS = Path(__file__).resolve().parent.parent / "docs" / "img"
UPDATE_SCREENSHOTS = "IVR_UPDATE_SCREENSHOTS"
"""Set to 1 to write the screenshots into docs/img (otherwise they go to a temporary folder)."""
VIEWPORT: ViewportSize = {"width": 1280, "height": 800}
WAIT_MS = 5000
AGENT_TITLE = "Agent · IVR"
MASKED_CALLER = "+60••••• 9999"
"""billing_caller's +60199999999 as the pages show it: no name is known for it."""
INTERNAL_NAMES = re.compile(
    r"\bCA[0-9a-f]{32}\b|\b(opening_hours|wrap_up|on_call|reserved)\b|language › |› account\b"
)
"""Call SIDs, node ids and routing state names: none may appear in a page's text."""
NOTIFICATION_SPY = """
window.notificationsShown = [];
window.Notification = new Proxy(window.Notification, {
  construct(Real, [title, options]) {
    const note = { title, body: (options || {}).body || "", open: true };
    window.notificationsShown.push(note);
    const shown = new Real(title, options);
    const close = shown.close.bind(shown);
    shown.close = () => { note.open = false; close(); };
    return shown;
  },
});
window.tonesPlayed = 0;
const createOscillator = AudioContext.prototype.createOscillator;
AudioContext.prototype.createOscillator = function () {
  window.tonesPlayed += 1;
  return createOscillator.call(this);
};
"""
"""Records the page's desktop notifications (headless Chromium shows none) and counts the
tones of its chime."""


class OpenPage(Protocol):
    """The `open_page` fixture: a new page in its own context (own cookies)."""

    def __call__(self, viewport: ViewportSize = ..., /) -> Page: ...


# CI sets IVR_REQUIRE_BROWSER, so a missing browser fails there instead of skipping.
pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists() and not os.environ.get("IVR_REQUIRE_BROWSER"),
    reason="needs Debian's chromium package (apt-get install chromium)",
)


@pytest.fixture(name="screenshots")
def fixture_screenshots(tmp_path: Path) -> Path:
    """Where screenshots go: docs/img with IVR_UPDATE_SCREENSHOTS=1, else a temporary folder,
    so an ordinary test run leaves the tracked images alone."""
    target = SCREENSHOTS if os.environ.get(UPDATE_SCREENSHOTS) else tmp_path
    target.mkdir(parents=True, exist_ok=True)
    return target


def is_png(path: Path) -> bool:
    return path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.fixture(name="playwright", scope="module")
def fixture_playwright() -> Iterator[Playwright]:
    """Playwright's driver, for this module only: while it runs, the sync API keeps an
    asyncio loop marked running in the main thread, which later async tests would trip on."""
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(name="browser", scope="module")
def fixture_browser(playwright: Playwright) -> Iterator[Browser]:
    """System Chromium, headless, with a fresh profile (Playwright makes a new one per launch)."""
    browser = playwright.chromium.launch(
        executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
    )
    yield browser
    browser.close()


@pytest.fixture(name="open_page")
def fixture_open_page(browser: Browser, server: LiveServer) -> Iterator[OpenPage]:
    """Opens pages in their own contexts (own cookies), closed before the server stops."""
    contexts: list[BrowserContext] = []
    # http://localhost is a secure context, so the Secure session cookie is kept.
    base = server.url.replace("127.0.0.1", "localhost")

    def open_page(viewport: ViewportSize = VIEWPORT) -> Page:
        context = browser.new_context(base_url=base, viewport=viewport)
        # No network here: make the Voice SDK fail fast and for certain.
        context.route(re.compile(r"twilio\.min\.js"), lambda route: route.abort())
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(WAIT_MS)
        return page

    yield open_page
    for context in contexts:
        context.close()


def log_in(page: Page, kind: str, user: str, secret: str) -> None:
    page.goto(f"/login?as={kind}")
    page.get_by_label("Id").fill(user)
    page.get_by_label("Secret").fill(secret)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(f"/{kind}$"))
    expect(page.locator("#live-status")).to_have_text("live")


def assert_plain(page: Page) -> None:
    """The page's text names no call SID, menu node or routing state."""
    text = page.locator("body").inner_text()
    assert INTERNAL_NAMES.search(text) is None, INTERNAL_NAMES.search(text)


def test_agent_takes_a_call_while_the_supervisor_watches(
    tw: Emulator, server: LiveServer, open_page: OpenPage, screenshots: Path
) -> None:
    """Login, available, offer with the IVR data (in the tab title too), accept with the
    keyboard, bridged, wrap-up, available again, all in plain words on both pages."""
    agent, boss = open_page(), open_page()
    log_in(agent, "agent", "alice", "alice-demo")
    softphone = agent.locator("#softphone")
    expect(softphone).to_contain_text("Softphone not configured")  # no API key: not "no connection"
    expect(softphone).to_contain_text("Calls will ring client:alice instead")
    log_in(boss, "supervisor", "sam", "sam-demo")
    alice_row = boss.locator('#agents tr[data-agent="alice"] .agent-state')
    expect(alice_row).to_have_text("Offline")

    agent.get_by_role("button", name="Available").click()
    expect(agent.locator("#state")).to_have_text("Available")
    expect(agent.locator("#state-text")).to_have_text("Available")
    expect(alice_row).to_have_text("Available")
    expect(agent).to_have_title(AGENT_TITLE)

    call = billing_caller(tw)
    tw.advance(1)
    offer = agent.locator("#offer")
    expect(offer).to_be_visible()
    expect(offer).to_have_class(re.compile("ringing"))
    expect(agent).to_have_title("● Call offered — Billing")
    pop = agent.locator("#offer-pop")
    expect(pop).to_contain_text("20261124")
    expect(pop).to_contain_text(MASKED_CALLER)
    expect(pop).to_contain_text("English › Billing › Account number")  # what the caller chose
    expect(agent.locator("#offer-countdown")).to_have_text(re.compile(r"^\d+$"))
    assert tw.device("client:alice").ringing is None  # it rings in the console instead
    expect(boss.locator('#queues tr[data-queue="billing"] .waiting-count')).to_have_text("1")
    expect(alice_row).to_have_text("Ringing — call offered")
    expect(agent.locator("#state")).to_have_text("Ringing — call offered")
    expect(boss.locator(f'#waiting tr[data-call="{call.sid}"] .who')).to_have_text(MASKED_CALLER)
    assert_plain(agent)
    assert_plain(boss)
    agent.screenshot(path=str(screenshots / "agent-console.png"))
    boss.screenshot(path=str(screenshots / "supervisor.png"), full_page=True)
    assert is_png(screenshots / "agent-console.png") and is_png(screenshots / "supervisor.png")

    expect(agent.get_by_role("button", name="Accept")).to_have_attribute("aria-keyshortcuts", "A")
    agent.get_by_label("Break reason").press("a")  # typing in a field: no accept
    agent.evaluate("document.activeElement.blur()")
    assert tw.device("client:alice").ringing is None
    expect(agent.locator("#offer")).to_be_visible()
    agent.keyboard.press("a")  # the accept shortcut
    expect(agent.locator("#call")).to_be_visible()
    expect(agent).to_have_title(AGENT_TITLE)
    # The accept has rung the device once the page says so (#call shows earlier, from the
    # agent's on_call status): moving time on before then raced the ring.
    expect(agent.locator("#call-connecting")).to_be_visible()
    expect(agent.locator("#call-state")).to_have_text(re.compile("^Connecting"))
    tw.advance(1)
    device = tw.device("client:alice")
    assert device.ringing is not None
    device.answer()
    call.hears("Connecting you now")
    tw.advance(2)
    assert call.bridge is not None
    expect(agent.locator("#call-state")).to_have_text("Connected")
    expect(agent.locator("#call-connecting")).to_be_hidden()  # not for the whole call
    expect(agent.locator("#call-title")).to_have_text(f"On a call with {MASKED_CALLER}")
    expect(alice_row).to_have_text("On a call")
    expect(boss.locator('#agents tr[data-agent="alice"]')).to_contain_text(
        f"Billing — {MASKED_CALLER}"
    )
    assert_plain(agent)
    assert_plain(boss)
    expect(boss.locator('#queues tr[data-queue="billing"] .waiting-count')).to_have_text("0")
    agent.get_by_label("Call notes").fill("Customer asked about a late fee.")
    agent.get_by_role("button", name="Save notes").click()
    expect(agent.locator("#notes-saved")).to_have_text("Saved")

    tw.advance(40)
    call.hangup()
    tw.advance(1)
    wrap = agent.locator("#wrap")
    expect(wrap).to_be_visible()
    expect(agent.locator("#state")).to_have_text("Wrapping up")
    expect(agent.locator("#wrap-title")).to_have_text(f"Wrapping up — {MASKED_CALLER}")
    expect(agent.locator("#wrap-notes")).to_have_value("Customer asked about a late fee.")
    agent.screenshot(path=str(screenshots / "agent-wrap-up.png"))
    agent.get_by_label("Resolved").check()
    # A double click files the call once: the button is disabled while the request runs.
    agent.get_by_role("button", name=re.compile("ready for the next call")).dblclick()
    expect(agent.locator("#state")).to_have_text("Available")
    expect(wrap).to_be_hidden()
    expect(agent.locator("#stat-handled")).to_have_text("1")
    expect(agent.locator("#wrap-error")).to_have_text("")  # no "already filed" refusal
    expect(alice_row).to_have_text("Available")
    assert state(server, "alice").state == "available"
    tw.assert_no_errors()


def test_an_offer_that_rings_out_is_withdrawn_on_the_page(
    tw: Emulator, server: LiveServer, open_page: OpenPage
) -> None:
    """The ring timeout takes the offer away and the page says so. While it rang, the tab
    title and a desktop notification (allowed from the page's button) showed it; both are
    cleared when it ends."""
    agent = open_page()
    agent.context.add_init_script(NOTIFICATION_SPY)
    log_in(agent, "agent", "alice", "alice-demo")
    alerts = agent.get_by_role("button", name="Turn on desktop notifications")
    expect(alerts).to_be_visible()  # not asked on load: the agent asks
    agent.context.grant_permissions(["notifications"])  # what the agent answers
    alerts.click()
    expect(alerts).to_be_hidden()
    expect(agent.locator("#desktop-alerts-status")).to_contain_text("notifications are on")
    agent.get_by_role("button", name="Available").click()
    expect(agent.locator("#state")).to_have_text("Available")
    billing_caller(tw)
    tw.advance(1)
    expect(agent.locator("#offer")).to_be_visible()
    expect(agent).to_have_title("● Call offered — Billing")
    shown = agent.evaluate("window.notificationsShown")
    assert [(n["title"], n["open"]) for n in shown] == [("Call offered — Billing", True)]
    assert MASKED_CALLER in shown[0]["body"]
    assert agent.evaluate("window.tonesPlayed") >= 2  # the chime's two notes
    for name in ("Available", "Break", "Offline"):  # routing refuses them while it rings
        expect(agent.get_by_role("button", name=name, exact=True)).to_be_disabled()
    tw.advance(21)  # billing rings 20 s; Alice is held back 5 s before the next offer
    expect(agent.locator("#offer")).to_be_hidden()
    expect(agent.locator("#notice")).to_contain_text("withdrawn")
    expect(agent).to_have_title(AGENT_TITLE)
    assert [n["open"] for n in agent.evaluate("window.notificationsShown")] == [False]
    assert agent.evaluate("beeper") is None  # the chime's timer is gone (no 2 s wait)
    expect(agent.get_by_role("button", name="Break", exact=True)).to_be_enabled()


def test_a_priority_being_typed_survives_a_live_update(
    tw: Emulator, server: LiveServer, open_page: OpenPage
) -> None:
    """The supervisor's half-typed priority keeps its value and focus while the floor changes."""
    boss = open_page()
    log_in(boss, "supervisor", "sam", "sam-demo")
    call = billing_caller(tw)  # nobody is available: the call waits
    row = boss.locator(f'#waiting tr[data-call="{call.sid}"]')
    field = row.get_by_role("spinbutton", name="Priority")
    expect(field).to_have_value("0")
    field.fill("42")
    chai = Console(server, "agent", "chai")  # support only: billing's call stays waiting
    assert chai.post("/api/agent/status", {"status": "available"}).status_code == 204
    expect(boss.locator('#agents tr[data-agent="chai"] .agent-state')).to_have_text("Available")
    expect(field).to_have_value("42")
    expect(field).to_be_focused()
    row.get_by_role("button", name=re.compile("Set priority")).click()
    expect(boss.locator("#action-error")).to_be_hidden()
    expect(field).to_have_value("42")
    chai.close()


def test_the_console_fits_a_tablet(server: LiveServer, open_page: OpenPage) -> None:
    """At tablet width the page has no horizontal scroll and the controls stay reachable."""
    page = open_page({"width": 768, "height": 1024})
    log_in(page, "agent", "alice", "alice-demo")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 768
    page.keyboard.press("Tab")
    focused = page.evaluate("document.activeElement.className")
    assert "skip" in focused


def test_every_page_runs_under_a_strict_content_security_policy(
    server: LiveServer, open_page: OpenPage
) -> None:
    """Login, agent, supervisor and reports pages load with no CSP violation: no inline
    script or style, and the Voice SDK comes from this origin, not a CDN."""
    violations: list[str] = []
    agent, boss = open_page(), open_page()
    for page in (agent, boss):
        page.on(
            "console", lambda m: violations.append(m.text) if "Security Policy" in m.text else None
        )
    log_in(agent, "agent", "alice", "alice-demo")
    log_in(boss, "supervisor", "sam", "sam-demo")
    boss.goto("/supervisor/reports")
    expect(boss.locator("#live-status")).to_have_text("live")
    policy = httpx.get(f"{server.url}/login").headers["content-security-policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    sdk = agent.locator("#voice-sdk").get_attribute("data-url")
    assert sdk == "/static/vendor/twilio.min.js"
    assert violations == []
