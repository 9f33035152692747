"""The reports dashboard: its JSON API matches `ivr report`, and the page draws it in Chromium."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import redis
from playwright.sync_api import Page, expect

from ivr import cli
from ivr.core.clock import ManualClock
from ivr.core.settings import Settings
from ivr.devtools.emulator import Emulator
from ivr.devtools.liveserver import LiveServer
from ivr.web import report
from tests.agents import go_available
from tests.conftest import SAMPLE_CONFIG
from tests.consoles import Console
from tests.test_browser import (  # noqa: F401  (fixtures: Chromium for this module)
    fixture_browser,
    fixture_open_page,
    fixture_playwright,
    fixture_screenshots,
    is_png,
    log_in,
)
from tests.test_connect_e2e import billing_caller
from tests.test_metrics_script import DAY as DAY_MS
from tests.test_metrics_script import T0, S, Script

DAY = "2026-11-23"
"""The local date of T0 (Monday 10:00 in Kuala Lumpur)."""
NEXT_DAY = "2026-11-24"
LIVE_WAIT_MS = 12_000
"""Long enough for the page's periodic re-read (reports_live.js, every 5 s) to come round."""
API = "/api/supervisor/reports"
BILLING_WAITS_S = (5, 10, 15, 20, 25, 30, 40, 60, 90, 120)
SUPPORT_WAITS_S = (8, 16, 24)
T = TypeVar("T")
SCORES = {"CA0": 7, "CA1": 6, "CA2": 6, "CA6": 4, "CA8": 2, "CB0": 5, "CB2": 6}
"""CES replies: billing's quick answers rate easy, its slow ones hard."""


def off_loop(work: Callable[[], T]) -> T:
    """Run `work` in a fresh thread: Playwright's sync API keeps an asyncio loop running in
    this one, so `asyncio.run` (the fold, `ivr report`) cannot run here in browser tests."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(work).result()


@pytest.fixture(name="seeded")
def fixture_seeded(
    server: LiveServer, r: redis.Redis, redis_url: str, clock: ManualClock
) -> Script:
    """Billing calls 10:00–11:00 (alice), support calls 11:00–12:00 (chai), two abandons, CES."""
    s = Script(r, redis_url)
    for agent in ("alice", "chai"):
        s.event("AGENTSTATUS", T0, agent=agent, reason="available")
    for i, wait in enumerate(BILLING_WAITS_S):
        s.session(f"CA{i}", f"+6019{i:07d}", T0 + i * 300 * S)
        s.answered(f"CA{i}", "billing", "alice", T0 + i * 300 * S, wait * S, 120 * S)
    for i, wait in enumerate(SUPPORT_WAITS_S):
        at = T0 + 3600 * S + i * 600 * S
        s.session(f"CB{i}", f"+6017{i:07d}", at)
        s.answered(f"CB{i}", "support", "chai", at, wait * S, 300 * S)
    for i in range(2):
        at = T0 + 3900 * S + i * 60 * S
        s.session(f"CX{i}", f"+6016{i:07d}", at)
        s.event("ENTERQUEUE", at, call=f"CX{i}", queue="billing", language="en", position=1)
        s.event("ABANDON", at + 30 * S, call=f"CX{i}", queue="billing", wait_ms=30 * S)
    for call, score in SCORES.items():
        s.survey(call, score, T0 + 3 * 3600 * S)
    for agent in ("alice", "chai"):
        s.event("AGENTSTATUS", T0 + 2 * 3600 * S, agent=agent, reason="offline")
    off_loop(s.fold)
    clock.advance(4 * 3600)  # the day so far lies behind the service's clock: 14:00
    return s


@pytest.fixture(name="boss")
def fixture_boss(server: LiveServer) -> Any:
    console = Console(server, "supervisor", "sam")
    yield console
    console.close()


def cli_report(redis_url: str, *argv: str, first: str = DAY, last: str = DAY) -> dict[str, Any]:
    """What `ivr report --format json --staffing` prints for the days, as a document."""
    args = ["report", "--from", first, "--to", last, "--format", "json", "--staffing", *argv]
    out = io.StringIO()
    settings = Settings(redis_url=redis_url, config_dir=SAMPLE_CONFIG)
    parsed = cli.build_parser().parse_args(args)
    assert off_loop(lambda: report.main(settings, parsed, out)) == 0
    doc: dict[str, Any] = json.loads(out.getvalue())
    return doc


@pytest.mark.parametrize(
    "queue", [pytest.param(None, id="all-queues"), pytest.param("billing", id="billing")]
)
def test_the_api_shows_the_same_figures_as_ivr_report(
    seeded: Script, boss: Console, redis_url: str, queue: str | None
) -> None:
    """Queue and agent figures, staffing advice and the range equal `ivr report`'s JSON."""
    query = f"{API}?from={DAY}&to={DAY}" + (f"&queue={queue}" if queue else "")
    response = boss.get(query)
    assert response.status_code == 200, response.text
    doc = response.json()
    expected = cli_report(redis_url, *(["--queue", queue] if queue else []))
    for part in ("queues", "agents", "staffing", "intervals", "from", "to"):
        assert doc[part] == expected[part], part
    assert doc["queues"]["billing"]["answered"] == len(BILLING_WAITS_S)
    assert doc["queues"]["billing"]["abandoned"] == 2


