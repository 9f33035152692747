"""The written sections of docs/benchmarks.md: `## Capacity` and its scaling matrix."""

from __future__ import annotations

import argparse
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from bench.capacity.defaults import (
    AGENTS,
    CALLS_TARGET_PER_H,
    CONNECTIONS,
    DECISION_P99_TARGET_MS,
    HOLD_TARGET,
    MAX_CLIENT_LAG_MS,
    PREFILL_RATE,
    RING_S,
    SAY_S_PER_WORD,
    SCALING_SECTION,
    SECTION,
    WEBHOOK_P99_TARGET_MS,
    WRAP_UP_S,
)
from bench.capacity.measure import Step
from bench.webhooks import UVICORN_FLAGS, percentile

SCALING_TARGET = 2.5
"""Three shards carry at least this many times the workspaces of one."""


@dataclass
class Scaled:
    """One run of the scaling matrix."""

    shards: int
    workspaces: int
    step: Step | None
    """None when the run failed (the error is printed)."""


def verdict(ok: bool) -> str:
    return "**met**" if ok else "**NOT met**"


def step_line(s: Step) -> str:
    """One rate's figures, as printed while the run goes on."""
    w = s.window
    return (
        f"  webhooks {len(w.latencies):,}: p50 {s.webhook_p50_ms:.1f} ms, "
        f"p99 {s.webhook_p99_ms:.1f} ms, errors {w.errors}; "
        f"decisions {s.decisions:,}: p99 {s.decision_p99_ms:.1f} ms, "
        f"<= {DECISION_P99_TARGET_MS:g} ms {s.decision_within:.2%}; "
        f"on hold {s.hold_min:,}-{s.hold_max:,} (app: {s.waiting_app:,.0f}); "
        f"answered {w.answered}, arrived {w.arrivals}; client lag p99 {w.lag_p99_ms:.1f} ms; "
        f"CPU app {s.app_cpu:.2f} store {s.store_cpu:.2f}"
    )


TABLE_HEAD = [
    "| calls/hour | agents available | answered in window | on hold (min / mean) "
    "| webhooks | webhook p50 / p99 (ms) | client lag p99 (ms) | decisions "
    f"| decision p99 (ms) | decisions <= {DECISION_P99_TARGET_MS:g} ms | CPU app / store "
    "| within targets |",
    "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
]


def step_row(s: Step) -> str:
    """One rate's row of the capacity table."""
    w = s.window
    return (
        f"| {s.rate_h:,.0f} | {s.agents} | {w.answered} | {s.hold_min:,} / {s.hold_mean:,.0f} "
        f"| {len(w.latencies):,} | {s.webhook_p50_ms:.1f} / {s.webhook_p99_ms:.1f} "
        f"| {w.lag_p99_ms:.1f} | {s.decisions:,} | {s.decision_p99_ms:.1f} "
        f"| {s.decision_within:.2%} | {s.app_cpu:.2f} / {s.store_cpu:.2f} "
        f"| {'yes' if s.ok else 'no'} |"
    )


def path_rows(step: Step) -> list[str]:
    """The window's webhooks by path, busiest first."""
    by_count = sorted(step.window.by_path.items(), key=lambda kv: -len(kv[1]))
    return [
        f"| `{path}` | {len(values):,} | {percentile(values, 0.5) * 1000:.1f} "
        f"| {percentile(values, 0.99) * 1000:.1f} |"
        for path, values in by_count
    ]


def best_step(steps: Sequence[Step]) -> Step | None:
    return max((s for s in steps if s.ok), key=lambda s: s.rate_h, default=None)


def peak_step(steps: Sequence[Step]) -> Step | None:
    """The highest rate within both targets that also kept the target's callers on hold
    (a faster rate may keep fewer: its agents answer them sooner)."""
    fit = (s for s in steps if s.ok and s.rate_h >= CALLS_TARGET_PER_H)
    return max((s for s in fit if s.hold_min >= HOLD_TARGET), key=lambda s: s.rate_h, default=None)


