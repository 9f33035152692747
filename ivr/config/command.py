"""`ivr check`: load the config folder, print each problem with its file:line, what each SMS
text costs in every language, and a summary."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from ivr.config import texting
from ivr.config.loader import load_checked
from ivr.config.workspaces import folder_problem, numberless, shared_numbers
from ivr.core.errors import ConfigError, Problem
from ivr.core.settings import Workspace


def run(directory: Path, out: TextIO) -> int:
    """`ivr check DIR`: print each problem, the SMS costs of a valid config, and a summary;
    1 if there is any error, else 0."""
    try:
        config, found = load_checked(directory)
    except ConfigError as exc:
        found, version = exc.problems, None
    else:
        version = config.version
    for problem in sorted(found, key=lambda p: (p.file, p.line, p.column)):
        print(problem, file=out)
    if version is not None:
        for line in texting.table(list(texting.costs(config)), config.languages):
            print(line, file=out)
    print(summary(found, version), file=out)
    return 1 if version is None else 0


def run_all(workspaces: Sequence[Workspace], out: TextIO) -> int:
    """`ivr check` of a deployment with several workspaces: each folder as `run` checks it,
    under its workspace's name, then the numbers two workspaces claim; 1 on any error."""
    code = 0
    for workspace in workspaces:
        print(f"workspace {workspace.id} ({workspace.config_dir}):", file=out)
        if (missing := folder_problem(workspace)) is not None:
            print(missing, file=out)
            code = 1
            continue
        code |= run(workspace.config_dir, out)
    for problem in numberless(workspaces):
        print(problem, file=out)
    clashes = shared_numbers(workspaces)
    for problem in clashes:
        print(problem, file=out)
    if clashes:
        print(f"{_count(len(clashes), 'error')} across workspaces", file=out)
    return 1 if clashes else code


def summary(found: list[Problem], version: str | None) -> str:
    """`config OK: 2 warnings (version ...)`, or `3 errors, 1 warning`."""
    errors = sum(p.severity == "error" for p in found)
    warnings = len(found) - errors
    if version is None:
        return f"{_count(errors, 'error')}, {_count(warnings, 'warning')}"
    counted = f": {_count(warnings, 'warning')}" if warnings else ""
    return f"config OK{counted} (version {version})"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
