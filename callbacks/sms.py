"""Inbound SMS and delivery statuses: keywords, opt-outs, survey replies.

`handle_incoming` answers `/sms/incoming` with the text of a reply (or None);
`handle_status` records `/sms/status` callbacks. Neither raises on odd input
(empty bodies, emoji, MMS, unknown numbers, huge texts): a webhook that fails
would make Twilio retry, and the customer deserves a sensible answer or none.

Keywords (the whole message, any case) come first: STOP and its kin opt the
number out of all surveys, START opts it back in, HELP explains. CANCEL is an
opt-out only when no callback is pending: `callbacks.cancel` cancels one and says so.
A cancel word amid polite words only ("Please cancel.", "tolong batal", "กรุณายกเลิกค่ะ")
asks to cancel too, but is never an opt-out: with nothing to cancel it is told so.
"""

from __future__ import annotations

import re
import unicodedata

from callbacks import cancel, surveys
from callbacks.context import Context
from ivr.config import phrases
from ivr.config.model import Config
from ivr.core import logs, numbers
from queues.metrics import sms_costs

log = logs.get(__name__)

STOP_WORDS = frozenset({"stop", "stopall", "unsubscribe", "end", "quit", "cancel"})
START_WORDS = frozenset({"start", "unstop", "yes"})
HELP_WORDS = frozenset({"help", "info"})
STANDARD_WORDS = {
    "cancel": frozenset({"cancel"}),
    "stop": STOP_WORDS,
    "start": START_WORDS,
    "help": HELP_WORDS,
}
"""Keywords that work whatever the language, in the order they are matched."""
POLITE_WORDS = frozenset(
    {
        "please", "pls", "plz", "kindly", "thanks", "thank", "you", "thx", "my", "the",
        "it", "callback", "call", "back", "now",
        "tolong", "sila", "mohon", "terima", "kasih", "panggilan", "balik", "saya", "itu",
    }
)  # fmt: skip
"""English and Malay words that may stand around a cancel word in a request to cancel."""
THAI_POLITE = re.compile(r"กรุณา|ช่วย|ด้วย|หน่อย|การโทรกลับ|โทรกลับ|ครับ|คับ|ค่ะ|คะ|จ้ะ|จ้า|นะ")
"""Thai politeness and "the callback", written without spaces: "กรุณายกเลิกค่ะ" is a cancel.
A negation ("ไม่ต้องยกเลิก") is not in it, so it stays and the message is no request."""
OPT_OUT_TYPES = {"STOP": "stop", "START": "start", "HELP": "help"}
"""Twilio Advanced Opt-Out's `OptOutType`: Twilio has already replied; we only record it."""
INBOUND_TTL_S = 86400
"""How long an inbound message's reply is kept, to answer a retried webhook the same."""
STATUS_TTL_S = 7 * 86400
UNDELIVERED = frozenset({"undelivered", "failed"})
MAX_SENDER_CHARS = 32
"""A `From` that is not a number is cut to this: it names keys (`Keys.survey_pending`)."""


async def handle_incoming(svc: Context, form: dict[str, str]) -> str | None:
    """The reply to an inbound SMS, once per MessageSid (a retried webhook gets the same)."""
    marker = svc.keys.survey_inbound(form.get("MessageSid", "")[:64] or "none")
    if not await svc.redis.set(marker, "\0", nx=True, ex=INBOUND_TTL_S):
        earlier = await svc.redis.get(marker)
        return None if earlier in (None, "\0", "") else str(earlier)
    try:
        sender = numbers.normalise(form.get("From", ""))[:MAX_SENDER_CHARS]
        answer = await respond(svc, sender, form)
    except Exception:  # never a 500 to Twilio: log it and answer nothing
        log.exception("inbound SMS failed", sender=form.get("From", ""))
        answer = None
    await svc.redis.set(marker, answer or "", ex=INBOUND_TTL_S)
    if answer:  # the reply goes out in the webhook's answer: counted once per inbound text
        await sms_costs.sent(svc.redis, svc.keys, "reply", answer)
    return answer


async def respond(svc: Context, number: str, form: dict[str, str]) -> str | None:
    """Keywords first, then a reply to the number's pending survey, if there is one."""
    body = form.get("Body", "")
    opt_out_type = OPT_OUT_TYPES.get(form.get("OptOutType", "").upper())
    if opt_out_type is not None:
        await keyword(svc, number, opt_out_type, None)
        return None
    survey = await surveys.pending(svc, number)
    found = keyword_in(svc.registry.current, body)
    if found is not None:
        return await keyword(svc, number, found[0], survey, found[1])
    asked_in = cancel_request(svc.registry.current, body)
    if asked_in is not None:
        return await cancel_asked(svc, number, survey["language"] if survey else asked_in)
    if survey is None:
        return None  # not someone we asked: no reply, no loop with an auto-responder
    if await svc.redis.sismember(svc.keys.survey_optouts(), number):
        return None  # opted out (STOP): a later reply is neither scored nor answered
    return await surveys.reply(svc, survey, body)


