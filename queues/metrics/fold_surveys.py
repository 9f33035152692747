"""How a CES survey reply changes the rollups and the contact record.

Replies come from `Keys.survey_responses()` with `call`, `agent`, `queue`,
`language`, `score` (CES 2.0, 1–7) and `ts` (ms; else the entry id's time).
A reply is scored in the rollups of the contact it answers, at the time the
contact was handled, so CES and its response rate line up with the calls they
rate. A late reply (`kind` late, as the survey module answered it; else one after
the response window from its `sent_ms`, `SurveysConfig.is_late`) is counted in
`ces_late` and not scored; a second reply for the same call is ignored.
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


def is_late(batch: Batch, fields: dict[str, str], at_ms: int) -> bool:
    """Late as the survey module judged the reply (`kind`), else by the one response window
    from the survey's send (`sent_ms`); a reply with neither is on time."""
    if fields.get("kind"):
        return fields["kind"] == "late"
    sent_ms = int(fields.get("sent_ms") or 0)
    return bool(sent_ms) and batch.config.surveys.is_late(sent_ms / 1000, at_ms / 1000)


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
    if is_late(batch, fields, at):
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
