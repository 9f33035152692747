"""Semantic checks of a whole config, and the `ivr check` command's output."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pytest

from ivr.config.command import run, summary
from ivr.config.loader import load_checked
from ivr.core.errors import ConfigError, Problem

MINIMAL = Path(__file__).parent / "fixtures" / "config" / "minimal"


@pytest.fixture(name="config_dir")
def fixture_config_dir(tmp_path: Path) -> Path:
    """A copy of the minimal valid config that a test may break."""
    directory = tmp_path / "config"
    shutil.copytree(MINIMAL, directory)
    return directory


def problems_of(directory: Path) -> list[Problem]:
    """Every problem, errors and warnings, that loading `directory` finds."""
    try:
        _config, warnings = load_checked(directory)
    except ConfigError as exc:
        return exc.problems
    return warnings


def find(found: list[Problem], message: str) -> Problem:
    """The one problem whose message contains `message`."""
    matches = [p for p in found if message in p.message]
    assert len(matches) == 1, found
    return matches[0]


def edit(path: Path, old: str, new: str) -> None:
    """Replace `old` (which must be there) with `new` in a file."""
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new), encoding="utf-8")


# Each case: the text of a new `extra.yaml`, where the problem is, what it says, and its hint.
SEMANTIC_ERRORS = [
    pytest.param(
        "nodes:\n  extra:\n    then: {goto: nowhere}\n",
        (3, 12),
        "goto names an unknown node 'nowhere'",
        "known: extra, main",
        id="unknown-goto",
    ),
    pytest.param(
        "nodes:\n  extra:\n    then:\n      - queue: bill\n",
        (4, 9),
        "unknown queue 'bill'",
        "did you mean 'billing'?",
        id="unknown-queue",
    ),
    pytest.param(
        "nodes:\n  extra:\n    hours: offce\n    open: hangup\n    closed: hangup\n",
        (3, 5),
        "unknown hours schedule 'offce'",
        "did you mean 'office'?",
        id="unknown-hours",
    ),
    pytest.param(
        "nodes:\n  extra:\n    then:\n      - set_language: fr\n      - hangup\n",
        (4, 9),
        "set_language to 'fr', which is not in languages.available",
        "known: en, ms",
        id="unknown-language",
    ),
    pytest.param(
        "nodes:\n  extra:\n    prompts: {long: {en: Hi, ms: Hai}}\n    options:\n"
        '      - key: "1"\n        then: hangup\n      - key: "1"\n        then: hangup\n',
        (7, 9),
        "key '1' is used twice in node 'extra' (also on line 5)",
        "give each option its own key",
        id="duplicate-key",
    ),
    pytest.param(
        "nodes:\n  extra:\n    prompts: {long: {en: Hi, ms: Hai}}\n    options:\n"
        '      - key: "1"\n        then: hangup\n      - key: "x"\n        then: hangup\n',
        (7, 9),
        "key 'x' cannot be pressed on a phone",
        "use digits, * or #",
        id="not-a-key",
    ),
    pytest.param(
        "nodes:\n  extra:\n    prompts: {long: {en: Hi, ms: Hai}}\n    options:\n"
        '      - key: "1"\n        speech: {en: [bill]}\n        then: hangup\n'
        '      - key: "2"\n        speech: {en: [Bill]}\n        then: hangup\n',
        (9, 23),
        "'Bill' (en) picks both key '1' (line 6) and key '2' of 'extra'",
        "keep the keyword on one option only",
        id="duplicate-keyword",
    ),
    pytest.param(
        "nodes:\n  extra:\n    then:\n      - goto: main\n      - hangup\n",
        (4, 9),
        "`goto` leaves the node, so the actions after it never run",
        "make it the last action or delete the ones after it",
        id="terminal-not-last",
    ),
    pytest.param(
        "nodes:\n  extra:\n    then:\n      - say: {en: Hi, ms: Hai}\n",
        (3, 5),
        "this action list never leaves the node",
        "end it with goto, queue, transfer, voicemail, hangup, back, top or repeat",
        id="no-terminal",
    ),
    pytest.param(
        "nodes:\n  extra:\n    prompts:\n      long: {en: Hi, ms: Hai}\n",
        (2, 3),
        "message node 'extra' has no `then`",
        "add `then:` with what happens after the prompt, e.g. `then: hangup`",
        id="message-without-then",
    ),
    pytest.param(
        "nodes:\n  extra:\n    hours: office\n    open: {goto: main}\n",
        (2, 3),
        "hours node 'extra' has no `closed`",
        "add `closed:` with where to go when closed",
        id="hours-without-closed",
    ),
    pytest.param(
        "nodes:\n  extra:\n    then: {callback: {queue: bill}}\n",
        (3, 12),
        "callback names an unknown queue 'bill'",
        "did you mean 'billing'?",
        id="callback-unknown-queue",
    ),
    pytest.param(
        'nodes:\n  extra:\n    then: {transfer: "+1 555"}\n',
        (3, 12),
        "transfer number '+1 555' is not a phone number",
        'write it in E.164 form, e.g. "+60123456789"',
        id="transfer-not-a-number",
    ),
    pytest.param(
        'nodes:\n  extra:\n    then: {transfer: "+60 12-345 6789"}\n',
        (3, 12),
        "transfer number '+60 12-345 6789' is not in E.164 form",
        'write it as "+60123456789"',
        id="transfer-not-e164",
    ),
    pytest.param(
        'customers:\n  "+60123456789": {name: A}\n  "12345":\n    name: B\n',
        (3, 3),
        "customer '12345' is not a phone number",
        'write it in E.164 form, e.g. "+60123456789"',
        id="customer-not-a-number",
    ),
    pytest.param(
        'customers:\n  "+60123456789": {name: A}\n  "+60 12 345 6789": {name: B}\n',
        (3, 3),
        "customer '+60 12 345 6789' is the same number as '+60123456789' above",
        "delete one of them",
        id="customer-twice",
    ),
    pytest.param(
        'customers:\n  "+60123456789":\n    name: A\n    language: de\n',
        (4, 5),
        "unknown language 'de'",
        "known: en, ms",
        id="customer-language",
    ),
    pytest.param(
        "nodes:\n  extra:\n    prompts: {long: {en: Hi, ms: Hai}}\n    collect:\n"
        "      name: account\n      pattern: '[0-9'\n      then: {queue: billing}\n",
        (6, 7),
        "pattern is not a valid regular expression: unterminated character set",
        "fix the pattern; write it in single quotes",
        id="bad-regex",
    ),
    pytest.param(
        "nodes:\n  ping:\n    then: {goto: pong}\n  pong:\n    then: {goto: ping}\n",
        (2, 3),
        "calls that reach 'ping' can never leave: every path leads back to ping, pong",
        "add a way out such as `queue`, `voicemail` or `hangup`",
        id="message-loop",
    ),
    pytest.param(
        "nodes:\n  extra:\n    hours: office\n    open: {goto: extra}\n    closed: top\n"
        "  top_loop:\n    then: repeat\n",
        (6, 3),
        "calls that reach 'top_loop' can never leave: every path leads back to top_loop",
        "add a way out such as `queue`, `voicemail` or `hangup`",
        id="repeat-forever",
    ),
    pytest.param(
        "nodes:\n  extra:\n    prompts: {long: {en: Hi, ms: Hai}}\n    options:\n"
        "      - key: '1'\n        then: repeat\n    input:\n      on_no_input: {goto: extra}\n"
        "      on_invalid: repeat\n",
        (2, 3),
        "calls that reach 'extra' can never leave: every path leads back to extra",
        "add a way out such as `queue`, `voicemail` or `hangup`",
        id="menu-loop",
    ),
    pytest.param(
        "nodes:\n  extra:\n    prompts:\n      long: {ms: Hai}\n    then: hangup\n",
        (4, 7),
        "nodes.extra.prompts.long has no prompt in the default language 'en'",
        "callers in en hear nothing here; add `en: ...`",
        id="long-prompt-without-default",
    ),
]


@pytest.mark.parametrize(("text", "place", "message", "hint"), SEMANTIC_ERRORS)
def test_semantic_error_is_located(
    config_dir: Path, text: str, place: tuple[int, int], message: str, hint: str
) -> None:
    """A semantic error is pinned to the file, line and column of its cause, with a fix."""
    (config_dir / "extra.yaml").write_text(text, encoding="utf-8")
    problem = find(problems_of(config_dir), message)
    assert (problem.file, problem.line, problem.column) == (str(config_dir / "extra.yaml"), *place)
    assert (problem.severity, problem.hint) == ("error", hint)


WARNINGS = [
    pytest.param(
        "nodes:\n  extra:\n    then: hangup\n",
        (2, 3),
        "node 'extra' is never reached",
        "goto it from another node, or delete it",
        id="unreachable",
    ),
    pytest.param(
        "nodes:\n  extra:\n    prompts:\n      long: {en: Hi}\n    then: hangup\n",
        (4, 7),
        "nodes.extra.prompts.long has no prompt in ms",
        "falls back to en",
        id="missing-language",
    ),
    pytest.param(
        "nodes:\n  extra:\n    then:\n      - say: {ms: Hai}\n      - hangup\n",
        (4, 9),
        "nodes.extra.then[0].say has no prompt in the default language 'en'",
        "callers in en hear nothing here; add `en: ...`",
        id="say-without-default",
    ),
    pytest.param(
        "nodes:\n  extra:\n    prompts:\n      long: {en: Hi, ms: Hai, fr: Salut}\n"
        "    then: hangup\n",
        (4, 31),
        "prompt in 'fr', which is not in languages.available",
        "add the language there or delete this prompt",
        id="undeclared-language",
    ),
    pytest.param(
        'nodes:\n  extra:\n    then: {transfer: "+447700900123"}\n',
        (3, 12),
        "transfer number '+447700900123' is not an assigned number range",
        "check the number",
        id="unassigned-number",
    ),
    pytest.param(
        "nodes:\n  extra:\n    options:\n      - key: '1'\n        then: hangup\n",
        (2, 3),
        "node 'extra' waits for input without saying anything",
        "add `prompts: {long: ...}`",
        id="silent-menu",
    ),
]


@pytest.mark.parametrize(("text", "place", "message", "hint"), WARNINGS)
def test_warning_is_located(
    config_dir: Path, text: str, place: tuple[int, int], message: str, hint: str
) -> None:
    """A warning is pinned to its place and does not stop the config from loading."""
    (config_dir / "extra.yaml").write_text(text, encoding="utf-8")
    _config, warnings = load_checked(config_dir)
    problem = find(warnings, message)
    assert (problem.file, problem.line, problem.column) == (str(config_dir / "extra.yaml"), *place)
    assert (problem.severity, problem.hint) == ("warning", hint)


EDITS = [
    pytest.param(
        "menu.yaml",
        "start: main",
        "start: mian",
        (2, 3),
        "menu.start names an unknown node 'mian'",
        id="unknown-start",
    ),
    pytest.param(
        "menu.yaml",
        "start: main",
        "start: main\n  known_start: known",
        (3, 3),
        "menu.known_start names an unknown node 'known'",
        id="unknown-known-start",
    ),
    pytest.param(
        "business.yaml",
        "default: en",
        "default: fr",
        (7, 3),
        "default language 'fr' is not in languages.available",
        id="unknown-default-language",
    ),
    pytest.param(
        "business.yaml",
        "timezone: Asia/Kuala_Lumpur\n\n",
        "timezone: Asia/Kuala_Lumpurr\n\n",
        (4, 3),
        "unknown IANA timezone 'Asia/Kuala_Lumpurr'",
        id="company-timezone",
    ),
]


@pytest.mark.parametrize(("name", "old", "new", "place", "message"), EDITS)
def test_broken_edit_is_located(
    config_dir: Path, name: str, old: str, new: str, place: tuple[int, int], message: str
) -> None:
    """Breaking a reference in an existing file is reported at the edited line."""
    edit(config_dir / name, old, new)
    problem = find(problems_of(config_dir), message)
    assert (problem.file, problem.line, problem.column) == (str(config_dir / name), *place)
    assert problem.severity == "error"


def test_hangup_after_retries_is_a_way_out(config_dir: Path) -> None:
    """A menu whose options only repeat still ends: with no retry actions the engine hangs up."""
    edit(config_dir / "menu.yaml", "then: {queue: billing}", "then: repeat")
    _config, warnings = load_checked(config_dir)
    assert warnings == []


def test_menu_retry_defaults_are_followed(config_dir: Path) -> None:
    """`menu.on_no_input` and `on_invalid` stand in for a node's own retry actions."""
    edit(config_dir / "menu.yaml", "then: {queue: billing}", "then: repeat")
    defaults = "\n  on_no_input: {goto: main}\n  on_invalid: top"
    edit(config_dir / "menu.yaml", "start: main", "start: main" + defaults)
    problem = find(problems_of(config_dir), "can never leave")
    assert problem.message.endswith("every path leads back to main")


