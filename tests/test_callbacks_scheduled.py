"""Scheduled callbacks from the menu, SMS cancellation, and callbacks surviving a store restart."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import redis

from callbacks import callback as callbacks
from callbacks import dial, sms
from ivr.config.reload import ConfigRegistry
from ivr.core.clock import ManualClock
from ivr.core.settings import Settings
from ivr.core.store import EmbeddedStore, async_client
from ivr.devtools.emulator import Emulator
from ivr.devtools.emulator.calls import Call
from ivr.devtools.liveserver import LiveServer
from ivr.handlers import build_services
from ivr.service import Services
from tests.agents import go_available, services_of
from tests.callbacks_helpers import JobRunner, edit_yaml, menu_callback_config
from tests.conftest import BUSINESS, OPEN_TIME
from tests.test_callbacks_e2e import busy_alice
from tests.test_connect_e2e import billing_caller, events

CUSTOMER = "+60176543210"


@pytest.fixture(name="config_dir")
def fixture_config_dir(tmp_path: Path) -> Path:
    """Callbacks configured, and "press 5 to be called back" in the main menu; the evening
    slot's English label tells its time."""
    target = menu_callback_config(tmp_path / "config")

    def evening_at(data: dict[str, Any]) -> None:
        data["callbacks"]["slots"][1]["label"]["en"] = "For this evening at {time}, press 2."

    edit_yaml(target / "callbacks.yaml", evening_at)
    return target


def schedule_evening(
    tw: Emulator, number: str = CUSTOMER, language_key: str = "1", slot: str = "2"
) -> Call:
    call = tw.dial(from_=number, to=BUSINESS)
    call.press(language_key)
    call.wait(25)
    call.press("5")
    call.press("1")
    call.press(slot)
    tw.advance(30)
    return call


@pytest.mark.parametrize(
    ("language_key", "spoken"),
    [
        pytest.param("1", "at about Tuesday 09:00", id="en"),
        pytest.param("2", "kira-kira pukul 09:00 hari Selasa", id="ms"),
        pytest.param("3", "ประมาณ วันอังคาร เวลา 09:00", id="th"),
    ],
)
def test_tomorrows_callback_is_confirmed_with_the_weekday_in_the_callers_language(
    tw: Emulator, language_key: str, spoken: str
) -> None:
    """ "Tomorrow morning" is confirmed, aloud and by SMS, with the weekday in the caller's
    language ("kira-kira pukul 09:00 hari Selasa", not "Tue 09:00")."""
    call = schedule_evening(tw, language_key=language_key, slot="3")
    assert any(spoken in u.text for u in call.heard), call.transcript()
    assert spoken in tw.sms_to(CUSTOMER)[-1].body
    assert not any("Tue" in u.text for u in call.heard if language_key != "1")


@pytest.mark.parametrize(
    ("language_key", "told"),
    [
        pytest.param("1", "at about 17:00 Thailand time", id="en"),
        pytest.param("3", "ประมาณ 17:00 ตามเวลาประเทศไทย", id="th"),
    ],
)
def test_a_customer_in_thailand_is_told_thai_time(
    tw: Emulator, language_key: str, told: str
) -> None:
    """A Thai mobile booking "this evening" (18:00 in Kuala Lumpur) hears and reads 17:00,
    Thailand time: their own clock, with the zone named; a second request hears it too."""
    thai = "+66811111111"
    call = schedule_evening(tw, number=thai, language_key=language_key)
    assert any(told in u.text for u in call.heard), call.transcript()
    assert told in tw.sms_to(thai)[-1].body
    again = schedule_evening(tw, number=thai, language_key=language_key)
    assert any(told in u.text for u in again.heard), again.transcript()


def test_a_slot_label_tells_its_time_on_the_customers_clock(tw: Emulator) -> None:
    """`{time}` in a slot's label is said on the customer's clock: "this evening at 17:00
    Thailand time" to a Thai mobile."""
    call = tw.dial(from_="+66811111111", to=BUSINESS)
    call.press("1")
    call.wait(25)
    call.press("5")
    call.press("1")
    call.hears("For this evening at 17:00 Thailand time, press 2.")
    call.press("2")
    call.hears("at about 17:00 Thailand time")


def test_a_scheduled_callback_joins_the_queue_at_its_slot(
    tw: Emulator, server: LiveServer, clock: ManualClock, jobs: JobRunner
) -> None:
    """The caller picks "this evening"; at 18:00 the callback joins billing and is offered."""
    call = schedule_evening(tw)
    assert any("at about 18:00" in u.text for u in call.heard), call.transcript()
    assert "18:00" in tw.sms_to(CUSTOMER)[-1].body
    svc = services_of(server)
    (pending,) = svc.run(callbacks.pending(svc))
    assert pending.state == "scheduled" and pending.kind == "scheduled"
    go_available(server, "alice")
    clock.set(OPEN_TIME.replace(hour=17, minute=59))
    assert jobs.run_due() == []
    clock.set(OPEN_TIME.replace(hour=18, minute=0, second=1))
    assert len(jobs.run_due()) == 1
    tw.advance(1)
    assert tw.device("client:alice").ringing is not None
    leg = tw.device("client:alice").answer()
    leg.hears("Callback for Billing")


@pytest.mark.parametrize(
    ("language_key", "word", "reply"),
    [
        pytest.param("1", "CANCEL", "has been cancelled", id="en"),
        pytest.param(
            "2",
            "BATAL",
            "telah dibatalkan",
            id="ms",
        ),
        pytest.param(
            "3",
            "ยกเลิก",
            "ยกเลิกการโทรกลับ",
            id="th",
        ),
    ],
)
def test_cancel_by_sms_in_three_languages(
    tw: Emulator, server: LiveServer, language_key: str, word: str, reply: str
) -> None:
    """The cancel word of the caller's language cancels, with a reply in that language."""
    schedule_evening(tw, language_key=language_key)
    svc = services_of(server)
    assert len(svc.run(callbacks.pending(svc))) == 1
    (answer,) = tw.send_sms(CUSTOMER, BUSINESS, word)
    assert reply in answer.body
    assert svc.run(callbacks.pending(svc)) == []


