"""The auto-attendant: walks a call through the menu nodes of its config.

Everything here is pure: given the config, the call session, the time and
the caller's input, it changes the session and returns the TwiML to play.
The webhooks (`ivr.voice.webhooks`) do the I/O around it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from twilio.twiml.voice_response import VoiceResponse

from ivr.config import phrases
from ivr.config.menu import Action, Language, Node, Option, QueueTarget
from ivr.config.model import Config
from ivr.config.prompts import Localized
from ivr.core.session import CallSession
from ivr.core.urls import Urls
from ivr.voice import twiml

MAX_HOPS = 25
"""Nodes entered in one request before we assume a loop (`ivr check` catches these)."""


@dataclass
class Turn:
    """One request's work: the config, the call, the time, and the TwiML being built."""

    config: Config
    call: CallSession
    now: datetime
    urls: Urls
    response: VoiceResponse
    handoff: QueueTarget | None = None
    """Set when the caller is handed to a queue: the webhook joins it in routing."""

    @property
    def language(self) -> Language:
        langs = self.config.languages
        return langs.available.get(self.call.language) or langs.available[langs.default]

    def say(self, localized: Localized | None) -> None:
        languages, name = self.config.languages, self.call.caller_name or ""
        twiml.speak_localized(self.response, languages, localized, self.call.language, name)

    @property
    def step(self) -> int:
        """The step the next action URL carries (the webhook advanced it already)."""
        return self.call.step


def start(turn: Turn) -> None:
    """Begin a new call: greet a recognised caller by name, then enter the first node."""
    menu = turn.config.menu
    customer = turn.config.customers.get(turn.call.caller)
    node = menu.start
    if customer is not None:
        turn.call.caller_name = customer.name
        if customer.language in turn.config.languages.available and menu.known_start:
            turn.call.language = customer.language
            node = menu.known_start
        turn.say(menu.greeting_known)
    turn.call.home = node
    enter(turn, node)


def enter(turn: Turn, name: str, hops: int = 0) -> None:
    """Move the caller to node `name` and render it."""
    node = turn.config.nodes.get(name)
    if node is None or hops > MAX_HOPS:
        hang_up(turn, turn.config.menu.sorry)
        return
    call = turn.call
    if call.node and call.node != name:
        call.stack.append(call.node)
    call.node, call.no_input, call.invalid = name, 0, 0
    call.path.append(name)
    if node.kind == "hours":
        is_open = turn.config.hours[node.hours or ""].is_open(turn.now)
        run(turn, (node.open if is_open else node.closed) or [], hops + 1)
    elif node.kind == "message":
        turn.say(node.prompts.long)
        run(turn, node.then or [], hops + 1)
    else:
        first = name not in call.seen
        if first:
            call.seen.append(name)
        ask(turn, node, first)


def ask(turn: Turn, node: Node, first: bool, before: Localized | None = None) -> None:
    """Render the node's question inside a `<Gather>` that posts to the next step: the long
    prompt if `first` (the first visit, or the caller asked to hear it again), else the short."""
    lang = turn.language
    hints = [w for words in keywords(turn, node) for w in words]
    collect = node.collect
    gather = twiml.gather(
        turn.urls.menu(turn.step),
        input=node.input.mode,
        timeout=node.input.timeout,
        num_digits=collect.num_digits if collect else _digits_needed(node.options),
        finish_on_key=collect.finish_on_key if collect else None,
        language=lang.speech_language or lang.say_language if "speech" in node.input.mode else None,
        hints=", ".join(hints) if hints and "speech" in node.input.mode else None,
    )
    languages, name = turn.config.languages, turn.call.caller_name or ""
    prompt = node.prompts.long if first else (node.prompts.short or node.prompts.long)
    for said in (before, prompt):
        twiml.speak_localized(gather, languages, said, turn.call.language, name)
    turn.response.append(gather)


def _digits_needed(options: list[Option]) -> int | None:
    keys = [o.key for o in options if o.key]
    return max(len(k) for k in keys) if keys and all(len(k) == len(keys[0]) for k in keys) else None


def answer(turn: Turn, digits: str, speech: str, confidence: float | None = None) -> None:
    """Act on what the caller pressed or said at their current node (`confidence`: Twilio's
    score for `speech`, when it sent one)."""
    node = turn.config.nodes.get(turn.call.node)
    if node is None or node.kind in ("hours", "message"):
        turn.say(turn.config.menu.sorry)
        turn.call.node = ""
        enter(turn, turn.call.home or turn.config.menu.start)
        return
    if not digits and not speech:
        no_input(turn, node)
    elif node.collect is not None:
        collect(turn, node, digits)
    elif not digits and not heard_clearly(turn, node, confidence):
        invalid(turn, node)
    else:
        option = match(node, digits, speech, keywords(turn, node))
        if option is None:
            invalid(turn, node)
        else:
            run(turn, option.then)


def heard_clearly(turn: Turn, node: Node, confidence: float | None) -> bool:
    """Whether speech scored `confidence` may pick an option. Twilio does not promise a
    `Confidence` with every `SpeechResult`, so speech without one counts as heard."""
    threshold = node.input.min_confidence
    if threshold is None:
        threshold = turn.config.menu.min_confidence
    return confidence is None or confidence >= threshold