def test_known_start_and_back_are_followed(config_dir: Path) -> None:
    """Nodes reached from `menu.known_start`, or by going back, are not unreachable."""
    edit(config_dir / "menu.yaml", "start: main", "start: main\n  known_start: known")
    (config_dir / "extra.yaml").write_text(
        "nodes:\n  known:\n    then: {goto: step}\n  step:\n    then: back\n", encoding="utf-8"
    )
    problem = find(problems_of(config_dir), "can never leave")
    assert problem.message.endswith("every path leads back to known, step")
    assert not [p for p in problems_of(config_dir) if "never reached" in p.message]


def test_language_menu_prompts_in_one_language(config_dir: Path) -> None:
    """A node whose options set the language may have its prompts in the default language only."""
    (config_dir / "extra.yaml").write_text(
        "nodes:\n  pick:\n    prompts: {long: {en: [{say: Press 1, language: en-GB}]}}\n"
        "    options:\n      - key: '1'\n        then: [{set_language: ms}, {goto: main}]\n",
        encoding="utf-8",
    )
    edit(config_dir / "menu.yaml", "start: main", "start: pick")
    _config, warnings = load_checked(config_dir)
    assert warnings == []


def test_run_on_sample_config(sample_config_dir: Path) -> None:
    """`ivr check` on the sample config finds no problem: it lists what each SMS costs, then
    one OK line with the version, and exits 0."""
    out = io.StringIO()
    assert run(sample_config_dir, out) == 0
    config, _warnings = load_checked(sample_config_dir)
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("SMS texts, segments per message (en, ms, th)")
    assert lines[-1] == f"config OK (version {config.version})"


