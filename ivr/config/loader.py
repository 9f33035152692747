"""Loading the configuration: every YAML file under `config/`, merged and validated.

Top-level sections from all files are merged; a mapping section (such as
`nodes`) may be split across files, but one name defined twice is an error.
Every problem is reported as a `Problem` with file:line:column: the YAML is
composed node by node so that each value's place in its file is known, and a
pydantic error's `loc` is mapped back to it. The semantic checks that need the
whole validated config (references, loops, prompts) live in `ivr.config.check`.
"""

from __future__ import annotations

import calendar
import difflib
import hashlib
import re
from pathlib import Path
from types import NoneType, UnionType
from typing import Annotated, Any, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from ivr.config.check import dotted, normalise_customers
from ivr.config.check import problems as semantic_problems
from ivr.config.menu import Action
from ivr.config.model import (
    RESERVED_SECTIONS,
    SPLIT_SECTIONS,
    Config,
    DataPath,
    Positions,
    Where,
)
from ivr.core.errors import ConfigError, Problem


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader, except that dates stay text.

    Pydantic then parses them, so a bad date becomes an error with a place
    instead of an exception from deep inside PyYAML.
    """


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regex) for tag, regex in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def config_files(directory: Path) -> list[Path]:
    """The YAML files that make up a config directory, in a stable order."""
    return sorted(p for p in Path(directory).glob("*.y*ml") if p.is_file())


DIRECTORY_HINT = "pass the folder that holds the YAML files, e.g. `ivr check config`"


def directory_problem(directory: Path) -> Problem | None:
    """Why `directory` cannot be a config directory (missing, a file, no YAML in it), or None.

    Said once, instead of one "the config has no `company` section" per section.
    """
    directory, where = Path(directory), str(directory)
    if directory.is_file():
        hint = f"pass the folder that holds it: `ivr check {directory.parent}`"
        return Problem(where, 1, 1, f"{directory} is a file, not a config directory", hint)
    if not directory.is_dir():
        message = f"there is no config directory {directory.absolute()}"
        hint = f"{DIRECTORY_HINT}, set IVR_CONFIG_DIR, or write the sample with `ivr init`"
        return Problem(where, 1, 1, message, hint)
    if not config_files(directory):
        message = f"{directory} holds no .yaml or .yml file"
        return Problem(where, 1, 1, message, DIRECTORY_HINT)
    return None


def version_of(files: list[Path]) -> str:
    """A short content hash: the same files give the same version in every process."""
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def load(directory: Path) -> Config:
    """Load and validate a config directory, or raise `ConfigError`."""
    config, _warnings = load_checked(directory)
    return config


def load_checked(directory: Path) -> tuple[Config, list[Problem]]:
    """Load, validate and check a config directory: the config and its warnings (as
    `load_placed`, without the places)."""
    config, problems, _positions = load_placed(directory)
    return config, problems


def load_placed(directory: Path) -> tuple[Config, list[Problem], Positions]:
    """Load, validate and check a config directory: the config and its warnings.

    Raises `ConfigError` listing every error found (and the warnings, marked as
    such), sorted by file and line. Returns the config, its warnings and where each value
    was written.
    """
    missing = directory_problem(directory)
    if missing is not None:
        raise ConfigError([missing])
    files = config_files(directory)
    positions = Positions((str(directory), 1, 1))
    sections, problems, complete = _read_all(files, positions)
    config = None
    if complete:  # a file that cannot be parsed would only add noise: its sections are missing
        config, found = _validate(sections, version_of(files), positions)
        problems += found
    problems = sorted(problems, key=lambda p: (p.file, p.line, p.column))
    if config is None or any(p.severity == "error" for p in problems):
        raise ConfigError(problems)
    return config, problems, positions


def _read_all(
    files: list[Path], positions: Positions
) -> tuple[dict[str, Any], list[Problem], bool]:
    merged: dict[str, Any] = {}
    problems: list[Problem] = []
    complete = True
    for path in files:
        marks: dict[DataPath, Where] = {}
        data = _read_file(path, marks, problems)
        if data is None:
            complete = False
        else:
            problems += _merge(merged, data, marks, positions)
        positions.add(marks)
    return merged, problems, complete


def _read_file(
    path: Path, marks: dict[DataPath, Where], problems: list[Problem]
) -> dict[str, Any] | None:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        problems.append(Problem(str(path), 1, 1, f"cannot read the file: {exc}"))
        return None
    try:
        data = _parse(text, str(path), marks, problems)
    except yaml.YAMLError as exc:
        problems.append(_syntax_problem(str(path), exc))
        return None
    if not isinstance(data, dict):
        hint = "start the file with a section name such as `nodes:`"
        problems.append(Problem(str(path), 1, 1, "a config file is a mapping of sections", hint))
        return None
    return data


def _parse(text: str, file: str, marks: dict[DataPath, Where], problems: list[Problem]) -> Any:
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return {}
        data = loader.construct_document(node)
        _record(loader, node, (), file, marks, problems)
        return data
    finally:
        loader.dispose()


def _syntax_problem(file: str, exc: yaml.YAMLError) -> Problem:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
    reason = getattr(exc, "problem", None) or str(exc)
    context = getattr(exc, "context", None)
    message = f"YAML syntax error: {reason}" + (f" ({context})" if context else "")
    return Problem(file, line, column, message, "check the indentation and quoting here")


def _at(file: str, mark: yaml.Mark) -> Where:
    return (file, mark.line + 1, mark.column + 1)


def _record(
    loader: _Loader,
    node: yaml.Node,
    path: DataPath,
    file: str,
    marks: dict[DataPath, Where],
    problems: list[Problem],
) -> None:
    """Note the place of every key and list item under `node` (keys: where the key is)."""
    if isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            marks[path + (index,)] = _at(file, item.start_mark)
            _record(loader, item, path + (index,), file, marks, problems)
    elif isinstance(node, yaml.MappingNode):
        seen: dict[Any, yaml.Node] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            _check_duplicate(key, key_node, node, seen, file, problems)
            marks[path + (key,)] = _at(file, key_node.start_mark)
            _record(loader, value_node, path + (key,), file, marks, problems)


def _check_duplicate(
    key: Any,
    key_node: yaml.Node,
    mapping: yaml.MappingNode,
    seen: dict[Any, yaml.Node],
    file: str,
    problems: list[Problem],
) -> None:
    # Keys merged in with `<<: *anchor` are written elsewhere and may be overridden.
    if not mapping.start_mark.index <= key_node.start_mark.index <= mapping.end_mark.index:
        return
    if key in seen:
        first = seen[key].start_mark.line + 1
        message = f"key {key!r} is written twice in this mapping (first on line {first})"
        where = _at(file, key_node.start_mark)
        problems.append(Problem(*where, message, "YAML keeps only the last one; delete one"))
    seen[key] = key_node


def _merge(
    merged: dict[str, Any], data: dict[str, Any], marks: dict[DataPath, Where], known: Positions
) -> list[Problem]:
    problems = []
    for section, value in data.items():
        if section in SPLIT_SECTIONS and value is None:
            continue  # an empty `nodes:` adds nothing
        if section in RESERVED_SECTIONS:
            problems.append(_reserved(section, marks))
        elif section in SPLIT_SECTIONS and isinstance(value, dict):
            problems += _merge_entries(merged.setdefault(section, {}), section, value, marks, known)
        elif section in merged:
            problems.append(_duplicate((section,), marks, known))
        else:
            merged[section] = value
    return problems


def _merge_entries(
    into: Any,
    section: str,
    entries: dict[Any, Any],
    marks: dict[DataPath, Where],
    known: Positions,
) -> list[Problem]:
    if not isinstance(into, dict):  # the section was written as a scalar in an earlier file
        return [_duplicate((section,), marks, known)]
    problems = []
    for name, value in entries.items():
        if name in into:
            problems.append(_duplicate((section, name), marks, known))
        else:
            into[name] = value
    return problems


def _duplicate(path: DataPath, marks: dict[DataPath, Where], known: Positions) -> Problem:
    here, first = marks[path], known.locate(path)
    name = ".".join(str(part) for part in path)
    message = f"'{name}' is defined twice: in {_place(first)} and in {_place(here)}"
    return Problem(*here, message, "keep one definition; rename or delete the other")


def _reserved(section: str, marks: dict[DataPath, Where]) -> Problem:
    message = f"`{section}` is not a config section: the loader sets it"
    return Problem(*marks[(section,)], message, "delete this section")


def _place(where: Where) -> str:
    return f"{where[0]}:{where[1]}:{where[2]}"


def _validate(
    sections: dict[str, Any], version: str, positions: Positions
) -> tuple[Config | None, list[Problem]]:
    problems = normalise_customers(sections, positions)
    try:
        config = Config.model_validate({**sections, "version": version})
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        return None, problems + [_pydantic_problem(e, positions) for e in errors]
    return config, problems + semantic_problems(config, positions)


def _pydantic_problem(error: ErrorDetails, positions: Positions) -> Problem:
    loc = tuple(error["loc"])
    message, hint = _explain(error, loc)
    return positions.problem(loc, message, hint)


def _explain(error: ErrorDetails, loc: DataPath) -> tuple[str, str]:
    kind = error["type"]
    if kind == "extra_forbidden":
        return f"unknown key '{loc[-1]}' in {dotted(loc[:-1])}", _suggest(loc[:-1], str(loc[-1]))
    if kind == "missing" and len(loc) == 1:
        return f"the config has no `{loc[0]}` section", f"add `{loc[0]}:` to one of the files"
    if kind == "missing":
        return f"{dotted(loc[:-1])} needs a `{loc[-1]}` key", f"add `{loc[-1]}: ...`"
    if kind in DATE_ERRORS:
        at = loc[:-2] if loc[-1] == "[key]" else loc  # a date key: name the mapping once
        return f"{dotted(at)}: {error['input']!r} is not a date", date_hint(error["input"])
    reason = error["msg"].removeprefix("Value error, ")
    return f"{dotted(loc)}: {reason}", _hint(kind, loc)


DATE_ERRORS = frozenset({"date_parsing", "date_from_datetime_parsing"})
ISO_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")


def date_hint(value: Any) -> str:
    """Why a date written as YYYY-MM-DD is no date ("February 2026 has 28 days"), or how to
    write one."""
    match = ISO_DATE.fullmatch(str(value).strip())
    if match is None:
        return "write dates as YYYY-MM-DD, e.g. 2026-12-25"
    year, month, day = (int(part) for part in match.groups())
    if not 1 <= month <= 12:
        return f"there is no month {month}"
    if day == 0:
        return "days of the month start at 01"
    return f"{calendar.month_name[month]} {year} has {calendar.monthrange(year, month)[1]} days"


TYPE_HINTS = {
    "string_type": "put the value in quotes",
    "int_type": "write a whole number",
    "int_parsing": "write a whole number",
    "bool_type": "write true or false",
    "dict_type": "write a mapping of `key: value` lines",
    "list_type": "write a list, e.g. `[a, b]`",
}
ACTION_HINT = (
    "an action is a mapping such as `goto: main` or `queue: billing`, or back/top/repeat/hangup"
)


def _hint(kind: str, loc: DataPath) -> str:
    if kind == "model_type" and _type_at(loc) is Action:
        return ACTION_HINT
    if kind == "string_type" and loc[-1] == "[key]" and loc[0] == "customers":
        return 'write phone numbers in quotes, e.g. "+60123456789"'
    return TYPE_HINTS.get(kind, "")


def _suggest(loc: DataPath, key: str) -> str:
    model = _type_at(loc)
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        return ""
    fields = [name for name in model.model_fields if name not in RESERVED_SECTIONS]
    close = difflib.get_close_matches(key, fields, n=1)
    if close:
        return f"did you mean '{close[0]}'?"
    return "expected one of: " + ", ".join(fields)


def _type_at(loc: DataPath) -> Any:
    """The schema type that validates the value at `loc`, or None if it cannot be told."""
    current: Any = Config
    for part in loc:
        current = _step(_unwrap(current), part)
        if current is None:
            return None
    return _unwrap(current)


def _unwrap(annotation: Any) -> Any:
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin in (Union, UnionType):
            annotation = next(a for a in get_args(annotation) if a is not NoneType)
        else:
            return annotation


def _step(annotation: Any, part: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        field = annotation.model_fields.get(part)
        return field.annotation if field else None
    origin = get_origin(annotation)
    if origin is dict:
        return get_args(annotation)[1]
    if origin is list and isinstance(part, int):
        return get_args(annotation)[0]
    return None
