"""Agent handles, hold, transfers and consults: how the call controls fold (issue 18).

A *handle* is one agent's part of a contact: from its CONNECT to its COMPLETE. A
transferred call is one contact with two handles (agent 1, then agent 2 after the
same CallSid connects again). These functions keep the handle's state on the contact
record (written by the batch with the rest), so the event handlers in
`queues.metrics.fold_events` stay short:

- `handle_agent`, `handle_queue`, `handle_ms`: the open handle (empty when none);
- `handle_hold_ms`: hold inside the open handle, taken out of its talk time;
- `hold_since`, `hold_agent`, `hold_queue`: the hold in progress (empty when none);
- `hold_ms`, `holds`: the contact's hold so far; `transfers`: its transfers;
- `transfer_pending`: "1" between a TRANSFER to a queue or agent and the next CONNECT
  (routing also marks the call's later events `transfer` 1: either is enough);
- `handle_ended_by`: the agent whose handle a TRANSFER ended (a COMPLETE of theirs after
  it adds nothing);
- `handled_in`: `*` once handled, then the queues in which it counts as handled;
- `last_scopes`: the scopes of the last handle (FCR of a transfer nobody picked up).

Definitions: docs/metrics.md ("Handle time", "Transfers and consults").
"""

from __future__ import annotations

from queues.metrics.batch import Batch, scopes

TRANSFER_KINDS = ("queue", "agent", "number")
"""TRANSFER `kind`s; a queue or agent transfer expects a new CONNECT of the call."""
REQUEUED_KINDS = ("queue", "agent")
TRANSFER_MODES = ("warm", "cold")
CONSULT_OUTCOMES = ("completed", "cancelled")
AGENT_SCOPES = ("a:", "qa:")
"""Scopes of an agent's figures: every handle counts there, not once per contact."""


def ms(fields: dict[str, str], name: str) -> int:
    """A duration or time field in ms (0 when absent or empty)."""
    value = fields.get(name, "")
    return int(float(value)) if value else 0


def transfer_field(kind: str, warm: bool) -> str:
    """The rollup counter of one transfer kind and mode, e.g. `transfers_queue_cold`."""
    return f"transfers_{kind}_{'warm' if warm else 'cold'}"


# -- FCR ----------------------------------------------------------------------
def fail_fcr(batch: Batch, c: dict[str, str]) -> None:
    """Count a handled contact as not resolved on first contact (once)."""
    if c.get("handled_ms") and not c.get("fcr_failed"):
        c["fcr_failed"] = "1"
        batch.add(int(c["handled_ms"]), c["scopes"].split(","), "fcr_failed")


def count_fcr(batch: Batch, c: dict[str, str], where: list[str], ts: int) -> None:
    """The contact's FCR is counted once, at its final handle (`where`, `ts`)."""
    if c.get("handled_ms"):
        return
    c.update(handled_ms=str(ts), scopes=",".join(where))
    batch.add(ts, where, "fcr_contacts")


def deciding(c: dict[str, str], agent: str) -> bool:
    """Whether `agent`'s disposition decides the contact's resolution: only the final
    agent's does (not one given while a transfer is pending, nor a previous agent's)."""
    if c.get("transfer_pending"):
        return False
    return not (agent and c.get("agent") and agent != c["agent"])


# -- hold -----------------------------------------------------------------------
def hold(c: dict[str, str], agent: str, queue: str, ts: int) -> None:
    """A hold starts (a second HOLD while on hold changes nothing)."""
    if not c.get("hold_since"):
        c.update(hold_since=str(ts), hold_agent=agent, hold_queue=queue or c.get("queue", ""))


def close_hold(batch: Batch, c: dict[str, str], ts: int, reported_ms: int = 0) -> None:
    """End the hold in progress at `ts`: its length is the emitter's `hold_ms` when given
    (never more than the time since its HOLD), else the time since its HOLD."""
    if not c.get("hold_since"):
        return
    length = max(0, ts - int(c["hold_since"]))
    if reported_ms > 0:
        length = min(length, reported_ms)
    where = scopes(c.get("hold_queue", ""), c.get("hold_agent", ""), c.get("language", ""))
    batch.observe(ts, where, "hold", length)
    c.update(
        hold_ms=str(ms(c, "hold_ms") + length),
        holds=str(ms(c, "holds") + 1),
        handle_hold_ms=str(ms(c, "handle_hold_ms") + length),
        hold_since="",
        hold_agent="",
        hold_queue="",
    )


# -- handles --------------------------------------------------------------------
def stale(c: dict[str, str], agent: str) -> bool:
    """A COMPLETE (or TRANSFER) of `agent` whose handle already ended: another agent's is
    open (theirs ended at that agent's CONNECT), or their TRANSFER ended it."""
    if not agent:
        return False
    if c.get("handle_agent"):
        return c["handle_agent"] != agent
    return c.get("handle_ended_by") == agent


def requeued(c: dict[str, str], fields: dict[str, str]) -> bool:
    """Whether an event of the call comes between a transfer and the next agent: the
    contact's pending transfer, or routing's `transfer` mark on a queue event."""
    return bool(c.get("transfer_pending")) or fields.get("transfer") == "1"


