"""Callback offer coverage: abandoned callers who were offered a callback first."""

from __future__ import annotations

import redis

from tests.test_metrics_script import T0, S, Script


def offered(script: Script, sid: str, at: int, queue: str = "billing") -> None:
    """The hold loop offered `sid` a callback (its first offer), as the service records it."""
    script.event("CALLBACKOFFER", at, call=sid, queue=queue, estimate_s=240, position=4)


def entered(script: Script, sid: str, at: int, queue: str = "billing") -> None:
    script.session(sid, "+60177777001", at)
    script.event("ENTERQUEUE", at, call=sid, queue=queue, language="en", position=1)


def abandoned(script: Script, sid: str, at: int, wait_ms: int, queue: str = "billing") -> None:
    script.event("ABANDON", at, call=sid, queue=queue, wait_ms=wait_ms)


def test_abandons_offered_a_callback_first_are_counted_with_their_share(
    r: redis.Redis, redis_url: str
) -> None:
    """Of three abandons, one was offered a callback first: 1 and 33 %. A caller who hung up
    before any offer, one answered after an offer and a short abandon are not counted."""
    s = Script(r, redis_url)
    entered(s, "CA1", T0)
    offered(s, "CA1", T0 + 6 * S)
    abandoned(s, "CA1", T0 + 40 * S, 40_000)  # offered, then gave up
    entered(s, "CA2", T0)
    abandoned(s, "CA2", T0 + 20 * S, 20_000)  # hung up before any offer...
    offered(s, "CA2", T0 + 20 * S + 1)  # ...which a hold fetch racing the hang-up made after
    entered(s, "CA3", T0)
    abandoned(s, "CA3", T0 + 30 * S, 30_000)  # never offered (a short estimate)
    entered(s, "CA4", T0)
    offered(s, "CA4", T0 + 6 * S)
    s.event("CONNECT", T0 + 50 * S, call="CA4", queue="billing", agent="alice", wait_ms=50_000)
    entered(s, "CA5", T0)
    offered(s, "CA5", T0 + 1 * S)
    abandoned(s, "CA5", T0 + 3 * S, 3_000)  # a short abandon: in no abandon figure
    s.fold()
    for scope in ("all", "q:billing"):
        figures = s.figures(scope)
        assert figures["abandoned"] == 3
        assert figures["abandoned_offered"] == 1
        assert figures["abandoned_offered_share"] == 1 / 3


def test_with_no_abandons_the_share_is_unknown(r: redis.Redis, redis_url: str) -> None:
    """No abandons: the share is None (no data), not 0 % or 100 %."""
    s = Script(r, redis_url)
    entered(s, "CA1", T0)
    offered(s, "CA1", T0 + 6 * S)
    s.event("CONNECT", T0 + 50 * S, call="CA1", queue="billing", agent="alice", wait_ms=50_000)
    s.fold()
    figures = s.figures()
    assert figures["abandoned_offered"] == 0
    assert figures["abandoned_offered_share"] is None


def test_the_offer_is_kept_on_the_contact_across_batches(r: redis.Redis, redis_url: str) -> None:
    """An offer folded in one pass still counts when the abandon is folded in a later one."""
    s = Script(r, redis_url)
    entered(s, "CA1", T0)
    offered(s, "CA1", T0 + 6 * S)
    s.fold()
    abandoned(s, "CA1", T0 + 90 * S, 90_000)
    s.fold()
    assert s.figures()["abandoned_offered"] == 1