def test_run_with_warnings(config_dir: Path) -> None:
    """Warnings are printed but `ivr check` still exits 0 and says the config is OK."""
    (config_dir / "extra.yaml").write_text("nodes:\n  extra:\n    then: hangup\n")
    out = io.StringIO()
    assert run(config_dir, out) == 0
    lines = out.getvalue().splitlines()
    assert lines[0] == (
        f"{config_dir / 'extra.yaml'}:2:3: warning: node 'extra' is never reached"
        " (goto it from another node, or delete it)"
    )
    assert lines[-1].startswith("config OK: 1 warning (version ")


def test_run_with_errors(config_dir: Path) -> None:
    """Errors and warnings are printed sorted by file and line, then counted; exit code 1."""
    (config_dir / "b.yaml").write_text("nodes:\n  extra:\n    then: {goto: nowhere}\n")
    edit(config_dir / "menu.yaml", "start: main", "start: mian")
    out = io.StringIO()
    assert run(config_dir, out) == 1
    assert out.getvalue().splitlines() == [
        f"{config_dir / 'b.yaml'}:2:3: warning: node 'extra' is never reached"
        " (goto it from another node, or delete it)",
        f"{config_dir / 'b.yaml'}:3:12: error: goto names an unknown node 'nowhere'"
        " (known: extra, main)",
        f"{config_dir / 'menu.yaml'}:2:3: error: menu.start names an unknown node 'mian'"
        " (did you mean 'main'?)",
        f"{config_dir / 'menu.yaml'}:5:3: warning: node 'main' is never reached"
        " (goto it from another node, or delete it)",
        "2 errors, 2 warnings",
    ]


