"""How long TwiML takes to play, as a caller hears it."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from bench.capacity.defaults import SAY_S_PER_WORD, UNKNOWN_PLAY_S

LOOP_FOREVER_AS = 3
"""`loop="0"` repeats until something interrupts it; counted as this many plays."""
GATHER_TIMEOUT_S = 5.0
"""A `<Gather>`'s timeout when it names none (Twilio's default)."""


def play_s(node: ET.Element, music: dict[str, float]) -> float:
    """How long `node` (Say, Play, Pause, or a Gather's children) takes to play."""
    tag = node.tag
    loop = int(node.get("loop", "1") or 1) or LOOP_FOREVER_AS
    if tag == "Say":
        return len((node.text or "").split()) * SAY_S_PER_WORD * loop
    if tag == "Play":
        return music.get((node.text or "").strip(), UNKNOWN_PLAY_S) * loop
    if tag == "Pause":
        return float(node.get("length", "1"))
    return sum(play_s(child, music) for child in node)


def gather_timeout_s(node: ET.Element) -> float:
    return float(node.get("timeout", str(GATHER_TIMEOUT_S)))


def hold_end(
    root: ET.Element, at: float, wait_url: str, music: dict[str, float]
) -> tuple[float, str, bool]:
    """When a hold document started at `at` ends, what is fetched next, and whether the
    caller left the queue."""
    for node in root:
        if node.tag == "Redirect":
            return at, (node.text or "").strip(), False
        if node.tag in ("Leave", "Hangup"):
            return at, wait_url, True
        at += play_s(node, music)
        if node.tag == "Gather":
            at += gather_timeout_s(node)
    return at, wait_url, False
