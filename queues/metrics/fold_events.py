"""How each routing event changes the rollups, the contact record and the agent's state.

Every handler is a pure function of the event and the state the batch loaded;
the batch writes everything at once (see `queues.metrics.fold`). Times are the
events' own `ts` (the service clock), never the store's.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable

from queues.metrics import fold_controls as controls
from queues.metrics import offer_coverage
from queues.metrics.batch import CALLBACK_EVENT, EXIT_FIELDS, Batch, scopes
from queues.metrics.fold_controls import count_fcr, fail_fcr, ms

RESOLVED = "resolved"
"""The console disposition that marks a contact resolved (for ART and FCR)."""
CALLBACK_PREFIX = "CB"
"""A keep-my-place callback's routing id (`callbacks.callback.PREFIX`)."""
CALLBACK_CONNECT = "CALLBACKCONNECT"
CALLBACK_REQUEST = "CALLBACKREQUEST"


async def session_start(batch: Batch, call: str, fallback_ms: int) -> tuple[int, dict[str, str]]:
    """The contact's start (ms) and facts from the call session, if it is still stored.

    The start is the call's arrival (`started_at`, IVR time included) or, for a
    callback, `original_started_at`: the arrival of the call it calls back.
    """
    raw = await batch.redis.get(batch.keys.call(call))
    if not raw:
        return fallback_ms, {}
    session = json.loads(raw)
    started = session.get("original_started_at") or session.get("started_at")
    facts = {
        "caller": str(session.get("caller") or ""),
        "path": ">".join(session.get("path") or []),
        "language": str(session.get("language") or ""),
    }
    return (int(float(started) * 1000) if started else fallback_ms), facts


async def first_sight(
    batch: Batch, call: str, queue: str, ts: int, language: str
) -> dict[str, str]:
    """The contact record, opened (and counted) the first time a queue sees the call."""
    c = await batch.contact(call)
    if c:
        return c
    started, facts = await session_start(batch, call, ts)
    c.update(call=call, started_ms=str(started), queue=queue, outcome="waiting", **facts)
    if language:
        c["language"] = language
    batch.add(ts, scopes(queue, "", c.get("language", "")), "contacts")
    batch.ops.append(lambda p: p.zadd(batch.keys.metrics_contacts(), {call: started}))
    if c.get("caller"):
        await note_repeat(batch, c, ts)
    return c


async def note_repeat(batch: Batch, c: dict[str, str], ts: int) -> None:
    """A contact from a number whose handled contact started within the FCR window fails it."""
    key = batch.keys.metrics_last_contact(c["caller"])
    last = await batch.last_contact(c["caller"])
    here = int(c["started_ms"])
    window_ms = batch.options.fcr_window_s * 1000
    if last and last["call"] != c["call"] and here - last["at"] <= window_ms:
        c["repeat_of"] = last["call"]  # this contact is the repeat; the earlier one fails FCR
        fail_fcr(batch, await batch.contact(last["call"]))
    batch.last_contacts[c["caller"]] = {"call": c["call"], "at": here}
    record = json.dumps(batch.last_contacts[c["caller"]])
    batch.ops.append(lambda p: p.set(key, record, ex=batch.options.fcr_window_s))


def leave(batch: Batch, queue: str, call: str) -> None:
    batch.ops.append(lambda p: p.zrem(batch.keys.metrics_waiting(queue), call))


async def on_enter(batch: Batch, fields: dict[str, str], ts: int) -> None:
    """An inbound caller joins the queue. A callback's entry (a retry, a slot that came
    due, a customer-first leg) is no inbound call: not queued, not a caller waiting."""
    call, queue, lang = fields["call"], fields.get("queue", ""), fields.get("language", "")
    if await callback_origin(batch, call) is not None:
        return
    c = await first_sight(batch, call, queue, ts, lang)
    batch.ops.append(lambda p: p.zadd(batch.keys.metrics_waiting(queue), {call: ts}))
    if controls.requeued(c, fields):
        return  # a transferred call re-queued: the same contact, no second arrival
    c.update(queue=queue, entered_ms=str(ts))
    batch.add(ts, scopes(queue, "", c.get("language", "")), "entered")


