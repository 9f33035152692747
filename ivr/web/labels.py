"""What the console pages call things: plain words for agents and supervisors, never the
internal names (routing states, node ids, call SIDs) the API and the store use.

One definition each, so the agent console and the supervisor view say the same thing.
"""

from __future__ import annotations

from collections.abc import Sequence

from ivr.config.menu import Action, Node, Option
from ivr.config.model import Config
from queues.agent import AVAILABLE, BREAK, OFFLINE, ON_CALL, RESERVED, WRAP_UP

STATE_LABELS = {
    AVAILABLE: "Available",
    RESERVED: "Ringing — call offered",
    ON_CALL: "On a call",
    WRAP_UP: "Wrapping up",
    BREAK: "On break",
    OFFLINE: "Offline",
}
"""An agent's routing state as a person says it."""
CALL_STATE_LABELS = {
    "connecting": "Connecting",
    "connected": "Connected",
    "on_hold": "On hold",
    "consulting": "Consulting",
    "ended": "Call ended",
}
"""A call's live state (its conference's) as the console's call header says it."""
SHOWN_DIGITS = 4
"""A masked number keeps its last four digits (enough to tell two callers apart)."""
MASK = "•"
UNKNOWN_CALLER = "Unknown caller"


def state_label(state: str) -> str:
    """The plain name of a routing state (an unknown one is shown capitalised, not raw)."""
    return STATE_LABELS.get(state) or state.replace("_", " ").capitalize()


def call_state_label(state: str | None) -> str:
    """The plain name of a call's live state (connecting, connected, on hold...)."""
    if not state:
        return ""
    return CALL_STATE_LABELS.get(state) or state.replace("_", " ").capitalize()


def mask_number(number: str) -> str:
    """A phone number with all but its country prefix and last four digits hidden:
    "+6591234567" is "+65•••• 4567". Anything that is not a number is an unknown caller."""
    digits = number.removeprefix("+")
    if not digits.isdigit() or len(digits) <= SHOWN_DIGITS:
        return UNKNOWN_CALLER
    head = "+" + digits[:2] if number.startswith("+") else ""
    hidden = len(digits) - SHOWN_DIGITS - (2 if head else 0)
    return f"{head}{MASK * max(hidden, 1)} {digits[-SHOWN_DIGITS:]}"


def caller_label(name: str | None, number: str | None) -> str:
    """Who is calling: their name when the IVR knows it, else their masked number."""
    return name or mask_number(number or "")


def queue_name(config: Config, queue: str) -> str:
    """A queue's display name (its config name when it has none, or is gone)."""
    known = config.queues.get(queue)
    return (known.display_name if known else None) or queue


def menu_path(config: Config, path: Sequence[str], language: str, queue: str) -> list[str]:
    """The caller's way through the menu as the choices they heard and made ("English",
    "billing", "Account number"). Steps with no choice (opening hours, messages) and choices
    that cannot be told apart are left out: a node id is never shown."""
    labels = []
    for index, name in enumerate(path):
        node = config.nodes.get(name)
        if node is None:
            continue
        following = path[index + 1] if index + 1 < len(path) else None
        label = step_label(config, node, following, language, queue)
        if label:
            labels.append(label)
    return labels


def step_label(
    config: Config, node: Node, following: str | None, language: str, queue: str
) -> str | None:
    """The label of the choice made at `node`, which led to `following` (None: to `queue`)."""
    if node.collect is not None:
        return node.collect.name.replace("_", " ").capitalize()
    taken = [o for o in node.options if leads_to(o.then, following, queue)]
    if len(taken) > 1:  # several lead there: the one that set the caller's language
        taken = [o for o in taken if any(a.set_language == language for a in o.then)]
    return option_label(config, taken[0], language) if len(taken) == 1 else None


def leads_to(actions: Sequence[Action], following: str | None, queue: str) -> bool:
    if following is not None:
        return any(a.goto == following for a in actions)
    return any(a.queue is not None and a.queue.name == queue for a in actions)


def option_label(config: Config, option: Option, language: str) -> str | None:
    """An option as the caller knows it: the language it picks, its first keyword in the
    caller's language, or the key pressed."""
    available = config.languages.available
    for action in option.then:
        if action.set_language in available:
            return available[action.set_language].name
    words = option.speech.get(language) or option.speech.get(config.languages.default) or []
    if words:
        return words[0].capitalize()
    return f"Pressed {option.key}" if option.key else None
