"""Reading TwiML answers in tests: what the caller would hear and where it goes next."""

from __future__ import annotations

import xml.etree.ElementTree as ET


def parse(text: str) -> ET.Element:
    root = ET.fromstring(text)
    assert root.tag == "Response", text
    return root


def heard(text: str) -> str:
    """Everything said, in order, as one string."""
    return " ".join((el.text or "") for el in parse(text).iter("Say"))


def verbs(text: str) -> list[str]:
    return [el.tag for el in parse(text)]


def gather(text: str) -> ET.Element:
    found = parse(text).find("Gather")
    assert found is not None, text
    return found


def action(text: str, verb: str = "Gather") -> str:
    el = parse(text).find(verb)
    assert el is not None, text
    return el.attrib["action"]