async def callback_origin(batch: Batch, call: str) -> str | None:
    """The original call behind a callback's routing entry, or None for a plain call.

    The entry is the callback id (`CB…`, agent-first) or the customer's leg
    (customer-first, `Keys.callback_leg`), with its callback record still stored;
    the contact is the original call's.
    """
    cb_id = call if call.startswith(CALLBACK_PREFIX) else None
    if cb_id is None:
        leg = await batch.redis.get(batch.keys.callback_leg(call))
        cb_id = str(leg) if leg else None
    if not cb_id:
        return None
    original = await batch.redis.hget(batch.keys.callback(cb_id), "call")
    return str(original) if original else None  # no callback record: a plain call


async def on_connect(batch: Batch, fields: dict[str, str], ts: int) -> None:
    """The queue answered an inbound call: wait, service level and (a first answer) FRT.

    A callback's entry is no inbound answer: its wait is virtual (the customer is not
    on the line), so it counts only as `callbacks_accepted` (the agent took the offer);
    its FRT waits for CALLBACKCONNECT, on the original contact. The CONNECT after a
    transfer opens the next agent's handle and is theirs to count, not the queue's.
    """
    call, queue, agent = fields["call"], fields.get("queue", ""), fields.get("agent", "")
    origin = await callback_origin(batch, call)
    c = await first_sight(batch, origin or call, queue, ts, fields.get("language", ""))
    where = scopes(queue, agent, c.get("language", ""))
    batch.add(ts, where, "ring_ms", ms(fields, "ring_ms"))
    controls.open_handle(batch, c, agent, queue, ts)
    c.update(agent=agent, queue=queue)
    leave(batch, queue, call)
    (await batch.agent(agent))["queue"] = queue
    if origin is not None:
        batch.add(ts, where, "callbacks_accepted")
        return
    if controls.requeued(c, fields):
        controls.transferred_in(batch, c, where, ts)
        return
    wait = ms(fields, "wait_ms")
    batch.add(ts, where, "answered")
    batch.observe(ts, where, "wait", wait)
    if wait <= batch.service_level_ms(queue):
        batch.add(ts, where, "answered_sl")
    if not c.get("answered_ms"):
        frt = ts - int(c["started_ms"])
        batch.observe(ts, where, "frt", frt)
        batch.add(ts, where, "frt_queue_ms", ms(fields, "original_wait_ms") or wait)
        c.update(answered_ms=str(ts), frt_ms=str(frt), wait_ms=str(wait), outcome="answered")


async def callback_left(batch: Batch, fields: dict[str, str]) -> bool:
    """A callback's entry left the queue (a customer-first customer hung up while waiting,
    or timed out): no inbound abandon or exit. The callback's own outcome is its events'."""
    call, queue = fields.get("call", ""), fields.get("queue", "")
    if await callback_origin(batch, call) is None:
        return False
    leave(batch, queue, call)
    return True


async def on_abandon(batch: Batch, fields: dict[str, str], ts: int) -> None:
    call, queue = fields["call"], fields.get("queue", "")
    if await callback_left(batch, fields):
        return
    c = await first_sight(batch, call, queue, ts, fields.get("language", ""))
    where = scopes(queue, "", c.get("language", ""))
    wait = ms(fields, "wait_ms")
    leave(batch, queue, call)
    if controls.requeued(c, fields):
        controls.lost_transfer(batch, c, queue, ts)
        return
    c.update(ended_ms=str(ts), wait_ms=str(wait))
    if fields.get("reason") == "callback":
        await on_callback(batch, fields, ts)
        return
    batch.add(ts, where, "abandon_wait_ms", wait)  # patience, for Erlang A staffing
    if wait < batch.short_abandon_ms(queue):
        batch.add(ts, where, "abandoned_short")
        c["outcome"] = "short_abandon"
        return
    batch.add(ts, where, "abandoned")
    offer_coverage.count_abandon(batch, c, where, ts)
    if wait <= batch.service_level_ms(queue):
        batch.add(ts, where, "abandoned_sl")
    c["outcome"] = "abandoned"


