"""What only a deployment of several workspaces can get wrong: two claiming one number,
and a command run for one of them without saying which (`chosen`, `--workspace`).

Each workspace's folder is checked on its own (`ivr.config.command.run`); a number two
workspaces list would leave a caller's workspace to chance, so it is an error pinned to
the place in each folder that lists it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

from ivr.config.loader import directory_problem, load_placed
from ivr.config.model import Config, Positions
from ivr.config.reload import ConfigRegistry, Vet
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


def numbers_free_of(others: Sequence[ConfigRegistry]) -> Vet:
    """A reload's `vet`: an error at each number of the reloaded config that another
    workspace's live config lists, as `ivr check` reports it."""

    def vet(config: Config, positions: Positions) -> list[Problem]:
        taken = {number for other in others for number in other.current.numbers}
        message = "number {} is claimed by more than one workspace"
        return [
            positions.problem(("numbers", index), message.format(number), "keep it in one")
            for index, number in enumerate(config.numbers)
            if number in taken
        ]

    return vet


def folder_problem(workspace: Workspace) -> Problem | None:
    """Why a workspace's folder cannot be a config folder, blamed on its `IVR_WORKSPACES`
    entry (not on `IVR_CONFIG_DIR`, which a deployment of workspaces does not read)."""
    problem = directory_problem(workspace.config_dir)
    if problem is None:
        return None
    entry = f"{workspace.id}:{workspace.config_dir}"
    hint = f"fix the entry {entry} of IVR_WORKSPACES, or make that folder (`ivr init`)"
    return _with_hint(problem, hint)


def numberless(workspaces: Sequence[Workspace]) -> list[Problem]:
    """A warning for each workspace whose config loads but lists no numbers: among
    several, a call finds its workspace by the number called, so it can never get one."""
    found = []
    for workspace in workspaces:
        with contextlib.suppress(ConfigError):  # its own problems are reported with it
            if not load_placed(workspace.config_dir)[0].numbers:
                message = f"workspace {workspace.id} lists no numbers: it can never get a call"
                hint = "list its Twilio numbers under `numbers:` in business.yaml"
                folder = str(workspace.config_dir)
                found.append(Problem(folder, 1, 1, message, hint, "warning"))
    return found
