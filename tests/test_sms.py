"""Inbound SMS and status callbacks: keywords, odd input, duplicates; never a 500."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

from callbacks import cancel, sms
from ivr.config.loader import load
from ivr.config.model import Config
from ivr.core.clock import ManualClock
from ivr.core.keys import Keys
from ivr.service import Services
from tests.conftest import BUSINESS, PUBLIC_BASE, Twilio

KEYS = Keys()
NUMBER = "+60199999999"
CALL = "CA" + "1" * 32


@pytest.fixture(name="config", scope="module")
def fixture_config() -> Config:
    """The sample config."""
    return load(Path(__file__).resolve().parent.parent / "config")


@pytest.mark.parametrize(
    ("body", "word"),
    [
        pytest.param("STOP", "stop", id="stop"),
        pytest.param(" unsubscribe ", "stop", id="unsubscribe"),
        pytest.param("Quit", "stop", id="quit"),
        pytest.param("end.", "stop", id="end"),
        pytest.param("CANCEL", "cancel", id="cancel"),
        pytest.param("berhenti", "stop", id="ms-stop"),
        pytest.param("หยุด", "stop", id="th-stop"),
        pytest.param("START", "start", id="start"),
        pytest.param("mula", "start", id="ms-start"),
        pytest.param("HELP", "help", id="help"),
        pytest.param("bantuan", "help", id="ms-help"),
        pytest.param("please stop calling", None, id="stop-inside-a-sentence"),
        pytest.param("5", None, id="score"),
    ],
)
def test_keywords(config: Config, body: str, word: str | None) -> None:
    """A whole-message keyword, in any case and in the configured languages."""
    assert sms.keyword_of(config, body) == word


@pytest.mark.parametrize(
    ("body", "language"),
    [
        pytest.param("please cancel", "en", id="please-cancel"),
        pytest.param("Please cancel.", "en", id="capital-and-full-stop"),
        pytest.param("PLEASE CANCEL!!", "en", id="shouted"),
        pytest.param("cancel my callback please", "en", id="my-callback"),
        pytest.param("Pls cancel the call back, thanks", "en", id="call-back-thanks"),
        pytest.param("tolong batal", "ms", id="ms-tolong"),
        pytest.param("Sila batal panggilan balik saya.", "ms", id="ms-sila"),
        pytest.param("กรุณายกเลิกค่ะ", "th", id="th-please"),
        pytest.param("ยกเลิกด้วยครับ", "th", id="th-polite"),
        pytest.param("ยกเลิก การโทรกลับ", "th", id="th-spaced"),
        pytest.param("don't cancel", None, id="negated"),
        pytest.param("ไม่ต้องยกเลิก", None, id="th-negated"),
        pytest.param("please stop calling", None, id="stop-is-not-cancel"),
        pytest.param("please", None, id="no-cancel-word"),
        pytest.param("6 thanks", None, id="a-score"),
        pytest.param("the agent would not cancel my order", None, id="a-comment"),
    ],
)
def test_a_cancel_request_in_a_few_polite_words(
    config: Config, body: str, language: str | None
) -> None:
    """A cancel word with only polite words around it, in any case or punctuation, asks
    to cancel (in the language of the word); a negation or other words do not."""
    assert sms.cancel_request(config, body) == language


def inbound(body: str, sid: str = "SM" + "a" * 32, **extra: str) -> dict[str, str]:
    form = {"MessageSid": sid, "From": NUMBER, "To": BUSINESS, "Body": body, "NumMedia": "0"}
    return form | extra


def reply_of(twilio: Twilio, form: dict[str, str]) -> str:
    response = twilio.post(f"{PUBLIC_BASE}/sms/incoming", form)
    assert response.status_code == 200
    return response.text


@pytest.mark.parametrize(
    ("body", "reply"),
    [
        pytest.param("HELP", "Acme Telco surveys: reply 1-7", id="en-help"),
        pytest.param("bantuan", "Tinjauan Acme Telco: balas 1-7", id="ms-help"),
        pytest.param("BERHENTI", "Anda tidak akan menerima tinjauan lagi", id="ms-stop"),
        pytest.param("หยุด", "คุณจะไม่ได้รับแบบสำรวจจาก Acme Telco อีก", id="th-stop"),
        pytest.param("ช่วยเหลือ", "แบบสำรวจของ Acme Telco", id="th-help"),
        pytest.param("เริ่ม", "คุณจะได้รับแบบสำรวจจาก Acme Telco อีกครั้ง", id="th-start"),
    ],
)
def test_keyword_is_answered_in_the_language_it_is_a_word_of(
    twilio: Twilio, r: redis.Redis, body: str, reply: str
) -> None:
    """With no survey pending, HELP, BERHENTI or หยุด is answered in English, Malay or Thai."""
    assert reply in reply_of(twilio, inbound(body))


def pending_survey(r: redis.Redis, sent_at: float) -> None:
    r.hset(
        KEYS.survey(CALL),
        mapping={
            "state": "sent", "call": CALL, "number": NUMBER, "language": "ms",
            "agent": "alice", "queue": "billing", "frt_ms": "1000", "sent_at": repr(sent_at),
        },
    )  # fmt: skip
    r.set(KEYS.survey_pending(NUMBER), CALL)


@pytest.mark.parametrize(
    "form",
    [
        pytest.param(inbound(""), id="empty"),
        pytest.param(inbound("👍🏽🎉"), id="emoji"),
        pytest.param(inbound("x" * 5000), id="very-long"),
        pytest.param(inbound("", NumMedia="1", MediaUrl0="https://x/y.jpg"), id="mms"),
        pytest.param({"From": NUMBER}, id="no-fields"),
        pytest.param(inbound("5", From="anonymous"), id="odd-sender"),
        pytest.param(inbound("]]><Message>hi</Message>"), id="xml-injection"),
    ],
)
def test_odd_messages_from_unknown_numbers_get_no_reply(
    twilio: Twilio, r: redis.Redis, form: dict[str, str]
) -> None:
    """Without a pending survey, odd input is answered with empty TwiML, not an error."""
    assert reply_of(twilio, form).endswith("<Response />")


@pytest.mark.parametrize(
    "body",
    [
        pytest.param("", id="empty"),
        pytest.param("🙂", id="emoji"),
        pytest.param("y" * 5000, id="very-long"),
    ],
)
def test_odd_replies_to_a_survey_are_reprompted(
    twilio: Twilio, r: redis.Redis, clock: ManualClock, body: str
) -> None:
    """Unclear input to a pending survey gets the re-prompt in the customer's language."""
    pending_survey(r, clock.now())
    assert "sila balas dengan satu nombor" in reply_of(twilio, inbound(body)).lower()
    assert r.hget(KEYS.survey(CALL), "state") == "reprompted"