async def on_exit(batch: Batch, fields: dict[str, str], ts: int) -> None:
    """Timeouts, exit keys, closing and overflows: the caller left the queue, not abandoned."""
    call, queue = fields.get("call", ""), fields.get("queue", "")
    if not call:
        return
    if fields.get("reason") == "callback":
        await on_callback(batch, fields, ts)
        return
    if await callback_left(batch, fields):
        return
    c = await first_sight(batch, call, queue, ts, fields.get("language", ""))
    if controls.requeued(c, fields):
        leave(batch, queue, call)
        controls.lost_transfer(batch, c, queue, ts)
        return
    kind = EXIT_FIELDS[fields["type"]]
    batch.add(ts, scopes(queue, "", c.get("language", "")), kind)
    leave(batch, queue, call)
    c.update(outcome=kind.removesuffix("s"), ended_ms=str(ts))


async def on_callback(batch: Batch, fields: dict[str, str], ts: int) -> None:
    call, queue = fields["call"], fields.get("queue", "")
    c = await first_sight(batch, call, queue, ts, fields.get("language", ""))
    batch.add(ts, scopes(queue, "", c.get("language", "")), "callbacks")
    leave(batch, queue, call)
    c.update(outcome="callback")


async def on_callback_request(batch: Batch, fields: dict[str, str], ts: int) -> None:
    """A callback was asked for: counted once, with its promised time on the contact.

    CALLBACKREQUEST also marks a callback moved to the next opening (`reason`
    `queued>scheduled`, a state move): that is the same request, not a new one.
    """
    call, queue, cb_id = fields.get("call", ""), fields.get("queue", ""), fields.get("callback", "")
    if not call or ">" in fields.get("reason", ""):
        return
    c = await first_sight(batch, call, queue, ts, fields.get("language", ""))
    batch.add(ts, scopes(queue, "", c.get("language", "")), "callbacks_requested")
    c.update(callback=cb_id, cb_requested_ms=str(ts))
    if c.get("outcome") == "waiting":  # asked for from the menu: the contact is the callback
        c["outcome"] = "callback"
    due = fields.get("due") or await batch.redis.hget(batch.keys.callback(cb_id), "due")
    if due:
        c["cb_due_ms"] = str(int(float(due) * 1000))


async def on_callback_connect(batch: Batch, fields: dict[str, str], ts: int) -> None:
    """A callback's customer met the agent: the callback is reached, and FRT ends.

    FRT runs from the original call's arrival (the event's own `frt_ms`, from the
    callback's `started_ms`); its queue part is `original_wait_ms`. The callback's
    answer time runs from the request, and its delay from the promised time. The
    contact stays a callback (not an abandon).
    """
    call, queue, agent = fields.get("call", ""), fields.get("queue", ""), fields.get("agent", "")
    if not call:
        return
    c = await first_sight(batch, call, queue, ts, fields.get("language", ""))
    where = scopes(queue, agent, c.get("language", ""))
    if not c.get("cb_reached_ms"):
        reached(batch, c, where, ts)
    if c.get("answered_ms"):
        return
    frt = ms(fields, "frt_ms") or ts - int(c["started_ms"])
    batch.observe(ts, where, "frt", frt)
    batch.add(ts, where, "frt_queue_ms", ms(fields, "original_wait_ms"))
    c.update(answered_ms=str(ts), frt_ms=str(frt), agent=agent)


def reached(batch: Batch, c: dict[str, str], where: list[str], ts: int) -> None:
    """Count a callback's customer reached: its answer time and its delay past the promise."""
    c["cb_reached_ms"] = str(ts)
    batch.add(ts, where, "callbacks_reached")
    if c.get("cb_requested_ms"):
        batch.observe(ts, where, "callback_answer", ts - int(c["cb_requested_ms"]))
    if c.get("cb_due_ms"):
        late = ts - int(c["cb_due_ms"])
        batch.add(ts, where, "callback_promised")
        batch.add(ts, where, "callback_late_ms", late)
        if late <= 0:
            batch.add(ts, where, "callback_on_time")


