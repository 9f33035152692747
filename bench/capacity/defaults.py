"""The capacity benchmark's fixed figures: targets, the callers' timing, and time bounds."""

from __future__ import annotations

SECTION = "## Capacity"
SCALING_SECTION = "## Capacity: shards and workspaces"
TOKEN = "bench-auth-token"
METRICS_TOKEN = "bench-metrics"
PUBLIC_BASE = "https://ivr.example.com"
BUSINESS = "+60312345678"
ACCOUNT = "AC" + "0" * 32
SECRET = "bench-agent"

WEBHOOK_P99_TARGET_MS = 50.0
DECISION_P99_TARGET_MS = 20.0
CALLS_TARGET_PER_H = 5000
HOLD_TARGET = 2000
AGENTS = 1000

SAY_S_PER_WORD = 0.4
"""Text-to-speech pace (the app's own estimate, `ivr.voice.hold.SPEECH_S_PER_WORD`)."""
UNKNOWN_PLAY_S = 30.0
"""A `<Play>` of a URL whose length is unknown (not in the generated music clips)."""
MAX_PROMPT_WAIT_S = 6.0
"""A caller presses a menu key at most this long into the prompt (barging in)."""
KEY_S = 1.0
"""From the end of listening to the key press reaching the app."""
RING_S = 2.0
"""How long an agent's phone rings before they answer."""
WRAP_UP_S = 5
"""Generated queues' wrap-up: short, so a few hundred agents carry thousands of calls."""
TALK_MIN_S = 5.0
TALK_MAX_S = 20.0
FIXED_CYCLE_S = 16.0
"""An agent's time per call besides talking: ring, whisper, bridge, wrap-up, re-offer."""
MUSIC_CLIP_S = 15
CONNECTIONS = 48
"""Keep-alive connections the client spreads webhooks over. Kept below the app's store
pool (redis-py's default of 100 connections; a request may hold two): many more webhooks in
flight get degraded answers (`MaxConnectionsError`), a cliff no rate within the targets
comes near (at 200 webhooks/s and 50 ms, 10 are in flight). A request waiting for a free connection
is still timed from its schedule."""
REQUEST_TIMEOUT_S = 15.0
"""Twilio gives up on a webhook after 15 s."""
PREFILL_RATE = 40.0
"""Arrivals per second while filling the queues."""
FILL_TIMEOUT_S = 600.0
"""A ramp that has not filled the queues by then stops the run."""
SATURATED_CPU = 0.9
"""The run stops after two rates that miss a target with the app using this much of a CPU."""
FILL_SHARE = 0.98
"""The ramp ends at this share of `--hold` (a few callers may still be in the menu)."""
LEVEL_S = 20.0
"""A top-up also ends once the callers on hold and those in the menu on their way there
have stood at that share of `--hold` this long: the previous rate's agents, still
answering, drain the queues as fast as new callers reach them."""
MAX_CLIENT_LAG_MS = 20.0
"""A client that sent later than this (p99) was starved itself: its latencies say little."""
ANSWER_GRACE_S = 2.0
"""After a window, the time its last requests get to be answered."""

READY_TIMEOUT_S = 60.0
"""How long a web process may take to answer `/healthz` after it starts."""
SCRAPE_TIMEOUT_S = 30.0
"""How long one read of `/metrics` may take."""
CLOSE_TIMEOUT_S = 10.0
"""How long closing one part (the client, the calls in progress, the event loop) may take
before whatever is left is abandoned, with a message."""
CANCEL_AGAIN_S = 0.5
"""While closing, tasks still running are cancelled again this often: Python 3.11's
`asyncio.wait_for` drops a cancellation that arrives as its awaitable finishes."""
STOP_TIMEOUT_S = 10.0
"""How long a web process may take to exit on SIGTERM before it is killed."""
KILL_WAIT_S = 5.0
"""How long to wait for a killed process to be reaped before giving up on it."""