def test_run_with_syntax_error(config_dir: Path) -> None:
    """A YAML syntax error makes `ivr check` exit 1 with the place of the error."""
    (config_dir / "extra.yaml").write_text("nodes: [\n")
    out = io.StringIO()
    assert run(config_dir, out) == 1
    first, last = out.getvalue().splitlines()
    assert first.startswith(f"{config_dir / 'extra.yaml'}:2:1: error: YAML syntax error")
    assert last == "1 error, 0 warnings"


def warning(n: int) -> Problem:
    """A throwaway warning."""
    return Problem("f", n, 1, "w", severity="warning")


def error(n: int) -> Problem:
    """A throwaway error."""
    return Problem("f", n, 1, "e")


SUMMARIES = [
    pytest.param([], "v1", "config OK (version v1)", id="clean"),
    pytest.param([warning(1)], "v1", "config OK: 1 warning (version v1)", id="one-warning"),
    pytest.param([warning(1)] * 3, "v1", "config OK: 3 warnings (version v1)", id="warnings"),
    pytest.param([error(1), error(2), warning(3)], None, "2 errors, 1 warning", id="errors"),
    pytest.param([error(1)], None, "1 error, 0 warnings", id="one-error"),
]


@pytest.mark.parametrize(("found", "version", "expected"), SUMMARIES)
def test_summary(found: list[Problem], version: str | None, expected: str) -> None:
    """The summary line counts errors and warnings, and names the version when it loaded."""
    assert summary(found, version) == expected