async def on_complete(batch: Batch, fields: dict[str, str], ts: int) -> None:
    """An agent's handle of a call ended: handled (`fold_controls.end_handle`: talk less
    hold). A callback's entry ended with its customer reached is handled and the callback
    completed; an attempt nobody answered is neither. FCR counts at the final handle: not
    while a transfer to a queue or agent is pending."""
    call, queue, agent = fields["call"], fields.get("queue", ""), fields.get("agent", "")
    origin = await callback_origin(batch, call)
    c = await first_sight(batch, origin or call, queue, ts, "")
    if controls.stale(c, agent):
        return
    if origin is not None:
        if not c.get("cb_reached_ms") or c.get("cb_completed"):
            controls.drop_handle(batch, c, ts)
            return
        c["cb_completed"] = "1"
        batch.add(ts, scopes(queue, agent, c.get("language", "")), "callbacks_completed")
    where = controls.end_handle(batch, c, agent, queue, ts, ms(fields, "talk_ms"))
    c["ended_ms"] = str(ts)
    c["completed_by"] = "agent" if fields["type"] == "COMPLETEAGENT" else "caller"
    final_handle(batch, c, where, ts)


def final_handle(batch: Batch, c: dict[str, str], where: list[str], ts: int) -> None:
    """A handle ended with no transfer pending is the contact's last: its FCR counts there
    (once), failed already if its disposition came first and is not `resolved`."""
    if c.get("transfer_pending") or c.get("handled_ms"):
        return
    count_fcr(batch, c, where, ts)
    if c.get("disposition") and c["disposition"] != RESOLVED:
        fail_fcr(batch, c)


async def on_disposition(batch: Batch, fields: dict[str, str], ts: int) -> None:
    """Hook for the console: a DISPOSITION event (call, agent, disposition) sets ART and FCR.

    A transferred call's resolution is its final agent's disposition (`controls.deciding`)."""
    c = await batch.contact(fields.get("call", ""))
    if not c or c.get("disposition"):
        return
    if not controls.deciding(c, fields.get("agent", "")):
        # A transferring agent's disposition: kept, but the final agent's decides.
        c["transfer_disposition"] = fields.get("disposition", "")
        return
    c["disposition"] = fields.get("disposition", "")
    where = c["scopes"].split(",") if c.get("scopes") else scopes(c.get("queue", ""))
    if c["disposition"] == RESOLVED:
        batch.add(ts, where, "resolved")
        batch.add(ts, where, "art_ms", ts - int(c["started_ms"]))
    else:
        fail_fcr(batch, c)


async def on_offer(batch: Batch, fields: dict[str, str], ts: int) -> None:
    agent, queue = fields.get("agent", ""), fields.get("queue", "")
    batch.add(ts, scopes(queue, agent), "offers")
    await move_agent(batch, agent, "reserved", ts, queue)


NOT_DECLINED = frozenset(
    {"device_unreachable", "connect_lost", "unreached", "noanswer", "failed", "dropped"}
)
"""REJECTED reasons where the agent declined nothing: their device could not be rung, the
service lost the connection, Twilio's API failed, or the accepted call's leg rang out,
failed or dropped before the bridge (queues/lua/requeue.lua, connect_lost.lua)."""


async def on_missed(batch: Batch, fields: dict[str, str], ts: int) -> None:
    """A ring timeout or a rejected offer is a missed offer; the agent's state follows.

    Only an offer the agent declined counts as `rejected`."""
    where = scopes(fields.get("queue", ""), fields.get("agent", ""))
    batch.add(ts, where, "missed")
    if fields["type"] == "REJECTED" and fields.get("reason", "") not in NOT_DECLINED:
        batch.add(ts, where, "rejected")


