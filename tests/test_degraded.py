"""Degraded mode: with its store killed, hung or restarting, the service still answers every
webhook with TwiML for its leg, within Twilio's 15 s, and carries on when the store is back.

These tests run their own Valkey (not the session's), so they can kill it.
"""

from __future__ import annotations

import itertools
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis
import yaml

from ivr.app import create_app
from ivr.config.loader import load
from ivr.core.clock import ManualClock
from ivr.core.errors import ConfigError
from ivr.core.keys import Keys
from ivr.core.settings import Settings
from ivr.devtools.emulator import Emulator
from ivr.devtools.emulator import twiml as rules
from ivr.devtools.emulator.webhooks import WEBHOOK_TIMEOUT_S
from ivr.devtools.liveserver import LiveServer
from ivr.voice.fallback import LEGS, ROUND
from tests.agents import go_available, on_break
from tests.conftest import AUTH_TOKEN, BUSINESS, PUBLIC_BASE, SAMPLE_CONFIG, Twilio, wire
from tests.stores import Store
from tests.test_connect_e2e import billing_caller
from tests.test_webhooks import call_form, english_main_menu, press
from tests.test_webhooks_fuzz import context_of
from tests.twiml_helpers import heard, parse, verbs

APOLOGY = "Sorry, we are having technical problems and cannot take your call right now."
HOLD_APOLOGY = "Sorry, we are having technical problems. Please stay on the line."
BACKUP = "+60322345000"
IN_MENU = "CA" + "1" * 32
QUEUED = "CA" + "2" * 32


@pytest.fixture(name="config_dir")
def fixture_config_dir(tmp_path: Path, request: pytest.FixtureRequest) -> Path:
    """A copy of the sample config; with the parameter "backup", callers in degraded mode
    are put through to a backup line (with the built-in apology)."""
    target = tmp_path / "config"
    shutil.copytree(SAMPLE_CONFIG, target)
    if getattr(request, "param", None) == "backup":
        path = target / "business.yaml"
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        doc["fallback"]["dial"] = BACKUP
        del doc["fallback"]["message"]
        path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return target


@pytest.fixture(name="live")
def fixture_live(
    store: Store, config_dir: Path, clock: ManualClock, tmp_path: Path
) -> Iterator[LiveServer]:
    """The real app on a real server, on the store the test can kill."""
    settings = Settings(
        twilio_auth_token=AUTH_TOKEN,
        public_base_url=PUBLIC_BASE,
        redis_url=store.url,
        config_dir=config_dir,
        data_dir=tmp_path / "var",
    )
    with LiveServer(create_app(settings, clock=clock, run_timers=False)) as server:
        yield server


@pytest.fixture(name="phone")
def fixture_phone(live: LiveServer) -> Iterator[Twilio]:
    """Signed webhooks, given up on after Twilio's 15 s, as Twilio does (error 11205)."""
    client = Twilio(live.url)
    client.http.timeout = httpx.Timeout(WEBHOOK_TIMEOUT_S)
    yield client
    client.close()


def every_field(sid: str) -> dict[str, str]:
    """A form with every field any webhook reads, as a realistic Twilio request."""
    return call_form(
        sid,
        Digits="1",
        QueueResult="leave",
        DialCallStatus="completed",
        MessageSid="SM1",
        Body="5",
        RecordingUrl="https://api.twilio.com/rec/RE1",
        RecordingDuration="9",
    )


def test_while_the_store_is_down_every_webhook_answers_twiml_for_its_leg(
    store: Store, phone: Twilio
) -> None:
    """Store killed: callers hear the apology and are let go, a waiting caller keeps their
    place, a bridge goes ahead, an agent is told, someone held in a conference hears music:
    200 and valid TwiML, never a 500."""
    english_main_menu(phone, IN_MENU)
    store.kill()
    for path, leg in sorted(LEGS.items()):
        response = phone.post(
            path + "?step=3&res=R1&call=CA1&cb=CB1&attempt=1", every_field(IN_MENU)
        )
        if leg == "status" and response.status_code == 204:
            continue  # a status this webhook did not need the store for
        assert response.status_code == 200, f"{path}: {response.status_code} {response.text}"
        rules.parse(response.text, context_of(path))
        said = heard(response.text)
        if leg in ("caller", "dequeued"):
            assert said.startswith(APOLOGY) and verbs(response.text)[-1] == "Hangup", path
        elif leg == "waiting":
            assert said == HOLD_APOLOGY and verbs(response.text) == ["Say", "Play", "Redirect"]
        elif leg == "agent":
            assert verbs(response.text) == ["Say", "Hangup"], path
        elif leg == "sms" and path == "/sms/incoming":
            assert "could not take your message" in response.text
        elif leg == "music":  # a conference's hold, wait or announcement: never silence
            assert verbs(response.text), path
        else:
            assert verbs(response.text) == [], f"{path}: {response.text}"