def test_staffing_advice_is_the_erlang_sentence(seeded: Script, boss: Console) -> None:
    """Billing's 10:00 hour (10 calls, 120 s AHT, alice staffed) gets the Erlang C sentence."""
    doc = boss.get(f"{API}?from={DAY}&to={DAY}&queue=billing").json()
    advice = [row["advice"] for row in doc["staffing"]]
    assert "billing: to reach 80% in 20 s between 10:00 and 11:00 you need 2 agents; you had 1" in (
        advice
    )


def test_hours_hold_frt_percentiles_service_level_and_abandonment(
    seeded: Script, boss: Console
) -> None:
    """Each busy hour of the day has its FRT percentiles, service level and abandon rate."""
    doc = boss.get(f"{API}?from={DAY}&to={DAY}&queue=billing").json()
    assert doc["intervals"]["by"] == "hour"
    hours = {h["label"]: h for h in doc["intervals"]["rows"]}
    assert list(hours) == ["10:00", "11:00"]
    ten, eleven = hours["10:00"], hours["11:00"]
    assert ten["answered"] == 10 and ten["abandon_rate"] == 0
    assert ten["service_level"] == pytest.approx(4 / 10)  # 5, 10, 15 and 20 s are within 20 s
    assert ten["frt_median_s"] <= ten["frt_p90_s"] <= ten["frt_p95_s"]
    assert (eleven["abandoned"], eleven["abandon_rate"], eleven["frt_median_s"]) == (2, 1.0, None)


def next_day_call(seeded: Script) -> None:
    """One more billing call, at 10:00 on the next day."""
    seeded.session("CN0", "+60150000000", T0 + DAY_MS)
    seeded.answered("CN0", "billing", "alice", T0 + DAY_MS, 5 * S, 60 * S)
    off_loop(seeded.fold)


def test_several_days_have_dated_hours_equal_to_ivr_report(
    seeded: Script, boss: Console, redis_url: str
) -> None:
    """Over two days the rows are dated hours in order (each day's 10:00 apart), as `ivr report`."""
    next_day_call(seeded)
    doc = boss.get(f"{API}?from={DAY}&to={NEXT_DAY}").json()
    assert doc["intervals"] == cli_report(redis_url, last=NEXT_DAY)["intervals"]
    got = [(r["label"], r["answered"]) for r in doc["intervals"]["rows"]]
    assert got == [
        ("2026-11-23 10:00", len(BILLING_WAITS_S)),
        ("2026-11-23 11:00", len(SUPPORT_WAITS_S)),
        ("2026-11-24 10:00", 1),
    ]


def test_ces_by_agent_and_the_frt_ces_scatter(seeded: Script, boss: Console) -> None:
    """CES per agent comes from the rollups; the scatter has one point per rated contact."""
    doc = boss.get(f"{API}?from={DAY}&to={DAY}").json()
    alice = [v for k, v in SCORES.items() if k.startswith("CA")]
    assert doc["agent_ces"]["alice"]["ces_mean"] == pytest.approx(sum(alice) / len(alice))
    assert doc["agent_ces"]["budi"]["ces_mean"] is None
    points = {p["call"]: (p["frt_s"], p["ces"]) for p in doc["scatter"]["points"]}
    assert set(points) == set(SCORES)
    assert points["CA8"] == (90.0, 2)


