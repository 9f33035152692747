"""Post-call CES surveys: one SMS after an agent-handled call, its replies, and follow-up.

A survey is a Redis hash per call (`Keys.survey`) whose `state` moves, always
by compare-and-set in Lua, along

    scheduled -> sending -> sent -> reprompted -> closed
                                \\-> followup ---/
    (or skipped / failed / unknown: never sent, refused, or lost in a crash)

`consume` reads the routing events (consumer group `surveys`): CONNECT (and a
callback's CALLBACKCONNECT) notes the first response time; COMPLETEAGENT/COMPLETECALLER
creates the survey (once per contact, honouring opt-outs and the per-number cap) and
schedules its job. A handled callback is surveyed as the contact it returned: keyed by
the original call, sent to the callback number, in the callback's language. `send_job`
(a job, `callbacks.jobs`) sends it once. `reply` scores what the customer texts back.
See docs/surveys.md.
"""

from __future__ import annotations

import json
import os
import re
import socket
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import redis.asyncio as aioredis
from redis.exceptions import ResponseError
from twilio.base.exceptions import TwilioRestException

from callbacks import jobs
from callbacks.callback import Callback, is_callback
from callbacks.callback import get as get_callback
from callbacks.context import Context
from ivr.config.model import Config
from ivr.config.surveys import CES_SCALE, TextKind
from ivr.core import logs, lua, numbers, sentinel
from ivr.core.keys import Keys
from ivr.core.urls import Urls, workspace_path
from queues.events import Event, EventType
from queues.metrics import sms_costs

log = logs.get(__name__)

GROUP = "surveys"
"""The consumer group on the events stream."""
READ_BATCH = 200
CLAIM_IDLE_MS = 60_000
"""Events a dead consumer read but never acknowledged are taken over after this long."""
CLAIM_EVERY_S = 30.0
"""How often (at most) a consumer looks for them."""
STALE_EVENT_S = 86400
"""Completions older than this (a replayed backlog) are not surveyed."""
SURVEY_TTL_S = 60 * 86400
LATE_GRACE_S = 7 * 86400
"""After the response window, replies are still recognised (as late) this long."""
SENDING_LEASE_S = 300
"""A survey left `sending` this long by a crashed job is not sent again: it may be out."""
MAX_TEXT_CHARS = 500
"""Stored reply text is cut to this length."""
ALERTS_MAXLEN = 10_000
OPTED_OUT = 21610
COMPLETED = frozenset({EventType.COMPLETEAGENT, EventType.COMPLETECALLER})

CREATE_LUA = lua.read("callbacks", "survey_create")
MOVE_LUA = lua.read("callbacks", "survey_move")
SENT_LUA = lua.read("callbacks", "survey_sent")


# -- numbers, time -------------------------------------------------------------------


def zone_of(number: str, fallback: str, at: float) -> ZoneInfo:
    """The number's timezone (`numbers.time_zone`: its zones agree at `at`), else `fallback`'s."""
    return numbers.time_zone(number, at) or ZoneInfo(fallback)


def send_time(config: Config, number: str, at: float) -> float:
    """`at`, or the end of the customer's quiet hours when `at` falls inside them."""
    quiet = config.surveys.quiet_hours
    if quiet is None:
        return at
    local = datetime.fromtimestamp(at, zone_of(number, config.company.timezone, at))
    if not quiet.contains(local.time()):
        return at
    end = local.replace(hour=quiet.end.hour, minute=quiet.end.minute, second=0, microsecond=0)
    if end <= local:
        end += timedelta(days=1)  # wall-clock arithmetic: 09:00 local, even across DST
    return end.timestamp()


def language_of(config: Config, language: str) -> str:
    return language if language in config.languages.available else config.languages.default


def text(config: Config, kind: TextKind, language: str) -> str:
    """One survey text in `language`, with the company name filled in."""
    default = config.languages.default
    return config.surveys.text(kind, language, default, config.company.name)


# -- the trigger: routing events -------------------------------------------------------


async def consume(svc: Context) -> int:
    """Read new routing events (and ones a dead consumer left) and act on them; how many."""
    consumer = f"{socket.gethostname()}-{os.getpid()}"
    entries = await _read_new(svc, consumer)
    if svc.clock.now() - _last_claim.get(consumer, 0.0) >= CLAIM_EVERY_S:
        _last_claim[consumer] = svc.clock.now()
        entries = await _claim_stale(svc, consumer) + entries
    for eid, fields in entries:
        try:
            await on_event(svc, fields)
        except Exception:  # left pending: another pass takes it over after CLAIM_IDLE_MS
            log.exception("survey trigger failed", event_id=eid)
            continue
        await svc.redis.xack(svc.keys.events(), GROUP, eid)
    return len(entries)


