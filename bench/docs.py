"""Writing one benchmark's section of docs/benchmarks.md, leaving the others alone."""

from __future__ import annotations

import contextlib
import os
import platform
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs" / "benchmarks.md"
INTRO = (
    "# Benchmarks\n\n"
    "Measurements of ivr-queue on a known machine. Each section is written by a script\n"
    "under `bench/` (see `bench/README.md`); rerun it to refresh the numbers.\n"
)


def write_section(path: Path, heading: str, text: str) -> None:
    """Replace the `heading` section (up to the next `## `) with `text`, or append it."""
    current = path.read_text() if path.exists() else INTRO
    start = current.find(heading + "\n")
    if start < 0:
        updated = current.rstrip("\n") + "\n\n" + text
    else:
        end = current.find("\n## ", start + len(heading))
        rest = current[end + 1 :] if end >= 0 else ""
        updated = current[:start] + text + ("\n" + rest if rest else "")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(updated)


def machine() -> list[str]:
    """Markdown list lines naming the CPU and Python the numbers came from."""
    model = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return [
        f"- CPU: {model}, `nproc` = {len(os.sched_getaffinity(0))}",
        f"- Python {platform.python_version()} ({platform.python_implementation()}), "
        f"{platform.system()} {platform.release()}",
    ]
