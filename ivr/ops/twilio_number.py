"""Pointing a Twilio phone number at this service: `ivr twilio configure --number +E164`.

Sets, through Twilio's REST API, the number's voice URL, voice fallback URL, call
status callback and SMS URL to this service's webhooks under `PUBLIC_BASE_URL` (all
HTTP POST): what docs/deploy.md otherwise has you type into Twilio's console.
Messages' own status callbacks need no setting on the number: the service names one
on each message it sends.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from ivr.core.errors import IVRError
from ivr.core.numbers import e164
from ivr.core.settings import Settings
from ivr.core.telephony import REST_ERRORS, rest_client
from ivr.core.urls import Urls

WEBHOOKS: dict[str, str] = {
    "voice_url": "incoming",
    "voice_fallback_url": "fallback",
    "status_callback": "status",
    "sms_url": "sms_incoming",
}
"""Each URL setting of an IncomingPhoneNumber -> the route (`ivr.core.urls.PATHS`) it gets."""
METHODS: dict[str, str] = {
    "voice_method": "POST",
    "voice_fallback_method": "POST",
    "status_callback_method": "POST",
    "sms_method": "POST",
}
"""Every webhook is a POST: the signature covers the form fields of a POST."""


class NumberSetupError(IVRError):
    """The number could not be pointed at the service; says why and what to do."""


def webhook_urls(public_base_url: str) -> dict[str, str]:
    """The number's URL settings for a service at `public_base_url`."""
    if not public_base_url.startswith("https://"):
        raise NumberSetupError(
            f"PUBLIC_BASE_URL is {public_base_url!r}: set it to the https origin Twilio will"
            " call (e.g. https://ivr.example.com), the one the service checks signatures against"
        )
    urls = Urls(public_base_url.rstrip("/"))
    return {setting: urls.to(route) for setting, route in WEBHOOKS.items()}


def configure(client: Any, number: str, urls: dict[str, str]) -> dict[str, str]:
    """Point the account's `number` at `urls`; the settings Twilio then reports back."""
    found = client.incoming_phone_numbers.list(phone_number=number, limit=2)
    if not found:
        raise NumberSetupError(f"{number} is not a number of this Twilio account")
    updated = found[0].update(**urls, **METHODS)
    return {setting: str(getattr(updated, setting)) for setting in WEBHOOKS}


def add_parser(subparsers: Any) -> None:
    """Register `ivr twilio configure`."""
    twilio = subparsers.add_parser("twilio", help="set up your Twilio account for this service")
    commands = twilio.add_subparsers(dest="twilio_command", required=True, help="what to set up")
    setup = commands.add_parser(
        "configure", help="point a phone number's webhooks at PUBLIC_BASE_URL"
    )
    setup.add_argument(
        "--number", required=True, help="the account's phone number, in E.164 (+60312345678)"
    )


def main(settings: Settings, args: argparse.Namespace, out: TextIO, http_client: Any = None) -> int:
    """Configure the number and print each URL it now calls; 1, with the reason on stderr,
    if it cannot."""
    try:
        number = e164(args.number)
        if number is None:
            raise NumberSetupError(f"{args.number!r} is not a phone number in E.164 (+60312345678)")
        urls = webhook_urls(settings.public_base_url)
        client = rest_client(settings, http_client)
        done = configure(client, number, urls)
    except (NumberSetupError, *REST_ERRORS) as exc:
        print(f"ivr twilio configure: {exc}", file=sys.stderr)
        return 1
    out.write(f"{number} now calls:\n")
    for setting, url in done.items():
        out.write(f"  {setting:<20} {url}\n")
    return 0


def run(argv: Sequence[str] | None = None) -> int:
    """`python -m ivr.ops.twilio_number configure --number ...`, the same as `ivr twilio ...`,
    with the settings read from the environment (and `.env`)."""
    parser = argparse.ArgumentParser(prog="python -m ivr.ops.twilio_number")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["twilio", *(sys.argv[1:] if argv is None else argv)])
    return main(Settings.from_env(), args, sys.stdout)


if __name__ == "__main__":
    sys.exit(run())
