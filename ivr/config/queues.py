"""Queue and agent definitions, as admins write them in `config/queues.yaml` and `agents.yaml`.

Every routing field has a default, so a queue or agent written before the
routing engine existed still validates. Skill levels run from 1 (novice) to 5
(expert); a language is a skill like any other (`ms: 5`).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ivr.config.prompts import Localized

RING_TIMEOUT_S = 15
"""How long an offered call rings an agent before it counts as no-answer (Asterisk: 15 s)."""
WRAP_UP_S = 10
"""After-call work before an agent is offered the next call."""
SERVICE_LEVEL_S = 20
"""The answer-time threshold for the service level (ICMI 80/20)."""
MAX_NO_ANSWER = 3
"""Consecutive no-answers that put an agent on break with reason "missed calls"."""
REJECT_DELAY_S = 5
"""How long an agent who rejected a call is held back from the next offer."""
BUSY_DELAY_S = 5
"""How long an agent whose device was busy is held back from the next offer."""
DEVICE_RETRY_S = 300
"""Default cool-down of the break an unreachable device causes, in seconds."""
NO_ANSWER_DELAY_S = 5
"""How long an agent who let a call ring out is held back (Asterisk retries after 5 s)."""
NO_AGENTS_AFTER_S = 60
"""How long a caller waits once no logged-in agent can ever answer them (nobody logged in
has the skills and language their call needs) before the queue's `no_agents_action`. A
minute of grace: callers who ring just before the shift logs in, or while an agent's
console reconnects, are not flushed to voicemail."""
TRANSFER_AGENT_TIMEOUT_S = 60
"""How long a call transferred to a named agent waits for them before it falls back to its
queue (at its original place)."""
PRIORITY_MAX = 99
"""Call priorities run from 0 to this; a higher number is served first."""

Level = Annotated[int, Field(ge=1, le=5)]
"""A skill level: 1 (novice) to 5 (expert)."""
Skills = dict[str, Level]
Strategy = Literal[
    "longest_idle", "round_robin", "fewest_calls", "least_talk_time", "most_skilled", "random"
]


class ToQueue(BaseModel):
    """Overflow into another queue; the caller keeps their original enqueue time."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    queue: str


class Hangup(BaseModel):
    """Overflow by playing a message and hanging up."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    hangup: str


OverflowAction = Literal["voicemail", "callback"] | ToQueue | Hangup
"""Where a caller goes when a queue is full, waited too long, or has nobody logged in."""


class EscalationStep(BaseModel):
    """One escalation step: these skills apply for the first `after_s` seconds of the step."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    after_s: int = Field(gt=0)
    required_skills: Skills = Field(default_factory=dict)
    language_required: bool | None = None
    """Whether this step asks for the caller's language; unset, as the queue's
    `language_required` (which holds after the last step). A queue that sets
    `language_required: false` with `true` here relaxes the language once this step ends."""


DEFAULT_HOLD_MUSIC = "http://com.twilio.sounds.music.s3.amazonaws.com/MARKOVICHAMP-Borghestral.mp3"
ANNOUNCE_EVERY_S = 45
ANNOUNCE_MIN_S = 15
"""Never announce position or wait more often than this (Asterisk's min-announce-frequency)."""
HANDLE_TIME_S = 180
"""The handle time assumed for wait estimates until real calls have been measured."""


class PeriodicMessage(BaseModel):
    """A message played to waiting callers every `every_s` seconds."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    every_s: int = Field(gt=0)
    text: Localized


class MusicClip(BaseModel):
    """One clip of hold music and how long it plays, so the hold loop can fill the time to
    the next announcement with whole clips (Twilio cannot stop a `<Play>` part way)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str
    seconds: int = Field(gt=0)


