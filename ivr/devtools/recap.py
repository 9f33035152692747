"""The end of `ivr demo`: the day's figures, each with what it means in plain words.

The figures are `ivr report`'s own (the metrics rollups of the demo's hours, read
with `queues.metrics.rollups`), so the recap and the report of that day agree;
the definitions behind the words are in docs/metrics.md.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ivr.config.model import Config
from ivr.config.surveys import CES_SCALE
from ivr.devtools.story import queue_name
from queues.metrics.batch import DEFAULT_SHORT_ABANDON_S
from queues.metrics.fold_surveys import CES_TOP

Figures = Mapping[str, Any]


@dataclass
class Day:
    """What the demo saw besides the rollups: who called, and what the recap counts itself."""

    config: Config
    totals: Figures
    queues: dict[str, Figures]
    languages: Counter[str]
    events: Counter[str]
    voicemails: int = 0
    called_back: int = 0
    """Voicemails whose caller an agent called back from the inbox and talked to."""
    alerts: int = 0
    handled: dict[str, int] = field(default_factory=dict)
    earlier: int = 0
    """Queue entries already in the store for these hours before the demo (`--keep`)."""


def lines(day: Day) -> list[str]:
    """The recap, one figure (and what it means) per line."""
    return [
        *earlier_lines(day),
        calls_line(day),
        *queue_lines(day),
        *voicemail_lines(day),
        *waiting_lines(day),
        *ces_lines(day),
        "Calls per agent: " + ", ".join(f"{a} {n}" for a, n in day.handled.items()) + ".",
    ]


def earlier_lines(day: Day) -> list[str]:
    if not day.earlier:
        return []
    return [
        f"The store already held {plural(day.earlier, 'queued call', 'queued calls')} in these "
        "hours (an earlier run?): the figures below include them. `--at` keeps runs apart."
    ]


def waiting_lines(day: Day) -> list[str]:
    """The figures of callers who waited in a queue, or why there are none."""
    if not day.totals["queued"]:
        return ["Nobody waited in a queue, so there is no FRT, ASA, service level or abandonment."]
    return [
        answered_line(day),
        abandoned_line(day.totals),
        callbacks_line(day.totals, day.events["CALLBACKCONNECT"] - day.called_back),
        frt_line(day.totals),
        asa_line(day.totals),
        service_level_line(day),
    ]


def calls_line(day: Day) -> str:
    available = day.config.languages.available
    parts = [f"{n} in {available[code].name}" for code, n in day.languages.most_common()]
    return f"{plural(sum(day.languages.values()), 'call', 'calls')}: {', '.join(parts)}."


def queue_lines(day: Day) -> list[str]:
    out = []
    for name, figures in day.queues.items():
        if figures["queued"]:
            out.append(
                f"  {queue_name(day.config, name)}: {figures['queued']} waited in the queue, "
                f"{figures['answered']} answered, {figures['abandoned']} hung up waiting, "
                f"{figures['callbacks']} asked for a callback."
            )
    return out


def answered_line(day: Day) -> str:
    return (
        f"Answered by an agent: {day.totals['answered']}. Offers an agent declined: "
        f"{day.events['declined']}, and offers that rang out: {day.events['RINGNOANSWER']} "
        "(the caller keeps their place and the next agent is rung)."
    )


def abandoned_line(totals: Figures) -> str:
    return (
        f"Abandoned: {totals['abandoned']}, an abandonment rate of "
        f"{percent(totals['abandon_rate'])}: callers who hung up while waiting, out of all who "
        f"waited in a queue (hanging up within {DEFAULT_SHORT_ABANDON_S:.0f} s, or to be called "
        "back, does not count)."
    )


def voicemail_lines(day: Day) -> list[str]:
    if not day.voicemails:
        return []
    return [
        f"Voicemails: {day.voicemails}, each stored with the caller's number, for an agent to "
        f"call back; {day.called_back} called back from an agent's inbox and talked to them."
    ]


def callbacks_line(totals: Figures, done: int) -> str:
    """`done`: the callers who asked and were called back (not the inbox's call-backs)."""
    asked = totals["callbacks"]
    return (
        f"Callbacks: {plural(asked, 'caller', 'callers')} hung up to be called back instead of "
        f"waiting, keeping their place; {done} {'was' if done == 1 else 'were'} called back "
        "and talked to an agent."
    )


def frt_line(totals: Figures) -> str:
    if totals["frt_median_s"] is None:
        return "FRT (first response time, dialling in to talking to a person): nobody got through."
    return (
        f"FRT (first response time: from dialling in to talking to a person, the menu "
        f"included): half the callers waited {seconds(totals['frt_median_s'])} or less "
        f"(the median), nine in ten {seconds(totals['frt_p90_s'])} or less (p90)."
    )


def asa_line(totals: Figures) -> str:
    return (
        f"ASA (average speed of answer): answered callers waited {seconds(totals['asa_s'])} "
        "in the queue on average."
    )


def service_level_line(day: Day) -> str:
    targets = sorted({q.service_level_s for q in day.config.queues.values()})
    target = " or ".join(f"{t} s" for t in targets)
    return (
        f"Service level: {percent(day.totals['service_level'])} of callers who waited were "
        f"answered within the target wait ({target}); one who hung up within it counts as "
        "met, one who hung up later as missed."
    )


def ces_lines(day: Day) -> list[str]:
    totals, surveys = day.totals, day.config.surveys
    replies = totals["ces_responses"]
    if not replies:
        return ["CES (customer effort score, from an SMS survey after the call): no replies."]
    scale = f"{CES_SCALE[0]} (hard) to {CES_SCALE[-1]} (easy)"
    return [
        f"CES (customer effort score): {plural(replies, 'caller', 'callers')} answered the SMS "
        f"survey, how easy it was to get their issue handled, from {scale}: mean "
        f"{number(totals['ces_mean'])}, and {percent(totals['ces_top_share'])} gave {CES_TOP} "
        "or more.",
        f"Low scores ({surveys.low_score} or less): {day.alerts}; the caller is asked what was "
        "hard, and the supervisors' view (/supervisor) lists the score with their answer.",
    ]


def plural(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def percent(value: object) -> str:
    return "-" if value is None else f"{float(value):.0%}"  # type: ignore[arg-type]


def seconds(value: object) -> str:
    return "-" if value is None else f"{float(value):.0f} s"  # type: ignore[arg-type]


def number(value: object) -> str:
    return "-" if value is None else f"{float(value):.1f}"  # type: ignore[arg-type]