def test_a_waiting_caller_keeps_their_place_for_a_few_rounds_then_leaves(
    store: Store, phone: Twilio
) -> None:
    """On hold, the apology is said once; music keeps the caller's place; after three rounds
    the caller leaves the queue and the Enqueue action lets them go politely."""
    store.kill()
    first = phone.post("/voice/hold", call_form(QUEUED))
    redirect = parse(first.text).find("Redirect")
    assert redirect is not None and redirect.text == f"{PUBLIC_BASE}/voice/hold?{ROUND}=1"
    second = phone.post(f"/voice/hold?{ROUND}=1", call_form(QUEUED))
    assert verbs(second.text) == ["Play", "Redirect"]
    assert verbs(phone.post(f"/voice/hold?{ROUND}=3", call_form(QUEUED)).text) == ["Leave"]
    done = phone.post("/voice/queue/done", call_form(QUEUED, QueueResult="leave"))
    assert heard(done.text).startswith(APOLOGY)


def test_a_hung_store_still_gets_an_answer_within_twilios_timeout(
    store: Store, phone: Twilio
) -> None:
    """A store that accepts connections but never answers (SIGSTOP) costs a caller a few
    seconds of silence, not Twilio's 15 s timeout and its application error."""
    menu = english_main_menu(phone, IN_MENU)
    store.hang()
    try:
        response = phone.post("/voice/menu?step=2", call_form(IN_MENU, Digits="2"))
        assert response.status_code == 200  # httpx gives up after 15 s, as Twilio would
        assert heard(response.text).startswith(APOLOGY)
        incoming = phone.post("/voice/incoming", call_form("CA" + "3" * 32))
        assert heard(incoming.text).startswith(APOLOGY)
    finally:
        store.resume()
    again = press(phone, menu, "0", IN_MENU)
    assert heard(again).startswith("For billing, press 1 or say billing.")


def test_the_service_recovers_when_the_store_comes_back(
    store: Store, phone: Twilio, live: LiveServer
) -> None:
    """Kill and restart the store: calls in progress and routing state are still there, and
    the webhooks answer as before, with no restart of the web process."""
    on_break(live, "alice")  # logged in: the waiting caller is told their place
    menu = english_main_menu(phone, IN_MENU)
    press(phone, english_main_menu(phone, QUEUED), "2", QUEUED)
    store.kill()
    assert heard(phone.post("/voice/incoming", call_form("CA" + "4" * 32)).text).startswith(APOLOGY)
    assert httpx.get(live.url + "/healthz").status_code == 503
    store.start()
    assert httpx.get(live.url + "/healthz").json()["store"] == "ok"
    assert heard(press(phone, menu, "0", IN_MENU)).startswith("For billing, press 1")
    hold = phone.post(f"/voice/hold?{ROUND}=2", call_form(QUEUED))
    assert "You are next in line." in heard(hold.text)
    with redis.Redis.from_url(store.url) as client:
        assert client.hexists(Keys().routing_calls(), QUEUED)
    fresh = phone.post("/voice/incoming", call_form("CA" + "5" * 32))
    assert "For English, press 1" in heard(fresh.text)


@pytest.mark.parametrize("config_dir", [pytest.param("backup", id="backup-line")], indirect=True)
def test_the_fallback_url_answers_without_the_store(store: Store, phone: Twilio) -> None:
    """/voice/fallback (Twilio's Fallback URL) needs no store: it apologises and puts the
    caller through to the backup line; an unsigned request is still refused."""
    store.kill()
    form = call_form("CA" + "6" * 32, ErrorCode="11205", ErrorUrl=f"{PUBLIC_BASE}/voice/incoming")
    response = phone.post("/voice/fallback", form)
    assert response.status_code == 200
    assert "Please hold while we put you through." in heard(response.text)
    dial = parse(response.text).find("Dial")
    assert dial is not None and dial.text == BACKUP
    assert phone.post("/voice/fallback", form, sign=False).status_code == 403