Entries = list[tuple[str, dict[str, str]]]
_last_claim: dict[str, float] = {}
"""Consumer name -> when it last looked for events a dead consumer left (service clock)."""


async def _read_new(svc: Context, consumer: str) -> Entries:
    streams: dict[Any, Any] = {svc.keys.events(): ">"}
    try:
        found: Any = await svc.redis.xreadgroup(GROUP, consumer, streams, count=READ_BATCH)
    except ResponseError as exc:
        if "NOGROUP" not in str(exc):
            raise
        await _create_group(svc)
        found = await svc.redis.xreadgroup(GROUP, consumer, streams, count=READ_BATCH)
    return [entry for _stream, entries in found or [] for entry in entries]


async def _create_group(svc: Context) -> None:
    # From the start of the stream: events written before the first read still count;
    # STALE_EVENT_S keeps an old backlog from being surveyed.
    try:
        await svc.redis.xgroup_create(svc.keys.events(), GROUP, id="0", mkstream=True)
    except ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


async def _claim_stale(svc: Context, consumer: str) -> Entries:
    try:
        result = await svc.redis.xautoclaim(
            svc.keys.events(), GROUP, consumer, CLAIM_IDLE_MS, count=READ_BATCH
        )
    except ResponseError:  # no group yet: nothing is pending
        return []
    return [(eid, fields) for eid, fields in result[1] if fields]


async def on_event(svc: Context, fields: dict[str, str]) -> None:
    """Note a CONNECT's first response time; create the survey of a completed call."""
    kind = fields.get("type", "")
    if kind == EventType.CONNECT:
        await _note_connect(svc, fields.get("call", ""), fields.get("original_wait_ms", ""))
    elif kind == EventType.CALLBACKCONNECT:  # `call` is the original call; FRT from its arrival
        await _note_connect(svc, fields.get("call", ""), fields.get("frt_ms", ""))
    elif kind in COMPLETED:
        event = Event(id="", type=EventType(kind), ts_ms=int(fields["ts"]), fields=fields)
        await on_complete(svc, event)


async def _note_connect(svc: Context, call: str, frt_ms: str) -> None:
    key = svc.keys.survey_connect(call)
    await svc.redis.set(key, json.dumps({"frt_ms": frt_ms}), ex=svc.settings.session_ttl_s)


@dataclass(frozen=True)
class Surveyed:
    """What a survey is about: the contact's call (a callback: the original call it
    returned), the number to text, the number the customer called, their language and the
    contact's arrival (Unix seconds)."""

    call: str
    number: str
    called: str
    language: str
    started_at: float


async def surveyed(svc: Context, call: str) -> Surveyed | str:
    """The contact a completed routing entry's survey is about, or why there is none.

    A callback's entry (`CB…`, agent-first) or the customer's leg (customer-first)
    is the callback's: a survey only once the customer was reached (`connected`)."""
    cb = await _callback_of(svc, call)
    if cb is not None:
        if cb.state != "connected":
            return "not_reached"
        started = cb.started_ms / 1000
        return Surveyed(cb.call or cb.id, cb.number, cb.called, cb.language, started)
    session = await svc.calls.get(call)
    if session is None:
        return "no_session"
    language, started = session.language, session.started_at
    return Surveyed(session.sid, session.caller, session.called, language, started)


async def _callback_of(svc: Context, call: str) -> Callback | None:
    cb_id = call if is_callback(call) else await svc.redis.get(svc.keys.callback_leg(call))
    return await get_callback(svc, str(cb_id)) if cb_id else None


async def on_complete(svc: Context, event: Event) -> str:
    """Create and schedule the survey of a call an agent handled; what became of it."""
    config, now = svc.registry.current, svc.clock.now()
    surveys = config.surveys
    talk_ms = int(event.get("talk_ms", "0") or 0)
    if not surveys.enabled or now - event.ts_ms / 1000 > STALE_EVENT_S:
        return "off"
    if talk_ms < surveys.min_talk_s * 1000:
        return await _skip(svc, "short")
    contact = await surveyed(svc, event.get("call"))
    if isinstance(contact, str):
        return await _skip(svc, contact)
    if not numbers.is_mobile(contact.number):
        return await _skip(svc, "not_mobile")
    connect = json.loads(await svc.redis.get(svc.keys.survey_connect(contact.call)) or "{}")
    connected_s = (event.ts_ms - talk_ms) / 1000
    frt_ms = connect.get("frt_ms") or str(max(0, int((connected_s - contact.started_at) * 1000)))
    fields = {
        "call": contact.call,
        "number": contact.number,
        "sender": surveys.sender or contact.called,
        "language": language_of(config, contact.language),
        "agent": event.get("agent"),
        "queue": event.get("queue"),
        "frt_ms": frt_ms,
        "talk_ms": str(talk_ms),
    }
    return await create(svc, fields, send_time(config, contact.number, now + surveys.delay_s))


