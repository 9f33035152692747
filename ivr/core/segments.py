"""How many SMS segments a text costs, and in which encoding (what a carrier bills).

A text of only GSM-7 characters (3GPP TS 23.038: the basic table, plus the extension
table's `^{}\\[~]|€` at two septets each) fits 160 septets in one segment, 153 per segment
once split (7 go to the concatenation header). Any other character (Thai, emoji, curly
quotes) makes the whole text UCS-2: 70 UTF-16 code units in one segment, 67 once split.
Twilio bills each segment as one message. Its "Smart Encoding" (off unless enabled on a
Messaging Service) would swap some look-alike characters for GSM-7 ones; it is not modelled.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

Encoding = Literal["GSM-7", "UCS-2"]

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
"""Characters of the GSM 03.38 default alphabet: one septet each."""
GSM7_EXTENSION = frozenset("^{}\\[~]|€\f")
"""Characters reached through the extension table's escape: two septets each."""
SINGLE = {"GSM-7": 160, "UCS-2": 70}
"""Units that fit one unsplit segment."""
SPLIT = {"GSM-7": 153, "UCS-2": 67}
"""Units per segment once a text is split (the rest carries the concatenation header)."""


@dataclass(frozen=True)
class Segments:
    """What one text costs: its encoding, its length in that encoding's units, its segments."""

    encoding: Encoding
    units: int
    count: int

    def __str__(self) -> str:
        noun = "segment" if self.count == 1 else "segments"
        return f"{self.count} {noun} ({self.encoding}, {self.units} units)"


def encoding(text: str) -> Encoding:
    """GSM-7 when every character is in the GSM 03.38 tables, else UCS-2."""
    allowed = GSM7_BASIC | GSM7_EXTENSION
    return "GSM-7" if all(char in allowed for char in text) else "UCS-2"


def units(text: str, kind: Encoding) -> int:
    """Septets (GSM-7) or UTF-16 code units (UCS-2) of `text`."""
    if kind == "GSM-7":
        return sum(2 if char in GSM7_EXTENSION else 1 for char in text)
    return len(text.encode("utf-16-le")) // 2


def count(text: str) -> Segments:
    """The encoding, length and number of segments `text` is sent as (0 for an empty text)."""
    kind = encoding(text)
    size = units(text, kind)
    if size <= SINGLE[kind]:
        return Segments(kind, size, 1 if size else 0)
    return Segments(kind, size, math.ceil(size / SPLIT[kind]))