def test_queue_hours_and_overflow_targets_must_exist(tmp_path: Path) -> None:
    """A queue naming unknown hours or overflowing into an unknown queue is an error at its line."""
    from tests.conftest import SAMPLE_CONFIG

    target = tmp_path / "config"
    shutil.copytree(SAMPLE_CONFIG, target)
    queues = target / "queues.yaml"
    text = queues.read_text(encoding="utf-8").replace("hours: office", "hours: ofice")
    text = text.replace("when_max_wait: voicemail", "when_max_wait: {queue: suport}")
    queues.write_text(text, encoding="utf-8")
    out = io.StringIO()
    assert run(target, out) == 1
    report = out.getvalue()
    lines = text.splitlines()
    hours_line = next(i for i, line in enumerate(lines) if "hours: ofice" in line) + 1
    assert f"queues.yaml:{hours_line}:" in report and "did you mean 'office'" in report
    assert "overflow to unknown queue 'suport'" in report


def test_agent_device_must_be_a_client_or_a_number(tmp_path: Path) -> None:
    """An agent device that is neither client:NAME nor E.164 is reported."""
    from tests.conftest import SAMPLE_CONFIG

    target = tmp_path / "config"
    shutil.copytree(SAMPLE_CONFIG, target)
    agents = target / "agents.yaml"
    agents.write_text(agents.read_text(encoding="utf-8").replace("client:budi", "budi"), "utf-8")
    out = io.StringIO()
    assert run(target, out) == 1
    assert "device 'budi' is neither client:NAME nor an E.164 number" in out.getvalue()


def test_supervisor_device_must_be_a_client_or_a_number(tmp_path: Path) -> None:
    """A supervisor's monitoring device is checked as an agent's is, at its line."""
    from tests.conftest import SAMPLE_CONFIG

    target = tmp_path / "config"
    shutil.copytree(SAMPLE_CONFIG, target)
    people = target / "supervisors.yaml"
    text = people.read_text(encoding="utf-8").replace("device: client:sam", "device: sam-phone")
    people.write_text(text, "utf-8")
    out = io.StringIO()
    assert run(target, out) == 1
    line = next(i for i, row in enumerate(text.splitlines()) if "device: sam-phone" in row) + 1
    assert f"supervisors.yaml:{line}:" in out.getvalue()
    assert "device 'sam-phone' is neither client:NAME nor an E.164 number" in out.getvalue()


