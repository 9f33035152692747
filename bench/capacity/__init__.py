"""Capacity: how many calls one machine carries with callers on hold, open loop.

    .venv/bin/python -m bench.capacity [--quick] [--hold 2100] [--rates 5000 10000 20000 40000]
        [--web-workers 1] [--scaling]

One run starts a real Valkey (`EmbeddedStore`; with `--scaling`, a Valkey Cluster), the
real app under uvicorn as `ivr serve --no-worker` runs it (signature validation on; one
process, or `--web-workers` processes on their own ports, as web hosts behind a proxy)
on a temporary copy of `config/` with 1,000 generated agents and queues that keep their
callers (no max wait, no size limit), and a small stand-in for Twilio's REST API
(`IVR_TWILIO_API_URL`) that answers `calls.create`/`update`/`list` and `queues.delete`.
The script then plays Twilio for every call:

- a caller posts `/voice/incoming`, hears each `<Say>`/`<Play>`/`<Pause>` for as long
  as it would play, presses the menu digits in the `<Gather>`s, follows
  `<Redirect>`s, and at `<Enqueue>` fetches its waitUrl again whenever the returned
  TwiML would have finished playing (the hold loop), until an agent dequeues it;
- an agent leg rung through the REST stand-in posts its status callbacks
  (initiated, ringing, answered, completed), answers after `RING_S`, hears the whisper,
  presses 1 and runs the bridge it gets (`<Dial><Queue>`: the caller's `<Queue url>` is
  fetched on the caller's leg; `<Dial><Conference>`: both legs join), talks, and hangs
  up: the Dial action, the caller's Enqueue action and both legs' status callbacks.

Every webhook is sent at the moment Twilio would send it and timed from that
scheduled moment (so a slow server shows its queueing instead of slowing the
client: no coordinated omission). Arrivals are a Poisson stream on a fixed,
seeded schedule. First a fast ramp fills the queues to `--hold` callers; then
each rate of `--rates` (calls per hour) runs for a settling time and a
measurement window, with as many agents available as answer calls at that rate,
so the number on hold stays level (a top-up ramp before each window restores it).

Reported per rate: webhook p50/p99 (client side, from the schedule), routing
decision p99 and the share within 20 ms (server side: `ivr_routing_decision_seconds`
on every web process's `/metrics`, one routing Lua script run as the app sees it),
callers on hold, and whether the targets hold (webhook p99 <= 50 ms, decision p99
<= 20 ms). Written to the `## Capacity` section of docs/benchmarks.md.

Modules: `cli` (options, main), `runs` (one run, the scaling matrix), `servers` (the
store and web processes), `driver` (the load and the windows), `client` (webhooks),
`exchange`, `conferences`, `agents` and `callers` (the Twilio stand-in, in layers),
`legs` and `twiml` (what it keeps and plays), `rest` (its REST API), `scrape` (the
app's /metrics), `measure` (windows, percentiles, CPU), `report` (the written
sections), `config` (the generated contact centre), `closing` (bounded shutdown),
`defaults` (the fixed figures).
"""
