"""Loading a config directory: merging files, and schema errors pinned to file:line:column."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ivr.config.loader import config_files, load, load_checked, version_of
from ivr.config.model import Config, Positions
from ivr.core.errors import ConfigError, Problem

MINIMAL = Path(__file__).parent / "fixtures" / "config" / "minimal"


@pytest.fixture(name="config_dir")
def fixture_config_dir(tmp_path: Path) -> Path:
    """A copy of the minimal valid config that a test may break."""
    directory = tmp_path / "config"
    shutil.copytree(MINIMAL, directory)
    return directory


def errors_of(directory: Path) -> list[Problem]:
    """The errors that loading `directory` raises."""
    with pytest.raises(ConfigError) as caught:
        load_checked(directory)
    return [p for p in caught.value.problems if p.severity == "error"]


def test_sample_config_is_clean(sample_config_dir: Path) -> None:
    """The sample config in `config/` loads with no errors and no warnings."""
    config, warnings = load_checked(sample_config_dir)
    assert warnings == []
    assert config.version == version_of(config_files(sample_config_dir))


def test_minimal_fixture_is_clean(config_dir: Path) -> None:
    """The fixture the tests break loads cleanly to begin with."""
    config, warnings = load_checked(config_dir)
    assert warnings == []
    assert set(config.nodes) == {"main"}


def test_load_returns_config(config_dir: Path) -> None:
    """`load` returns the validated config with its content version."""
    config = load(config_dir)
    assert isinstance(config, Config)
    assert config.queues["billing"].display_name == "Billing"
    assert len(config.version) == 12


SCHEMA_ERRORS = [
    pytest.param(
        "nodes:\n  extra:\n    promts: {}\n    then: hangup\n",
        (3, 5),
        "unknown key 'promts' in nodes.extra",
        "did you mean 'prompts'?",
        id="unknown-node-key",
    ),
    pytest.param(
        "nodes:\n  extra:\n    then:\n      - queu: billing\n",
        (4, 9),
        "unknown key 'queu' in nodes.extra.then[0]",
        "did you mean 'queue'?",
        id="unknown-action",
    ),
    pytest.param(
        "nodes:\n  extra:\n    then: queue\n",
        (3, 5),
        "nodes.extra.then[0]: Input should be a valid dictionary",
        "an action is a mapping such as `goto: main` or `queue: billing`,"
        " or back/top/repeat/hangup",
        id="bare-word-action",
    ),
    pytest.param(
        "nodes:\n  extra:\n    then: hangup\n    collect:\n      then: hangup\n",
        (4, 5),
        "nodes.extra.collect needs a `name` key",
        "add `name: ...`",
        id="missing-key",
    ),
    pytest.param(
        "nodes:\n  extra:\n    prompts:\n      long:\n        en: {say: hi, play: x.mp3}\n"
        "    then: hangup\n",
        (5, 9),
        "a prompt item needs exactly one of `say` or `play`",
        "",
        id="say-and-play",
    ),
    pytest.param(
        "hours:\n  late:\n    timezone: Mars/Olympus\n",
        (3, 5),
        "hours.late.timezone: unknown IANA timezone 'Mars/Olympus'",
        "",
        id="bad-timezone",
    ),
    pytest.param(
        "hours:\n  late:\n    timezone: UTC\n    weekly:\n      mon: ['09:00-17:00', '9-5']\n",
        (5, 28),
        "hours.late.weekly.mon[1]: '9-5' is not a span like '09:00-17:30'",
        "",
        id="bad-span",
    ),
    pytest.param(
        "hours:\n  late:\n    timezone: UTC\n    weekly:\n      tue: ['17:00-09:00']\n",
        (5, 13),
        "'17:00-09:00' ends before it starts",
        "",
        id="backwards-span",
    ),
    pytest.param(
        "hours:\n  late:\n    timezone: UTC\n    weekly:\n      mon: []\n      thurs: []\n",
        (6, 7),
        "unknown day 'thurs'",
        "",
        id="bad-day",
    ),
    pytest.param(
        "hours:\n  late:\n    timezone: UTC\n    holidays:\n"
        "      - 2026-12-25\n      - 2026-13-01\n",
        (6, 9),
        "hours.late.holidays[1]: '2026-13-01' is not a date",
        "there is no month 13",
        id="bad-date",
    ),
    pytest.param(
        "hours:\n  late:\n    timezone: UTC\n    special:\n      '2026-02-30': []\n",
        (5, 7),
        "hours.late.special: '2026-02-30' is not a date",
        "February 2026 has 28 days",
        id="bad-special-date",
    ),
    pytest.param(
        "hours:\n  late:\n    timezone: UTC\n    holidays: ['2026-02-30']\n",
        (4, 16),
        "hours.late.holidays[0]: '2026-02-30' is not a date",
        "February 2026 has 28 days",
        id="day-past-month-end",
    ),
    pytest.param(
        "hours:\n  late:\n    timezone: UTC\n    holidays: ['25/12/2026']\n",
        (4, 16),
        "hours.late.holidays[0]: '25/12/2026' is not a date",
        "write dates as YYYY-MM-DD, e.g. 2026-12-25",
        id="not-iso-date",
    ),
    pytest.param(
        "customers:\n  +60123456789:\n    name: Aisyah\n",
        (2, 3),
        "Input should be a valid string",
        'write phone numbers in quotes, e.g. "+60123456789"',
        id="unquoted-number",
    ),
    pytest.param(
        "node:\n  extra:\n    then: hangup\n",
        (1, 1),
        "unknown key 'node' in the config",
        "did you mean 'nodes'?",
        id="unknown-section",
    ),
    pytest.param(
        "nodes:\n  extra:\n    then: {hangup: {}\n",
        (4, 1),
        "YAML syntax error: expected ',' or '}'",
        "check the indentation and quoting here",
        id="yaml-syntax",
    ),
    pytest.param(
        "nodes:\n  extra:\n    then: hangup\n    then: {goto: main}\n",
        (4, 5),
        "key 'then' is written twice in this mapping (first on line 3)",
        "YAML keeps only the last one; delete one",
        id="duplicate-yaml-key",
    ),
    pytest.param(
        "- just\n- a list\n",
        (1, 1),
        "a config file is a mapping of sections",
        "start the file with a section name such as `nodes:`",
        id="not-a-mapping",
    ),
    pytest.param(
        "version: abc\n",
        (1, 1),
        "`version` is not a config section",
        "delete this section",
        id="reserved-section",
    ),
]


@pytest.mark.parametrize(("text", "place", "message", "hint"), SCHEMA_ERRORS)
def test_schema_error_is_located(
    config_dir: Path, text: str, place: tuple[int, int], message: str, hint: str
) -> None:
    """A schema error names the file, line and column of the bad value, and how to fix it."""
    (config_dir / "extra.yaml").write_text(text, encoding="utf-8")
    found = [p for p in errors_of(config_dir) if message in p.message]
    assert found, errors_of(config_dir)
    problem = found[0]
    assert (problem.file, problem.line, problem.column) == (str(config_dir / "extra.yaml"), *place)
    assert problem.hint == hint


def test_missing_section_points_at_directory(config_dir: Path) -> None:
    """A section no file defines is reported against the directory, naming the section."""
    (config_dir / "menu.yaml").unlink()
    messages = {(p.file, p.message) for p in errors_of(config_dir)}
    assert (str(config_dir), "the config has no `menu` section") in messages
    assert (str(config_dir), "the config has no `nodes` section") in messages


def test_sections_merge_across_files(config_dir: Path) -> None:
    """Nodes, queues and hours written in several files end up in one config."""
    (config_dir / "more.yml").write_text(
        "nodes:\n  extra:\n    then: hangup\nqueues:\n  sales: {}\n", encoding="utf-8"
    )
    config, _warnings = load_checked(config_dir)
    assert set(config.nodes) == {"main", "extra"}
    assert set(config.queues) == {"billing", "sales"}


def test_empty_split_section_is_ignored(config_dir: Path) -> None:
    """A file with an empty `nodes:` section adds nothing and breaks nothing."""
    (config_dir / "more.yaml").write_text("nodes:\n", encoding="utf-8")
    config, _warnings = load_checked(config_dir)
    assert set(config.nodes) == {"main"}


def test_same_node_in_two_files(config_dir: Path) -> None:
    """A node defined in two files is an error at the second place, naming the first."""
    (config_dir / "more.yaml").write_text("# more\nnodes:\n  main:\n    then: hangup\n")
    [problem] = errors_of(config_dir)
    first, second = config_dir / "menu.yaml", config_dir / "more.yaml"
    assert (problem.file, problem.line, problem.column) == (str(second), 3, 3)
    assert problem.message == f"'nodes.main' is defined twice: in {first}:5:3 and in {second}:3:3"


def test_same_section_in_two_files(config_dir: Path) -> None:
    """A single section such as `menu` may only be written in one file."""
    (config_dir / "zz.yaml").write_text("menu:\n  start: main\n", encoding="utf-8")
    [problem] = errors_of(config_dir)
    assert (problem.file, problem.line) == (str(config_dir / "zz.yaml"), 1)
    assert problem.message.startswith("'menu' is defined twice: in ")


def test_errors_from_several_files_in_one_pass(config_dir: Path) -> None:
    """Errors in different files and sections are all reported together, sorted by place."""
    (config_dir / "a.yaml").write_text("hours:\n  x:\n    timezone: Nowhere\n")
    (config_dir / "b.yaml").write_text("nodes:\n  y:\n    promts: {}\n    then: hangup\n")
    found = errors_of(config_dir)
    assert [(Path(p.file).name, p.line) for p in found] == [("a.yaml", 3), ("b.yaml", 3)]


def test_syntax_error_still_reports_other_files(config_dir: Path) -> None:
    """A YAML syntax error in one file does not hide a syntax error in another."""
    (config_dir / "a.yaml").write_text("nodes: [\n")
    (config_dir / "b.yaml").write_text("hours:\n  x: {\n")
    assert sorted(Path(p.file).name for p in errors_of(config_dir)) == ["a.yaml", "b.yaml"]


def test_customer_numbers_are_normalised(config_dir: Path) -> None:
    """Customer numbers written with spaces or dashes are stored in E.164 form."""
    (config_dir / "customers.yaml").write_text(
        'customers:\n  "+60 12-345 6789":\n    name: Aisyah\n', encoding="utf-8"
    )
    config, _warnings = load_checked(config_dir)
    assert list(config.customers) == ["+60123456789"]


def test_unquoted_dates_stay_dates(config_dir: Path) -> None:
    """Holidays written without quotes still load as dates."""
    (config_dir / "more.yaml").write_text(
        "hours:\n  late:\n    timezone: UTC\n    holidays: [2026-12-25]\n", encoding="utf-8"
    )
    config, _warnings = load_checked(config_dir)
    assert str(config.hours["late"].holidays[0]) == "2026-12-25"


def test_integer_dtmf_key_is_text(config_dir: Path) -> None:
    """An option written `key: 1` without quotes is the key "1"."""
    menu = config_dir / "menu.yaml"
    menu.write_text(menu.read_text().replace('key: "1"', "key: 1"), encoding="utf-8")
    config, _warnings = load_checked(config_dir)
    assert config.nodes["main"].options[0].key == "1"


def test_version_follows_content(config_dir: Path) -> None:
    """The same content gives the same version; any change gives another."""
    before = load(config_dir).version
    menu = config_dir / "menu.yaml"
    text = menu.read_text()
    menu.write_text(text + "# a comment\n")
    changed = load(config_dir).version
    menu.write_text(text)
    assert changed != before
    assert load(config_dir).version == before


LOCATE_CASES = [
    pytest.param(("nodes", "main", "then"), ("f", 3, 5), id="exact"),
    pytest.param(("nodes", "main", "then", 0, "goto"), ("f", 3, 5), id="deepest-written"),
    pytest.param(("nodes", "main", 0, "then"), ("f", 3, 5), id="skips-unwritten-parts"),
    pytest.param(("nodes", "other"), ("f", 1, 1), id="falls-back-to-parent"),
    pytest.param(("menu",), ("dir", 1, 1), id="falls-back-to-root"),
]


@pytest.mark.parametrize(("loc", "where"), LOCATE_CASES)
def test_positions_locate(loc: tuple[object, ...], where: tuple[str, int, int]) -> None:
    """A pydantic location maps to the place of the deepest value written along it."""
    positions = Positions(("dir", 1, 1))
    positions.add({("nodes",): ("f", 1, 1), ("nodes", "main"): ("f", 2, 3)})
    positions.add({("nodes", "main", "then"): ("f", 3, 5), ("nodes",): ("g", 9, 9)})
    assert positions.locate(loc) == where