@pytest.mark.parametrize("config_dir", [pytest.param("backup", id="backup-line")], indirect=True)
def test_through_a_store_restart_no_caller_is_stranded(
    store: Store, live: LiveServer, clock: ManualClock
) -> None:
    """Through the emulator: while the store is down, a waiting caller hears the apology and
    keeps their place, and a new caller is put through to the backup line. When the store
    is back, the waiting caller is answered by the next free agent."""
    with Emulator(live.url, public_base_url=PUBLIC_BASE, auth_token=AUTH_TOKEN, clock=clock) as tw:
        tw.add_number(BUSINESS, voice_url="/voice/incoming", voice_status_callback="/voice/status")
        wire(tw, live)
        on_break(live, "alice")  # logged in: the waiting caller is told their place
        waiting = billing_caller(tw)
        waiting.hears("You are next in line.")
        store.kill()
        waiting.hears(HOLD_APOLOGY, within=600)
        tw.device(BACKUP).auto = "answer"
        newcomer = tw.dial(from_="+60111111111", to=BUSINESS)
        newcomer.hears("Please hold while we put you through.")
        backup = tw.device(BACKUP)
        assert tw.advance_until(lambda: backup.call is not None, 30), newcomer.transcript()
        store.start()
        assert not waiting.ended and waiting.queue is not None
        go_available(live, "alice")
        tw.advance(1)
        tw.device("client:alice").answer().press("1")
        waiting.hears("Connecting you now")
        tw.assert_no_errors()


def test_a_known_caller_hears_the_apology_in_their_language(store: Store, phone: Twilio) -> None:
    """Without the store, a caller the config knows (Aisyah, Malay) hears the Malay apology."""
    store.kill()
    response = phone.post("/voice/incoming", call_form(caller="+60123456789"))
    assert heard(response.text).startswith("Maaf, kami menghadapi masalah teknikal")
    say = parse(response.text).find("Say")
    assert say is not None and say.attrib["language"] == "ms-MY"


@pytest.mark.parametrize("number", ["12345", "+60312345678x", "+99912345678"])
def test_a_backup_number_that_is_not_a_phone_number_is_a_config_error(
    config_dir: Path, number: str
) -> None:
    """`fallback.dial` must be a valid E.164 number: `ivr check` names the file and line."""
    path = config_dir / "business.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace('  # dial: "+60322345000"', f'  dial: "{number}"'), "utf-8")
    with pytest.raises(ConfigError) as caught:
        load(config_dir)
    (problem,) = caught.value.problems
    assert problem.file.endswith("business.yaml") and "fallback.dial" in problem.message
    assert problem.line == text[: text.index("# dial:")].count("\n") + 1


def test_webhooks_that_arrive_during_a_store_restart_get_no_500(
    store: Store, phone: Twilio
) -> None:
    """Issue 13's repro: webhooks keep arriving while the store restarts, and every one is
    answered with TwiML (degraded while it is down, normal before and after)."""
    press(phone, english_main_menu(phone, QUEUED), "2", QUEUED)
    answers: list[httpx.Response] = []
    stop = threading.Event()

    def traffic() -> None:
        for n in itertools.count():
            if stop.is_set():
                return
            answers.append(phone.post("/voice/incoming", call_form(f"CA{n:032d}")))
            answers.append(phone.post("/voice/hold", call_form(QUEUED)))

    thread = threading.Thread(target=traffic)
    thread.start()
    try:
        time.sleep(0.3)
        store.stop()
        time.sleep(0.5)
        store.start()
        time.sleep(0.3)
    finally:
        stop.set()
        thread.join()
    assert [a.status_code for a in answers if a.status_code != 200] == []
    said = [heard(a.text) for a in answers]
    assert any(s.startswith(APOLOGY) for s in said), "some arrived while the store was down"
    assert "For English, press 1" in said[-2], "answered normally once it is back"