def conclusions(steps: Sequence[Step], hold: int) -> list[str]:
    best = best_step(steps)
    if best is None:
        out = ["- No measured rate kept both p99s within their targets."]
    else:
        out = [
            f"- Highest sustained rate within both targets: **{best.rate_h:,.0f} calls/hour** "
            f"with **{best.hold_min:,} callers on hold** (the fewest seen in its window; "
            f"webhook p99 {best.webhook_p99_ms:.1f} ms, decision p99 "
            f"{best.decision_p99_ms:.1f} ms)."
        ]
        if best is steps[-1]:
            out.append("  The highest rate tried; the limit is above it.")
    out += cpu_estimate(steps)
    carrying = peak_step(steps)
    met = carrying is not None
    out.append(
        f"- Target: one box carries a 1,000-agent centre's peak (>= {CALLS_TARGET_PER_H:,} "
        f"calls/hour with >= {HOLD_TARGET:,} on hold): {verdict(met)}"
        + (
            ""
            if carrying is None
            else f" (at {carrying.rate_h:,.0f} calls/hour, with "
            f"{carrying.hold_min:,} on hold at the fewest)"
        )
        + ("" if hold >= HOLD_TARGET else f" (this run held only {hold:,}: `--quick`)")
    )
    return out + ([] if met else inconclusive(steps))


def inconclusive(steps: Sequence[Step]) -> list[str]:
    """A warning when the client itself was late: then the machine set the latencies."""
    lag = max((s.window.lag_p99_ms for s in steps if s.window.lags), default=0.0)
    if lag <= MAX_CLIENT_LAG_MS:
        return []
    return [
        f"  **Inconclusive**: the client itself sent up to {lag:,.0f} ms late (p99), so "
        "the machine, not the app, set these latencies (other work on it; see the load "
        "average). Rerun on a quiet machine."
    ]


def cpu_estimate(steps: Sequence[Step]) -> list[str]:
    """What the app's CPU share says, whatever the latency on a busy machine: a straight
    line through (rate, CPU share) of the runs, and the rate at which it reaches one CPU."""
    points = [(s.rate_h, s.app_cpu) for s in steps if not math.isnan(s.app_cpu)]
    if len(points) < 2 or len({r for r, _ in points}) < 2:
        return []
    n = len(points)
    mean_r = sum(r for r, _ in points) / n
    mean_u = sum(u for _, u in points) / n
    spread = sum((r - mean_r) ** 2 for r, _ in points)
    slope = sum((r - mean_r) * (u - mean_u) for r, u in points) / spread
    base = mean_u - slope * mean_r
    if slope <= 0:
        return []
    return [
        f"- CPU: the app used {base:.2f} of a CPU for the hold loops and routing of this many "
        f"waiting callers and {slope * 3600 * 1000:.1f} ms of CPU per call on top "
        f"(a straight line through the {n} rates); at that cost one CPU of its own would be "
        f"busy all the time at about **{(1.0 - base) / slope:,.0f} calls/hour**. The webhook "
        "p99 is only trustworthy well below that, and on a quiet machine."
    ]


def command(args: argparse.Namespace) -> str:
    """The command that reproduces the `## Capacity` section."""
    if args.quick:
        line = ".venv/bin/python -m bench.capacity --quick"
    else:
        rates = " ".join(f"{r:g}" for r in args.rates)
        line = (
            f".venv/bin/python -m bench.capacity --hold {args.hold} --rates {rates} "
            f"--settle {args.settle:g} --window {args.window:g}"
        )
    return line + web_flag(args)


def web_flag(args: argparse.Namespace) -> str:
    return f" --web-workers {args.web_workers}" if args.web_workers != 1 else ""


def serving(n: int, pinned: bool, store: str, indent: str = "  ") -> list[str]:
    """How the app was served: how many web processes, on what store, pinned or not."""
    if n == 1:
        pin = (
            "The app runs pinned to the last CPU; the client, the REST stand-in and the store "
            "share the others (`taskset`)."
            if pinned
            else "Nothing is pinned to a CPU."
        )
        return [f"{indent}one web process, signature validation on, on {store}. {pin}"]
    return [
        f"{indent}**{n} web processes**, each on its own port, as {n} web hosts behind a "
        "proxy: the client spreads its connections",
        f"{indent}over them in turn. Every process runs the background loops (timers, rings, "
        "the metrics fold), as several",
        f"{indent}web hosts do (docs/deploy.md). Signature validation on, on {store}. "
        "Nothing is pinned to a CPU.",
        f"{indent}*CPU app* adds up the {n} processes; the decision histogram is every "
        "process's, added up.",
    ]


