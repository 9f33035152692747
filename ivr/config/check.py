"""Semantic checks of a validated config, and the `ivr check` command.

Pydantic checks each value on its own; the checks here need the whole config:
references between sections, the shape of action lists, loops a caller cannot
leave, prompts missing for a language, phone numbers. Each problem is pinned
to the file:line:column where the offending value is written.
"""

from __future__ import annotations

import difflib
import re
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ivr.config import phrases, texting
from ivr.config.menu import Action, Node
from ivr.config.model import Config, DataPath, Positions
from ivr.config.prompts import Localized
from ivr.config.queues import (
    Hangup,
    OverflowAction,
    QueueConfig,
    ToQueue,
    step_languages,
    step_requirements,
)
from ivr.core import numbers, voices
from ivr.core.errors import Problem

EXIT_ACTIONS = frozenset({"queue", "transfer", "voicemail", "hangup", "callback"})
"""Actions that take the call out of the menu for good."""
UNAVAILABLE_ACTIONS: dict[str, tuple[str, str]] = {}
"""Actions the schema knows but the service cannot perform yet: kind -> message, hint."""
DTMF_KEY = re.compile(r"[0-9*#]+")
PROMPT_KINDS = ("long", "short", "no_input", "invalid")
MENU_PROMPTS = ("greeting_known", "goodbye", "sorry")
RETRY_LISTS = ("on_no_input", "on_invalid")
ActionList = tuple["DataPath", list[Action]]


@dataclass
class Context:
    """The config being checked, where its values were written, and what was found."""

    config: Config
    positions: Positions
    found: list[Problem] = field(default_factory=list)

    def error(self, path: DataPath, message: str, hint: str = "") -> None:
        self.found.append(self.positions.problem(path, message, hint))

    def warn(self, path: DataPath, message: str, hint: str = "") -> None:
        self.found.append(self.positions.problem(path, message, hint, "warning"))


def problems(config: Config, positions: Positions) -> list[Problem]:
    """Every semantic problem of a config that passed schema validation."""
    context = Context(config, positions)
    for check in CHECKS:
        check(context)
    return context.found


def normalise_customers(sections: dict[str, Any], positions: Positions) -> list[Problem]:
    """Rewrite customer numbers such as `+60 12-345 6789` to E.164, before validation."""
    customers = sections.get("customers")
    if not isinstance(customers, dict):
        return []
    found: list[Problem] = []
    rewritten: dict[Any, Any] = {}
    for key, value in customers.items():
        number = numbers.e164(key) if isinstance(key, str) else None
        new_key = number or key
        if new_key in rewritten:
            message = f"customer {key!r} is the same number as {new_key!r} above"
            found.append(positions.problem(("customers", key), message, "delete one of them"))
            continue
        rewritten[new_key] = value
        positions.copy(("customers", key), ("customers", new_key), value)
    sections["customers"] = rewritten
    return found


def suggest(name: str, known: Iterable[str]) -> str:
    """`did you mean 'x'?`, or a list of what exists."""
    names = sorted(known)
    close = difflib.get_close_matches(name, names, n=1)
    if close:
        return f"did you mean '{close[0]}'?"
    return "known: " + ", ".join(names) if names else "none are defined"


def dotted(path: Iterable[Any]) -> str:
    """A data path as an admin would write it: `nodes.main.options[0].then`."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        elif part != "[key]":
            text += f".{part}" if text else str(part)
    return text or "the config"


# Action lists -------------------------------------------------------------------------


def node_lists(name: str, node: Node) -> Iterator[ActionList]:
    """Every action list written in a node, with its data path."""
    base: DataPath = ("nodes", name)
    for key in ("then", "open", "closed"):
        actions = getattr(node, key)
        if actions is not None:
            yield (*base, key), actions
    for index, option in enumerate(node.options):
        yield (*base, "options", index, "then"), option.then
    if node.collect is not None:
        yield (*base, "collect", "then"), node.collect.then
    for key in RETRY_LISTS:
        actions = getattr(node.input, key)
        if actions is not None:
            yield (*base, "input", key), actions


def all_lists(config: Config) -> Iterator[ActionList]:
    """Every action list in the config: the nodes' and the menu's defaults."""
    for name, node in config.nodes.items():
        yield from node_lists(name, node)
    for key in RETRY_LISTS:
        actions = getattr(config.menu, key)
        if actions is not None:
            yield ("menu", key), actions


def all_actions(config: Config) -> Iterator[tuple[DataPath, Action]]:
    """Every action, with the data path of its key."""
    for path, actions in all_lists(config):
        for index, action in enumerate(actions):
            yield (*path, index, action.kind), action


# References -----------------------------------------------------------------------------


def check_start(ctx: Context) -> None:
    """`menu.start` and `menu.known_start` name nodes."""
    for key in ("start", "known_start"):
        target = getattr(ctx.config.menu, key)
        if target is not None and target not in ctx.config.nodes:
            hint = suggest(target, ctx.config.nodes)
            ctx.error(("menu", key), f"menu.{key} names an unknown node '{target}'", hint)


def check_languages(ctx: Context) -> None:
    """The default language and the customers' languages are declared ones."""
    languages = ctx.config.languages
    if languages.default not in languages.available:
        hint = suggest(languages.default, languages.available)
        ctx.error(
            ("languages", "default"),
            f"default language '{languages.default}' is not in languages.available",
            hint,
        )
    for number, customer in ctx.config.customers.items():
        if customer.language is not None and customer.language not in languages.available:
            hint = suggest(customer.language, languages.available)
            ctx.error(
                ("customers", number, "language"), f"unknown language '{customer.language}'", hint
            )


