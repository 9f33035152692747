"""Queue and agent definitions, as admins write them in `config/queues.yaml` and `config/agents.yaml`."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from ivr.prompts import Localized


class QueueConfig(BaseModel):
    """A queue callers can be handed to."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    display_name: str | None = None
    hold_music: str | None = None
    entry_message: Localized | None = None
    required_skills: dict[str, int] = Field(default_factory=dict)


class AgentConfig(BaseModel):
    """A person who takes calls."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    skills: dict[str, int] = Field(default_factory=dict)
    device: str
    wrap_up_s: int | None = None
    secret_hash: str | None = None
