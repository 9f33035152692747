"""Every webhook URL the service builds reaches its route, with odd query values intact."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from starlette.routing import Match, Route
from starlette.types import Scope
from twilio.twiml.voice_response import VoiceResponse

from ivr.config.loader import load
from ivr.config.menu import Action
from ivr.core.session import CallSession
from ivr.core.urls import PATHS, Urls
from ivr.voice import attendant, twiml
from ivr.voice.attendant import Turn
from ivr.voice.routes import routes
from tests.conftest import OPEN_TIME, SAMPLE_CONFIG

BASE = "https://ivr.example.com"
ODD_QUEUES = ["a&b=c", "billing?x=1#top", "ภาษาไทย", "sales team+1", "100%", "a=b&c"]


def served_by(url: str) -> tuple[str, dict[str, str]]:
    """The name of the route that serves `url`, and its query as Twilio would send it back."""
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}" == BASE
    scope: Scope = {"type": "http", "path": parts.path, "method": "POST"}
    names = [r.name for r in routes if isinstance(r, Route) and r.matches(scope)[0] == Match.FULL]
    assert len(names) == 1, f"{parts.path} is served by {names}"
    query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
    return names[0], query


def test_every_named_path_has_exactly_one_route() -> None:
    """The route table serves every path the URL builder knows, and nothing else."""
    assert sorted(r.name for r in routes if isinstance(r, Route)) == sorted(PATHS)


@pytest.mark.parametrize("queue", ODD_QUEUES)
def test_the_callback_menu_gets_the_queue_name_back_unchanged(queue: str) -> None:
    """A queue named `a&b=c` reaches the callback flow as `a&b=c`, not `a`."""
    url = Urls(BASE).callback("menu", mode="menu", queue=queue)
    assert served_by(url) == ("callback_menu", {"mode": "menu", "queue": queue})


@pytest.mark.parametrize("name", sorted(PATHS))
def test_every_route_round_trips_its_query(name: str) -> None:
    """Each route's URL carries odd values back intact (call ids, queues, steps)."""
    values = {"call": "CA&1=2", "queue": ODD_QUEUES[0], "step": "3"}
    assert served_by(Urls(BASE).to(name, **values)) == (name, values)


def test_a_callback_attempt_url_names_the_callback_and_attempt() -> None:
    """The dial of attempt 2 reports back on the callback and attempt it belongs to."""
    url = Urls(BASE).attempt("status", "cb&x", 2)
    assert served_by(url) == ("callback_status", {"cb": "cb&x", "attempt": "2"})


def test_values_left_out_are_not_sent() -> None:
    """A None value is left out of the query rather than sent as the text 'None'."""
    assert Urls(BASE).to("agent_done", call="CA1", res=None) == f"{BASE}/voice/agent/done?call=CA1"


@pytest.mark.parametrize("queue", ODD_QUEUES)
def test_a_menu_callback_choice_reaches_the_callback_flow_with_its_queue(queue: str) -> None:
    """A menu option `callback: {queue: "a&b=c"}` redirects to the callback menu for that queue."""
    config = load(SAMPLE_CONFIG)
    call = CallSession("CA1", "+60123456789", "+60312345678", 0.0, config.version, "en")
    turn = Turn(config, call, OPEN_TIME, Urls(BASE), VoiceResponse())
    attendant.hand_off(turn, Action.model_validate({"callback": {"queue": queue}}))
    found = re.search(r"<Redirect[^>]*>([^<]+)</Redirect>", twiml.render(turn.response))
    assert found is not None
    url = found.group(1).replace("&amp;", "&")
    assert served_by(url) == ("callback_menu", {"mode": "menu", "queue": queue})
