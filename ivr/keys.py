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

    # -- events (queues/events.py) --------------------------------------------
    def events(self) -> str:
        """Stream: every state change, in the Asterisk queue_log vocabulary."""
        return f"{self.prefix}:events"

    # -- config (ivr/config.py) ------------------------------------------------
    def config_version(self) -> str:
        """String: the config version most recently loaded by any process."""
        return f"{self.prefix}:config:version"
