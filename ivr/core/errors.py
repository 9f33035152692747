"""The service's exceptions, in one small tree.

IVRError
├── ConfigError            a config file is wrong (carries every problem found)
├── UnsafeSettings         the service would start with its front door open
├── SettingsError          a setting cannot be read (names the setting and the fix)
├── StoreError             the Redis/Valkey store cannot be reached or started
│   ├── StoreInUse         another process runs the embedded store on that data directory
│   └── StoreBusy          every pooled store connection stayed in use for the pool's wait
├── WebhookError           a request we cannot act on (carries the HTTP status)
├── CallControlError       an agent's control of a call refused (carries the HTTP status)
├── RoutingError           a queue/agent operation was refused; state is unchanged
│   ├── UnknownAgent, UnknownQueue, UnknownSkill
│   ├── InvalidTransition  an agent state change that is not allowed
│   ├── TransferRefused    a transfer or consult the target cannot take (says why)
│   └── ReservationError   an offer that is unknown, expired or already answered
└── EmulatorError          the local Twilio emulator met something Twilio would reject
    └── TwiMLError         invalid TwiML: names the verb and the rule broken
"""

from __future__ import annotations

from dataclasses import dataclass


class IVRError(Exception):
    """Base of every error this service raises on purpose."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a config file, pinned to a place in it."""

    file: str
    line: int
    column: int
    message: str
    hint: str = ""
    severity: str = "error"  # "error" or "warning"

    def __str__(self) -> str:
        text = f"{self.file}:{self.line}:{self.column}: {self.severity}: {self.message}"
        return f"{text} ({self.hint})" if self.hint else text


class ConfigError(IVRError):
    """The configuration is invalid; `problems` lists each error with file:line:column."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))

    def __repr__(self) -> str:
        return f"ConfigError(problems={len(self.problems)})"


class UnsafeSettings(IVRError):
    """Settings that would leave the service open: refused at start-up."""


class SettingsError(IVRError):
    """A setting that cannot be read, such as a malformed `IVR_WORKSPACES`."""


class StoreError(IVRError):
    """The store could not be started or reached."""


class StoreInUse(StoreError):
    """Another live process holds the data directory's store (one store per directory)."""


class StoreBusy(StoreError):
    """Every connection of this process's store pool stayed in use for the pool's wait
    (`IVR_STORE_MAX_CONNECTIONS`, `ivr.core.pool`): the store is out of reach for now."""


class WebhookError(IVRError):
    """A request the service refuses, with the HTTP status to answer."""

    def __init__(self, status: int, detail: str) -> None:
        self.status = status
        self.detail = detail
        super().__init__(f"{status}: {detail}")

    def __repr__(self) -> str:
        return f"WebhookError(status={self.status}, detail={self.detail!r})"


class CallControlError(IVRError):
    """A control of a connected call (hold, mute, hang-up, digits) that cannot be made:
    the call is not the agent's or not connected (409), or the input is wrong (400)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message

    def __repr__(self) -> str:
        return f"CallControlError({self.status}, {self.message!r})"


class RoutingError(IVRError):
    """A routing operation was refused and changed nothing."""


class UnknownAgent(RoutingError):
    """No agent with that id is configured."""


class UnknownQueue(RoutingError):
    """No queue with that name is configured."""


class UnknownSkill(RoutingError):
    """No agent or queue uses that skill."""


class InvalidTransition(RoutingError):
    """The agent cannot move from its current state to the one asked for."""


class TransferRefused(RoutingError):
    """A transfer or consult refused, with a message the agent can read: the target is
    not logged in or busy, speaks not the caller's language, or the queue is full."""


class ReservationError(RoutingError):
    """The offer is unknown, has timed out, or was already accepted or rejected."""


class EmulatorError(IVRError):
    """The local Twilio emulator met something Twilio would not accept."""


class TwiMLError(EmulatorError):
    """The application returned TwiML that Twilio would reject."""

    def __init__(self, verb: str, rule: str) -> None:
        self.verb = verb
        self.rule = rule
        super().__init__(f"<{verb}>: {rule}")

    def __repr__(self) -> str:
        return f"TwiMLError(verb={self.verb!r}, rule={self.rule!r})"