async def _skip(svc: Context, reason: str) -> str:
    await svc.redis.hincrby(svc.keys.survey_stats(), f"skipped:{reason}", 1)
    return reason


async def create(svc: Context, fields: dict[str, str], at: float) -> str:
    """Create the survey (once per call) and schedule its job; the survey's state."""
    keys, surveys = svc.keys, svc.registry.current.surveys
    script = svc.redis.register_script(CREATE_LUA)
    number, call = fields["number"], fields["call"]
    pairs = [part for item in {**fields, "due": repr(at)}.items() for part in item]
    args = [number, str(surveys.cap_days * 86400), str(SURVEY_TTL_S), *pairs]
    state = str(await script(keys=_create_keys(keys, call, number), args=args))
    if state == "scheduled":  # also after a crash between create and schedule: schedule is NX
        if await jobs.schedule(svc.redis, keys, job_id(call), "survey", {"call": call}, at):
            await svc.redis.hincrby(keys.survey_stats(), "scheduled", 1)
    elif state in ("opted_out", "capped"):
        await _skip(svc, state)
    return state


def _create_keys(keys: Keys, call: str, number: str) -> list[str]:
    return [keys.survey(call), keys.survey_cap(number), keys.survey_optouts()]


def job_id(call: str) -> str:
    return f"survey-{call}"


# -- sending (the job) -------------------------------------------------------------------


def send_job(ctx: jobs.JobContext, job: str, payload: dict[str, Any]) -> None:
    """The job entry point: `send` on the job's own async client."""
    jobs.run_async(ctx, lambda redis: send(ctx, redis, job, payload["call"]))


async def send(ctx: jobs.JobContext, redis: aioredis.Redis, job: str, call: str) -> None:
    """Send the survey of `call` once, whatever retries and duplicates run."""
    keys, now = ctx.keys, ctx.clock.now()
    survey: dict[str, str] = await redis.hgetall(keys.survey(call))  # type: ignore[assignment]
    if survey.get("state") == "sending":
        await _after_crash(redis, keys, call, survey, now)
        return
    config = ctx.config()
    at = send_time(config, survey.get("number", ""), now)
    if survey.get("state") == "scheduled" and at > now:
        await jobs.defer(redis, keys, job, at)  # came due inside quiet hours (a late worker)
        return
    if await move(redis, keys, call, "scheduled", "sending", claimed_at=repr(now)) is None:
        return  # sent, skipped or closed already: a duplicate or retried job
    if await redis.sismember(keys.survey_optouts(), survey["number"]):
        await move(redis, keys, call, "sending", "skipped", reason="opted_out")
        return
    await _send(ctx, redis, config, survey)


async def _after_crash(
    redis: aioredis.Redis, keys: Keys, call: str, survey: dict[str, str], now: float
) -> None:
    # A job died between claiming and recording the send. The SMS may be out (its status
    # callback then marks it sent); after the lease, give up rather than risk a second one.
    if now - float(survey.get("claimed_at") or 0) >= SENDING_LEASE_S:
        await move(redis, keys, call, "sending", "unknown")
    else:
        raise SendPending(call)


class SendPending(RuntimeError):
    """The survey is being sent by another attempt; the job runner retries this one later."""

    def __init__(self, call: str) -> None:
        self.call = call
        super().__init__(f"survey {call} is being sent by another attempt")

    def __repr__(self) -> str:
        return f"SendPending(call={self.call!r})"


async def _send(
    ctx: jobs.JobContext, redis: aioredis.Redis, config: Config, survey: dict[str, str]
) -> None:
    call = survey["call"]
    body = text(config, "question", survey["language"])
    try:
        # Blocking, on the job's own event loop: nothing else waits on it.
        message = ctx.rest.messages.create(**_message_args(ctx, survey, body))
    except TwilioRestException as exc:
        await _refused(redis, ctx.keys, survey, exc)
        return
    except Exception:
        await move(redis, ctx.keys, call, "sending", "scheduled")  # nothing went out: may retry
        raise
    await mark_sent(redis, ctx.keys, config, survey, str(message.sid), ctx.clock.now())
    await sms_costs.sent(redis, ctx.keys, "survey_question", body)


