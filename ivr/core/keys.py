"""Every Redis key the service uses, as named templates, in one place.

Each key carries the tenant as a hash tag (`ivr:{main}:...`), so all the keys
one operation or Lua script touches live in the same cluster slot. Lua
scripts never build key names: callers pass every key in KEYS, made here.
"""

from __future__ import annotations

from dataclasses import dataclass

ROUTING_KEYS = frozenset(
    {
        "routing_agents",
        "routing_agent_config",
        "routing_queues",
        "routing_calls",
        "routing_reservations",
        "routing_timers",
        "routing_counters",
        "routing_languages",
        "routing_version",
        "queue_calls",
        "queue_waiting",
        "queue_available",
        "queue_staffed",
        "routing_pinned",
    }
)
"""The `Keys` methods naming the routing engine's private state (the "routing" section
below): only `queues/` reads or writes these keys; everyone else asks `queues.router.Router`
(`tests/test_key_owners.py` checks it)."""


@dataclass(frozen=True)
class Keys:
    """Key templates for one tenant."""

    tenant: str = "main"

    @property
    def prefix(self) -> str:
        return f"ivr:{{{self.tenant}}}"

    # -- calls (ivr/core/session.py) -------------------------------------------------
    def call(self, call_sid: str) -> str:
        """String: the call session as JSON (node, language, data, path, step)."""
        return f"{self.prefix}:call:{call_sid}"

    def call_responses(self, call_sid: str) -> str:
        """Hash: step number -> TwiML returned for it, so a retried webhook gets the same."""
        return f"{self.prefix}:call:{call_sid}:responses"

    def call_status(self, call_sid: str) -> str:
        """Hash: status-callback sequence numbers already applied for the call (or an agent
        leg), its final status once known, and (legs) the highest SequenceNumber taken."""
        return f"{self.prefix}:call:{call_sid}:status"

    def call_handoff(self, call_sid: str) -> str:
        """List: what each agent who transferred the call handed over (JSON: agent, name,
        notes, kind, target, at), oldest first, for the next agent's whisper and screen pop
        (`ivr.voice.transfer`); kept as long as the call session."""
        return f"{self.prefix}:call:{call_sid}:handoff"

    def voicemails(self) -> str:
        """Stream: voicemails left by callers (call, from, recording URL, duration)."""
        return f"{self.prefix}:voicemails"

    def voicemails_handled(self) -> str:
        """Set: ids of `voicemails` entries a supervisor marked handled (called back)."""
        return f"{self.prefix}:voicemails:handled"

    def voicemail_owners(self) -> str:
        """Hash: `voicemails` entry id -> the agent who took it from the console inbox
        (set once, with HSETNX: two agents cannot both take it)."""
        return f"{self.prefix}:voicemails:owners"

    def voicemail_callbacks(self) -> str:
        """Hash: `voicemails` entry id -> the callback made to call its caller back (the one
        live callback per number and queue decides which), so a second click or a retried
        request finds it."""
        return f"{self.prefix}:voicemails:callbacks"

    def missed_callbacks(self) -> str:
        """Hash: an abandoned call's sid -> the callback an agent made to call its caller
        back from the console (`ivr.web.missed`), so a second request finds it."""
        return f"{self.prefix}:missed:callbacks"

    def offers(self) -> str:
        """Hash: reservation id -> JSON {call, agent, queue, device, expires, leg, tries}: the
        intent to ring the agent's device for an offer, recorded before the REST request;
        `leg` is set once the leg's sid is known (its answer, or its status callback)."""
        return f"{self.prefix}:offers"

    def ring_due(self) -> str:
        """Sorted set: reservation id scored by when its ring request is due (Unix seconds):
        the first try, or the retry of a transient API error (`ivr.voice.offers.pump`)."""
        return f"{self.prefix}:offers:due"

    def outbound_backlog(self) -> str:
        """Sorted set: CallSid of a leg the service asked Twilio to place (an agent ring, a
        customer-first callback) scored by when (Unix seconds), until it rings or ends: the
        calls waiting in Twilio's outbound queue (`ivr.core.outbound`). A leg that rang is
        kept a minute with its ring time negated, so a late REST answer does not re-add it."""
        return f"{self.prefix}:outbound:backlog"

    def answered(self, reservation_id: str) -> str:
        """String: the call an agent accepted with this reservation on the phone (TTL), so a
        retried `/voice/agent/answer` gets the same bridge back."""
        return f"{self.prefix}:offers:answered:{reservation_id}"

    def hold(self, call_sid: str) -> str:
        """Hash: a waiting caller's hold state (announcements made, last position told)."""
        return f"{self.prefix}:call:{call_sid}:hold"

    def conference(self, call_sid: str) -> str:
        """Hash: the conference bridging a routed call to its agent (`ivr.voice.conference`):
        sid (CF...), customer and agent (leg CallSids), agent_name, res (the reservation
        accepted), opened (the one that opened it: its status callbacks name it), state
        (connecting | connected | on_hold | consulting | ended), muted ("1"/"0"),
        hold_since_ms ("" when not on hold), hold_ms (total so far), joined ("1"
        once the customer joined), seen:<n> (conference status callbacks taken), and the
        caller's redirect into it: deadline, tries, todo (redirect | hangup | eject), out
        (where an eject moves the agent's leg, when not `/voice/agent/done`). TTL."""
        return f"{self.prefix}:call:{call_sid}:conference"

    def conference_due(self) -> str:
        """Sorted set: routed call SID scored by when its conference's next REST request is
        due (Unix seconds): moving the caller into it, or hanging them up once the agent
        left, each retried on a transient API error (`ivr.voice.bridge.pump`)."""
        return f"{self.prefix}:conferences:due"

    def queue_sids(self, call_sid: str) -> str:
        """Set: the Twilio QueueSids a call's requests named (TTL), each released when the
        call ends (`ivr.voice.queue_resources`)."""
        return f"{self.prefix}:call:{call_sid}:queue-sids"

    def queue_deletes(self) -> str:
        """Sorted set: Twilio QueueSid scored by when its REST delete is due (Unix seconds):
        a caller's own queue, once they left it, or the retry of a failed delete."""
        return f"{self.prefix}:twilio-queues:delete"

    def queue_delete_tries(self) -> str:
        """Hash: Twilio QueueSid -> deletes tried and failed so far (until one succeeds)."""
        return f"{self.prefix}:twilio-queues:tries"

    def last_agent(self, number: str) -> str:
        """String: the agent who last handled a call from this number (TTL: sticky days)."""
        return f"{self.prefix}:last-agent:{number}"

    def announcements(self) -> str:
        """Stream: every wait estimate told to a caller, to measure its accuracy later."""
        return f"{self.prefix}:announcements"

    def handle_times(self) -> str:
        """Hash: queue -> recent handle time in seconds (moving average), and `queue|m2` ->
        the moving average of its square (for the spread), for wait ranges (`queues/ewt.py`)."""
        return f"{self.prefix}:handle-times"

    # -- events (queues/events.py) --------------------------------------------
    def events(self) -> str:
        """Stream: every state change, in the Asterisk queue_log vocabulary."""
        return f"{self.prefix}:events"

    # -- config (ivr/config/loader.py) ------------------------------------------------
    def config_version(self) -> str:
        """String: the config version most recently loaded by any process."""
        return f"{self.prefix}:config:version"

    # -- routing (queues/) -----------------------------------------------------
    # Scripts pick agents and calls at run time, so per-agent and per-call state
    # lives in tenant-wide hashes keyed by id: every key a script touches is
    # then known before it runs and passed in KEYS. Private to `queues/`: the
    # names are listed in ROUTING_KEYS, and the rest of the service reads through
    # `Router` (calls, agents, offers, wrap-up and break ends, staffing).
    def routing_agents(self) -> str:
        """Hash: agent id -> runtime state as JSON (state, reason, idle since, counters:
        calls answered and talk time since the agent's login)."""
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

    def routing_pinned(self, agent: str) -> str:
        """Sorted set: calls transferred to this agent by name, waiting for them only (by
        packed priority+time), until they take one or it falls back to its queue."""
        return f"{self.prefix}:routing:pinned:{agent}"

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

    # -- console and sessions (ivr/web/auth.py, ivr/web/console.py) ---------------------
    def console_session(self, token_hash: str) -> str:
        """String: a logged-in browser session as JSON (kind, user, csrf, seen); TTL: idle."""
        return f"{self.prefix}:console:session:{token_hash}"

    def api_token(self, token_hash: str) -> str:
        """String: a bearer token's owner as JSON (kind, user); TTL: the token's life."""
        return f"{self.prefix}:console:token:{token_hash}"

    def session_tokens(self, session_hash: str) -> str:
        """Set: hashes of the bearer tokens minted by one session (its logout revokes them);
        TTL: the longest of their lives."""
        return f"{self.prefix}:console:session_tokens:{session_hash}"

    def login_attempts(self, scope: str) -> str:
        """Counter: login attempts in the current window for one scope (`user:<kind>:<id>`
        or `addr:<ip>`); TTL: the window, from the first attempt."""
        return f"{self.prefix}:console:login_attempts:{scope}"

    def console_presence(self, agent: str) -> str:
        """String: set while the agent's console is open (TTL refreshed by its live stream)."""
        return f"{self.prefix}:console:presence:{agent}"

    def console_offer(self, reservation_id: str) -> str:
        """String: the agent an offer was shown to in the console (tells expired from unknown)."""
        return f"{self.prefix}:console:offer:{reservation_id}"

    def console_call(self, agent: str) -> str:
        """Hash: the agent's current or last call (call, queue, caller, accepted_at, notes).

        Its `disposition` field, set with HSETNX, is the claim that files the call once.
        """
        return f"{self.prefix}:console:call:{agent}"

    def monitor(self, call_sid: str) -> str:
        """Hash: the supervisor monitoring a call (by, mode, leg, conference, call, agent_leg,
        agent, and `dialling` while their leg is being dialled); one per call
        (`ivr.web.monitor`; its leg's end clears it, `ivr.voice.supervisor`). TTL:
        `MONITOR_TTL_S` from the last change."""
        return f"{self.prefix}:console:monitor:{call_sid}"

    def contact_history(self, number: str) -> str:
        """List: a caller's previous contacts as JSON, newest first (at, agent, disposition)."""
        return f"{self.prefix}:contacts:{number}"

    def survey_scores(self) -> str:
        """Hash: call sid -> the caller's CES score (1-7), written by the surveys."""
        return f"{self.prefix}:survey:scores"

    def survey_alerts(self) -> str:
        """Stream: low CES scores that need follow-up (call, number, agent, ces), from surveys."""
        return f"{self.prefix}:survey:alerts"

    # -- surveys and jobs (callbacks/) ----------------------------------------
    def jobs_due(self) -> str:
        """Sorted set: scheduled job ids by due time (service-clock seconds)."""
        return f"{self.prefix}:jobs:due"

    def jobs_claimed(self) -> str:
        """Sorted set: job ids a worker took from `jobs_due` and is running, by claim time."""
        return f"{self.prefix}:jobs:claimed"

    def jobs_retry(self) -> str:
        """Sorted set: failed job ids by the wall-clock time of their next attempt."""
        return f"{self.prefix}:jobs:retry"

    def jobs_attempts(self) -> str:
        """Hash: job id -> attempts that failed so far (gone once the job succeeds)."""
        return f"{self.prefix}:jobs:attempts"

    def jobs_failed(self) -> str:
        """Sorted set: job ids that failed every attempt, by wall-clock time of the last."""
        return f"{self.prefix}:jobs:failed"

    def worker_heartbeat(self) -> str:
        """String: wall-clock Unix seconds of the latest loop of any job worker
        (`callbacks.heartbeat`); TTL: 30 days, so a stopped worker is still seen as down."""
        return f"{self.prefix}:jobs:heartbeat"

    def health_probe(self) -> str:
        """String: wall-clock Unix seconds of the latest `/healthz`, written by it to prove
        the store takes writes (TTL: a minute)."""
        return f"{self.prefix}:health:probe"

    def job(self, job_id: str) -> str:
        """String: one scheduled job as JSON (kind, payload, at); TTL: a week after due."""
        return f"{self.prefix}:job:{job_id}"

    def survey(self, call_sid: str) -> str:
        """Hash: one call's survey (state, number, language, agent, queue, frt_ms, ...)."""
        return f"{self.prefix}:survey:{call_sid}"

    def survey_pending(self, number: str) -> str:
        """String: the call sid of the survey awaiting this number's reply (TTL: window+)."""
        return f"{self.prefix}:survey:pending:{number}"

    def survey_cap(self, number: str) -> str:
        """String: set when a number was surveyed (TTL: the frequency cap in days)."""
        return f"{self.prefix}:survey:cap:{number}"

    def survey_optouts(self) -> str:
        """Set: numbers that opted out of surveys (STOP, OptOutType, error 21610)."""
        return f"{self.prefix}:survey:optouts"

    def survey_connect(self, call_sid: str) -> str:
        """String: the call's CONNECT facts as JSON (frt_ms, agent), read at completion."""
        return f"{self.prefix}:survey:connect:{call_sid}"

    def survey_responses(self) -> str:
        """Stream: survey replies linked to call, agent, queue, language and FRT."""
        return f"{self.prefix}:survey:responses"

    def survey_inbound(self, message_sid: str) -> str:
        """String: the reply given to an inbound SMS, so a retried webhook gets the same."""
        return f"{self.prefix}:survey:inbound:{message_sid}"

    def survey_sms_status(self, message_sid: str) -> str:
        """Set: delivery statuses already recorded for one outbound message."""
        return f"{self.prefix}:survey:sms-status:{message_sid}"

    def survey_stats(self) -> str:
        """Hash: survey counters (scheduled, sent, undelivered, skipped:<reason>, ...)."""
        return f"{self.prefix}:survey:stats"

    # -- metrics (queues/metrics/fold.py) --------------------------------------------
    def metrics_rollup(self, grain: str, scope: str, bucket: int) -> str:
        """Hash: counters and histogram buckets of one scope (`q:billing`, `a:alice`,
        `l:en`, `qa:billing:alice`, `all`) in one UTC minute (`m`) or one local clock
        hour of `company.timezone` (`h`), the bucket being the epoch minute it starts
        at (`queues.metrics.local_hours`); `t` is the all-time total (bucket 0)."""
        return f"{self.prefix}:metrics:{grain}:{scope}:{bucket}"

    def metrics_contact(self, call_sid: str) -> str:
        """Hash: one contact's detail record (times, queue, agent, outcome, FRT, CES)."""
        return f"{self.prefix}:metrics:contact:{call_sid}"

    def metrics_contacts(self) -> str:
        """Sorted set: call sids of contact records by contact start (ms), for exports."""
        return f"{self.prefix}:metrics:contacts"

    def metrics_last_contact(self, number: str) -> str:
        """String: JSON {call, at} of the caller's latest contact (TTL: the FCR window)."""
        return f"{self.prefix}:metrics:last-contact:{number}"

    def metrics_agents(self) -> str:
        """Hash: agent -> JSON {state, since ms, queue} as the fold last saw it."""
        return f"{self.prefix}:metrics:agents"

    def metrics_waiting(self, queue: str) -> str:
        """Sorted set: calls waiting in the queue by queue entry time (ms): the oldest wait."""
        return f"{self.prefix}:metrics:waiting:{queue}"

    def metrics_applied(self) -> str:
        """Hash: stream name -> the last entry id folded (replays at or below it are skipped)."""
        return f"{self.prefix}:metrics:applied"

    def metrics_lock(self) -> str:
        """String: held by the one process folding right now (TTL: a crashed holder's grace)."""
        return f"{self.prefix}:metrics:lock"

    def metrics_trimmed(self) -> str:
        """String: set when the streams were last trimmed (TTL: the trim interval)."""
        return f"{self.prefix}:metrics:trimmed"

    def metrics_survey_sends(self) -> str:
        """Hash: "queue|language" -> survey SMS sent (counted in survey_sent.lua)."""
        return f"{self.prefix}:metrics:survey-sends"

    def metrics_sms_segments(self) -> str:
        """Hash: "messages|<kind>|<encoding>" and "segments|<kind>|<encoding>" -> texts sent
        and the carrier segments they cost (`queues.metrics.sms_costs`)."""
        return f"{self.prefix}:metrics:sms-segments"

    def metrics_http(self) -> str:
        """Hash: webhook latency and 5xx counts of every web process (`errors|<path>`,
        `count|<path>`, `sum|<path>`, `le|<path>|<bucket>`), added by `ivr.web.tally`."""
        return f"{self.prefix}:metrics:http"

    # -- callbacks (callbacks/) -------------------------------------------------
    def callback(self, callback_id: str) -> str:
        """Hash: one callback's record (state, number, queue, attempts, original times)."""
        return f"{self.prefix}:callback:{callback_id}"

    def callback_live(self, number: str, queue: str) -> str:
        """String: the id of the number's live callback for the queue (one at a time)."""
        return f"{self.prefix}:callback:live:{queue}:{number}"

    def callbacks_of(self, number: str) -> str:
        """Set: ids of the number's live callbacks in any queue (for CANCEL by SMS)."""
        return f"{self.prefix}:callbacks:number:{number}"

    def callbacks_pending(self) -> str:
        """Sorted set: live callback ids by expected call time (s), for the supervisor view."""
        return f"{self.prefix}:callbacks:pending"

    def callback_offered(self, call_sid: str) -> str:
        """String: when the hold loop first offered the call a callback (ms); set once, with
        that offer's CALLBACKOFFER event (TTL: the session's)."""
        return f"{self.prefix}:callback:offered:{call_sid}"

    def callback_leg(self, call_sid: str) -> str:
        """String: the callback a dialled customer leg belongs to (TTL: a day)."""
        return f"{self.prefix}:callback:leg:{call_sid}"

    # -- replication (ivr/core/sentinel.py) --------------------------------------------
    def replication_mark(self) -> str:
        """String: a counter written just before each `WAIT`, so that the `WAIT` covers the
        writes of every connection before it (`ivr.core.sentinel.confirm`)."""
        return f"{self.prefix}:store:replication_mark"