def setup_lines(args: argparse.Namespace, pinned: bool) -> list[str]:
    return [
        "Setup:",
        "",
        "- The app as `ivr serve --no-worker` runs it: `uvicorn ivr.app:create_app --factory "
        + " ".join(UVICORN_FLAGS)
        + "`,",
        *serving(args.web_workers, pinned, "an embedded Valkey"),
        f"- Config: `config/` with {AGENTS:,} generated agents (two of billing/support/sales "
        "each, English, 60 % Malay),",
        "  queues that keep their callers (no max wait, size or wait-estimate exit; billing's "
        "language escalation and",
        "  support's callback offer kept), hold music as 15 s clips, "
        f"wrap-up {WRAP_UP_S} s, open around the clock.",
        *callers_lines(),
        *load_lines(args),
        f"- Targets: webhook p99 <= {WEBHOOK_P99_TARGET_MS:g} ms and routing decision p99 <= "
        f"{DECISION_P99_TARGET_MS:g} ms, with no failed webhook.",
    ]


def callers_lines() -> list[str]:
    return [
        "- Callers (the script plays Twilio): `/voice/incoming`, the menu's `<Gather>`s with "
        "keys (language, then 40 % billing",
        "  with an account number, 40 % support, 20 % sales), then `<Enqueue>`: the waitUrl "
        "(`/voice/hold`) fetched again",
        f"  when its TwiML would end (`<Say>` at {SAY_S_PER_WORD} s a word, clips at their "
        "length, `<Pause>`s, a `<Gather>`'s",
        "  timeout). Agents: the app rings them through its REST client (pointed at a stand-in "
        "in the script); each leg posts",
        f"  its status callbacks, answers after {RING_S:g} s, presses 1 after the whisper, runs "
        "the bridge it gets (`<Dial><Conference>`",
        "  with its status callbacks and the caller moved in by a REST redirect out of "
        "`<Enqueue>`, or `<Dial><Queue>` and its `url`),",
        "  talks; the caller hangs up (conference end, Dial action, both legs' `completed`).",
    ]


def load_lines(args: argparse.Namespace) -> list[str]:
    return [
        "- Open loop: Poisson arrivals on a seeded schedule; every webhook is due when Twilio "
        "would send it and timed",
        "  from then, over up to "
        f"{CONNECTIONS} keep-alive connections. First a ramp of {PREFILL_RATE:g} calls/s fills "
        f"the queues to {args.hold:,} callers;",
        f"  then each rate runs {args.settle:g} s to settle and {args.window:g} s measured, "
        "with enough agents available to",
        "  answer that rate (short talk times: the webhooks per call do not depend on them), "
        "so the hold count stays level.",
        "- *Routing decision*: one routing Lua script run (enter, status, accept, complete, "
        "...), timed in the app from",
        "  sending the EVALSHA to decoding its answer (`ivr_routing_decision_seconds` on "
        "`/metrics`, read before and after",
        "  each window; p99 and the share within "
        f"{DECISION_P99_TARGET_MS:g} ms interpolated within their histogram bucket).",
    ]


def section(steps: Sequence[Step], args: argparse.Namespace, pinned: bool, host: list[str]) -> str:
    """The `## Capacity` section."""
    lines = [
        SECTION,
        "",
        f"Written by `bench/capacity` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; reproduce with:",
        "",
        "```sh",
        command(args),
        "```",
        "",
        *host,
        "",
        *setup_lines(args, pinned),
        "",
        *TABLE_HEAD,
        *(step_row(s) for s in steps),
        "",
        *conclusions(steps, args.hold),
        "",
    ]
    shown = best_step(steps) or (steps[0] if steps else None)
    if shown is not None:
        lines += [
            f"Webhooks by path at {shown.rate_h:,.0f} calls/hour:",
            "",
            "| path | requests | p50 (ms) | p99 (ms) |",
            "|---|---:|---:|---:|",
            *path_rows(shown),
            "",
        ]
    return "\n".join(lines)


def most_workspaces(runs: Sequence[Scaled], shards: int) -> int:
    return max(
        (r.workspaces for r in runs if r.shards == shards and r.step and r.step.ok), default=0
    )


def scaled_row(r: Scaled) -> str:
    st = r.step
    if st is None:
        return f"| {r.shards} | {r.workspaces} | - | - | run failed | - | - | no |"
    return (
        f"| {r.shards} | {r.workspaces} | {st.rate_h:,.0f} | {st.hold_min:,} "
        f"| {st.webhook_p50_ms:.1f} / {st.webhook_p99_ms:.1f} | {st.decision_p99_ms:.1f} "
        f"| {st.app_cpu:.2f} / {st.store_cpu:.2f} | {'yes' if st.ok else 'no'} |"
    )


