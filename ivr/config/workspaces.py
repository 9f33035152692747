"""What only a deployment of several workspaces can get wrong: two claiming one number,
and a command run for one of them without saying which (`chosen`, `--workspace`).

Each workspace's folder is checked on its own (`ivr.config.command.run`); a number two
workspaces list would leave a caller's workspace to chance, so it is an error pinned to
the place in each folder that lists it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from ivr.config.loader import load_placed
from ivr.core.errors import ConfigError, Problem, SettingsError
from ivr.core.settings import Settings, Workspace

Claim = tuple[str, str, Problem]
"""A number, the workspace listing it, and a problem pinned where it is written."""


def claims(workspace: Workspace) -> Iterator[Claim]:
    """The numbers of a workspace whose config loads, each pinned where it is written."""
    try:
        config, _warnings, positions = load_placed(workspace.config_dir)
    except ConfigError:
        return  # its own problems are reported with its folder
    for index, number in enumerate(config.numbers):
        message = f"number {number} is claimed by more than one workspace"
        yield number, workspace.id, positions.problem(("numbers", index), message)


def shared_numbers(workspaces: Sequence[Workspace]) -> list[Problem]:
    """An error at each place a number is listed by two or more workspaces."""
    by_number: dict[str, list[Claim]] = {}
    for workspace in workspaces:
        for claim in claims(workspace):
            by_number.setdefault(claim[0], []).append(claim)
    found = []
    for listed in by_number.values():
        owners = sorted({owner for _, owner, _ in listed})
        if len(owners) > 1:
            hint = f"workspaces {', '.join(owners)}; keep it in one"
            found += [_with_hint(problem, hint) for _, _, problem in listed]
    return found


def _with_hint(problem: Problem, hint: str) -> Problem:
    return Problem(problem.file, problem.line, problem.column, problem.message, hint)


def add_flag(parser: Any) -> None:
    """`--workspace ID`, for a command that works on one contact centre."""
    parser.add_argument(
        "--workspace",
        metavar="ID",
        help="the workspace of IVR_WORKSPACES to use (needed when it names several)",
    )


def chosen(settings: Settings, wanted: str | None) -> Settings:
    """The settings of the workspace `--workspace` names (its config folder and keys); the
    only one when IVR_WORKSPACES names one; these settings without IVR_WORKSPACES. Raises
    SettingsError, naming the ids, when it names several and `wanted` is none of them."""
    ids = ", ".join(w.id for w in settings.workspaces)
    if not settings.workspaces:
        if wanted:
            raise SettingsError(f"--workspace {wanted!r}: IVR_WORKSPACES is not set")
        return settings
    if not wanted and len(settings.workspaces) == 1:
        return settings.for_workspace(settings.workspaces[0])
    if not wanted:
        raise SettingsError(
            f"IVR_WORKSPACES names several workspaces: choose one with --workspace ({ids})"
        )
    found = next((w for w in settings.workspaces if w.id == wanted), None)
    if found is None:
        raise SettingsError(f"no workspace {wanted!r} in IVR_WORKSPACES ({ids})")
    return settings.for_workspace(found)
