"""A store outage, as the log tells it: one line with the reason from each process when it
starts, reminders at a backed-off interval while it lasts, one line when the store is back.

The outages are real: the tests run their own Valkey (as `tests/test_degraded.py` does)
and kill it under a running `ivr serve` (its web process and its job worker) and under
the web app's own background loops.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ivr.app import create_app
from ivr.core import outage
from ivr.core.outage import Outage
from ivr.core.settings import Settings
from ivr.devtools.liveserver import LiveServer
from tests.conftest import AUTH_TOKEN, PUBLIC_BASE
from tests.test_degraded import Store

IVR = [sys.executable, "-m", "ivr.cli"]
UNREACHABLE = "store unreachable: work waits"
REMINDER = "store still unreachable"
BACK = "store back: work resumes"
OUTAGE_LINES = (UNREACHABLE, REMINDER, BACK)
CALLER_DIGITS = "60123456789"


def entries(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def about_outages(found: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in found if e["event"] in OUTAGE_LINES]


def wait_for(check: Callable[[], bool], within_s: float, what: str) -> None:
    deadline = time.monotonic() + within_s
    while not check():
        assert time.monotonic() < deadline, f"no {what} within {within_s} s"
        time.sleep(0.1)


@pytest.fixture(name="store")
def fixture_store(tmp_path: Path) -> Iterator[Store]:
    store = Store(tmp_path / "valkey")
    store.start()
    yield store
    store.stop()


# -- the reminder schedule, on a clock the test moves ------------------------------------


class Ticking:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_ten_minutes_down_is_one_line_and_backed_off_reminders(
    configured: Callable[..., None], capsys: pytest.CaptureFixture[str]
) -> None:
    """Ten minutes of passes failing ten times a second log the outage once with its
    reason, remind at 60 s, 180 s and 420 s, and log its end once with the time down."""
    configured(True)
    clock = Ticking()
    seen = Outage("jobs", clock=clock)
    for _ in range(6000):
        seen.down(ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused."))
        clock.now += 0.1
    seen.up()
    seen.up()  # further good passes say nothing
    found = entries(capsys.readouterr().err)
    assert [e["event"] for e in found] == [UNREACHABLE, REMINDER, REMINDER, REMINDER, BACK]
    assert [e.get("down_s") for e in found[1:4]] == [60, 180, 420]
    assert {e["reason"] for e in found[:4]} == {
        "Error 111 connecting to 127.0.0.1:6379. Connection refused."
    }
    assert found[-1]["down_s"] == pytest.approx(600, abs=0.2) and found[-1]["work"] == "jobs"


def test_retries_back_off_while_the_store_is_down() -> None:
    """A loop's wait doubles on each failed pass, up to a second, and is its poll again
    once a pass succeeds."""
    seen = Outage("timers")
    waits = []
    for _ in range(6):
        seen.down(TimeoutError())
        waits.append(seen.retry_s(0.1))
    assert waits == pytest.approx([0.2, 0.4, 0.8, 1.0, 1.0, 1.0])
    seen.up()
    assert seen.retry_s(0.1) == 0.1


def test_an_outage_without_a_message_is_named_by_its_exception(
    configured: Callable[..., None], capsys: pytest.CaptureFixture[str]
) -> None:
    """An error with no message still gives a reason: its exception's name."""
    configured(True)
    Outage("jobs").down(TimeoutError())
    (line,) = entries(capsys.readouterr().err)
    assert line["reason"] == "TimeoutError"


# -- the web app's background loops, on a store that dies --------------------------------


class Log:
    """What the process has written to stderr so far (capsys hands each part out once)."""

    def __init__(self, capsys: pytest.CaptureFixture[str]) -> None:
        self.capsys = capsys
        self.text = ""

    def read(self) -> str:
        self.text += self.capsys.readouterr().err
        return self.text


def test_the_web_loops_log_a_real_outage_once_then_remind_then_the_return(
    store: Store,
    config_dir: Path,
    tmp_path: Path,
    configured: Callable[..., None],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The timer and ring loops, ten passes a second, log a killed store once with the
    reason, remind with the time down (first after 1 s here, then 2 s later), and log
    its return once: four lines for four seconds down, and no traceback."""
    monkeypatch.setattr(outage, "REMINDER_FIRST_S", 1.0)
    configured(True, process="web")
    settings = Settings(
        twilio_auth_token=AUTH_TOKEN,
        public_base_url=PUBLIC_BASE,
        redis_url=store.url,
        config_dir=config_dir,
        data_dir=tmp_path / "var",
    )
    log = Log(capsys)
    with LiveServer(create_app(settings, run_timers=True)):
        time.sleep(0.3)
        store.kill()
        time.sleep(4.0)
        store.start()
        wait_for(lambda: BACK in log.read(), 5, "store back")
    found = about_outages(entries(log.read()))
    assert [e["event"] for e in found] == [UNREACHABLE, REMINDER, REMINDER, BACK], found
    assert "Connection refused" in found[0]["reason"]
    assert found[0]["work"] == "timers and rings" and found[0]["process"] == "web"
    first, second = (e["down_s"] for e in found[1:3])
    assert first >= 1 and second >= first + 2
    assert 3.5 <= found[-1]["down_s"] < 6.0
    assert "Traceback" not in log.text
