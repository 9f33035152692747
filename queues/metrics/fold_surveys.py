"""How a CES survey reply changes the rollups and the contact record.

Replies come from `Keys.survey_responses()` with `call`, `agent`, `queue`,
`language`, `score` (CES 2.0, 1–7) and `ts` (ms; else the entry id's time).
A reply is scored in the rollups of the contact it answers, at the time the
contact was handled, so CES and its response rate line up with the calls they
rate. A reply later than `survey_window_s` after the contact ended is counted
in `ces_late` and not scored; a second reply for the same call is ignored.
"""

from __future__ import annotations

from ivr.config.surveys import CES_SCALE
from queues.metrics.batch import Batch, scopes

CES_TOP = 5
"""CES 2.0 "agree" answers are 5, 6 and 7: the share reported as `ces_top`."""


def reply_ms(entry_id: str, fields: dict[str, str]) -> int:
    if fields.get("ts"):
        return int(float(fields["ts"]))
    return int(entry_id.partition("-")[0])


def parse_score(text: str) -> int | None:
    try:
        score = int(float(text))
    except ValueError:
        return None
    return score if score in CES_SCALE else None


async def handle(batch: Batch, entry_id: str, fields: dict[str, str]) -> None:
    """Fold one survey reply."""
    call = fields.get("call", "")
    c = await batch.contact(call) if call else {}
    at = reply_ms(entry_id, fields)
    if c.get("scopes"):
        where, bucket = c["scopes"].split(","), int(c["handled_ms"])
    else:
        where = scopes(fields.get("queue", ""), fields.get("agent", ""), fields.get("language", ""))
        bucket = at
    if c.get("ces"):
        return
    ended = int(c.get("ended_ms") or 0)
    if ended and at - ended > batch.options.survey_window_s * 1000:
        batch.add(bucket, where, "ces_late")
        return
    score = parse_score(fields.get("score", fields.get("ces", "")))
    if score is None:
        batch.add(bucket, where, "ces_invalid")
        return
    batch.add(bucket, where, "ces_n")
    batch.add(bucket, where, "ces_sum", score)
    batch.add(bucket, where, f"ces:{score}")
    if score >= CES_TOP:
        batch.add(bucket, where, "ces_top")
    if c:
        c["ces"] = str(score)