@pytest.mark.parametrize(
    ("query", "status", "message"),
    [
        pytest.param("from=yesterday", 422, "local dates", id="not-a-date"),
        pytest.param("from=2026-13-01", 422, "local dates", id="bad-month"),
        pytest.param("from=2026-11-24&to=2026-11-22", 422, "before", id="reversed"),
        pytest.param("from=2026-01-01&to=2026-11-23", 422, "31 days", id="too-long"),
        pytest.param("from=2026-11-23&to=9999-12-31", 422, "local dates", id="overflow"),
        pytest.param(
            "from=2026-11-19T10:50&to=2026-11-19T11:00",
            422,
            "minute rollups, kept 2 days",
            id="sub-hour-too-old",
        ),
        pytest.param("from=2026-11-23T09:50:30", 422, "whole minutes", id="inside-a-minute"),
        pytest.param("queue=nope", 404, "no queue", id="unknown-queue"),
        pytest.param("target=1", 422, "target", id="target-too-high"),
        pytest.param("target=abc", 422, "target", id="target-not-a-number"),
    ],
)
def test_bad_filters_get_a_clear_4xx(
    server: LiveServer, boss: Console, query: str, status: int, message: str
) -> None:
    """Bad dates, ranges, queues and targets are refused with a message saying why."""
    response = boss.get(f"{API}?{query}")
    assert response.status_code == status
    assert message in response.json()["error"]


def test_only_supervisors_see_reports(server: LiveServer) -> None:
    """Agents get 403 from the page and the API; without a session the API says 401."""
    agent = Console(server, "agent", "alice")
    try:
        assert agent.get(API).status_code == 403
        assert agent.get(f"{API}/live").status_code == 403
        assert agent.get("/supervisor/reports").status_code == 403
    finally:
        agent.close()
    assert httpx.get(server.url + API).status_code == 401
    page = httpx.get(server.url + "/supervisor/reports")
    assert (page.status_code, page.headers["location"]) == (303, "/login?as=supervisor")


def shown_figures(page: Page, table: str) -> dict[str, dict[str, str]]:
    """A figures table's cells as {column name: {figure: text}}."""
    cells: list[list[str]] = page.eval_on_selector_all(
        f"#{table} td",
        "tds => tds.map(td => [td.dataset.name, td.parentElement.dataset.figure, td.textContent])",
    )
    out: dict[str, dict[str, str]] = {}
    for name, figure, text in cells:
        out.setdefault(name, {})[figure] = text
    return out


def expected_text(doc: dict[str, Any], kind: str, columns: tuple[str, ...]) -> dict[str, Any]:
    return {n: {c: report.show(c, f.get(c)) for c in columns} for n, f in doc[kind].items()}


def test_the_dashboard_in_chromium(
    seeded: Script, redis_url: str, open_page: Any, server: LiveServer, screenshots: Path
) -> None:
    """A supervisor opens the reports, sees charts and `ivr report`'s figures, filters a queue."""
    page: Page = open_page()
    log_in(page, "supervisor", "sam", "sam-demo")
    page.get_by_role("link", name="Reports").click()
    expect(page).to_have_url(re.compile(r"/supervisor/reports"))
    expect(page.locator("body")).to_have_attribute("data-loaded", re.compile("queue=&"))

    drawn = "[...document.querySelectorAll('canvas')].map(c => !!Chart.getChart(c))"
    rendered = page.evaluate(drawn)
    assert rendered == [True] * 6
    doc = cli_report(redis_url)
    assert shown_figures(page, "figures") == expected_text(doc, "queues", report.QUEUE_COLUMNS)
    assert shown_figures(page, "agent-figures") == expected_text(
        doc, "agents", report.AGENT_COLUMNS
    )
    expect(page.locator("#advice")).to_contain_text("between 10:00 and 11:00 you need 2 agents")
    expect(page.locator("#scatter-note")).to_have_text(f"{len(SCORES)} rated contacts.")
    expect(page.locator("#frt-table tbody tr")).to_have_count(2)
    page.screenshot(path=str(screenshots / "reports.png"), full_page=True)
    assert is_png(screenshots / "reports.png")

    page.get_by_label("Queue", exact=True).select_option("support")
    expect(page.locator("body")).to_have_attribute("data-loaded", re.compile("queue=support"))
    expect(page).to_have_url(re.compile(r"queue=support"))
    doc = cli_report(redis_url, "--queue", "support")
    assert shown_figures(page, "figures") == expected_text(doc, "queues", report.QUEUE_COLUMNS)
    assert list(shown_figures(page, "figures")) == ["support"]
    expect(page.locator("#scatter-note")).to_have_text("2 rated contacts.")


