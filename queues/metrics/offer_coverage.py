"""Callback offer coverage: how many abandoned callers had been offered a callback first.

The hold loop records a call's first callback offer as CALLBACKOFFER
(`callbacks.callback.offered`). The fold marks the contact with the offer's time
(`callback_offered_ms`), and an abandon of a marked contact counts in
`abandoned_offered` besides `abandoned`. Short abandons are in neither, as in the
abandonment rate; a caller who hung up before any offer was made is not offered.
Defined in docs/metrics.md ("Offered a callback first").
"""

from __future__ import annotations

from typing import Protocol

from queues.metrics.batch import Batch

OFFERED_MS = "callback_offered_ms"
"""The contact record's field: when the call was first offered a callback (ms)."""
ABANDONED_OFFERED = "abandoned_offered"
"""The rollup counter: abandons (short ones excluded) of calls offered a callback first."""


class Counts(Protocol):
    """Summed rollup counters by name (`rollups.Totals`)."""

    def __getitem__(self, name: str) -> int: ...


async def on_offer(batch: Batch, fields: dict[str, str], ts: int) -> None:
    """CALLBACKOFFER: mark the call's contact (opened by its ENTERQUEUE) as offered."""
    c = await batch.contact(fields.get("call", ""))
    if c and not c.get(OFFERED_MS):
        c[OFFERED_MS] = str(ts)


def count_abandon(batch: Batch, c: dict[str, str], where: list[str], ts: int) -> None:
    """An abandon (not a short one): also counted as offered-first if the contact was offered."""
    if c.get(OFFERED_MS):
        batch.add(ts, where, ABANDONED_OFFERED)


def figures(totals: Counts) -> dict[str, int | float | None]:
    """`abandoned_offered` and its share of the abandons (None with no abandons)."""
    offered, abandoned = totals[ABANDONED_OFFERED], totals["abandoned"]
    return {
        "abandoned_offered": offered,
        "abandoned_offered_share": offered / abandoned if abandoned else None,
    }