def check_timezone(ctx: Context) -> None:
    """`company.timezone` is an IANA zone."""
    try:
        ZoneInfo(ctx.config.company.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        message = f"unknown IANA timezone '{ctx.config.company.timezone}'"
        ctx.error(("company", "timezone"), message, "use a name such as 'Asia/Kuala_Lumpur'")


def check_customers(ctx: Context) -> None:
    """Customer keys are phone numbers in E.164 form."""
    for number in ctx.config.customers:
        if numbers.e164(number) != number:
            message = f"customer {number!r} is not a phone number"
            ctx.error(("customers", number), message, 'write it in E.164 form, e.g. "+60123456789"')


def check_numbers(ctx: Context) -> None:
    """The business's own numbers are E.164, each written once."""
    seen: set[str] = set()
    for index, number in enumerate(ctx.config.numbers):
        if numbers.e164(number) != number:
            hint = 'write it in E.164 form, e.g. "+60312345678"'
            ctx.error(("numbers", index), f"number {number!r} is not a phone number", hint)
        elif number in seen:
            ctx.error(("numbers", index), f"number {number} is listed twice", "delete one")
        seen.add(number)


def check_node_fields(ctx: Context) -> None:
    """Hours nodes name a schedule; collect patterns are regular expressions."""
    for name, node in ctx.config.nodes.items():
        if node.hours is not None and node.hours not in ctx.config.hours:
            hint = suggest(node.hours, ctx.config.hours)
            ctx.error(("nodes", name, "hours"), f"unknown hours schedule '{node.hours}'", hint)
        if node.collect is not None and node.collect.pattern is not None:
            _check_pattern(ctx, ("nodes", name, "collect", "pattern"), node.collect.pattern)


def _check_pattern(ctx: Context, path: DataPath, pattern: str) -> None:
    try:
        re.compile(pattern)
    except re.error as exc:
        ctx.error(
            path,
            f"pattern is not a valid regular expression: {exc}",
            "fix the pattern; write it in single quotes",
        )


def check_action_targets(ctx: Context) -> None:
    """Every action names a node, queue, language or number that exists, and is available."""
    for path, action in all_actions(ctx.config):
        _check_target(ctx, path, action)
        if action.kind in UNAVAILABLE_ACTIONS:
            ctx.error(path, *UNAVAILABLE_ACTIONS[action.kind])


def _check_target(ctx: Context, path: DataPath, action: Action) -> None:
    config = ctx.config
    if action.goto is not None and action.goto not in config.nodes:
        ctx.error(
            path, f"goto names an unknown node '{action.goto}'", suggest(action.goto, config.nodes)
        )
    if action.callback is not None:
        name = str(action.callback.get("queue", ""))
        if name not in config.queues:
            hint = suggest(name, config.queues)
            ctx.error(path, f"callback names an unknown queue '{name}'", hint)
    if action.queue is not None and action.queue.name not in config.queues:
        name = action.queue.name
        ctx.error(path, f"unknown queue '{name}'", suggest(name, config.queues))
    language = action.set_language
    if language is not None and language not in config.languages.available:
        hint = suggest(language, config.languages.available)
        ctx.error(path, f"set_language to '{language}', which is not in languages.available", hint)
    if action.transfer is not None:
        _check_number(ctx, path, action.transfer.number)


def _check_number(ctx: Context, path: DataPath, number: str) -> None:
    normal = numbers.e164(number)
    if normal is None:
        ctx.error(
            path,
            f"transfer number {number!r} is not a phone number",
            'write it in E.164 form, e.g. "+60123456789"',
        )
    elif normal != number:
        ctx.error(
            path, f"transfer number {number!r} is not in E.164 form", f'write it as "{normal}"'
        )
    elif numbers.e164(number, valid=True) is None:
        ctx.warn(
            path, f"transfer number {number!r} is not an assigned number range", "check the number"
        )


# Options ------------------------------------------------------------------------------------


def check_options(ctx: Context) -> None:
    """Within a node, each DTMF key and each spoken keyword picks one option."""
    for name, node in ctx.config.nodes.items():
        _check_keys(ctx, name, node)
        _check_keywords(ctx, name, node)


def _check_keys(ctx: Context, name: str, node: Node) -> None:
    first: dict[str, int] = {}
    for index, option in enumerate(node.options):
        key, path = option.key, ("nodes", name, "options", index, "key")
        if key is None:
            continue
        if not DTMF_KEY.fullmatch(key):
            ctx.error(path, f"key {key!r} cannot be pressed on a phone", "use digits, * or #")
        if key in first:
            line = ctx.positions.locate(("nodes", name, "options", first[key], "key"))[1]
            ctx.error(
                path,
                f"key {key!r} is used twice in node '{name}' (also on line {line})",
                "give each option its own key",
            )
        first.setdefault(key, index)


def _check_keywords(ctx: Context, name: str, node: Node) -> None:
    first: dict[tuple[str, str], DataPath] = {}
    for path, language, word in _keywords(name, node):
        slot = (language, word.strip().casefold())
        earlier = first.setdefault(slot, path)
        if earlier[3] != path[3]:
            line = ctx.positions.locate(earlier)[1]
            picks = f"{_option(node, earlier[3])} (line {line}) and {_option(node, path[3])}"
            message = f"'{word}' ({language}) picks both {picks} of '{name}'"
            ctx.error(path, message, "keep the keyword on one option only")


def _option(node: Node, index: int) -> str:
    """An option as the admin sees it: by its key, else by its place counted from 1."""
    key = node.options[index].key
    return f"key '{key}'" if key is not None else f"option {index + 1}"


def _keywords(name: str, node: Node) -> Iterator[tuple[DataPath, str, str]]:
    for index, option in enumerate(node.options):
        for language, words in option.speech.items():
            for position, word in enumerate(words):
                yield (
                    ("nodes", name, "options", index, "speech", language, position),
                    language,
                    word,
                )


# Shapes of action lists and nodes ---------------------------------------------------------------


def check_lists(ctx: Context) -> None:
    """Each action list ends with exactly one terminal action, as its last action."""
    for path, actions in all_lists(ctx.config):
        for index, action in enumerate(actions[:-1]):
            if action.terminal:
                message = f"`{action.kind}` leaves the node, so the actions after it never run"
                ctx.error(
                    (*path, index, action.kind),
                    message,
                    "make it the last action or delete the ones after it",
                )
        if not actions or not actions[-1].terminal:
            ctx.error(
                path,
                "this action list never leaves the node",
                "end it with goto, queue, transfer, voicemail, hangup, back, top or repeat",
            )


def check_node_shapes(ctx: Context) -> None:
    """Message nodes say what comes next; hours nodes say where to go when open and closed."""
    for name, node in ctx.config.nodes.items():
        path: DataPath = ("nodes", name)
        if node.kind == "message" and node.then is None:
            ctx.error(
                path,
                f"message node '{name}' has no `then`",
                "add `then:` with what happens after the prompt, e.g. `then: hangup`",
            )
        if node.kind == "hours":
            for key in ("open", "closed"):
                if getattr(node, key) is None:
                    ctx.error(
                        path,
                        f"hours node '{name}' has no `{key}`",
                        f"add `{key}:` with where to go when {key}",
                    )


# The call graph ----------------------------------------------------------------------------------


def retry_lists(config: Config, node: Node) -> Iterator[list[Action] | None]:
    """What a menu or collect node does when retries run out (None: hang up with goodbye)."""
    for key in RETRY_LISTS:
        yield getattr(node.input, key) or getattr(config.menu, key)


def live_lists(config: Config, node: Node) -> Iterator[list[Action] | None]:
    """The action lists the engine can run for a node, by kind (None: it ends the call)."""
    if node.kind == "message":
        yield node.then
    elif node.kind == "hours":
        yield from (node.open, node.closed)
    else:
        yield from (option.then for option in node.options)
        if node.collect is not None:
            yield node.collect.then
        yield from retry_lists(config, node)


def successors(config: Config, name: str, node: Node) -> tuple[set[str], bool]:
    """The nodes a call can go to next from `name`, and whether it can leave the menu there.

    A list that is missing, has no terminal action or names an unknown node counts as
    a way out here: those are reported as errors of their own.
    """
    targets: set[str] = set()
    leaves = False
    for actions in live_lists(config, node):
        terminal = next((a for a in actions or [] if a.terminal), None)
        target = _target(config, name, terminal)
        if target is None:
            leaves = True
        elif target != "back":
            targets.add(target)
    return targets, leaves


def _target(config: Config, name: str, action: Action | None) -> str | None:
    """The node an action goes to, `back`, or None when the call leaves the menu."""
    if action is None or action.kind in EXIT_ACTIONS:
        return None
    if action.kind == "goto":
        return action.goto if action.goto in config.nodes else None
    if action.kind == "top":
        return config.menu.start if config.menu.start in config.nodes else None
    return "back" if action.kind == "back" else name


@dataclass
class Graph:
    """Which node leads to which, and which nodes can leave the menu directly."""

    edges: dict[str, set[str]]
    exits: set[str]

    @classmethod
    def of(cls, config: Config) -> Graph:
        edges: dict[str, set[str]] = {}
        exits: set[str] = set()
        for name, node in config.nodes.items():
            edges[name], leaves = successors(config, name, node)
            if leaves:
                exits.add(name)
        cls._add_back(config, edges)
        return cls(edges, exits)

    @staticmethod
    def _add_back(config: Config, edges: dict[str, set[str]]) -> None:
        # `back` returns to the node the caller came from: any node that leads here.
        for name, node in config.nodes.items():
            if any(_has_back(actions) for actions in live_lists(config, node)):
                edges[name] |= {source for source, targets in edges.items() if name in targets}

    def reach(self, starts: Iterable[str]) -> set[str]:
        """Every node reachable from `starts` (including them)."""
        seen: set[str] = set()
        todo = [s for s in starts if s in self.edges]
        while todo:
            name = todo.pop()
            if name not in seen:
                seen.add(name)
                todo.extend(self.edges[name] - seen)
        return seen

    def can_leave(self) -> set[str]:
        """The nodes from which some path leads out of the menu."""
        leaving = set(self.exits)
        changed = True
        while changed:
            more = {
                n for n, targets in self.edges.items() if n not in leaving and targets & leaving
            }
            leaving |= more
            changed = bool(more)
        return leaving


def _has_back(actions: list[Action] | None) -> bool:
    return any(a.kind == "back" for a in actions or [])


def check_reachable(ctx: Context) -> None:
    """Every node can be reached from the start (a warning: it is dead config, not a fault)."""
    menu = ctx.config.menu
    reached = Graph.of(ctx.config).reach(n for n in (menu.start, menu.known_start) if n)
    for name in ctx.config.nodes:
        if name not in reached:
            ctx.warn(
                ("nodes", name),
                f"node '{name}' is never reached",
                "goto it from another node, or delete it",
            )


def check_loops(ctx: Context) -> None:
    """From every node, some path leads out of the menu (queue, transfer, voicemail, hangup)."""
    graph = Graph.of(ctx.config)
    stuck = set(ctx.config.nodes) - graph.can_leave()
    reported: set[str] = set()
    for name in ctx.config.nodes:
        if name in stuck and name not in reported:
            loop = graph.reach([name])
            reported |= loop
            names = ", ".join(sorted(loop))
            message = f"calls that reach '{name}' can never leave: every path leads back to {names}"
            ctx.error(
                ("nodes", name), message, "add a way out such as `queue`, `voicemail` or `hangup`"
            )


# Prompts ------------------------------------------------------------------------------------------


def localized_prompts(config: Config) -> Iterator[tuple[DataPath, Localized, bool]]:
    """Every localized prompt, with its path and whether the default language is required."""
    for key in MENU_PROMPTS:
        yield from _maybe(("menu", key), getattr(config.menu, key), required=False)
    for name, node in config.nodes.items():
        if _selects_language(node):
            continue  # its items name their own TTS language; one prompt serves everyone
        for key in PROMPT_KINDS:
            yield from _maybe(
                ("nodes", name, "prompts", key), getattr(node.prompts, key), key == "long"
            )
    for path, action in all_actions(config):
        yield from _action_prompts(path, action)


def _action_prompts(path: DataPath, action: Action) -> Iterator[tuple[DataPath, Localized, bool]]:
    yield from _maybe(path, action.say, required=False)
    if action.voicemail is not None:
        yield from _maybe((*path, "prompt"), action.voicemail.prompt, required=False)
    if action.hangup is not None:
        yield from _maybe((*path, "message"), action.hangup.message, required=False)
    if action.transfer is not None:
        yield from _maybe((*path, "message"), action.transfer.message, required=False)


def _maybe(
    path: DataPath, prompt: Localized | None, required: bool
) -> Iterator[tuple[DataPath, Localized, bool]]:
    if prompt is not None:
        yield path, prompt, required


def _selects_language(node: Node) -> bool:
    return any(a.kind == "set_language" for o in node.options for a in o.then)


def check_prompts(ctx: Context) -> None:
    """Each prompt exists in every declared language, or falls back to the default one."""
    languages = ctx.config.languages
    for path, prompt, required in localized_prompts(ctx.config):
        for code in prompt:
            if code not in languages.available:
                ctx.warn(
                    (*path, code),
                    f"prompt in '{code}', which is not in languages.available",
                    "add the language there or delete this prompt",
                )
        missing = [code for code in languages.available if code not in prompt]
        if languages.default not in prompt:
            _missing_default(ctx, path, missing, required)
        elif missing:
            ctx.warn(
                path,
                f"{dotted(path)} has no prompt in {', '.join(missing)}",
                f"falls back to {languages.default}",
            )


def _missing_default(ctx: Context, path: DataPath, missing: list[str], required: bool) -> None:
    default = ctx.config.languages.default
    message = f"{dotted(path)} has no prompt in the default language '{default}'"
    hint = f"callers in {', '.join(missing)} hear nothing here; add `{default}: ...`"
    (ctx.error if required else ctx.warn)(path, message, hint)


def check_silent_menus(ctx: Context) -> None:
    """Menu and collect nodes say something before waiting for the caller."""
    for name, node in ctx.config.nodes.items():
        if node.kind in ("menu", "collect") and node.prompts.long is None:
            ctx.warn(
                ("nodes", name),
                f"node '{name}' waits for input without saying anything",
                "add `prompts: {long: ...}`",
            )


# Queues and agents --------------------------------------------------------------------------


def check_queues(ctx: Context) -> None:
    """Queue hours exist, and someone can answer each queue (overflows: `check_overflows`)."""
    config = ctx.config
    for name, queue in config.queues.items():
        path: DataPath = ("queues", name)
        if queue.hold.hours is not None and queue.hold.hours not in config.hours:
            ctx.error(
                (*path, "hold", "hours"),
                f"unknown hours '{queue.hold.hours}'",
                suggest(queue.hold.hours, config.hours),
            )
        if config.agents and not _check_queue_skills(ctx, name, queue):
            _check_answerable(ctx, name, queue)


def _check_answerable(ctx: Context, name: str, queue: QueueConfig) -> None:
    """Warn when no single agent has every skill the queue requires, at the levels asked."""
    agents = ctx.config.agents.values()
    if not any(_can_answer(a.skills, queue.required_skills) for a in agents):
        levels = ", ".join(f"{s} {n}" for s, n in sorted(queue.required_skills.items()))
        ctx.warn(
            ("queues", name, "required_skills"),
            f"no agent has all the skills queue '{name}' requires: {levels}",
            "give one agent all of them in agents.yaml, or lower the levels",
        )


def _can_answer(skills: dict[str, int], required: dict[str, int]) -> bool:
    return all(skills.get(skill, 0) >= level for skill, level in required.items())


# Skill names ---------------------------------------------------------------------------------


def required_skills(queue: QueueConfig) -> Iterator[tuple[DataPath, str]]:
    """Each skill a queue requires, with its path inside the queue: its own requirement's,
    then each escalation step's."""
    for skill in queue.required_skills:
        yield ("required_skills", skill), skill
    for index, step in enumerate(queue.escalation):
        for skill in step.required_skills:
            yield ("escalation", index, "required_skills", skill), skill


def asked_skills(config: Config) -> dict[str, DataPath]:
    """Every skill some queue requires or prefers, with the first place that asks for it."""
    asked: dict[str, DataPath] = {}
    for name, queue in config.queues.items():
        for path, skill in required_skills(queue):
            asked.setdefault(skill, ("queues", name, *path))
        for skill in queue.preferred_skills:
            asked.setdefault(skill, ("queues", name, "preferred_skills", skill))
    return asked


def _written(ctx: Context, path: DataPath) -> str:
    """`agents.yaml:10`: the file name and line where `path` is written."""
    file, line, _column = ctx.positions.locate(path)
    return f"{Path(file).name}:{line}"


def skill_holders(config: Config) -> dict[str, str]:
    """Each skill some agent has, with the first such agent."""
    holders: dict[str, str] = {}
    for name, agent in config.agents.items():
        for skill in agent.skills:
            holders.setdefault(skill, name)
    return holders


def _check_queue_skills(ctx: Context, name: str, queue: QueueConfig) -> bool:
    """Report each skill the queue requires that no agent has; whether there was one.

    A near miss of an agent's skill is a typo (an error). A skill like none an agent has is
    a queue not staffed yet (a warning): the service runs, and its callers are moved on with
    `no_agents_action` (`ivr simulate` staffs billing only, for one).
    """
    holders = skill_holders(ctx.config)
    unknown = [(path, skill) for path, skill in required_skills(queue) if skill not in holders]
    for path, skill in unknown:
        message = f"queue '{name}' requires skill '{skill}', which no agent has"
        close = next(iter(difflib.get_close_matches(skill, holders, n=1)), None)
        if close is None:
            hint = "add it to an agent in agents.yaml; agents have: " + ", ".join(sorted(holders))
            ctx.warn(("queues", name, *path), message, hint)
        else:
            written = _written(ctx, ("agents", holders[close], "skills", close))
            hint = f"did you mean '{close}'? {holders[close]} has it, at {written}"
            ctx.error(("queues", name, *path), message, hint)
    return bool(unknown)


def check_agent_skills(ctx: Context) -> None:
    """Each agent skill is a language or one some queue asks for: a near miss of an asked
    skill is a typo (an error); a skill like none asked for is kept for later (a warning)."""
    config = ctx.config
    asked = asked_skills(config)
    known = set(asked) | set(config.languages.available)
    for name, agent in config.agents.items():
        for skill in agent.skills:
            if skill not in known:
                _unasked_skill(ctx, ("agents", name, "skills", skill), asked, known)


def _unasked_skill(
    ctx: Context, path: DataPath, asked: dict[str, DataPath], known: set[str]
) -> None:
    skill = path[-1]
    message = f"agent '{path[1]}' has skill '{skill}', which no queue asks for"
    close = next(iter(difflib.get_close_matches(skill, known, n=1)), None)
    if close is None:
        ctx.warn(path, message, "queues ask for: " + (", ".join(sorted(asked)) or "none"))
    elif close not in asked:
        ctx.error(path, message, f"did you mean '{close}'? a language in languages.available")
    elif close in skill_holders(ctx.config):
        where = f"{dotted(asked[close][:2])} asks for it, at {_written(ctx, asked[close])}"
        ctx.error(path, message, f"did you mean '{close}'? {where}")
    # else no agent has the asked skill either: the queue reports it, naming this skill


OVERFLOW_FIELDS: tuple[tuple[str, ...], ...] = (
    ("when_full",),
    ("when_max_wait",),
    ("no_agents_action",),
    ("hold", "when_estimated_wait"),
    ("hold", "when_closed"),
)
"""Where a queue names an overflow action: entry (full, no agents), max wait, estimated
wait at entry, closing time; `no_agents_action` also runs when nobody logged in can ever
serve a waiting caller."""


def overflow_actions(queue: QueueConfig) -> Iterator[tuple[tuple[str, ...], OverflowAction]]:
    """Each overflow action of a queue, with its path inside the queue."""
    for fields in OVERFLOW_FIELDS:
        value: Any = queue
        for name in fields:
            value = getattr(value, name)
        yield fields, value


def check_overflows(ctx: Context) -> None:
    """Every overflow action can be carried out: a known other queue, callbacks switched on
    for a callback, words for a hang-up; entry overflows do not go round in a circle."""
    config = ctx.config
    for name, queue in config.queues.items():
        for fields, action in overflow_actions(queue):
            _check_overflow(ctx, ("queues", name, *fields), name, action)
    for name in config.queues:
        cycle = _entry_cycle(config, name)
        if cycle and cycle[0] == name:
            ctx.error(
                ("queues", name),
                "entry overflows go round in a circle: " + " → ".join([*cycle, name]),
                "end the chain with voicemail, callback or a hang-up message",
            )


def _check_overflow(ctx: Context, path: DataPath, name: str, action: OverflowAction) -> None:
    config = ctx.config
    if isinstance(action, ToQueue) and action.queue == name:
        ctx.error(path, f"queue '{name}' overflows into itself", "name another queue")
    elif isinstance(action, ToQueue) and action.queue not in config.queues:
        ctx.error(
            path,
            f"overflow to unknown queue '{action.queue}'",
            suggest(action.queue, config.queues),
        )
    elif action == "callback" and not config.callbacks.enabled:
        ctx.error(
            path,
            "a callback overflow needs callbacks, which are switched off",
            "set `callbacks.enabled: true`, or choose voicemail",
        )
    elif isinstance(action, Hangup) and not action.hangup.strip():
        ctx.error(path, "a hang-up overflow with no message", "write what the caller hears")


def _entry_cycle(config: Config, start: str) -> list[str]:
    """The queues an entry overflow chain from `start` visits, if it comes back round."""
    seen: list[str] = []
    name: str | None = start
    while name is not None and name in config.queues:
        if name in seen:
            return seen[seen.index(name) :]
        seen.append(name)
        queue = config.queues[name]
        targets = [queue.when_full]
        if queue.when_no_agents == "divert":
            targets.append(queue.no_agents_action)
        name = next((t.queue for t in targets if isinstance(t, ToQueue)), None)
    return []


# Who can answer whom ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Reached:
    """A queue action a caller can reach, in a language, and the menu path that leads there."""

    path: DataPath
    queue: str
    language: str
    steps: tuple[str, ...]


def menu_paths(config: Config) -> Iterator[Reached]:
    """Each (queue action, caller language) the menu can hand a call to, by its shortest path
    from the start (then from `known_start`, for each language customers are known in)."""
    starts: list[tuple[str, str, tuple[str, ...]]] = [
        (config.menu.start, config.languages.default, ())
    ]
    if config.menu.known_start:
        spoken = {c.language for c in config.customers.values() if c.language}
        for code in sorted(spoken & set(config.languages.available)):
            starts.append((config.menu.known_start, code, (f"known caller in {code}",)))
    found: set[tuple[DataPath, str]] = set()
    for start in starts:
        for reached in _walk(config, start):
            if (reached.path, reached.language) not in found:
                found.add((reached.path, reached.language))
                yield reached


def _walk(config: Config, start: tuple[str, str, tuple[str, ...]]) -> Iterator[Reached]:
    """Breadth first from one start: each queue action reached, in each language."""
    seen: set[tuple[str, str]] = set()
    todo: deque[tuple[str, str, tuple[str, ...]]] = deque([start])
    while todo:
        name, language, steps = todo.popleft()
        if (name, language) in seen or name not in config.nodes:
            continue
        seen.add((name, language))
        words = config.languages.default
        for path, actions, label in labelled_lists(name, config.nodes[name], words):
            outcome = _follow(config, path, actions, language)
            if isinstance(outcome, Reached):
                yield Reached(outcome.path, outcome.queue, outcome.language, (*steps, label))
            elif outcome is not None:
                todo.append((outcome[0], outcome[1], (*steps, label)))


def labelled_lists(
    name: str, node: Node, language: str
) -> Iterator[tuple[DataPath, list[Action], str]]:
    """A node's action lists, each with how a caller picks it: "main 1 (billing)", with the
    first keyword in `language` (else in any)."""
    base: DataPath = ("nodes", name)
    for index, option in enumerate(node.options):
        words = option.speech.get(language) or next(iter(option.speech.values()), [])
        label = f"{name} {option.key or ''}".rstrip() + (f" ({words[0]})" if words else "")
        yield (*base, "options", index, "then"), option.then, label
    if node.collect is not None:
        yield (*base, "collect", "then"), node.collect.then, f"{name} ({node.collect.name})"
    for key in ("then", "open", "closed"):
        actions = getattr(node, key)
        if actions is not None:
            yield (*base, key), actions, name if key == "then" else f"{name} {key}"
    for key in RETRY_LISTS:
        actions = getattr(node.input, key)
        if actions is not None:
            yield (*base, "input", key), actions, f"{name} ({key.removeprefix('on_')})"


def _follow(
    config: Config, path: DataPath, actions: list[Action], language: str
) -> Reached | tuple[str, str] | None:
    """Run a list's actions for their effect on the caller: the queue it hands the call to,
    the node and language it goes on with, or None when it leaves another way."""
    for index, action in enumerate(actions):
        if action.kind == "set_language" and action.set_language in config.languages.available:
            language = action.set_language
        elif action.queue is not None:
            return Reached((*path, index, "queue"), action.queue.name, language, ())
        elif action.kind == "goto":
            return str(action.goto), language
        elif action.kind == "top":
            return config.menu.start, language
        elif action.terminal:
            return None
    return None


def requirement_steps(queue: QueueConfig) -> list[tuple[dict[str, int], bool]]:
    """The skills each step of a queue requires, and whether it asks for the language."""
    return list(zip(step_requirements(queue), step_languages(queue), strict=True))


def unserved(config: Config, queue: QueueConfig, language: str) -> str:
    """Why no configured agent can ever take a caller of `language` in `queue`, or "".

    Only the language is judged here (a queue nobody has the skills for is warned about on
    its own): routing asks for the caller's language when the queue requires it and some
    agent speaks it at all, at the steps that keep the language requirement.
    """
    agents = list(config.agents.values())
    spoken = {skill for agent in agents for skill in agent.skills}
    if language not in spoken:
        return ""
    steps = requirement_steps(queue)
    if not any(_can_answer(a.skills, required) for a in agents for required, _ in steps):
        return ""
    for required, wants_language in steps:
        need = {**required, language: 1} if wants_language else required
        if any(_can_answer(a.skills, need) for a in agents):
            return ""
    skills = " + ".join(f"skill {s}" for s in sorted(queue.required_skills)) or "no skill"
    return f"needs language {language} + {skills}: no agent has both"


def check_servable(ctx: Context) -> None:
    """Every path through the menu ends in a queue some configured agent can answer, in the
    caller's language: a Thai caller who picks billing must find a Thai-speaking billing agent."""
    config = ctx.config
    for reached in menu_paths(config):
        queue = config.queues.get(reached.queue)
        why = unserved(config, queue, reached.language) if queue else ""
        if why:
            route = " → ".join(reached.steps)
            hint = "give an agent both, or relax the language in the queue's escalation"
            ctx.error(reached.path, f"{route} → queue {reached.queue} {why}", hint)


def check_agents(ctx: Context) -> None:
    """Agent devices are a client identity or an E.164 number."""
    for name, agent in ctx.config.agents.items():
        check_device(ctx, ("agents", name, "device"), agent.device)


def check_supervisors(ctx: Context) -> None:
    """A supervisor's device (for monitoring calls), when given, is one an agent could have."""
    for name, supervisor in ctx.config.supervisors.items():
        if supervisor.device is not None:
            check_device(ctx, ("supervisors", name, "device"), supervisor.device)


def check_device(ctx: Context, path: DataPath, device: str) -> None:
    if not device.startswith("client:") and numbers.e164(device) != device:
        ctx.error(
            path,
            f"device {device!r} is neither client:NAME nor an E.164 number",
            'write "client:alice" or "+60123456789"',
        )


# Surveys ------------------------------------------------------------------------------------


def check_surveys(ctx: Context) -> None:
    """Survey texts and keywords are written for declared languages."""
    surveys, available = ctx.config.surveys, ctx.config.languages.available
    for section in ("texts", "stop_words", "start_words", "help_words"):
        for code in getattr(surveys, section):
            if code not in available:
                ctx.warn(
                    ("surveys", section, code),
                    f"surveys.{section} in '{code}', which is not in languages.available",
                    suggest(code, available),
                )


# Phrases ------------------------------------------------------------------------------------


OWN_SECTIONS = {"callbacks": "callbacks.texts", "surveys": "surveys.texts"}
"""Phrase groups written in their own config section rather than under `phrases:`."""
SHOWN_MISSING = 8
"""Missing phrase names listed in one problem before "and N more"."""


def check_phrases(ctx: Context) -> None:
    """Every declared language has every phrase the service can speak (agents' phrases: the
    default language), so no caller of a new language hears English instead."""
    _check_overrides(ctx)
    config = ctx.config
    for code in config.languages.available:
        missing = [name for name in phrases.names() if _lacks(config, code, name)]
        if not missing:
            continue
        where = ("phrases", code)
        path = where if where in ctx.positions else ("languages", "available", code)
        shown = ", ".join(missing[:SHOWN_MISSING])
        more = len(missing) - SHOWN_MISSING
        shown += f" and {more} more" if more > 0 else ""
        hint = (
            f"add them under `phrases: {{{code}: {{group: {{name: ...}}}}}}`, callbacks.* and "
            f"surveys.* under `callbacks.texts.{code}` and `surveys.texts.{code}`; "
            "the English wording is in ivr/config/defaults/en.yaml"
        )
        ctx.error(path, f"language '{code}' has no phrase {shown}", hint)


def _lacks(config: Config, code: str, name: str) -> bool:
    if phrases.for_agents(name) and code != config.languages.default:
        return False
    if phrases.lookup(config.phrases, code, name) is not None:
        return False
    group, _, key = name.partition(".")
    if group == "callbacks":
        return not config.callbacks.texts.get(code, {}).get(key)  # type: ignore[call-overload]
    if group == "surveys":
        return not getattr(config.surveys.texts.get(code), key, None)
    if group == "sms":
        return not phrases.keywords(config, key.removesuffix("_words"), code)
    return True


def _check_overrides(ctx: Context) -> None:
    known, available = set(phrases.names()), ctx.config.languages.available
    for code, groups in ctx.config.phrases.items():
        if code not in available:
            ctx.warn(
                ("phrases", code),
                f"phrases in '{code}', which is not in languages.available",
                suggest(code, available),
            )
        for group, texts in groups.items():
            for key, text in texts.items():
                _check_override(ctx, (code, group, key), text, known)


def _check_override(ctx: Context, at: tuple[str, str, str], text: str, known: set[str]) -> None:
    path, name = ("phrases", *at), f"{at[1]}.{at[2]}"
    if at[1] in OWN_SECTIONS and name in known:
        hint = f"write it under `{OWN_SECTIONS[at[1]]}: {{{at[0]}: {{{at[2]}: ...}}}}`"
        ctx.error(path, f"phrase {name} is configured in {OWN_SECTIONS[at[1]]}", hint)
    elif name not in known:
        ctx.error(path, f"unknown phrase {name}", suggest(name, known))
    else:
        extra = phrases.placeholders(text) - phrases.placeholders(phrases.built_in()["en"][name])
        if extra:
            fields = ", ".join(f"{{{f}}}" for f in sorted(extra))
            ctx.error(path, f"phrase {name} uses {fields}, which it does not fill in", "")


# Voices and SMS costs -----------------------------------------------------------------------


def check_voices(ctx: Context) -> None:
    """Every configured voice is one Twilio offers for the language it speaks (else Twilio
    may fail the `<Say>`, and the caller hears nothing)."""
    for code, language in ctx.config.languages.available.items():
        if language.voice:
            path = ("languages", "available", code, "voice")
            _check_voice(ctx, path, language.voice, language.say_language)
    for path, localized in voiced_prompts(ctx.config):
        for code, items in localized.items():
            for index, item in enumerate(items):
                if item.voice:
                    spoken = item.language or ctx.config.languages.of(code).say_language
                    _check_voice(ctx, (*path, code, index, "voice"), item.voice, spoken)


def voiced_prompts(config: Config) -> Iterator[tuple[DataPath, Localized]]:
    """Every localized prompt, those of a language menu included (each item names its own
    TTS language there)."""
    for path, localized, _ in localized_prompts(config):
        yield path, localized
    for name, node in config.nodes.items():
        if _selects_language(node):
            for key in PROMPT_KINDS:
                for path, localized, _ in _maybe(
                    ("nodes", name, "prompts", key), getattr(node.prompts, key), required=False
                ):
                    yield path, localized


def _check_voice(ctx: Context, path: DataPath, voice: str, language: str) -> None:
    if voices.exists(voice, language):
        return
    offered = voices.offered(language)
    elsewhere = voices.languages_of(voice)
    hint = f"Twilio's voices for {language}: {', '.join(offered[:4])}" if offered else ""
    if elsewhere:
        hint = f"{voice} speaks {', '.join(elsewhere)}; " + hint
    if offered:
        problem = f"Twilio has no voice {voice} for {language}"
    else:
        problem = f"Twilio has no voice at all for language {language}"
    ctx.warn(path, problem, hint or "the voices Twilio offers are in ivr/core/voices.yaml")


def check_sms_costs(ctx: Context) -> None:
    """No SMS text costs more than `sms.max_segments` segments in any language."""
    limit = ctx.config.sms.max_segments
    for item in texting.costs(ctx.config):
        if item.cost.count <= limit:
            continue
        group, _, kind = item.name.partition(".")
        path: DataPath = (group, "texts", item.language, kind)
        if path not in ctx.positions:
            path = ("languages", "available", item.language)
        ctx.warn(
            path,
            f"{item.name} in '{item.language}' costs {item.cost}, over sms.max_segments {limit}",
            "shorten it, or raise `sms: {max_segments: N}`; each segment is billed as one SMS",
        )


CHECKS: tuple[Callable[[Context], None], ...] = (
    check_queues,
    check_overflows,
    check_servable,
    check_agents,
    check_supervisors,
    check_agent_skills,
    check_start,
    check_languages,
    check_timezone,
    check_customers,
    check_numbers,
    check_node_fields,
    check_action_targets,
    check_options,
    check_lists,
    check_node_shapes,
    check_reachable,
    check_loops,
    check_prompts,
    check_silent_menus,
    check_surveys,
    check_phrases,
    check_voices,
    check_sms_costs,
)
"""Every semantic check, in the order they run."""
