"""Structured logs never carry a caller's full phone number."""

from __future__ import annotations

import io
import json
import logging
import os
import sys
from collections.abc import Callable

import pytest

from ivr.core import logs
from ivr.core.logs import mask, mask_numbers


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("+60123456789", "+60******789", id="malaysia"),
        pytest.param("call from +66812345678 ok", "call from +66******678 ok", id="in-text"),
        pytest.param("2026-11-24T07:26:13Z", "2026-11-24T07:26:13Z", id="timestamp-untouched"),
        pytest.param("client:alice", "client:alice", id="client-identity"),
    ],
)
def test_phone_numbers_are_masked(text: str, expected: str) -> None:
    """E.164 numbers keep only their country prefix and last three digits."""
    assert mask(text) == expected


def test_every_string_field_of_a_log_event_is_masked() -> None:
    """The structlog processor masks numbers in the event text and in each field."""
    event = mask_numbers(None, "info", {"event": "from +60123456789", "caller": "+447700900123"})
    assert event == {"event": "from +60******789", "caller": "+44*******123"}


def lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.strip()]


def fail(number: str) -> None:
    raise ConnectionError(f"could not dial {number}")


def test_stdlib_records_come_out_as_json_like_ours(
    configured: Callable[..., None], capsys: pytest.CaptureFixture[str]
) -> None:
    """With IVR_LOG_JSON, a stdlib %-format record is a JSON line with our fields, masked."""
    configured(True)
    logs.get("ivr.test_logs").warning("call from", caller="+60123456789")
    # Not uvicorn's own logger: a LiveServer earlier in the session gives it a handler.
    logging.getLogger("stdlib.library").warning("call from %s", "+60123456789")
    ours, theirs = (json.loads(line) for line in lines(capsys.readouterr().err))
    assert ours.keys() == {"event", "caller", "level", "logger", "timestamp"}
    assert theirs.keys() == {"event", "level", "logger", "timestamp"}
    assert ours["caller"] == "+60******789" and theirs["event"] == "call from +60******789"
    assert (theirs["level"], theirs["logger"]) == ("warning", "stdlib.library")


def test_stdlib_exceptions_are_rendered_and_masked(
    configured: Callable[..., None], capsys: pytest.CaptureFixture[str]
) -> None:
    """A stdlib `log.exception` carries its traceback as text, numbers masked, in JSON too."""
    configured(True)
    try:
        fail("+60123456789")
    except ConnectionError:
        logging.getLogger("stdlib.library").exception("dial of %s failed", "+60123456789")
    (line,) = lines(capsys.readouterr().err)
    entry = json.loads(line)
    assert entry["event"] == "dial of +60******789 failed"
    assert "ConnectionError: could not dial +60******789" in entry["exception"]
    assert "60123456789" not in line


def test_stdlib_and_structlog_lines_read_alike(
    configured: Callable[..., None], capsys: pytest.CaptureFixture[str]
) -> None:
    """Without JSON, both kinds of record are one readable line: time, level, text, logger."""
    configured(False)
    logs.get("ivr.test_logs").info("config version v1 is live")
    logging.getLogger("stdlib.library").info("config version %s is live", "v1")
    ours, theirs = lines(capsys.readouterr().err)
    assert (
        ours.split(" ", 1)[1].replace("ivr.test_logs", "stdlib.library") == theirs.split(" ", 1)[1]
    )
    assert "[info     ] config version v1 is live" in theirs and theirs.endswith("[stdlib.library]")


def test_url_encoded_numbers_are_masked() -> None:
    """A number in a logged URL query (`%2B60...`) is masked like a plain one."""
    assert mask("GET /api/x?to=%2B60123456789 200") == "GET /api/x?to=%2B60******789 200"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        pytest.param("redis://:s3cret@db:6379/0", "redis://:***@db:6379/0", id="password-only"),
        pytest.param("rediss://ivr:s3cret@db:6380", "rediss://ivr:***@db:6380", id="acl-user"),
        pytest.param("redis://db:6379/0", "redis://db:6379/0", id="no-credentials"),
        pytest.param("unix:///run/valkey.sock", "unix:///run/valkey.sock", id="socket"),
    ],
)
def test_a_url_password_is_never_logged(url: str, shown: str) -> None:
    """A store URL with credentials is logged with its password hidden, its user kept."""
    assert mask(url) == shown