def test_the_dashboard_fits_a_tablet(seeded: Script, open_page: Any) -> None:
    """At tablet width the page has no horizontal scroll and the filters are reachable."""
    page: Page = open_page({"width": 768, "height": 1024})
    log_in(page, "supervisor", "sam", "sam-demo")
    page.goto("/supervisor/reports")
    expect(page.locator("body")).to_have_attribute("data-loaded", re.compile("from="))
    assert page.evaluate("document.documentElement.scrollWidth") <= 768
    page.get_by_label("From", exact=True).focus()
    assert page.evaluate("document.activeElement.id") == "from"


def first_column(page: Page, table: str) -> list[str]:
    texts: list[str] = page.eval_on_selector_all(
        f"#{table} tbody th", "ths => ths.map(th => th.textContent)"
    )
    return texts


def test_the_dashboard_shows_dated_hours_for_several_days(
    seeded: Script, redis_url: str, open_page: Any
) -> None:
    """Choosing two days, the by-hour tables list `ivr report`'s dated hours, headed "by hour"."""
    next_day_call(seeded)
    page: Page = open_page()
    log_in(page, "supervisor", "sam", "sam-demo")
    page.goto(f"/supervisor/reports?from={DAY}&to={DAY}")
    expect(page.locator("body")).to_have_attribute("data-loaded", re.compile("from="))
    page.get_by_label("To (including)").fill(NEXT_DAY)
    page.get_by_role("button", name="Show").click()
    expect(page.locator("body")).to_have_attribute("data-loaded", re.compile(f"to={NEXT_DAY}"))
    labels = [r["label"] for r in cli_report(redis_url, last=NEXT_DAY)["intervals"]["rows"]]
    assert labels[-1] == "2026-11-24 10:00"
    assert first_column(page, "sl-table") == first_column(page, "frt-table") == labels
    expect(page.locator("#sl-title")).to_have_text("Service level and abandonment by hour")


def test_the_live_card_follows_a_call_without_reload(
    tw: Emulator, server: LiveServer, open_page: Any
) -> None:
    """A call joining billing after the page loaded shows as waiting, its wait grows; no reload."""
    page: Page = open_page()
    log_in(page, "supervisor", "sam", "sam-demo")
    page.goto("/supervisor/reports")
    expect(page.locator("#live-status")).to_have_text("live")
    billing = page.locator('#now-queues tr[data-queue="billing"]')
    expect(billing.locator(".waiting")).to_have_text("0")
    expect(billing.locator(".oldest")).to_have_text("–")
    agents = len(server.app.state.services.registry.current.agents)
    expect(page.locator('#now-agents [data-state="offline"] .n')).to_have_text(str(agents))
    page.evaluate("window.sameDocument = true")

    billing_caller(tw)
    expect(billing.locator(".waiting")).to_have_text("1")
    tw.advance(30)  # the fold runs on the tick: the oldest wait is read from its waiting set
    expect(billing.locator(".oldest")).to_have_text(re.compile(r"^0:[34]\d$"), timeout=LIVE_WAIT_MS)
    go_available(server, "alice")
    expect(page.locator('#now-agents [data-state="reserved"] .n')).to_have_text("1")
    expect(page.locator('#now-agents [data-state="offline"] .n')).to_have_text(str(agents - 1))
    assert page.evaluate("window.sameDocument") is True