def open_handle(batch: Batch, c: dict[str, str], agent: str, queue: str, ts: int) -> None:
    """`agent` connects: a previous agent's handle still open ends here (its COMPLETE never
    came); the same agent connecting again goes on with their handle."""
    previous = c.get("handle_agent", "")
    if previous == agent:
        return
    if previous:
        talk = ts - ms(c, "handle_ms")
        end_handle(batch, c, previous, c.get("handle_queue", ""), ts, talk)
    c.update(
        handle_agent=agent,
        handle_queue=queue,
        handle_ms=str(ts),
        handle_hold_ms="0",
        handle_ended_by="",
    )


def drop_handle(batch: Batch, c: dict[str, str], ts: int) -> None:
    """The handle ends without counting (a callback attempt nobody answered)."""
    close_hold(batch, c, ts)
    c.update(handle_agent="", handle_queue="", handle_ms="", handle_hold_ms="0")


def handled_scopes(c: dict[str, str], queue: str, where: list[str]) -> list[str]:
    """Where a handle counts as `handled`: always in its agent's scopes; in the overall and
    language scopes once per contact, and in a queue's once per contact handled there.
    `handled_in` lists `*` (handled at all), then those queues."""
    done = c.get("handled_in", "").split(",")
    out = [s for s in where if s.startswith(AGENT_SCOPES)]
    if "*" not in done:
        out += [s for s in where if s == "all" or s.startswith("l:")]
        done = ["*"]
    if queue and queue not in done:
        out.append(f"q:{queue}")
        done.append(queue)
    c["handled_in"] = ",".join(done)
    return out


def end_handle(
    batch: Batch, c: dict[str, str], agent: str, queue: str, ts: int, elapsed_ms: int
) -> list[str]:
    """Close `agent`'s handle at `ts`: a hold still in progress ends with it; talk is the
    handle's time (`elapsed_ms`, COMPLETE's `talk_ms`) less its hold. Returns its scopes."""
    close_hold(batch, c, ts)
    talk = max(0, elapsed_ms - ms(c, "handle_hold_ms"))
    where = scopes(queue, agent, c.get("language", ""))
    batch.add(ts, where, "talk_ms", talk)
    batch.add(ts, handled_scopes(c, queue, where), "handled")
    c.update(
        talk_ms=str(ms(c, "talk_ms") + talk),
        handle_agent="",
        handle_queue="",
        handle_ms="",
        handle_hold_ms="0",
        last_scopes=",".join(where),
    )
    return where


# -- transfers and consults -------------------------------------------------------
def transfer(batch: Batch, c: dict[str, str], fields: dict[str, str], ts: int) -> list[str]:
    """Count a transfer by the transferring agent in the call's queue (before it), by kind
    and mode. It ends that agent's handle, as a COMPLETE would (`talk_ms` as COMPLETE's,
    else the time since their CONNECT); to a queue or agent, the contact then awaits the
    next agent's CONNECT. Returns the handle's scopes ([]: no handle ended)."""
    kind, warm = fields.get("kind", ""), fields.get("warm", "") == "1"
    if kind not in TRANSFER_KINDS:
        return []
    agent = fields.get("agent", "")
    queue = fields.get("queue", "") or c.get("queue", "")
    batch.add(ts, scopes(queue, agent, c.get("language", "")), transfer_field(kind, warm))
    if not c or stale(c, agent):
        return []  # no contact (never in a queue), or a handle already ended: counted only
    c["transfers"] = str(ms(c, "transfers") + 1)
    if kind in REQUEUED_KINDS:
        c["transfer_pending"] = "1"
    elapsed = ms(fields, "talk_ms") if fields.get("talk_ms") else ts - (ms(c, "handle_ms") or ts)
    where = end_handle(batch, c, agent, queue, ts, elapsed)
    c.update(ended_ms=str(ts), handle_ended_by=agent)
    return where


def transferred_in(batch: Batch, c: dict[str, str], where: list[str], ts: int) -> None:
    """The next agent took a transferred call: theirs to count (`transfers_received`, an
    answered offer in their figures), no new inbound answer, wait or FRT for the queue;
    `transfers_in` counts it in a queue that had not handled the contact yet."""
    c["transfer_pending"] = ""
    batch.add(ts, where, "transfers_received")
    batch.add(ts, [s for s in where if s.startswith(AGENT_SCOPES)], "answered")
    queue = next((s[2:] for s in where if s.startswith("q:")), "")
    if queue and queue not in c.get("handled_in", "").split(","):
        batch.add(ts, [f"q:{queue}"], "transfers_in")


def lost_transfer(batch: Batch, c: dict[str, str], queue: str, ts: int) -> None:
    """A transferred caller left before the next agent took them (hung up, timed out):
    `transfers_unanswered`, no abandon. The contact was handled but not resolved, so its
    FCR counts now, failed, in the last handle's scopes."""
    c["transfer_pending"] = ""
    close_hold(batch, c, ts)
    batch.add(ts, scopes(queue, "", c.get("language", "")), "transfers_unanswered")
    if c.get("last_scopes"):
        count_fcr(batch, c, c["last_scopes"].split(","), ts)
        fail_fcr(batch, c)


def consult(batch: Batch, c: dict[str, str], fields: dict[str, str], ts: int) -> None:
    """A consult ended: completed or cancelled, and its length, for the consulting agent in
    the call's queue."""
    outcome = fields.get("outcome", "")
    if outcome not in CONSULT_OUTCOMES:
        return
    queue = fields.get("queue", "") or c.get("queue", "")
    where = scopes(queue, fields.get("agent", ""), c.get("language", ""))
    batch.add(ts, where, f"consults_{outcome}")
    batch.observe(ts, where, "consult", ms(fields, "consult_ms"))