def test_the_store_url_in_a_log_line_loses_its_password(
    configured: Callable[..., None], capsys: pytest.CaptureFixture[str]
) -> None:
    """The start-up line that names the store (`ready store=...`) shows no password."""
    configured(True)
    logs.get("ivr.app").info("ready", store="redis://ivr:s3cret@db:6379/0")
    (line,) = lines(capsys.readouterr().err)
    assert "s3cret" not in line and json.loads(line)["store"] == "redis://ivr:***@db:6379/0"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            "GET /api/x?number=60123456789 200",
            "GET /api/x?number=60******789 200",
            id="bare-in-query",
        ),
        pytest.param("?to=0123456789&x=1", "?to=01*****789&x=1", id="national-in-query"),
        pytest.param("?n=16135550123", "?n=16******123", id="nanp-in-query"),
        pytest.param(
            "?u=%2Fx%3Fto%3D%252B60123456789", "?u=%2Fx%3Fto%3D%252B60******789", id="url-in-url"
        ),
        pytest.param("?since=1765065100", "?since=1765065100", id="unix-seconds-untouched"),
        pytest.param("?ms=1765065100123", "?ms=1765065100123", id="unix-millis-untouched"),
        pytest.param("?at=1765065100.25", "?at=1765065100.25", id="fractional-time-untouched"),
        pytest.param("?cb=cb_60123456789", "?cb=cb_60123456789", id="id-untouched"),
        pytest.param("?call=CA" + "1" * 32, "?call=CA" + "1" * 32, id="sid-untouched"),
        pytest.param("?page=2&size=50", "?page=2&size=50", id="small-counts-untouched"),
        pytest.param("event 1765065100123-0", "event 1765065100123-0", id="stream-id-untouched"),
    ],
)
def test_bare_numbers_in_a_query_are_masked(text: str, expected: str) -> None:
    """A number given without its `+` as a query value is masked; times and ids are not."""
    assert mask(text) == expected


def test_a_field_that_is_a_bare_number_is_masked() -> None:
    """A field whose whole value is a bare number is masked; a Unix time is not."""
    event = mask_numbers(None, "info", {"event": "x", "caller": "60123456789", "at": "1765065100"})
    assert event == {"event": "x", "caller": "60******789", "at": "1765065100"}


def test_json_lines_of_ours_carry_the_traceback(
    configured: Callable[..., None], capsys: pytest.CaptureFixture[str]
) -> None:
    """Our own `log.exception` in JSON carries its traceback as text, numbers masked."""
    configured(True)
    try:
        fail("+60123456789")
    except ConnectionError:
        logs.get("ivr.test_logs").exception("dial failed", caller="+60123456789")
    (line,) = lines(capsys.readouterr().err)
    entry = json.loads(line)
    assert entry["caller"] == "+60******789"
    assert "Traceback (most recent call last)" in entry["exception"]
    assert "ConnectionError: could not dial +60******789" in entry["exception"]
    assert "60123456789" not in line and "exc_info" not in entry


def test_each_line_names_its_process(
    configured: Callable[..., None], capsys: pytest.CaptureFixture[str]
) -> None:
    """With a process name, our lines and stdlib's both carry `process` and the `pid`."""
    configured(True, process="worker")
    logs.get("ivr.test_logs").info("config version is live", version="v1")
    logging.getLogger("stdlib.library").info("config version %s is live", "v1")
    ours, theirs = (json.loads(line) for line in lines(capsys.readouterr().err))
    assert (ours["process"], ours["pid"]) == ("worker", os.getpid())
    assert (theirs["process"], theirs["pid"]) == ("worker", os.getpid())


def test_a_line_logged_after_stderr_was_swapped_reaches_the_new_stderr(
    configured: Callable[..., None], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A thread still logging after its test's captured stderr was closed (pytest swaps
    stderr per test) writes to today's stderr, not a "--- Logging error ---"."""
    first = io.StringIO()
    monkeypatch.setattr(sys, "stderr", first)
    configured(True)
    first.close()
    second = io.StringIO()
    monkeypatch.setattr(sys, "stderr", second)
    logging.getLogger("stdlib.library").warning("still heard")
    (line,) = lines(second.getvalue())
    assert json.loads(line)["event"] == "still heard"


def test_a_url_password_in_a_traceback_is_never_logged(
    configured: Callable[..., None], capsys: pytest.CaptureFixture[str]
) -> None:
    """A store URL with its password, in an exception's message, is redacted in the
    traceback text of a JSON line."""
    configured(True)
    try:
        raise ConnectionError("cannot reach redis://ivr:s3cret@db:6379/0")
    except ConnectionError:
        logs.get("ivr.test_logs").exception("store check failed")
    (line,) = lines(capsys.readouterr().err)
    assert "s3cret" not in line
    assert "redis://ivr:***@db:6379/0" in json.loads(line)["exception"]