def _message_args(ctx: jobs.JobContext, survey: dict[str, str], body: str) -> dict[str, str]:
    base = ctx.settings.public_base_url + workspace_path(ctx.settings.workspace)
    args = {
        "to": survey["number"],
        "body": body,
        "status_callback": Urls(base).to("sms_status", survey=survey["call"]),
    }
    sender = survey.get("sender", "")
    args["messaging_service_sid" if sender.startswith("MG") else "from_"] = sender
    return args


async def _refused(
    redis: aioredis.Redis, keys: Keys, survey: dict[str, str], exc: TwilioRestException
) -> None:
    call, code = survey["call"], int(exc.code or 0)
    if code == OPTED_OUT:
        await redis.sadd(keys.survey_optouts(), survey["number"])
    if exc.status is not None and exc.status >= 500 or exc.status == 429:
        await move(redis, keys, call, "sending", "scheduled")
        raise exc  # Twilio's trouble, not the message's: the runner retries
    await move(redis, keys, call, "sending", "failed", reason=f"twilio {code}")
    await redis.hincrby(keys.survey_stats(), f"failed:{code}", 1)


async def mark_sent(
    redis: aioredis.Redis,
    keys: Keys,
    config: Config,
    survey: dict[str, str],
    message_sid: str,
    at: float,
) -> bool:
    """Record the survey as sent, once; False if it was not being sent.

    The job calls this after the send, and the SMS status callback for a
    survey a crashed job left `sending` (it did go out)."""
    pending_ttl = int(config.surveys.response_window_h * 3600 + LATE_GRACE_S)
    script = redis.register_script(SENT_LUA)
    call, number = survey["call"], survey["number"]
    script_keys = [keys.survey(call), keys.survey_pending(number), keys.metrics_survey_sends()]
    sent = bool(await script(script_keys, [call, repr(at), message_sid, str(pending_ttl)]))
    if sent:
        await redis.hincrby(keys.survey_stats(), "sent", 1)
    return sent


async def move(
    redis: aioredis.Redis, keys: Keys, call: str, expect: str, state: str, **fields: str
) -> str | None:
    """Move `call`'s survey from one of `expect` (`a,b`) to `state`: the state it left, or None."""
    script = redis.register_script(MOVE_LUA)
    pairs = [part for item in fields.items() for part in item]
    moved = await script(keys=[keys.survey(call)], args=[expect, state, *pairs])
    return None if moved is None else str(moved)


# -- replies -------------------------------------------------------------------------------

NUMBER_WORDS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
    "seven": 7, "satu": 1, "dua": 2, "tiga": 3, "empat": 4, "lima": 5, "enam": 6, "tujuh": 7,
}  # fmt: skip
"""English and Malay number words (none is a word in the other language)."""
THAI_WORDS = {"หนึ่ง": 1, "สอง": 2, "สาม": 3, "สี่": 4, "ห้า": 5, "หก": 6, "เจ็ด": 7}
THAI_PARTICLES = re.compile(r"คะแนน|ครับ|คับ|ค่ะ|คะ|จ้ะ|จ้า|นะ|ให้")
"""Polite endings and "score"/"give": "ให้หกคะแนนค่ะ" is still six."""
DIGITS = re.compile(r"\d+")
WORDS = re.compile(r"[a-z]+")


def parse_score(body: str) -> int | None:
    """A score 1-7 (`CES_SCALE`) in a reply: one number, digits or a word, amid text; else None."""
    folded = unicodedata.normalize("NFKC", body).casefold()
    found = {int(d) for d in DIGITS.findall(folded)}  # int() reads Thai digits too
    if not found:
        found = {NUMBER_WORDS[w] for w in WORDS.findall(folded) if w in NUMBER_WORDS}
    if not found:
        bare = THAI_PARTICLES.sub("", _letters(folded))
        found = {THAI_WORDS[bare]} if bare in THAI_WORDS else set()
    if len(found) != 1:
        return None
    score = found.pop()
    return score if score in CES_SCALE else None


def _letters(text: str) -> str:
    # Not \W: Thai vowel and tone marks are not "word" characters to `re`.
    return "".join(c for c in text if not c.isspace() and unicodedata.category(c)[0] not in "PS")


