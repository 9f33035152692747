"""Which sorted sets each queue, call and agent lives in: a pure function of the config.

A queue is split into *buckets*, one per (escalation step, language). A waiting
call sits in exactly one bucket; an available agent is listed in every bucket
whose requirements it meets. Step `s < len(escalation)` requires the queue's
skills raised by that step's; the last step is the queue's own requirements.
The language part is the caller's language (a skill at level >= 1), or `-` when
the call has none or the step does not ask for it (`language_required: false` on the
queue, or on an escalation step: a step may relax the language as well as skills). Agents are
listed under `-` and under each language they speak (each skill, when the
config names no languages), so any caller language an agent speaks finds
them. Buckets are bounded by config, never by traffic.
"""

from __future__ import annotations

from dataclasses import dataclass

from ivr.config.queues import AgentConfig, QueueConfig, step_languages, step_requirements
from ivr.core.keys import Keys

NO_LANGUAGE = "-"
"""The language part of a bucket for calls with no language requirement."""


@dataclass(frozen=True)
class Bucket:
    """One (queue, escalation step, language) slice of a queue."""

    queue: str
    step: int
    language: str


def meets(skills: dict[str, int], required: dict[str, int]) -> bool:
    """True when `skills` has every required skill at or above its level."""
    return all(skills.get(skill, 0) >= level for skill, level in required.items())


def skill_score(agent: AgentConfig, queue: QueueConfig) -> int:
    """The `most_skilled` score: the agent's levels summed over required and preferred skills."""
    wanted = set(queue.required_skills) | set(queue.preferred_skills)
    return sum(agent.skills.get(skill, 0) for skill in wanted)


class Layout:
    """The bucket structure of one synced config, and the keys of every bucket."""

    def __init__(
        self,
        keys: Keys,
        queues: dict[str, QueueConfig],
        agents: dict[str, AgentConfig],
        retired: frozenset[str] = frozenset(),
        languages: frozenset[str] | None = None,
    ) -> None:
        self.keys = keys
        self.queues = queues
        self.agents = agents
        self.retired = retired
        self.languages = languages
        """The skills that are caller languages; None treats every skill as one."""
        self.skills = frozenset(s for a in agents.values() for s in a.skills)
        self._steps = {name: step_requirements(q) for name, q in queues.items()}
        self._languages = {name: step_languages(q) for name, q in queues.items()}
        self._agent_buckets = {name: self._buckets_for(a) for name, a in agents.items()}
        self._answerers: dict[tuple[str, int, str], frozenset[str]] = {}

    def _buckets_for(self, agent: AgentConfig) -> list[Bucket]:
        buckets = []
        spoken = sorted(s for s in agent.skills if self._is_language(s))
        for name, queue in sorted(self.queues.items()):
            wants = step_languages(queue)
            for step, required in enumerate(self._steps[name]):
                if meets(agent.skills, required):
                    languages = [NO_LANGUAGE, *spoken] if wants[step] else [NO_LANGUAGE]
                    buckets += [Bucket(name, step, lang) for lang in languages]
        return buckets

    def _is_language(self, skill: str) -> bool:
        # Listing an agent under skills no caller can have as a language (billing, ...)
        # made every agent-side decision touch about three times the buckets it needs.
        return self.languages is None or skill in self.languages

    def agent_buckets(self, agent: str) -> list[Bucket]:
        """Every bucket the agent is listed in while available."""
        return self._agent_buckets[agent]

    def agent_queues(self, agent: str) -> list[str]:
        """The queues the agent serves (meets the queue's own requirements)."""
        return sorted({b.queue for b in self._agent_buckets[agent]})

    def skill_scores(self, agent: str) -> dict[str, int]:
        """The agent's `most_skilled` score in each queue it serves."""
        config = self.agents[agent]
        return {q: skill_score(config, self.queues[q]) for q in self.agent_queues(agent)}

    def answerers(self, queue: str, step: int, language: str | None) -> frozenset[str]:
        """The agents who could take a call of `language` waiting at `step` of `queue`, now
        or at a later step (a pure function of the config, so it is kept once worked out)."""
        key = (queue, step, language or NO_LANGUAGE)
        if key not in self._answerers:
            lang = None if language == NO_LANGUAGE else language
            wanted = {self.call_bucket(queue, t, lang) for t in range(step, self.step_count(queue))}
            found = {a for a, buckets in self._agent_buckets.items() if wanted & set(buckets)}
            self._answerers[key] = frozenset(found)
        return self._answerers[key]

    def waiting_buckets(self) -> list[Bucket]:
        """Every bucket a call can wait in, across all queues (bounded by config)."""
        spoken = sorted(s for s in self.skills if self._is_language(s))
        found = []
        for name in sorted(self.queues):
            for step, wants in enumerate(self._languages[name]):
                languages = [NO_LANGUAGE, *spoken] if wants else [NO_LANGUAGE]
                found += [Bucket(name, step, lang) for lang in languages]
        return found

    def wants_language(self, queue: str) -> bool:
        """Whether some step of the queue asks for the caller's language."""
        return any(self._languages[queue])

    def step_count(self, queue: str) -> int:
        """How many steps the queue has, its final any-agent step included."""
        return len(self._steps[queue])

    def call_bucket(self, queue: str, step: int, language: str | None) -> Bucket:
        """The bucket a call of `language` waits in at `step`."""
        wants_language = bool(language) and self._languages[queue][step]
        return Bucket(queue, step, language if wants_language and language else NO_LANGUAGE)

    def waiting_key(self, bucket: Bucket) -> str:
        """The sorted set of calls waiting in the bucket."""
        return self.keys.queue_waiting(bucket.queue, str(bucket.step), bucket.language)

    def available_key(self, bucket: Bucket) -> str:
        """The sorted set of agents available for the bucket."""
        return self.keys.queue_available(bucket.queue, str(bucket.step), bucket.language)
