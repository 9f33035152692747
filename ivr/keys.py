"""Every Redis key the service uses, as named templates, in one place.

Each key carries the tenant as a hash tag (`ivr:{main}:...`), so all the keys
one operation or Lua script touches live in the same cluster slot. Lua
scripts never build key names: callers pass every key in KEYS, made here.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Keys:
    """Key templates for one tenant."""

    tenant: str = "main"

    @property
    def prefix(self) -> str:
        return f"ivr:{{{self.tenant}}}"

    # -- calls (ivr/call.py) -------------------------------------------------
    def call(self, call_sid: str) -> str:
        """String: the call session as JSON (node, language, data, path, step)."""
        return f"{self.prefix}:call:{call_sid}"

    def call_responses(self, call_sid: str) -> str:
        """Hash: step number -> TwiML returned for it, so a retried webhook gets the same."""
        return f"{self.prefix}:call:{call_sid}:responses"

    def call_status(self, call_sid: str) -> str:
        """Hash: status-callback sequence numbers already applied for the call."""
        return f"{self.prefix}:call:{call_sid}:status"

    def voicemails(self) -> str:
        """Stream: voicemails left by callers (call, from, recording URL, duration)."""
        return f"{self.prefix}:voicemails"

    def offers(self) -> str:
        """Hash: reservation id -> JSON {call, agent, leg}: the agent phone we rang for it."""
        return f"{self.prefix}:offers"

    def hold(self, call_sid: str) -> str:
        """Hash: a waiting caller's hold state (announcements made, last position told)."""
        return f"{self.prefix}:call:{call_sid}:hold"

    def last_agent(self, number: str) -> str:
        """String: the agent who last handled a call from this number (TTL: sticky days)."""
        return f"{self.prefix}:last-agent:{number}"

    def announcements(self) -> str:
        """Stream: every wait estimate told to a caller, to measure its accuracy later."""
        return f"{self.prefix}:announcements"

    def handle_times(self) -> str:
        """Hash: queue -> recent handle time in seconds (moving average), for wait estimates."""
        return f"{self.prefix}:handle-times"

    # -- events (queues/events.py) --------------------------------------------
    def events(self) -> str:
        """Stream: every state change, in the Asterisk queue_log vocabulary."""
        return f"{self.prefix}:events"

    # -- config (ivr/config.py) ------------------------------------------------
    def config_version(self) -> str:
        """String: the config version most recently loaded by any process."""
        return f"{self.prefix}:config:version"

    # -- routing (queues/) -----------------------------------------------------
    # Scripts pick agents and calls at run time, so per-agent and per-call state
    # lives in tenant-wide hashes keyed by id: every key a script touches is
    # then known before it runs and passed in KEYS.
    def routing_agents(self) -> str:
        """Hash: agent id -> runtime state as JSON (state, reason, idle since, counters)."""
        return f"{self.prefix}:routing:agents"

    def routing_agent_config(self) -> str:
        """Hash: agent id -> its synced config as JSON (device, skills, delays)."""
        return f"{self.prefix}:routing:agent-config"

    def routing_queues(self) -> str:
        """Hash: queue name -> its synced config as JSON (strategy, weight, limits)."""
        return f"{self.prefix}:routing:queues"

    def routing_calls(self) -> str:
        """Hash: call sid -> its queue entry as JSON (queue, step, score, state)."""
        return f"{self.prefix}:routing:calls"

    def routing_reservations(self) -> str:
        """Hash: reservation id -> the pending offer as JSON (call, agent, expiry)."""
        return f"{self.prefix}:routing:reservations"

    def routing_timers(self) -> str:
        """Sorted set: due timers (`kind:id`) scored by due time in milliseconds."""
        return f"{self.prefix}:routing:timers"

    def routing_counters(self) -> str:
        """Hash: round-robin offer counters, one field per queue."""
        return f"{self.prefix}:routing:counters"

    def routing_languages(self) -> str:
        """String: JSON list of the skills that are caller languages (from the config)."""
        return f"{self.prefix}:routing:languages"

    def routing_version(self) -> str:
        """String: bumped by every config sync so routers with an older layout reload."""
        return f"{self.prefix}:routing:version"

    def queue_calls(self, queue: str) -> str:
        """Sorted set: every call in the queue (waiting or ringing) by packed priority+time."""
        return f"{self.prefix}:queue:{queue}:calls"

    def queue_waiting(self, queue: str, step: str, language: str) -> str:
        """Sorted set: calls waiting for an offer at one escalation step and language."""
        return f"{self.prefix}:queue:{queue}:waiting:{step}:{language}"

    def queue_available(self, queue: str, step: str, language: str) -> str:
        """Sorted set: available agents eligible for one step and language, by strategy."""
        return f"{self.prefix}:queue:{queue}:available:{step}:{language}"

    def queue_staffed(self, queue: str) -> str:
        """Set: agents of the queue who are logged in and not on break."""
        return f"{self.prefix}:queue:{queue}:staffed"