def keyword_of(config: Config, body: str) -> str | None:
    """`cancel`, `stop`, `start` or `help` when the whole message is such a keyword."""
    found = keyword_in(config, body)
    return found[0] if found else None


def keyword_in(config: Config, body: str) -> tuple[str, str | None] | None:
    """The keyword the whole message is, and the language it is a word of (None for a
    standard word such as UNSUBSCRIBE): BATAL is `cancel` in Malay, หยุด `stop` in Thai."""
    word = body.strip().strip(".!").casefold()
    for kind, standard in STANDARD_WORDS.items():
        for code in config.languages.available:
            if word in {w.casefold() for w in phrases.keywords(config, kind, code)}:
                return kind, code
        if word in standard:
            return kind, None
    return None


def cancel_request(config: Config, body: str) -> str | None:
    """The language of the cancel word when the message is one amid polite words only
    ("Please cancel.", "tolong batal", "กรุณายกเลิกค่ะ"), in any case and punctuation."""
    words = [THAI_POLITE.sub("", word) for word in _words(body)]
    rest = {word for word in words if word and word not in POLITE_WORDS}
    if not rest:
        return None
    for code in config.languages.available:
        if rest <= {w.casefold() for w in phrases.keywords(config, "cancel", code)}:
            return code
    return config.languages.default if rest <= STANDARD_WORDS["cancel"] else None


def _words(body: str) -> list[str]:
    folded = unicodedata.normalize("NFKC", body).casefold()
    # Punctuation and symbols split words; Thai vowel and tone marks (category M) stay.
    kept = "".join(" " if unicodedata.category(c)[0] in "PS" else c for c in folded)
    return kept.split()


async def cancel_asked(svc: Context, number: str, language: str) -> str | None:
    """A request to cancel: the callbacks cancelled, or that there was none (not an opt-out;
    nothing at all to a number that opted out)."""
    cancelled = await _cancel(svc, number)
    if cancelled is not None:
        return cancelled
    if await svc.redis.sismember(svc.keys.survey_optouts(), number):
        return None
    config = svc.registry.current
    default, company = config.languages.default, config.company.name
    return config.callbacks.text("sms_unknown", language, default, company=company)


async def keyword(
    svc: Context, number: str, word: str, survey: dict[str, str] | None, said_in: str | None = None
) -> str | None:
    """Opt out, opt in or help; the reply in the customer's language (their survey's, else
    that of the word they texted)."""
    config = svc.registry.current
    language = survey["language"] if survey else said_in or config.languages.default
    if word == "cancel":
        cancelled = await _cancel(svc, number)
        if cancelled is not None:
            return cancelled
    if word in ("stop", "cancel"):
        await opt_out(svc, number)
        return surveys.text(config, "stopped", language)
    if word == "start":
        await svc.redis.srem(svc.keys.survey_optouts(), number)
        return surveys.text(config, "started", language)
    return surveys.text(config, "help", language)


async def _cancel(svc: Context, number: str) -> str | None:
    """The reply when CANCEL cancelled a pending callback; None when there was none."""
    return await cancel.cancel_by_sms(svc, number)


async def opt_out(svc: Context, number: str) -> None:
    """No survey ever goes to `number` again (until it texts START)."""
    await svc.redis.sadd(svc.keys.survey_optouts(), number)


async def handle_status(svc: Context, form: dict[str, str], survey: str | None = None) -> None:
    """Record a message status callback once per MessageSid and status, in any order."""
    sid, status = form.get("MessageSid", "")[:64], form.get("MessageStatus", "")[:32]
    if not sid or not status:
        return
    key = svc.keys.survey_sms_status(sid)
    async with svc.redis.pipeline(transaction=True) as pipe:
        pipe.sadd(key, status)
        pipe.expire(key, STATUS_TTL_S)
        first, _ = await pipe.execute()
    if first and survey:
        await _survey_status(svc, survey[:64], sid, status)


async def _survey_status(svc: Context, call: str, sid: str, status: str) -> None:
    found: dict[str, str] = await svc.redis.hgetall(svc.keys.survey(call))  # type: ignore[assignment]
    if not found:
        return
    if status in ("sent", "delivered") and found.get("state") in ("sending", "unknown"):
        # A survey a crashed job left `sending`, or gave up on after its lease: it went out.
        now, config = svc.clock.now(), svc.registry.current
        await surveys.mark_sent(svc.redis, svc.keys, config, found, sid, now)
    if status in UNDELIVERED:
        if await svc.redis.hsetnx(svc.keys.survey(call), "undelivered", status):
            await svc.redis.hincrby(svc.keys.survey_stats(), "undelivered", 1)
    elif status == "delivered":
        await svc.redis.hset(svc.keys.survey(call), "delivered", "1")
