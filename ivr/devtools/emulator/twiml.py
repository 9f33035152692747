"""Parse TwiML and reject what Twilio would reject, naming the verb and the rule.

The whole document is checked before its first verb runs, so an invalid
response fails loudly instead of half-playing. Attribute names are
case-sensitive, as on Twilio; unknown attributes are ignored (Twilio only logs
a schema warning for them).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

from ivr.core import voices
from ivr.core.errors import TwiMLError

VOICE_VERBS = frozenset(
    {"Say", "Play", "Pause", "Gather", "Redirect", "Hangup", "Reject", "Record"}
    | {"Enqueue", "Leave", "Dial"}
)
NOT_EMULATED = frozenset(
    {"Connect", "Start", "Stop", "Pay", "Prompt", "Refer", "Echo", "Sms", "Sip"}
)
SSML_TAGS = frozenset(
    {"break", "emphasis", "lang", "p", "phoneme", "prosody", "s", "say-as", "sub", "w"}
)
CHILDREN: dict[str, frozenset[str]] = {
    "Gather": frozenset({"Say", "Play", "Pause"}),
    "Dial": frozenset({"Number", "Client", "Queue", "Sip", "Conference"}),
    "Enqueue": frozenset({"Task"}),
    "Say": SSML_TAGS,
    "Client": frozenset({"Identity", "Parameter"}),
    "Message": frozenset({"Body", "Media"}),
}
CONTEXT_VERBS: dict[str, frozenset[str]] = {
    "call": VOICE_VERBS,
    "wait": frozenset({"Play", "Say", "Pause", "Hangup", "Redirect", "Leave", "Gather"}),
    "whisper": frozenset({"Play", "Say", "Gather", "Hangup"}),
    "dequeue": frozenset({"Play", "Say", "Pause", "Redirect"}),
    "messaging": frozenset({"Message", "Redirect"}),
    "conference": frozenset({"Play", "Say", "Pause", "Redirect"}),
}
CONTEXT_NAMES = {
    "call": "a voice response",
    "wait": "an Enqueue waitUrl response",
    "whisper": "a Dial whisper (Number/Client url) response",
    "dequeue": "a Dial Queue url response",
    "messaging": "a messaging response",
    "conference": "a Conference waitUrl, holdUrl or announceUrl response",
}
DTMF_KEYS = frozenset("0123456789*#")
CONFERENCE_BEEPS = frozenset({"true", "false", "onEnter", "onExit"})
CONFERENCE_EVENTS = frozenset(
    {"start", "end", "join", "leave", "mute", "hold", "modify", "speaker", "announcement"}
)
CALL_SID = re.compile(r"^CA[0-9a-fA-F]{32}$")
GATHER_INPUTS = frozenset({"dtmf", "speech", "dtmf speech", "speech dtmf"})
METHODS = frozenset({"GET", "POST"})


@dataclass(frozen=True)
class Node:
    """One TwiML element: its tag, attributes, text and child elements."""

    tag: str
    attrs: dict[str, str] = field(default_factory=dict)
    text: str = ""
    children: tuple[Node, ...] = ()

    def attr(self, name: str, default: str = "") -> str:
        return self.attrs.get(name, default)

    def int_attr(self, name: str, default: int) -> int:
        raw = self.attrs.get(name)
        if raw is None:
            return default
        try:
            return int(raw.strip())
        except ValueError:
            raise TwiMLError(self.tag, f"{name} must be an integer, got {raw!r}") from None

    def bool_attr(self, name: str, default: bool) -> bool:
        raw = self.attrs.get(name)
        if raw is None:
            return default
        if raw.lower() not in ("true", "false"):
            raise TwiMLError(self.tag, f"{name} must be true or false, got {raw!r}")
        return raw.lower() == "true"

    def method(self, name: str = "method") -> str:
        return self.attrs.get(name, "POST").upper()


def parse(text: str, context: str = "call") -> Node:
    """Parse and validate a TwiML document for the given execution context."""
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise TwiMLError("Response", f"the document is not well-formed XML ({exc})") from None
    if root.tag != "Response":
        raise TwiMLError(root.tag, "the root element must be <Response>")
    node = _convert(root)
    if node.text:
        raise TwiMLError("Response", "text outside a verb is not allowed")
    for verb in node.children:
        check_verb(verb, context)
    return node


def _convert(element: ET.Element) -> Node:
    text = "".join(element.itertext()).strip() if element.tag in ("Say",) else _own_text(element)
    children = tuple(_convert(child) for child in element)
    return Node(str(element.tag), dict(element.attrib), text, children)


def _own_text(element: ET.Element) -> str:
    parts = [element.text or ""] + [child.tail or "" for child in element]
    return "".join(parts).strip()


def check_verb(verb: Node, context: str) -> None:
    """Raise TwiMLError if `verb` may not appear at the top of a `context` document."""
    if verb.tag in NOT_EMULATED:
        raise TwiMLError(verb.tag, "is not supported by the emulator")
    allowed = CONTEXT_VERBS[context]
    if verb.tag not in allowed:
        known = verb.tag in VOICE_VERBS or verb.tag in CONTEXT_VERBS["messaging"]
        rule = "is not allowed in" if known else "is not a TwiML verb of"
        raise TwiMLError(verb.tag, f"{rule} {CONTEXT_NAMES[context]}")
    _check_children(verb)
    CHECKS.get(verb.tag, _no_check)(verb)


def _check_children(node: Node) -> None:
    allowed = CHILDREN.get(node.tag, frozenset())
    for child in node.children:
        if child.tag in NOT_EMULATED:
            raise TwiMLError(child.tag, "is not supported by the emulator")
        if child.tag not in allowed:
            raise TwiMLError(node.tag, f"<{child.tag}> cannot be nested in <{node.tag}>")
        if node.tag in ("Gather", "Dial"):
            _check_children(child)
            CHECKS.get(child.tag, _no_check)(child)


def _no_check(node: Node) -> None:
    del node


def _check_method(node: Node, *names: str) -> None:
    for name in names or ("method",):
        if name in node.attrs and node.attrs[name].upper() not in METHODS:
            raise TwiMLError(node.tag, f"{name} must be GET or POST")


def _check_loop(node: Node) -> None:
    if node.int_attr("loop", 1) < 0:
        raise TwiMLError(node.tag, "loop must be 0 or a positive integer")


def _check_say(node: Node) -> None:
    _check_loop(node)
    if not node.text:
        raise TwiMLError("Say", "needs text to speak")
    voice, language = node.attr("voice"), node.attr("language")
    if voice and language and not voices.exists(voice, language):
        # Twilio: "an invalid combination of voice and language may result in error and
        # <Say> instruction failure" (ivr/core/voices.yaml holds its published list).
        raise TwiMLError("Say", f"Twilio offers no voice {voice} for language {language}")


def _check_play(node: Node) -> None:
    _check_loop(node)
    if not node.text and not node.attr("digits"):
        raise TwiMLError("Play", "needs a media URL or a digits attribute")
    if set(node.attr("digits")) - set("0123456789ABCDwW#*"):
        raise TwiMLError("Play", "digits may only contain 0-9, A-D, w, W, # and *")


def _check_pause(node: Node) -> None:
    if node.int_attr("length", 1) <= 0:
        raise TwiMLError("Pause", "length must be a positive integer")


def _check_gather(node: Node) -> None:
    _check_method(node)
    if "numDigits" in node.attrs and node.int_attr("numDigits", 1) <= 0:
        raise TwiMLError("Gather", "numDigits must be a positive integer")
    if node.int_attr("timeout", 5) < 0:
        raise TwiMLError("Gather", "timeout must not be negative")
    key = node.attr("finishOnKey", "#")
    if len(key) > 1 or (key and key not in DTMF_KEYS):
        raise TwiMLError("Gather", "finishOnKey must be one of 0-9, # or *, or empty")
    if node.attr("input", "dtmf") not in GATHER_INPUTS:
        raise TwiMLError("Gather", "input must be dtmf, speech or 'dtmf speech'")
    node.bool_attr("actionOnEmptyResult", False)


def _check_record(node: Node) -> None:
    _check_method(node)
    for name, default in (("timeout", 5), ("maxLength", 3600)):
        if node.int_attr(name, default) < 0:
            raise TwiMLError("Record", f"{name} must not be negative")
    if set(node.attr("finishOnKey")) - DTMF_KEYS:
        raise TwiMLError("Record", "finishOnKey may only contain 0-9, # and *")
    node.bool_attr("playBeep", True)


def _check_redirect(node: Node) -> None:
    _check_method(node)
    if not node.text:
        raise TwiMLError("Redirect", "needs a URL")


def _check_reject(node: Node) -> None:
    if node.attr("reason", "rejected") not in ("rejected", "busy"):
        raise TwiMLError("Reject", "reason must be rejected or busy")


def _check_enqueue(node: Node) -> None:
    _check_method(node, "method", "waitUrlMethod")
    if node.attr("workflowSid"):
        raise TwiMLError("Enqueue", "workflowSid (TaskRouter) is not supported by the emulator")
    if not node.text:
        raise TwiMLError("Enqueue", "needs a queue name")
    if len(node.text) > 64:
        raise TwiMLError("Enqueue", "a queue name is at most 64 characters")
    if "maxQueueSize" in node.attrs and node.int_attr("maxQueueSize", 1) <= 0:
        raise TwiMLError("Enqueue", "maxQueueSize must be a positive integer")


def _check_dial(node: Node) -> None:
    _check_method(node)
    timeout = node.int_attr("timeout", 30)
    if timeout <= 0:
        raise TwiMLError("Dial", "timeout must be a positive integer")
    if not node.text and not node.children:
        raise TwiMLError("Dial", "needs a number or a noun to dial")
    if node.text and node.children:
        raise TwiMLError("Dial", "cannot mix a bare number with nouns")
    if len(node.children) > 10:
        raise TwiMLError("Dial", "at most 10 nouns may be dialled at once")
    for alone in ("Queue", "Conference"):
        if any(c.tag == alone for c in node.children) and len(node.children) > 1:
            raise TwiMLError("Dial", f"a <{alone}> noun cannot be combined with other nouns")


def _check_target(node: Node) -> None:
    _check_method(node)
    if not node.text and not any(c.tag == "Identity" for c in node.children):
        raise TwiMLError(node.tag, "needs a number, identity or queue name")


def _check_conference(node: Node) -> None:
    _check_method(node, "waitMethod", "statusCallbackMethod")
    if not node.text or len(node.text) > 128:
        raise TwiMLError("Conference", "needs a room name of at most 128 characters")
    for name in ("muted", "startConferenceOnEnter", "endConferenceOnExit"):
        node.bool_attr(name, False)
    if node.attr("beep", "true") not in CONFERENCE_BEEPS:
        raise TwiMLError("Conference", "beep must be true, false, onEnter or onExit")
    if not 2 <= node.int_attr("maxParticipants", 250) <= 250:
        raise TwiMLError("Conference", "maxParticipants must be from 2 to 250")
    if node.attr("coach") and not CALL_SID.match(node.attr("coach")):
        raise TwiMLError("Conference", "coach must be the call SID of a participant")
    if set(node.attr("statusCallbackEvent").split()) - CONFERENCE_EVENTS:
        raise TwiMLError(
            "Conference", f"statusCallbackEvent may only name {sorted(CONFERENCE_EVENTS)}"
        )


def _check_message(node: Node) -> None:
    if not node.text and not node.children:
        raise TwiMLError("Message", "needs a body")


CHECKS = {
    "Say": _check_say,
    "Play": _check_play,
    "Pause": _check_pause,
    "Gather": _check_gather,
    "Record": _check_record,
    "Redirect": _check_redirect,
    "Reject": _check_reject,
    "Enqueue": _check_enqueue,
    "Dial": _check_dial,
    "Number": _check_target,
    "Client": _check_target,
    "Queue": _check_target,
    "Conference": _check_conference,
    "Message": _check_message,
}