async def on_ring_canceled(batch: Batch, fields: dict[str, str], ts: int) -> None:
    batch.add(ts, scopes(fields.get("queue", ""), fields.get("agent", "")), "ring_canceled")


async def on_status(batch: Batch, fields: dict[str, str], ts: int) -> None:
    state = fields.get("reason", "").partition(":")[0]
    await move_agent(batch, fields.get("agent", ""), state, ts, None)


async def move_agent(batch: Batch, agent: str, state: str, ts: int, queue: str | None) -> None:
    """Close the agent's previous state: its time (hourly) and any wrap-up (for AHT)."""
    if not agent or not state:
        return
    a = await batch.agent(agent)
    if a and a["state"] == state:
        return  # the same state again (a break reason changed): it runs on from its start
    if a and a["state"] != "offline":
        batch.add_hours([f"a:{agent}", "all"], f"state_ms:{a['state']}", a["since"], ts)
        if a["state"] == "wrap_up":
            batch.add(ts, scopes(a.get("queue", ""), agent), "wrap_ms", ts - a["since"])
    a.update(state=state, since=ts, queue=queue or a.get("queue", ""))


async def control_contact(batch: Batch, fields: dict[str, str]) -> dict[str, str]:
    """The contact a call control acts on (a callback's entry acts on the original call's);
    empty for a call the fold never saw in a queue."""
    call = fields.get("call", "")
    return await batch.contact(await callback_origin(batch, call) or call) if call else {}


async def on_hold(batch: Batch, fields: dict[str, str], ts: int) -> None:
    c = await control_contact(batch, fields)
    if c:
        controls.hold(c, fields.get("agent", ""), fields.get("queue", ""), ts)


async def on_unhold(batch: Batch, fields: dict[str, str], ts: int) -> None:
    """A hold ends; an UNHOLD with no hold in progress (the handle's end already closed it,
    or its HOLD was never seen) changes nothing."""
    c = await control_contact(batch, fields)
    if c:
        controls.close_hold(batch, c, ts, ms(fields, "hold_ms"))


async def on_transfer(batch: Batch, fields: dict[str, str], ts: int) -> None:
    """A transfer ends the transferring agent's handle; to a number, the contact's last."""
    c = await control_contact(batch, fields)
    where = controls.transfer(batch, c, fields, ts)
    if where:
        final_handle(batch, c, where, ts)


async def on_consult(batch: Batch, fields: dict[str, str], ts: int) -> None:
    controls.consult(batch, await control_contact(batch, fields), fields, ts)


HANDLERS: dict[str, Callable[[Batch, dict[str, str], int], Awaitable[None]]] = {
    "ENTERQUEUE": on_enter,
    "CONNECT": on_connect,
    "ABANDON": on_abandon,
    "EXITWITHTIMEOUT": on_exit,
    "EXITWITHKEY": on_exit,
    "EXITCLOSED": on_exit,
    "OVERFLOW": on_exit,
    CALLBACK_EVENT: on_callback,
    CALLBACK_REQUEST: on_callback_request,
    CALLBACK_CONNECT: on_callback_connect,
    "COMPLETEAGENT": on_complete,
    "COMPLETECALLER": on_complete,
    "DISPOSITION": on_disposition,
    "CALLBACKOFFER": offer_coverage.on_offer,
    "OFFERED": on_offer,
    "RINGNOANSWER": on_missed,
    "REJECTED": on_missed,
    "RINGCANCELED": on_ring_canceled,
    "AGENTSTATUS": on_status,
    "HOLD": on_hold,
    "UNHOLD": on_unhold,
    "TRANSFER": on_transfer,
    "CONSULT": on_consult,
}


async def handle(batch: Batch, entry_id: str, fields: dict[str, str]) -> None:
    """Fold one event; types the metrics do not use (e.g. SUPERVISOR) are skipped."""
    handler = HANDLERS.get(fields.get("type", ""))
    if handler is not None and fields.get("ts"):
        await handler(batch, fields, int(fields["ts"]))
