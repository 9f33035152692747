"""Plain words for `ivr demo`: what a caller heard, what a key meant, who may answer.

Everything is read from the live config, so the narration follows the menu and
queues an admin wrote: a key's meaning is the option it picks at the node the
caller is at (from the call session), a queue is named by its `display_name`,
and an escalation step is described by the skills it asks for.
"""

from __future__ import annotations

from ivr.config.menu import Action, Node, Option
from ivr.config.model import Config
from ivr.config.queues import QueueConfig
from ivr.core.session import CallSession
from ivr.devtools.emulator.calls import Utterance
from ivr.voice import attendant

CLIP_CHARS = 48
"""A text already shown once in full is shown again cut to this length."""
MAX_HOPS = 5
"""How far a key's meaning is followed through `goto`s (menu -> collect -> queue)."""


class Transcript:
    """Quotes what people hear: in full the first time, clipped when it comes again."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.seen: set[str] = set()

    def quote(self, text: str) -> str:
        if text in self.seen and len(text) > CLIP_CHARS:
            return f'"{text[:CLIP_CHARS].rstrip()}…"'
        self.seen.add(text)
        return f'"{text}"'

    def heard(self, utterance: Utterance) -> str | None:
        """`(en) "Welcome…"` for speech, `the tone` for a beep; None for music and pauses."""
        if utterance.kind == "beep":
            return "the tone"
        if utterance.kind != "say" or not utterance.text:
            return None
        return f"({language_code(self.config, utterance.language)}) {self.quote(utterance.text)}"


def language_code(config: Config, spoken: str) -> str:
    """The config's language code (`ms`) for a TTS language (`ms-MY`)."""
    for code, language in config.languages.available.items():
        if spoken in (language.say_language, code):
            return code
    base = spoken.split("-")[0]  # a built-in phrase's en-US
    return base if base in config.languages.available else spoken or "?"


def queue_name(config: Config, queue: str) -> str:
    """The name callers and supervisors know a queue by: its `display_name`."""
    found = config.queues.get(queue)
    return (found.display_name if found is not None else None) or queue


def key_meaning(config: Config, session: CallSession | None, kind: str, value: str) -> str:
    """What pressing `value` (or saying it) does at the caller's current menu node."""
    if session is None or session.outcome:  # the call has left the menu (a queue, a recording)
        return ""
    node = config.nodes.get(session.node)
    if node is None or node.kind != "menu":
        return ""
    option = picked(node, kind, value)
    return "" if option is None else describe(config, option.then)


def picked(node: Node, kind: str, value: str) -> Option | None:
    """The option these keys or words pick (any language's keywords count, for the story)."""
    words = [[w for said in o.speech.values() for w in said] for o in node.options]
    if kind == "press":
        return attendant.match(node, value, "", words)
    return attendant.match(node, "", value, words)


def describe(config: Config, actions: list[Action], hops: int = 0) -> str:
    """The first action that says where the call goes, in a few words."""
    for action in actions:
        words = action_words(config, action, hops)
        if words:
            return words
    return ""


def action_words(config: Config, action: Action, hops: int) -> str:
    if action.set_language is not None:
        return config.languages.of(action.set_language).name
    if action.queue is not None:
        return queue_name(config, action.queue.name)
    if action.goto is not None:
        node = config.nodes.get(action.goto)
        return node_words(config, node, hops + 1) or action.goto.replace("_", " ")
    if action.voicemail is not None:
        return "leave a message"
    if action.repeat:
        return "hear this again"
    if action.callback is not None:
        return "a callback"
    if action.transfer is not None:
        return "a person on another line"
    return ""


def node_words(config: Config, node: Node | None, hops: int) -> str:
    """Where a node leads: a collect node to where its entry goes, a message to its `then`."""
    if node is None or hops > MAX_HOPS:
        return ""
    if node.collect is not None:
        return describe(config, node.collect.then, hops)
    if node.kind == "message" and node.then:
        return describe(config, node.then, hops)
    return ""


def collected(session: CallSession | None, config: Config) -> str:
    """`account number` when the caller is at a collect node named `account_number`."""
    node = config.nodes.get(session.node) if session is not None else None
    if node is None or node.collect is None:
        return ""
    return node.collect.name.replace("_", " ")


def who_may_answer(config: Config, queue: str, step: int, language: str) -> str:
    """`an agent with billing 4+ who speaks th` at escalation `step` (0: the first)."""
    found = config.queues.get(queue)
    if found is None:
        return "any agent"
    skills, speaks = step_requirement(found, step)
    parts = [f"{skill} {level}+" for skill, level in sorted(skills.items())]
    who = f"an agent with {', '.join(parts)}" if parts else "any agent"
    return f"{who} who speaks {language}" if speaks and language else f"{who} in any language"


def step_requirement(queue: QueueConfig, step: int) -> tuple[dict[str, int], bool]:
    """The skills and whether the caller's language is needed at escalation `step`: the
    queue's own skills raised by the step's, and after the last step the queue's own."""
    if step >= len(queue.escalation):
        return dict(queue.required_skills), queue.language_required
    esc = queue.escalation[step]
    skills = {**queue.required_skills}
    for skill, level in esc.required_skills.items():
        skills[skill] = max(level, skills.get(skill, 0))
    speaks = queue.language_required if esc.language_required is None else esc.language_required
    return skills, speaks