def match(node: Node, digits: str, speech: str, words: list[list[str]]) -> Option | None:
    """The option picked by these digits, or by a keyword heard in the speech (`words`:
    each option's keywords, as `keywords` gives them)."""
    if digits:
        return next((o for o in node.options if o.key == digits), None)
    heard = speech.casefold()
    for option, said in zip(node.options, words, strict=True):
        if any(word.casefold() in heard for word in said):
            return option
    return None


def keywords(turn: Turn, node: Node) -> list[list[str]]:
    """The spoken keywords of each option of `node`, for this caller. Where the caller picks
    a language, every language's keywords count, and so does the name of the language an
    option sets: a caller in Thai may ask for "Bahasa Melayu", "melayu" or "ภาษาไทย"."""
    available = turn.config.languages.available
    if not any(a.kind == "set_language" for o in node.options for a in o.then):
        return [o.speech.get(turn.call.language, []) for o in node.options]
    return [
        [w for words in o.speech.values() for w in words]
        + [available[a.set_language].name for a in o.then if a.set_language in available]
        for o in node.options
    ]


def collect(turn: Turn, node: Node, digits: str) -> None:
    spec = node.collect
    assert spec is not None
    ok = digits.isdigit() and (spec.num_digits is None or len(digits) == spec.num_digits)
    if ok and spec.pattern is not None:
        ok = re.fullmatch(spec.pattern, digits) is not None
    if not ok:
        invalid(turn, node)
        return
    turn.call.data[spec.name] = digits
    run(turn, spec.then)


def no_input(turn: Turn, node: Node) -> None:
    turn.call.no_input += 1
    if turn.call.no_input >= node.input.max_no_input:
        exhausted(turn, node.input.on_no_input or turn.config.menu.on_no_input)
    else:
        ask(turn, node, first=False, before=node.prompts.no_input)


def invalid(turn: Turn, node: Node) -> None:
    turn.call.invalid += 1
    if turn.call.invalid >= node.input.max_invalid:
        exhausted(turn, node.input.on_invalid or turn.config.menu.on_invalid)
    else:
        ask(turn, node, first=False, before=node.prompts.invalid)


def exhausted(turn: Turn, actions: list[Action] | None) -> None:
    if actions:
        run(turn, actions)
    else:
        hang_up(turn, turn.config.menu.goodbye)


def run(turn: Turn, actions: list[Action], hops: int = 0) -> None:
    """Carry out a list of actions; the last one decides where the call goes."""
    for action in actions:
        kind = action.kind
        if kind == "set_language" and action.set_language in turn.config.languages.available:
            turn.call.language = action.set_language
        elif kind == "set" and action.set is not None:
            turn.call.data.update(action.set)
        elif kind == "say":
            turn.say(action.say)
        else:
            leave(turn, action, hops)
            return


def leave(turn: Turn, action: Action, hops: int) -> None:
    """A terminal action: move to another node, or hand the call off."""
    call = turn.call
    if action.goto is not None:
        enter(turn, action.goto, hops)
    elif action.back:
        back = call.stack.pop() if call.stack else call.home
        call.node = ""
        enter(turn, back, hops)
    elif action.top:
        call.node, call.stack = "", []
        enter(turn, call.home or turn.config.menu.start, hops)
    elif action.repeat:
        # "To hear this again" asks for all of it: the long prompt, not the reminder.
        node = turn.config.nodes[call.node]
        ask(turn, node, first=True)
    else:
        hand_off(turn, action)


def hand_off(turn: Turn, action: Action) -> None:
    """Queue, transfer, voicemail or hang up: the call leaves the menu."""
    call = turn.call
    if action.queue is not None:
        call.queue, call.outcome = action.queue.name, "queued"
        call.priority = action.queue.priority or 0
        queue = turn.config.queues.get(action.queue.name)
        turn.say(queue.entry_message if queue else None)
        turn.handoff = action.queue
    elif action.transfer is not None:
        call.outcome = "transferred"
        turn.say(action.transfer.message)
        dial = turn.response.dial(
            action=turn.urls.transfer(turn.step),
            timeout=action.transfer.timeout,
            caller_id=call.called or None,
        )
        dial.number(action.transfer.number)
    elif action.voicemail is not None:
        call.outcome = "voicemail"
        turn.say(action.voicemail.prompt)
        turn.response.record(
            action=turn.urls.voicemail(turn.step),
            max_length=action.voicemail.max_length,
            finish_on_key="#",
            play_beep=True,
        )
    elif action.callback is not None:
        # A scheduled callback (ivr/voice/callback.py): confirm the number, pick a slot.
        call.outcome = "callback"
        target = str(action.callback.get("queue", ""))
        turn.response.redirect(turn.urls.callback("menu", mode="menu", queue=target))
    else:
        hang_up(turn, action.hangup.message if action.hangup else None)


def hang_up(turn: Turn, message: Localized | None) -> None:
    turn.call.outcome = turn.call.outcome or "hangup"
    if message:
        turn.say(message)
    else:
        goodbye = phrases.text(turn.config, turn.call.language, "menu.goodbye")
        twiml.say(turn.response, goodbye, turn.language)
    turn.response.hangup()