def scaling_command(args: argparse.Namespace) -> str:
    shards = " ".join(str(n) for n in args.shards)
    workspaces = " ".join(str(n) for n in args.workspaces)
    return (
        f".venv/bin/python -m bench.capacity --scaling --shards {shards} --workspaces "
        f"{workspaces} --scale-hold {args.scale_hold} --scale-rate {args.scale_rate:g} "
        f"--settle {args.settle:g} --window {args.window:g}" + web_flag(args)
    )


def scaling_section(runs: Sequence[Scaled], args: argparse.Namespace, host: list[str]) -> str:
    """The `## Capacity: shards and workspaces` section."""
    one, three = most_workspaces(runs, 1), most_workspaces(runs, 3)
    ratio = three / one if one else math.nan
    lines = [
        SCALING_SECTION,
        "",
        f"Written by `bench/capacity --scaling` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; "
        "reproduce with:",
        "",
        "```sh",
        scaling_command(args),
        "```",
        "",
        *host,
        "",
        "Each row is a fresh Valkey Cluster of that many primaries on loopback (no replicas, no",
        "persistence: `ivr/devtools/clusters.py`), the app on it (`REDIS_URL=redis+cluster://…`)",
        "with that many `IVR_WORKSPACES` (each a copy of the generated config with its own",
        "number; callers dial them in turn), and the same load per workspace: "
        f"{args.scale_hold:,} callers on hold and {args.scale_rate:,.0f} calls/hour, "
        f"{args.settle:g} s settling, {args.window:g} s measured.",
        "*CPU store* adds up every primary. The app: "
        + serving(args.web_workers, args.web_workers == 1 and args.pin, "the cluster", "")[0],
        *serving(args.web_workers, False, "the cluster", "")[1:],
        "",
        "| shards | workspaces | calls/hour | on hold (min) | webhook p50 / p99 (ms) "
        "| decision p99 (ms) | CPU app / store | within targets |",
        "|---:|---:|---:|---:|---:|---:|---:|---|",
        *(scaled_row(r) for r in runs),
        "",
        f"- Most workspaces within both targets: {one} on one shard, {three} on three "
        f"(ratio {ratio:.2f}; target >= {SCALING_TARGET:g}): {verdict(ratio >= SCALING_TARGET)}",
        *above_the_matrix(runs, one),
        *store_bound(runs),
        *limit_note(args.web_workers),
        "",
    ]
    return "\n".join(lines)


def above_the_matrix(runs: Sequence[Scaled], one: int) -> list[str]:
    """Why the ratio says little when one shard carried every count tried."""
    tried = max((r.workspaces for r in runs), default=0)
    if not one or one < tried:
        return []
    return [
        f"  One shard carried every count tried ({tried} workspaces), so the ratio measures the",
        "  matrix, not the shards: the limit of one shard is above it.",
    ]


def store_bound(runs: Sequence[Scaled]) -> list[str]:
    """Where one shard would run out, from its CPU per workspace (an extrapolation)."""
    fit = [r for r in runs if r.shards == 1 and r.step and r.step.ok and r.step.store_cpu > 0]
    if not fit:
        return []
    best = max(fit, key=lambda r: r.workspaces)
    assert best.step is not None
    store, app = best.step.store_cpu / best.workspaces, best.step.app_cpu / best.workspaces
    bound = 1 / store
    return [
        f"- Per workspace, at {best.workspaces} on one shard: store {store:.3f} CPU, web "
        f"processes {app:.3f} CPU. A primary runs on one core, so one shard would be busy at "
        f"about {bound:,.0f} workspaces of this load, with {bound * app:,.0f} CPUs of web "
        f"processes in front of it, and three shards at about {3 * bound:,.0f} (an "
        "extrapolation, not measured: this machine has 2 CPUs for the callers' client, "
        "the web processes and every shard).",
    ]


def limit_note(web_workers: int) -> list[str]:
    if web_workers > 1:
        return [f"- {web_workers} web processes share this machine's CPUs with the cluster."]
    return [
        "- One web process on one core serves every workspace here, so the app's CPU, not",
        "  the store, sets the limit: more shards cannot raise it on this machine. Scaling out",
        "  needs more web processes (and hosts) in front of the shards (`--web-workers`).",
    ]