# Overflows and who can answer whom -----------------------------------------------------------

OVERFLOWS = [
    pytest.param(
        "queues:\n  sales:\n    hold:\n      when_closed: {queue: suport}\n",
        (4, 7),
        "overflow to unknown queue 'suport'",
        id="closing-to-unknown-queue",
    ),
    pytest.param(
        "queues:\n  sales:\n    hold:\n      when_estimated_wait: {queue: sales}\n",
        (4, 7),
        "queue 'sales' overflows into itself",
        id="estimate-into-itself",
    ),
    pytest.param(
        "callbacks: {enabled: false}\nqueues:\n  sales:\n    when_max_wait: callback\n",
        (4, 5),
        "a callback overflow needs callbacks, which are switched off",
        id="callback-switched-off",
    ),
    pytest.param(
        "queues:\n  sales:\n    when_full: {hangup: ' '}\n",
        (3, 5),
        "a hang-up overflow with no message",
        id="hangup-says-nothing",
    ),
    pytest.param(
        "queues:\n  sales:\n    when_full: {queue: desk}\n"
        "  desk:\n    when_no_agents: divert\n    no_agents_action: {queue: sales}\n",
        (2, 3),
        "entry overflows go round in a circle: sales → desk → sales",
        id="entry-cycle",
    ),
]


@pytest.mark.parametrize(("text", "place", "message"), OVERFLOWS)
def test_unsupported_overflow_is_an_error(
    config_dir: Path, text: str, place: tuple[int, int], message: str
) -> None:
    """An overflow the service cannot carry out is an error at the line that names it."""
    (config_dir / "extra.yaml").write_text(text, encoding="utf-8")
    problem = find(problems_of(config_dir), message)
    assert (problem.file, problem.line, problem.column) == (str(config_dir / "extra.yaml"), *place)
    assert problem.severity == "error"


@pytest.mark.parametrize(
    "action",
    [
        pytest.param("voicemail", id="voicemail"),
        pytest.param("callback", id="callback"),
        pytest.param("{queue: billing}", id="queue"),
        pytest.param("{hangup: 'Sorry, we are closed.'}", id="hangup"),
    ],
)
@pytest.mark.parametrize(
    "field",
    [
        "when_full",
        "when_max_wait",
        "no_agents_action",
        "hold.when_estimated_wait",
        "hold.when_closed",
    ],
)
def test_every_overflow_target_at_every_trigger_is_accepted(
    config_dir: Path, field: str, action: str
) -> None:
    """Each supported target (queue, voicemail, callback, hang-up) is accepted at each trigger."""
    key = field.removeprefix("hold.")
    body = f"    hold:\n      {key}: {action}\n" if "." in field else f"    {key}: {action}\n"
    (config_dir / "extra.yaml").write_text("queues:\n  sales:\n" + body, encoding="utf-8")
    assert [p for p in problems_of(config_dir) if p.severity == "error"] == []


def strict_billing(target: Path) -> Path:
    """The sample config with billing asking for the caller's language at every step (as
    shipped before): nobody has both Thai and billing."""
    from tests.conftest import SAMPLE_CONFIG

    shutil.copytree(SAMPLE_CONFIG, target)
    queues = target / "queues.yaml"
    lines = queues.read_text("utf-8").splitlines(keepends=True)
    queues.write_text("".join(x for x in lines if "language_required" not in x), "utf-8")
    return target


def test_a_caller_nobody_can_answer_is_reported_with_the_menu_path(tmp_path: Path) -> None:
    """A Thai caller who picks billing, with no agent who has Thai and billing, is an error
    naming the menu path and pinned to the queue action."""
    target = strict_billing(tmp_path / "config")
    out = io.StringIO()
    assert run(target, out) == 1
    report = out.getvalue()
    expected = (
        "language 3 (thai) → opening_hours open → main 1 (billing) → account (account_number)"
        " → queue billing needs language th + skill billing: no agent has both"
    )
    assert expected in report, report
    line = next(
        i
        for i, text in enumerate((target / "menu.yaml").read_text("utf-8").splitlines(), 1)
        if "then: {queue: {name: billing, priority: 0}}" in text
    )
    assert f"menu.yaml:{line}:" in report
    assert "needs language ms" not in report and "needs language en" not in report


