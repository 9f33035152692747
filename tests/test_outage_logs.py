"""A store outage, as the log tells it: one line with the reason from each process when it
starts, reminders at a backed-off interval while it lasts, one line when the store is back.

The outages are real: the tests run their own Valkey (as `tests/test_degraded.py` does)
and kill it under a running `ivr serve` (its web process and its job worker) and under
the web app's own background loops.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import httpx
import pytest
import redis
from twilio.request_validator import RequestValidator

from ivr.app import create_app
from ivr.core import outage
from ivr.core.outage import Outage, is_outage
from ivr.core.settings import Settings
from ivr.core.store import free_port
from ivr.devtools.liveserver import LiveServer
from tests.conftest import AUTH_TOKEN, PUBLIC_BASE, SAMPLE_CONFIG
from tests.stores import Store
from tests.test_cli import wait_healthy
from tests.test_webhooks import call_form

IVR = [sys.executable, "-m", "ivr.cli"]
UNAVAILABLE = "store unavailable: work waits"
REMINDER = "store still unavailable"
BACK = "store back: work resumes"
OUTAGE_LINES = (UNAVAILABLE, REMINDER, BACK)
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
    reason, remind at 60 s, 180 s and 420 s, and log its end once, after 5 s of good
    passes, with the time down; a failure within those 5 s continues the outage."""
    configured(True)
    clock = Ticking()
    seen = Outage("jobs", clock=clock)
    for _ in range(6000):
        seen.down(ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused."))
        clock.now += 0.1
    for _ in range(10):  # one good second, then a failure: the outage goes on, unlogged
        seen.up()
        clock.now += 0.1
    seen.down(ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused."))
    for _ in range(100):  # ten good seconds: the outage is over, and said so once
        seen.up()
        clock.now += 0.1
    found = entries(capsys.readouterr().err)
    assert [e["event"] for e in found] == [UNAVAILABLE, REMINDER, REMINDER, REMINDER, BACK]
    assert [e.get("down_s") for e in found[1:4]] == [60, 180, 420]
    assert {e["reason"] for e in found[:4]} == {
        "Error 111 connecting to 127.0.0.1:6379. Connection refused."
    }
    assert found[-1]["down_s"] == pytest.approx(601, abs=0.2) and found[-1]["work"] == "jobs"


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
        wait_for(lambda: BACK in log.read(), 10, "store back")
    found = about_outages(entries(log.read()))
    events = [e["event"] for e in found]
    assert events[0] == UNAVAILABLE and events[-1] == BACK, events
    assert events[1:-1] in ([REMINDER], [REMINDER, REMINDER]), events
    assert f"127.0.0.1:{store.port}" in found[0]["reason"]  # refused, or reset mid-read
    assert found[0]["work"] == "timers and rings" and found[0]["process"] == "web"
    reminded = [e["down_s"] for e in found[1:-1]]
    assert reminded[0] >= 1 and all(b >= a + 2 for a, b in itertools.pairwise(reminded))
    assert 3.5 <= found[-1]["down_s"] < 6.0
    assert "Traceback" not in log.text


# -- `ivr serve`: a web process and a job worker, on a store that dies --------------------
# One `ivr serve` (and its store) for the tests below, which each read the lines written
# since they began: starting it takes seconds.


class Serve:
    """`ivr serve` on `store`, logging JSON to a file the tests read as it goes."""

    def __init__(self, store: Store, config_dir: Path, tmp_path: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config_dir = config_dir
        self.err = tmp_path / "serve.err"
        env = {
            **os.environ,
            "REDIS_URL": store.url,
            "IVR_PORT": str(self.port),
            "IVR_DATA_DIR": str(tmp_path / "var"),
            "IVR_LOG_JSON": "1",
            "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
            "PUBLIC_BASE_URL": PUBLIC_BASE,
        }
        with self.err.open("w") as err:
            self.proc = subprocess.Popen(
                [*IVR, "serve", "--config", str(config_dir)],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=err,
                text=True,
            )
        self.mark = 0

    def lines(self) -> list[dict[str, Any]]:
        """The lines written since the test began (`begin`)."""
        return entries(self.err.read_text())[self.mark :]

    def begin(self) -> Serve:
        self.mark = len(entries(self.err.read_text()))
        return self

    def count(self, event: str) -> int:
        return sum(e["event"] == event for e in self.lines())

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=20)


@pytest.fixture(name="serve_store", scope="module")
def fixture_serve_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    store = Store(tmp_path_factory.mktemp("serve-valkey"))
    store.start()
    yield store
    store.stop()


@pytest.fixture(name="running", scope="module")
def fixture_running(
    serve_store: Store, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Serve]:
    where = tmp_path_factory.mktemp("serve")
    shutil.copytree(SAMPLE_CONFIG, where / "config")
    serve = Serve(serve_store, where / "config", where)
    try:
        wait_healthy(f"{serve.url}/healthz", serve.proc)
        wait_for(lambda: serve.count("job worker ready") == 1, 15, "job worker")
        yield serve
    finally:
        serve.stop()


@pytest.fixture(name="serve")
def fixture_serve(running: Serve) -> Serve:
    """The running `ivr serve`, its log read from this test's start."""
    return running.begin()


def by_process(found: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = {}
    for entry in found:
        grouped.setdefault(entry["process"], []).append(entry)
    return grouped


def test_serve_logs_one_outage_line_from_each_process_and_their_return(
    serve: Serve, serve_store: Store
) -> None:
    """Under `ivr serve`, three seconds without the store is one line with the reason
    from the web process and one from the job worker (not two a second, no traceback),
    then one 'store back' line from each; every line names its process and pid."""
    serve_store.kill()
    time.sleep(3.0)
    serve_store.start()
    wait_for(lambda: serve.count(BACK) == 2, 15, "store back from both processes")
    found = serve.lines()
    outages = by_process(about_outages(found))
    assert sorted(outages) == ["web", "worker"]
    for process, lines in outages.items():
        assert [e["event"] for e in lines] == [UNAVAILABLE, BACK], (process, lines)
        assert f"127.0.0.1:{serve_store.port}" in lines[0]["reason"]  # refused, or reset
        assert 2.5 <= lines[1]["down_s"] < 6.0
    assert outages["web"][0]["pid"] != outages["worker"][0]["pid"]
    assert {e["process"] for e in found} == {"web", "worker"}
    assert all(isinstance(e["pid"], int) for e in found)
    text = "\n".join(map(json.dumps, found))
    assert "Traceback" not in text and "job worker failed" not in text


def test_serve_says_which_process_took_a_config_version(serve: Serve) -> None:
    """A config edit under `ivr serve` is taken up by the web process and by the job worker:
    two 'config version is live' lines, told apart by their `process` and `pid`."""
    business = serve.config_dir / "business.yaml"
    business.write_text(business.read_text() + "\n# edited\n")
    wait_for(lambda: serve.count("config version is live") == 2, 10, "both reloads")
    live = [e for e in serve.lines() if e["event"] == "config version is live"]
    assert sorted(e["process"] for e in live) == ["web", "worker"]
    assert len({e["pid"] for e in live}) == 2 and len({e["version"] for e in live}) == 1


def access_lines(serve: Serve) -> list[dict[str, Any]]:
    return [e for e in serve.lines() if e["logger"] == "uvicorn.access"]


def test_serve_access_log_is_ours_and_masks_numbers(serve: Serve) -> None:
    """uvicorn's access log under `ivr serve` is JSON like every other line, with a bare
    or `%2B` number in the query masked and a Unix time left whole."""
    query = f"number={CALLER_DIGITS}&to=%2B{CALLER_DIGITS}&since=1765065100"
    httpx.get(f"{serve.url}/healthz?{query}", timeout=5)
    wait_for(lambda: bool(access_lines(serve)), 5, "an access line")
    (access,) = access_lines(serve)
    assert "/healthz?number=60******789&to=%2B60******789&since=1765065100" in access["event"]
    assert (access["process"], access["level"]) == ("web", "info")
    assert CALLER_DIGITS not in serve.err.read_text()


def test_serve_logs_each_webhook_once(serve: Serve) -> None:
    """A signed call and a forged one under `ivr serve`: one `webhook` line each, with the
    call SID, the endpoint and the outcome (the TwiML's last verb, or the refusal), and
    no caller number."""
    sid = "CA" + "5" * 32
    form = call_form(sid, caller="+" + CALLER_DIGITS)
    url = f"{PUBLIC_BASE}/voice/incoming"
    headers = {"X-Twilio-Signature": RequestValidator(AUTH_TOKEN).compute_signature(url, form)}
    answered = httpx.post(f"{serve.url}/voice/incoming", data=form, headers=headers)
    forged = httpx.post(f"{serve.url}/voice/incoming", data=form)
    assert (answered.status_code, forged.status_code) == (200, 403)
    wait_for(lambda: serve.count("webhook") == 2, 5, "two webhook lines")
    hooks = [e for e in serve.lines() if e["event"] == "webhook"]
    assert [(e["endpoint"], e["call"], e["status"], e["outcome"]) for e in hooks] == [
        ("incoming", sid, 200, last_verb(answered.text)),
        ("incoming", sid, 403, "refused: signature"),
    ]
    assert {e["level"] for e in hooks} == {"info"} and {e["process"] for e in hooks} == {"web"}
    assert CALLER_DIGITS not in serve.err.read_text()


def last_verb(twiml: str) -> str:
    """The answer's last top-level verb, read from the TwiML the test got back."""
    return [verb.tag for verb in ElementTree.fromstring(twiml)][-1].lower()


def test_a_loop_that_still_works_does_not_end_the_outage_of_another(
    configured: Callable[..., None], capsys: pytest.CaptureFixture[str]
) -> None:
    """With the ring loop's reads succeeding while the timer loop's writes fail, the
    outage is one line, and ends only when the timer loop succeeds: no flapping."""
    configured(True)
    clock = Ticking()
    shared = Outage("timers and rings", clock=clock)
    for _ in range(50):
        shared.down(redis.exceptions.OutOfMemoryError("command not allowed"), "timers")
        shared.up("rings")
        clock.now += 0.1
    for _ in range(60):
        shared.up("timers")
        clock.now += 0.1
    assert [e["event"] for e in entries(capsys.readouterr().err)] == [UNAVAILABLE, BACK]


@pytest.mark.parametrize(
    ("error", "outage_or_bug"),
    [
        pytest.param(redis.exceptions.ConnectionError("refused"), True, id="refused"),
        pytest.param(redis.exceptions.TimeoutError("timed out"), True, id="timed-out"),
        pytest.param(redis.exceptions.OutOfMemoryError("command not allowed"), True, id="oom"),
        pytest.param(redis.exceptions.ReadOnlyError("replica"), True, id="read-only"),
        pytest.param(redis.exceptions.ResponseError("MISCONF no disk"), True, id="disk-full"),
        pytest.param(redis.exceptions.ResponseError("ERR bad script"), False, id="our-bug"),
        pytest.param(KeyError("queue"), False, id="key-error"),
    ],
)
def test_a_store_refusing_work_is_an_outage_and_a_bug_is_not(
    error: Exception, outage_or_bug: bool
) -> None:
    """Unreachable, out of memory, read-only or out of disk is the store failing; a script
    error or a Python error is ours, for a traceback."""
    assert is_outage(error) is outage_or_bug


def test_a_store_out_of_memory_is_one_line_then_its_return(
    store: Store,
    config_dir: Path,
    tmp_path: Path,
    configured: Callable[..., None],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A store that answers but refuses writes (its memory limit reached) pauses the web
    loops with one line naming the reason, not a traceback ten times a second."""
    configured(True)
    settings = Settings(
        twilio_auth_token=AUTH_TOKEN,
        public_base_url=PUBLIC_BASE,
        redis_url=store.url,
        config_dir=config_dir,
        data_dir=tmp_path / "var",
    )
    log = Log(capsys)
    admin = redis.Redis.from_url(store.url)
    with LiveServer(create_app(settings, run_timers=True)):
        time.sleep(0.3)
        admin.config_set("maxmemory-policy", "noeviction")
        admin.config_set("maxmemory", 1)
        wait_for(lambda: UNAVAILABLE in log.read(), 5, "the outage line")
        time.sleep(2.0)
        admin.config_set("maxmemory", 0)
        wait_for(lambda: BACK in log.read(), 10, "store back")
    admin.close()
    found = about_outages(entries(log.read()))
    assert [e["event"] for e in found] == [UNAVAILABLE, BACK], found
    assert "command not allowed when used memory" in found[0]["reason"]
    assert "Traceback" not in log.text
