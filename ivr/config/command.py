"""`ivr check`: load the config folder, print each problem with its file:line, what each SMS
text costs in every language, and a summary."""

from __future__ import annotations

from pathlib import Path
from typing import TextIO

from ivr.config import texting
from ivr.config.loader import load_checked
from ivr.core.errors import ConfigError, Problem


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
