"""What the console pages call things: plain state names, masked numbers, menu choices."""

from __future__ import annotations

import pytest

from ivr.config.loader import load
from ivr.config.model import Config
from ivr.web import labels
from tests.conftest import SAMPLE_CONFIG


@pytest.fixture(name="config", scope="module")
def fixture_config() -> Config:
    return load(SAMPLE_CONFIG)


@pytest.mark.parametrize(
    ("state", "shown"),
    [
        pytest.param("available", "Available", id="available"),
        pytest.param("reserved", "Ringing — call offered", id="reserved"),
        pytest.param("on_call", "On a call", id="on-call"),
        pytest.param("wrap_up", "Wrapping up", id="wrap-up"),
        pytest.param("break", "On break", id="break"),
        pytest.param("offline", "Offline", id="offline"),
        pytest.param("some_new_state", "Some new state", id="unknown"),
    ],
)
def test_states_have_plain_names(state: str, shown: str) -> None:
    """Every routing state is shown in plain words, never its internal name."""
    assert labels.state_label(state) == shown


@pytest.mark.parametrize(
    ("number", "shown"),
    [
        pytest.param("+6591234567", "+65•••• 4567", id="e164"),
        pytest.param("+60199999999", "+60••••• 9999", id="malaysia"),
        pytest.param("0812345678", "•••••• 5678", id="national"),
        pytest.param("client:ivr", labels.UNKNOWN_CALLER, id="client"),
        pytest.param("anonymous", labels.UNKNOWN_CALLER, id="withheld"),
        pytest.param("", labels.UNKNOWN_CALLER, id="empty"),
    ],
)
def test_numbers_are_masked_to_their_last_four_digits(number: str, shown: str) -> None:
    """A caller's number shows its country prefix and last four digits only."""
    assert labels.mask_number(number) == shown


def test_a_known_caller_is_shown_by_name() -> None:
    """The name the IVR knows wins over the (masked) number."""
    assert labels.caller_label("Jane Doe", "+6591234567") == "Jane Doe"
    assert labels.caller_label(None, "+6591234567") == "+65•••• 4567"


@pytest.mark.parametrize(
    ("path", "language", "queue", "shown"),
    [
        pytest.param(
            ["language", "opening_hours", "main", "account"],
            "en",
            "billing",
            ["English", "Billing", "Account number"],
            id="billing-en",
        ),
        pytest.param(
            ["language", "opening_hours", "main"],
            "ms",
            "support",
            ["Bahasa Melayu", "Sokongan"],
            id="support-ms",
        ),
        pytest.param(["opening_hours", "main"], "en", "sales", ["Sales"], id="known-caller"),
        pytest.param(["main", "gone_node"], "en", "sales", [], id="unknown-node"),
    ],
)
def test_the_menu_path_is_the_choices_the_caller_made(
    config: Config, path: list[str], language: str, queue: str, shown: list[str]
) -> None:
    """Node ids become the options the caller picked, in their language; steps with no
    choice (opening hours) and nodes no longer in the config are left out."""
    assert labels.menu_path(config, path, language, queue) == shown