class HoldConfig(BaseModel):
    """What a waiting caller hears, and the ways out of the queue they are offered."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    music: str = DEFAULT_HOLD_MUSIC
    music_clips: list[MusicClip] = Field(default_factory=list)
    """Hold music as clips of known length, played in turn; when set, `music` is not used and
    announcements keep to `announce_every_s` whatever the music (docs/ewt.md#schedule)."""
    announce_position: bool = True
    announce_wait: bool = True
    announce_every_s: int = Field(default=ANNOUNCE_EVERY_S, gt=0)
    announce_min_s: int = Field(default=ANNOUNCE_MIN_S, gt=0)
    messages: list[PeriodicMessage] = Field(default_factory=list)
    apology_after_s: int | None = Field(default=120, gt=0)
    apology: Localized | None = None
    voicemail_key: str | None = "2"
    callback_key: str | None = None
    """Offer "press this key to be called back, keeping your place" (`callbacks` config)."""
    callback_offer_after_estimate_s: int = Field(default=0, ge=0)
    """Offer the callback only while the estimated wait is longer than this."""
    handle_time_s: int = Field(default=HANDLE_TIME_S, gt=0)
    max_estimated_wait_s: int | None = Field(default=None, gt=0)
    """Divert callers at entry when the estimated wait is longer than this."""
    when_estimated_wait: OverflowAction = "voicemail"
    hours: str | None = None
    """Opening hours of the queue; callers still waiting at closing time are moved on."""
    when_closed: OverflowAction = "voicemail"
    closing_message: Localized | None = None

    @model_validator(mode="after")
    def _clips_fit(self) -> HoldConfig:
        """A clip longer than the announcement interval could never play whole between two
        announcements: say so at load time rather than leave callers in silence."""
        for clip in self.music_clips:
            if clip.seconds > self.announce_every_s:
                raise ValueError(
                    f"music clip {clip.url} lasts {clip.seconds} s, longer than announce_every_s"
                    f" ({self.announce_every_s} s): cut it into shorter clips"
                )
        return self


class QueueConfig(BaseModel):
    """A queue callers can be handed to."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    display_name: str | None = None
    hold_music: str | None = None
    entry_message: Localized | None = None
    required_skills: Skills = Field(default_factory=dict)
    preferred_skills: Skills = Field(default_factory=dict)
    strategy: Strategy = "longest_idle"
    priority: int = Field(default=0, ge=0, le=PRIORITY_MAX)
    escalation: list[EscalationStep] = Field(default_factory=list)
    max_size: int | None = Field(default=None, gt=0)
    when_full: OverflowAction = "voicemail"
    max_wait_s: int | None = Field(default=None, gt=0)
    when_max_wait: OverflowAction = "voicemail"
    when_no_agents: Literal["join", "divert"] = "join"
    no_agents_action: OverflowAction = "voicemail"
    no_agents_after_s: int | None = Field(default=NO_AGENTS_AFTER_S, gt=0)
    """Leave when empty: a waiting caller no logged-in agent can ever answer (the last one
    who could logged out, or nobody has their language and skills) is moved on with
    `no_agents_action` after this long; null waits for good."""
    language_required: bool = True
    ring_timeout_s: int = Field(default=RING_TIMEOUT_S, gt=0)
    wrap_up_s: int = Field(default=WRAP_UP_S, ge=0)
    service_level_s: int = Field(default=SERVICE_LEVEL_S, gt=0)
    weight: int = Field(default=1, ge=0)
    hold: HoldConfig = Field(default_factory=HoldConfig)
    transfer_agent_timeout_s: int = Field(default=TRANSFER_AGENT_TIMEOUT_S, gt=0)
    """A call transferred to a named agent waits this long for them, then falls back to
    this queue at its original place."""
    sticky_days: int = Field(default=7, ge=0)
    """A caller who phoned within this many days is offered first to their last agent
    when that agent is free (0 turns it off)."""


class AgentConfig(BaseModel):
    """A person who takes calls."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    skills: Skills = Field(default_factory=dict)
    device: str
    wrap_up_s: int | None = Field(default=None, ge=0)
    secret_hash: str | None = None
    max_no_answer: int = Field(default=MAX_NO_ANSWER, gt=0)
    reject_delay_s: int = Field(default=REJECT_DELAY_S, ge=0)
    busy_delay_s: int = Field(default=BUSY_DELAY_S, ge=0)
    no_answer_delay_s: int = Field(default=NO_ANSWER_DELAY_S, ge=0)
    device_retry_s: int | None = Field(default=DEVICE_RETRY_S, ge=1)
    """After Twilio says the device cannot be rung, the agent's break ends on its own after
    this long (None: only when they set themselves available)."""


def step_requirements(queue: QueueConfig) -> list[dict[str, int]]:
    """The skills required at each step, the queue's own requirement last."""
    steps = []
    for step in queue.escalation:
        merged = dict(queue.required_skills)
        for skill, level in step.required_skills.items():
            merged[skill] = max(level, merged.get(skill, 0))
        steps.append(merged)
    steps.append(dict(queue.required_skills))
    return steps


def step_languages(queue: QueueConfig) -> list[bool]:
    """Whether each step (as `step_requirements`) asks for the caller's language."""
    own = queue.language_required
    steps = [own if s.language_required is None else s.language_required for s in queue.escalation]
    return [*steps, own]
