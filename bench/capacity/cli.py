"""`python -m bench.capacity`: the options, the run, and writing its section."""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import time
from collections.abc import Sequence
from pathlib import Path

import bench.capacity as package
from bench.capacity.closing import stray_threads
from bench.capacity.defaults import SCALING_SECTION, SECTION
from bench.capacity.report import scaling_section, section
from bench.capacity.runs import run, scaling
from bench.docs import DOCS, write_section
from bench.docs import machine as host_lines

QUICK = {"hold": 200, "rates": [5000.0, 10000.0], "settle": 30.0, "window": 20.0}
DEFAULT_RATES = [5000.0, 10000.0, 20000.0, 40000.0, 80000.0]


def stop(signum: int, frame: object) -> None:
    """SIGTERM as Ctrl-C, so the servers are stopped on the way out."""
    raise KeyboardInterrupt


def parser(description: str | None) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.capacity", description=description)
    p.add_argument("--hold", type=int, default=2100, help="callers to keep on hold")
    p.add_argument(
        "--rates",
        type=float,
        nargs="+",
        default=DEFAULT_RATES,
        help="arrival rates to try, calls per hour (stops after the second one that fails)",
    )
    p.add_argument("--settle", type=float, default=45.0, help="seconds before each window")
    p.add_argument("--window", type=float, default=60.0, help="seconds measured per rate")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--quick", action="store_true", help="200 on hold, two short rates")
    p.add_argument("--pin", action=argparse.BooleanOptionalAction, default=True)
    p.add_argument(
        "--web-workers",
        type=positive,
        default=1,
        help="web processes serving the app, each on its own port (the client spreads over them)",
    )
    p.add_argument(
        "--scaling", action="store_true", help="the cluster shards x workspaces matrix instead"
    )
    p.add_argument("--shards", type=int, nargs="+", default=[1, 3])
    p.add_argument("--workspaces", type=int, nargs="+", default=[1, 3, 6])
    p.add_argument("--scale-hold", type=int, default=150, help="on hold per workspace")
    p.add_argument("--scale-rate", type=float, default=2500, help="calls/hour per workspace")
    p.add_argument("--docs", type=Path, default=DOCS, help="markdown file to update")
    p.add_argument("--no-docs", action="store_true", help="print only; do not write docs")
    return p


def positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return value


def options(argv: Sequence[str] | None) -> argparse.Namespace:
    args = parser(package.__doc__).parse_args(argv)
    if args.quick:
        for name, value in QUICK.items():
            setattr(args, name, value)
    if args.pin and shutil.which("taskset") is None:
        args.pin = False
    return args


def host() -> list[str]:
    """The machine, and how busy it was before the run."""
    load = Path("/proc/loadavg").read_text().split()[:3]
    return [
        *host_lines(),
        f"- load average before the run: {' / '.join(load)} (1 / 5 / 15 min; other work on "
        "the machine skews the numbers)",
    ]


def main(argv: Sequence[str] | None = None) -> int:
    args = options(argv)
    machine = host()
    began = time.monotonic()
    signal.signal(signal.SIGTERM, stop)
    if args.scaling:
        text, heading = scaling_section(scaling(args), args, machine), SCALING_SECTION
    else:
        steps, pinned = run(args)
        text, heading = section(steps, args, pinned, machine), SECTION
    print()
    print(text)
    if not args.no_docs:
        write_section(args.docs, heading, text)
        print(f"written to {args.docs}")
    print(f"total {time.monotonic() - began:.0f} s", flush=True)
    exit_now_if_stuck()
    return 0


def exit_now_if_stuck() -> None:
    """Leave even when a thread would keep the interpreter waiting (the section is written)."""
    stray = stray_threads()
    if stray:
        print(f"threads still running at exit, not waited for: {stray}", flush=True)
        os._exit(0)