def test_an_agent_with_both_skills_answers_the_path(tmp_path: Path) -> None:
    """Giving Chai (Thai) billing makes the strict config acceptable."""
    target = strict_billing(tmp_path / "config")
    edit(
        target / "agents.yaml",
        "{support: 5, sales: 2, en: 4",
        "{support: 5, sales: 2, billing: 2, en: 4",
    )
    out = io.StringIO()
    assert run(target, out) == 0, out.getvalue()


def test_the_sample_config_leaves_no_caller_unanswerable(sample_config_dir: Path) -> None:
    """`ivr check` on the shipped sample finds no menu path that no agent can answer: its
    billing escalation relaxes the language after 30 s, so Thai callers are answered."""
    out = io.StringIO()
    assert run(sample_config_dir, out) == 0
    assert "no agent has" not in out.getvalue()


# The misses of issue 19 -----------------------------------------------------------------------


def sample_copy(target: Path) -> Path:
    """A copy of the sample config that a test may break."""
    from tests.conftest import SAMPLE_CONFIG

    shutil.copytree(SAMPLE_CONFIG, target)
    return target


def place_of(path: Path, text: str) -> tuple[str, int, int]:
    """The file, line and column where `text` is first written in `path`."""
    for number, line in enumerate(path.read_text("utf-8").splitlines(), 1):
        if text in line:
            return str(path), number, line.index(text) + 1
    raise AssertionError(f"{text!r} is not in {path}")


def test_a_typo_in_an_agents_skill_is_an_error(tmp_path: Path) -> None:
    """An agent skill that no queue asks for, close to one that a queue does, is an error at
    the skill, suggesting the skill the queue asks for; `ivr check` exits 1."""
    target = sample_copy(tmp_path / "config")
    edit(target / "agents.yaml", "{billing: 4, support: 2", "{biling: 4, support: 2")
    out = io.StringIO()
    assert run(target, out) == 1
    problem = find(problems_of(target), "'biling'")
    assert (problem.file, problem.line, problem.column) == place_of(
        target / "agents.yaml", "biling"
    )
    assert problem.message == "agent 'alice' has skill 'biling', which no queue asks for"
    _file, line, _column = place_of(target / "queues.yaml", "required_skills: {billing: 1}")
    hint = f"did you mean 'billing'? queues.billing asks for it, at queues.yaml:{line}"
    assert (problem.severity, problem.hint) == ("error", hint)


def test_an_agent_skill_no_queue_uses_and_like_none_is_a_warning(tmp_path: Path) -> None:
    """A skill unlike any that a queue asks for (kept for later, say) is only a warning."""
    target = sample_copy(tmp_path / "config")
    edit(target / "agents.yaml", "{billing: 4, support: 2", "{billing: 4, mandarin: 2")
    problem = find(problems_of(target), "'mandarin'")
    assert problem.severity == "warning"
    assert problem.hint.startswith("queues ask for: billing, sales, support")


def test_language_skills_are_not_typos(sample_config_dir: Path) -> None:
    """Agents' language skills (en, ms, th) need no queue to ask for them."""
    assert problems_of(sample_config_dir) == []


def test_a_typo_of_a_language_skill_is_an_error(tmp_path: Path) -> None:
    """An agent skill close to a declared language is a typo of that language."""
    target = sample_copy(tmp_path / "config")
    edit(target / "agents.yaml", "en: 4, th: 5}", "en: 4, thh: 5}")
    problem = find(problems_of(target), "'thh'")
    assert (problem.severity, problem.hint) == (
        "error",
        "did you mean 'th'? a language in languages.available",
    )