async def pending(svc: Context, number: str) -> dict[str, str] | None:
    """The survey awaiting this number's reply, if any."""
    call = await svc.redis.get(svc.keys.survey_pending(number))
    if not call:
        return None
    survey: dict[str, str] = await svc.redis.hgetall(svc.keys.survey(str(call)))  # type: ignore[assignment]
    return survey or None


async def reply(svc: Context, survey: dict[str, str], body: str) -> str | None:
    """Act on a reply to `survey`; the text to answer with, or None."""
    config, now = svc.registry.current, svc.clock.now()
    state = survey.get("state")
    sent_at = float(survey.get("sent_at") or 0)
    if state in ("sent", "reprompted") and config.surveys.is_late(sent_at, now):
        return await _late(svc, config, survey, body)
    if state in ("sent", "reprompted"):
        return await _answer(svc, config, survey, body)
    if state == "followup":
        return await _comment(svc, config, survey, body)
    return None  # closed, or never sent: nothing more to say


async def _late(svc: Context, config: Config, survey: dict[str, str], body: str) -> str | None:
    late = await move(svc.redis, svc.keys, survey["call"], "sent,reprompted", "closed", late="1")
    if late is None:
        return None
    await record(svc, survey, "late", body)
    return text(config, "late", survey["language"])


async def _answer(svc: Context, config: Config, survey: dict[str, str], body: str) -> str | None:
    score, language, call = parse_score(body), survey["language"], survey["call"]
    if score is None:
        return await _unclear(svc, config, survey, body)
    low = score <= config.surveys.low_score
    to = "followup" if low else "closed"
    if await move(svc.redis, svc.keys, call, survey["state"], to, score=str(score)) is None:
        return None
    await svc.redis.hset(svc.keys.survey_scores(), call, str(score))
    await record(svc, survey, "score", body, score)
    await sentinel.confirm(svc, "survey answer")  # on a replica before the thanks
    if low:
        await alert(svc, survey, score, "")
        return text(config, "followup", language)
    return text(config, "thanks", language)


async def _unclear(svc: Context, config: Config, survey: dict[str, str], body: str) -> str | None:
    call, language = survey["call"], survey["language"]
    if survey["state"] == "sent":
        moved = await move(svc.redis, svc.keys, call, "sent", "reprompted")
        return text(config, "reprompt", language) if moved else None
    if await move(svc.redis, svc.keys, call, "reprompted", "closed", unclear="1") is None:
        return None
    await record(svc, survey, "unclear", body)
    return text(config, "thanks", language)


async def _comment(svc: Context, config: Config, survey: dict[str, str], body: str) -> str | None:
    comment, call = clip(body), survey["call"]
    if await move(svc.redis, svc.keys, call, "followup", "closed", comment=comment) is None:
        return None
    await alert(svc, survey, int(survey.get("score") or 0), comment)
    return text(config, "thanks_comment", survey["language"])


def clip(body: str) -> str:
    """Reply text as stored: stripped and cut to MAX_TEXT_CHARS."""
    return body.strip()[:MAX_TEXT_CHARS]


async def record(
    svc: Context, survey: dict[str, str], kind: str, body: str, score: int | None = None
) -> None:
    """Append a response, linked to its call, agent, queue, language and FRT.

    One entry per survey (score, unclear or late): the metrics fold counts each
    entry as the reply to its call, late as `kind` says (`sent_ms`: when it was sent).
    The low-score comment goes to the survey hash and the alerts instead."""
    entry: dict[Any, Any] = {
        "kind": kind,
        "score": "" if score is None else str(score),
        "text": clip(body),
        "ts": str(int(svc.clock.now() * 1000)),
        **{f: survey.get(f, "") for f in ("call", "number", "agent", "queue", "language")},
        "frt_ms": survey.get("frt_ms", ""),
        "sent_ms": str(int(float(survey.get("sent_at") or 0) * 1000) or ""),
    }
    # Not trimmed here: the metrics fold trims it once it has read it (queues/metrics/fold.py).
    await svc.redis.xadd(svc.keys.survey_responses(), entry)


async def alert(svc: Context, survey: dict[str, str], score: int, comment: str) -> None:
    """Tell supervisors about a low score (and, later, the customer's comment)."""
    entry: dict[Any, Any] = {
        "call": survey.get("call", ""),
        "number": survey.get("number", ""),
        "agent": survey.get("agent", ""),
        "queue": survey.get("queue", ""),
        "ces": str(score),
        "comment": comment,
        "ts": str(int(svc.clock.now() * 1000)),
    }
    await svc.redis.xadd(svc.keys.survey_alerts(), entry, maxlen=ALERTS_MAXLEN)
