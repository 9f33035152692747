"""Many seeds of `ivr simulate --faults`, summarised in docs/reliability.md.

    .venv/bin/python -m bench.reliability [--seeds 200] [--first 1] [--faults all] [--jobs 2]

Each seed runs the fault scenario (`ivr.devtools.reliability.DEFAULTS`: 90 calls/h on 3
agents, 60 s handle time, 10 minutes) with the chosen faults on a fresh
embedded Valkey. The script prints one line per seed and writes the faults
injected by kind, the calls and their outcomes, the breaches by invariant, and
the replay line of every failing seed to the `## Fault-injecting simulation`
section of docs/reliability.md.
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import statistics
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from itertools import repeat
from pathlib import Path

from bench.docs import ROOT, machine, write_section
from ivr.core.settings import Settings
from ivr.devtools import faults, reliability
from ivr.devtools.reliability import Report

DOCS = ROOT / "docs" / "reliability.md"
HEADING = "## Fault-injecting simulation"
INTRO = (
    "# Reliability\n\n"
    "What the service promises callers and agents while things go wrong, and how it is\n"
    "checked. The numbers below are written by `bench/reliability.py`; rerun it to refresh.\n"
)
SHOWN_FAILURES = 30
"""At most this many failing seeds are listed with their replay line."""


def run(
    seeds: Sequence[int], kinds: tuple[str, ...], callback_prob: float, jobs: int = 1
) -> list[Report]:
    """One report per seed, in seed order; `jobs` seeds at a time, each in its own process
    (every seed starts its own store and web server, so they do not share anything)."""
    if jobs <= 1:
        return [run_seed(seed, kinds, callback_prob) for seed in seeds]
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(jobs, mp_context=spawn, initializer=quiet) as pool:
        return list(pool.map(run_seed, seeds, repeat(kinds), repeat(callback_prob)))


def quiet() -> None:
    logging.disable(logging.WARNING)


def run_seed(seed: int, kinds: tuple[str, ...], callback_prob: float) -> Report:
    args = reliability.scenario(argparse.Namespace(seed=seed, callback_prob=callback_prob))
    report = reliability.run(Settings.from_env(), args, kinds)
    line = f"seed {seed}: {report.calls} calls, {len(report.breaches)} breaches"
    print(f"{line}, {report.wall_s:.1f} s", flush=True)
    return report


def section(reports: list[Report], kinds: tuple[str, ...], command: str) -> str:
    injected: Counter[str] = sum((r.injected for r in reports), Counter())
    outcomes: Counter[str] = sum((r.outcomes for r in reports), Counter())
    by_invariant = Counter(b.invariant for r in reports for b in r.breaches)
    failing = [r for r in reports if r.breaches]
    walls = [r.wall_s for r in reports]
    lines = [
        HEADING,
        "",
        f"Written by `bench/reliability.py` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; "
        "reproduce with:",
        "",
        "```sh",
        command,
        "```",
        "",
        *machine(),
        "",
        f"{len(reports)} seeds, faults: {', '.join(kinds) or 'none'}. "
        f"Wall time per seed: median {statistics.median(walls):.1f} s, "
        f"max {max(walls):.1f} s.",
        "",
        "| fault kind | injected |",
        "|---|---:|",
        *[f"| {kind} | {injected[kind]} |" for kind in kinds],
        *[f"| ({name}) | {n} |" for name, n in sorted(injected.items()) if name not in kinds],
        "",
        f"Calls: {sum(outcomes.values())}. Outcomes: "
        + ", ".join(f"{name} {n}" for name, n in sorted(outcomes.items())),
        "",
        f"**Breaches: {sum(by_invariant.values())}** in {len(failing)} of {len(reports)} seeds.",
        "",
    ]
    if by_invariant:
        lines += ["| invariant | breaches |", "|---|---:|"]
        lines += [f"| {name} | {n} |" for name, n in by_invariant.most_common()]
        heading = "Failing seeds (every breach: seconds in, invariant, subject, detail)"
        lines += ["", f"{heading}; the line replays the seed:", ""]
        for r in failing[:SHOWN_FAILURES]:
            lines += [f"- seed {r.seed}:"] + [f"  - {str(b).strip()}" for b in r.breaches]
            lines += [f"  `{r.command}`"]
        lines.append("")
    return "\n".join(lines)


def write(path: Path, text: str) -> None:
    if not path.exists():
        path.write_text(INTRO)
    write_section(path, HEADING, text)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.reliability", description=__doc__)
    parser.add_argument("--seeds", type=int, default=200, help="how many seeds")
    parser.add_argument("--first", type=int, default=1, help="the first seed")
    parser.add_argument("--faults", default="all", help="kinds and profiles, comma-separated")
    parser.add_argument("--callback-prob", type=float, default=0.0)
    parser.add_argument("--docs", type=Path, default=DOCS, help="markdown file to update")
    parser.add_argument("--no-docs", action="store_true")
    parser.add_argument("--jobs", type=int, default=1, help="seeds run at once (processes)")
    args = parser.parse_args(argv)
    logging.disable(logging.WARNING)
    kinds = faults.parse(args.faults)
    seeds = range(args.first, args.first + args.seeds)
    command = (
        f".venv/bin/python -m bench.reliability --seeds {args.seeds} --first {args.first} "
        f"--faults {args.faults}"
        + (f" --callback-prob {args.callback_prob:g}" if args.callback_prob else "")
    )
    text = section(run(seeds, kinds, args.callback_prob, args.jobs), kinds, command)
    print(text)
    if not args.no_docs:
        write(args.docs, text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