def test_a_queue_skill_no_agent_has_is_an_error_naming_it(tmp_path: Path) -> None:
    """A queue that requires a skill no agent has is an error at that skill, naming it and
    the agent skill it is close to; the agent who has the right one is not blamed."""
    target = sample_copy(tmp_path / "config")
    edit(target / "queues.yaml", "required_skills: {sales: 1}", "required_skills: {sals: 1}")
    out = io.StringIO()
    assert run(target, out) == 1
    found = problems_of(target)
    problem = find(found, "'sals'")
    assert (problem.file, problem.line, problem.column) == place_of(target / "queues.yaml", "sals")
    assert problem.message == "queue 'sales' requires skill 'sals', which no agent has"
    _file, line, _column = place_of(target / "agents.yaml", "sales: 4")
    assert problem.hint == f"did you mean 'sales'? budi has it, at agents.yaml:{line}"
    assert [p for p in found if p.severity == "error"] == [problem]


def test_an_escalation_skill_no_agent_has_is_an_error(tmp_path: Path) -> None:
    """An escalation step's required skill is checked like the queue's own."""
    target = sample_copy(tmp_path / "config")
    edit(target / "queues.yaml", "required_skills: {billing: 4}", "required_skills: {biling: 4}")
    problem = find(problems_of(target), "'biling'")
    assert (problem.file, problem.line, problem.column) == place_of(
        target / "queues.yaml", "biling"
    )
    assert problem.message == "queue 'billing' requires skill 'biling', which no agent has"
    assert (problem.severity, problem.hint[:26]) == ("error", "did you mean 'billing'? al")


def test_a_queue_nobody_is_staffed_for_is_a_warning_naming_the_skill(tmp_path: Path) -> None:
    """A required skill like none an agent has (a queue not staffed yet) is a warning at the
    skill that names it, and the config still loads."""
    target = sample_copy(tmp_path / "config")
    edit(target / "queues.yaml", "required_skills: {billing: 4}", "required_skills: {vip: 4}")
    _config, warnings = load_checked(target)
    problem = find(warnings, "'vip'")
    assert (problem.file, problem.line, problem.column) == place_of(target / "queues.yaml", "vip")
    assert problem.message == "queue 'billing' requires skill 'vip', which no agent has"
    assert problem.hint == (
        "add it to an agent in agents.yaml; agents have: billing, en, ms, sales, support, th"
    )


def test_a_queue_whose_levels_nobody_reaches_is_a_warning_naming_them(tmp_path: Path) -> None:
    """Known skills at levels no single agent has are a warning that names skills and levels."""
    target = sample_copy(tmp_path / "config")
    edit(target / "queues.yaml", "required_skills: {sales: 1}", "required_skills: {sales: 5}")
    problem = find(problems_of(target), "no agent has all the skills")
    assert problem.message == "no agent has all the skills queue 'sales' requires: sales 5"
    assert problem.severity == "warning"


def test_a_missing_directory_is_named_as_such(tmp_path: Path) -> None:
    """`ivr check` on a directory that does not exist says so, once, instead of listing the
    sections it could not find."""
    missing = tmp_path / "nope"
    out = io.StringIO()
    assert run(missing, out) == 1
    first, last = out.getvalue().splitlines()
    assert first == (
        f"{missing}:1:1: error: there is no config directory {missing}"
        " (pass the folder that holds the YAML files, e.g. `ivr check config`,"
        " set IVR_CONFIG_DIR, or write the sample with `ivr init`)"
    )
    assert last == "1 error, 0 warnings"


def test_a_directory_without_yaml_is_named_as_such(tmp_path: Path) -> None:
    """A directory that holds no YAML file is one error saying so."""
    (tmp_path / "notes.txt").write_text("hi", encoding="utf-8")
    [problem] = problems_of(tmp_path)
    assert problem.message == f"{tmp_path} holds no .yaml or .yml file"
    assert problem.hint == "pass the folder that holds the YAML files, e.g. `ivr check config`"


def test_a_file_instead_of_a_directory_is_named_as_such(tmp_path: Path) -> None:
    """A config file given where the directory is expected is one error saying so."""
    target = sample_copy(tmp_path / "config")
    [problem] = problems_of(target / "menu.yaml")
    assert problem.message == f"{target / 'menu.yaml'} is a file, not a config directory"
    assert problem.hint == f"pass the folder that holds it: `ivr check {target}`"
