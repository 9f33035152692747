"""`ivr twilio configure --number`: a number pointed at the service through the REST API,
against the Twilio emulator in front of the real app."""

from __future__ import annotations

import argparse
import io

import pytest

from ivr.core.settings import Settings
from ivr.devtools.emulator import Emulator
from ivr.ops import twilio_number
from tests.conftest import BUSINESS, PUBLIC_BASE


def parse(*argv: str) -> argparse.Namespace:
    """`argv` read by the `ivr twilio` parser, as `ivr` reads it."""
    parser = argparse.ArgumentParser(prog="ivr")
    twilio_number.add_parser(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(argv)


def configure(settings: Settings, tw: Emulator, number: str) -> tuple[int, str]:
    out = io.StringIO()
    args = parse("twilio", "configure", "--number", number)
    code = twilio_number.main(settings, args, out, http_client=tw.http_client())
    return code, out.getvalue()


def test_configure_points_every_webhook_at_public_base_url(
    settings: Settings, tw: Emulator
) -> None:
    """The number's voice, fallback, status and SMS URLs become the service's, all POST,
    and the command prints each one."""
    tw.add_number(BUSINESS)  # bought, but pointing nowhere yet
    code, printed = configure(settings, tw, BUSINESS)
    assert code == 0, printed
    number = tw.number(BUSINESS)
    assert number.voice_url == f"{PUBLIC_BASE}/voice/incoming"
    assert number.voice_fallback_url == f"{PUBLIC_BASE}/voice/fallback"
    assert number.voice_status_callback == f"{PUBLIC_BASE}/voice/status"
    assert number.sms_url == f"{PUBLIC_BASE}/sms/incoming"
    assert number.voice_method == number.sms_method == "POST"
    assert f"{PUBLIC_BASE}/voice/incoming" in printed


def test_a_call_to_the_configured_number_reaches_the_menu(settings: Settings, tw: Emulator) -> None:
    """Once configured, a call to the number gets the service's language menu."""
    tw.add_number(BUSINESS)
    assert configure(settings, tw, BUSINESS)[0] == 0
    call = tw.dial(from_="+60199999999", to=BUSINESS)
    call.hears("For English, press 1")
    tw.assert_no_errors()


def test_a_number_with_spaces_is_read_as_e164(settings: Settings, tw: Emulator) -> None:
    """`--number` accepts the number with spaces, as people copy it from the console."""
    tw.add_number(BUSINESS)
    spaced = "+60 3-1234 5678"
    assert configure(settings, tw, spaced)[0] == 0
    assert tw.number(BUSINESS).voice_url == f"{PUBLIC_BASE}/voice/incoming"


@pytest.mark.parametrize(
    ("number", "public", "reason"),
    [
        pytest.param("+60399999999", PUBLIC_BASE, "is not a number of this", id="not-ours"),
        pytest.param("12", PUBLIC_BASE, "is not a phone number", id="not-a-number"),
        pytest.param(BUSINESS, "http://127.0.0.1:8000", "PUBLIC_BASE_URL is", id="not-https"),
    ],
)
def test_configure_refuses_with_the_reason(
    settings: Settings,
    tw: Emulator,
    capsys: pytest.CaptureFixture[str],
    number: str,
    public: str,
    reason: str,
) -> None:
    """An unknown number, a malformed one, or a PUBLIC_BASE_URL Twilio cannot use exits 1
    with the reason on stderr, and changes nothing."""
    before = tw.number(BUSINESS).voice_url
    code, _ = configure(settings.with_(public_base_url=public), tw, number)
    assert code == 1
    assert reason in capsys.readouterr().err
    assert tw.number(BUSINESS).voice_url == before


def test_configure_needs_a_number() -> None:
    """`ivr twilio configure` without `--number` is a usage error."""
    with pytest.raises(SystemExit):
        parse("twilio", "configure")


def test_runs_as_a_module_with_settings_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`ivr twilio configure --number ...` reads PUBLIC_BASE_URL from the
    environment, and refuses one that is not https before calling Twilio."""
    monkeypatch.setenv("PUBLIC_BASE_URL", "http://ivr.example.com")
    assert twilio_number.run(["configure", "--number", BUSINESS]) == 1
    assert "PUBLIC_BASE_URL is 'http://ivr.example.com'" in capsys.readouterr().err