def test_long_comment_is_stored_truncated_and_escaped(
    twilio: Twilio, r: redis.Redis, clock: ManualClock
) -> None:
    """A low score's comment is cut to the stored length; the reply is well-formed TwiML."""
    pending_survey(r, clock.now())
    reply_of(twilio, inbound("1", sid="SM" + "b" * 32))
    text = reply_of(twilio, inbound("<b>&" + "z" * 2000, sid="SM" + "c" * 32))
    assert "<Message>Terima kasih." in text
    assert len(r.hget(KEYS.survey(CALL), "comment") or "") == 500


def test_retried_inbound_webhook_gets_the_same_reply_once(
    twilio: Twilio, r: redis.Redis, clock: ManualClock
) -> None:
    """The same MessageSid twice: one score, the same reply."""
    pending_survey(r, clock.now())
    first, second = reply_of(twilio, inbound("6")), reply_of(twilio, inbound("6"))
    assert first == second and "Terima kasih" in first
    assert r.xlen(KEYS.survey_responses()) == 1


def test_cancel_is_an_opt_out_unless_a_callback_is_cancelled(
    twilio: Twilio, r: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """CANCEL goes to the callback flow first; with no callback to cancel, it opts out."""

    async def cancel_callback(svc: Services, number: str) -> str | None:
        return "Your callback is cancelled." if number == NUMBER else None

    monkeypatch.setattr(cancel, "cancel_by_sms", cancel_callback)
    assert "Your callback is cancelled." in reply_of(twilio, inbound("cancel"))
    assert not r.sismember(KEYS.survey_optouts(), NUMBER)
    monkeypatch.undo()
    reply_of(twilio, inbound("cancel", sid="SM" + "d" * 32))
    assert r.sismember(KEYS.survey_optouts(), NUMBER)


def test_please_cancel_with_nothing_to_cancel_says_so_and_opts_nobody_out(
    twilio: Twilio, r: redis.Redis
) -> None:
    """ "Please cancel" with no callback pending is answered (there is nothing to cancel),
    in the language of its word, and is not taken as STOP."""
    assert "no callback to cancel" in reply_of(twilio, inbound("Please cancel."))
    assert "tiada panggilan balik" in reply_of(twilio, inbound("tolong batal", sid="SM" + "e" * 32))
    assert not r.sismember(KEYS.survey_optouts(), NUMBER)


def status(twilio: Twilio, message: str, state: str, survey: str = CALL) -> int:
    form = {"MessageSid": message, "MessageStatus": state, "To": NUMBER, "From": BUSINESS}
    return twilio.post(f"{PUBLIC_BASE}/sms/status?survey={survey}", form).status_code


def test_status_callbacks_are_recorded_once_in_any_order(
    twilio: Twilio, r: redis.Redis, clock: ManualClock
) -> None:
    """Duplicated and reordered statuses: undelivered is counted once per message."""
    pending_survey(r, clock.now())
    message = "SM" + "e" * 32
    for state in ("undelivered", "sent", "undelivered", "failed", "sent"):
        assert status(twilio, message, state) == 204
    assert r.hget(KEYS.survey_stats(), "undelivered") == "1"
    assert r.smembers(KEYS.survey_sms_status(message)) == {"undelivered", "sent", "failed"}


def test_status_of_a_survey_a_crashed_job_left_sending_marks_it_sent(
    twilio: Twilio, r: redis.Redis, clock: ManualClock
) -> None:
    """The SMS went out though the job died: its callback records the send."""
    pending_survey(r, clock.now())
    r.hset(KEYS.survey(CALL), "state", "sending")
    r.delete(KEYS.survey_pending(NUMBER))
    assert status(twilio, "SM" + "f" * 32, "sent") == 204
    assert r.hget(KEYS.survey(CALL), "state") == "sent"
    assert r.get(KEYS.survey_pending(NUMBER)) == CALL


@pytest.mark.parametrize(
    "form",
    [
        pytest.param({"AccountSid": "AC1"}, id="no-message"),
        pytest.param({"MessageSid": "SMx"}, id="no-status"),
        pytest.param({"MessageSid": "SMx", "MessageStatus": "delivered"}, id="not-a-survey"),
    ],
)
def test_odd_status_callbacks_are_accepted(
    twilio: Twilio, r: redis.Redis, form: dict[str, str]
) -> None:
    """A status callback we cannot use is acknowledged, not an error."""
    assert twilio.post(f"{PUBLIC_BASE}/sms/status", form).status_code == 204


def test_a_reply_after_stop_is_neither_scored_nor_answered(
    twilio: Twilio, r: redis.Redis, clock: ManualClock
) -> None:
    """STOP, then "5": the number has opted out, so nothing is scored and nothing is sent back
    (issue 15: a thank-you went to a number that had just opted out)."""
    pending_survey(r, clock.now())
    assert "<Message>" in reply_of(twilio, inbound("STOP")), "STOP itself is confirmed"
    assert r.sismember(KEYS.survey_optouts(), NUMBER)
    assert reply_of(twilio, inbound("5", sid="SM" + "f" * 32)).endswith("<Response />")
    assert r.xlen(KEYS.survey_responses()) == 0
    assert r.hget(KEYS.survey(CALL), "state") == "sent"