@pytest.mark.parametrize(
    ("language_key", "body", "reply"),
    [
        pytest.param("1", "Please cancel.", "has been cancelled", id="en"),
        pytest.param("2", "Tolong batal", "telah dibatalkan", id="ms"),
        pytest.param("3", "กรุณายกเลิกค่ะ", "ยกเลิกการโทรกลับ", id="th"),
    ],
)
def test_please_cancel_cancels_the_callback(
    tw: Emulator, server: LiveServer, language_key: str, body: str, reply: str
) -> None:
    """ "Please cancel" (in any of the three languages, any case or punctuation) cancels the
    pending callback as the bare cancel word does, with the confirmation."""
    schedule_evening(tw, language_key=language_key)
    svc = services_of(server)
    (answer,) = tw.send_sms(CUSTOMER, BUSINESS, body)
    assert reply in answer.body
    assert svc.run(callbacks.pending(svc)) == []


@pytest.mark.parametrize(
    ("language", "reply"),
    [
        pytest.param("en", "has been cancelled", id="en"),
        pytest.param("ms", "telah dibatalkan", id="ms"),
        pytest.param("th", "ยกเลิกการโทรกลับ", id="th"),
    ],
)
def test_the_cancel_handler_answers_in_the_callers_language(
    server: LiveServer, language: str, reply: str
) -> None:
    """The registered CANCEL handler cancels and confirms in the callback's language."""
    from callbacks.cancel import cancel_by_sms

    svc = services_of(server)
    cb = callbacks.Callback(
        id=callbacks.new_id(), number=CUSTOMER, queue="billing", language=language, due=1.0
    )
    assert svc.run(callbacks.create(svc, cb)).status == "created"
    answer = svc.run(cancel_by_sms(svc, CUSTOMER))
    assert answer is not None and reply in answer
    assert svc.run(cancel_by_sms(svc, CUSTOMER)) is None, "nothing left: the SMS module answers"


def test_cancel_words_are_configured_per_language(server: LiveServer) -> None:
    """CANCEL, BATAL and ยกเลิก are all cancel words in the sample config."""
    config = services_of(server).registry.current
    words = ("cancel", "BATAL", "ยกเลิก", " Cancel. ")
    assert all(sms.keyword_of(config, w) == "cancel" for w in words)
    assert sms.keyword_of(config, "stop") == "stop"


def test_pending_callbacks_survive_a_store_restart(tmp_path: Path, config_dir: Path) -> None:
    """A scheduled callback, its job and its de-duplication survive an AOF restart of the store."""
    clock = ManualClock(OPEN_TIME)
    data = tmp_path / "store"

    async def services(url: str) -> Services:
        settings = Settings(redis_url=url, config_dir=config_dir, data_dir=tmp_path)
        return build_services(settings, clock, async_client(url), ConfigRegistry(config_dir))

    async def before(url: str) -> str:
        svc = await services(url)
        cb = callbacks.Callback(
            id=callbacks.new_id(), number=CUSTOMER, queue="billing", due=clock.now() + 60
        )
        await callbacks.create(svc, cb)
        await dial.schedule(svc, cb, "activate", cb.due)
        await svc.redis.aclose()
        return cb.id

    async def after(url: str, cb_id: str) -> None:
        svc = await services(url)
        await svc.sync_routing()
        (pending,) = await callbacks.pending(svc)
        assert pending.id == cb_id and pending.state == "scheduled"
        assert await svc.redis.zscore(svc.keys.jobs_due(), f"cb-{cb_id}-activate") is not None
        again = callbacks.Callback(id=callbacks.new_id(), number=CUSTOMER, queue="billing")
        assert (await callbacks.create(svc, again)).status == "exists"
        assert await dial.activate(svc, cb_id) == "queued"
        assert await dial.activate(svc, cb_id) == "queued"
        assert await svc.router.has_call(cb_id)
        await svc.redis.aclose()

    store = EmbeddedStore(data)
    cb_id = asyncio.run(before(store.start()))
    store.stop()
    store = EmbeddedStore(data)
    try:
        asyncio.run(after(store.start(), cb_id))
    finally:
        store.stop()


def test_a_within_the_hour_callback_never_overtakes_a_caller_already_holding(
    tw: Emulator, server: LiveServer, r: redis.Redis, jobs: JobRunner
) -> None:
    """A caller holding in billing before another presses 5 then 1 ("within the hour") is
    served first: the callback's place in line is the time it was asked for, at the priority
    a caller who stayed on the line would have had."""
    first = busy_alice(tw, server)
    holding = billing_caller(tw, "+60122222222")
    tw.advance(5)
    asker = schedule_evening(tw, slot="1")
    assert asker.ended, asker.transcript()
    assert len(jobs.run_due()) == 1, "within the hour: the callback joins billing at once"
    svc = services_of(server)
    (cb,) = svc.run(callbacks.pending(svc))
    assert cb.state == "queued"
    first.hangup()
    tw.advance(17)
    leg = tw.device("client:alice").answer()
    assert not any("Callback for" in u.text for u in leg.heard), leg.transcript()
    leg.press("1")
    holding.hears("Connecting you now")
    (served,) = [e for e in events(r, "CONNECT") if e["call"] != first.sid]
    assert served["call"] == holding.sid
