"""`ivr init [DIR]`: start a site, with the sample business's config and a `.env.example`.

Both ship inside the package (`sample/` and `env.example`, links to the repository's
`config/` and `.env.example`), so this works from an installed wheel, far from any clone.
"""

from __future__ import annotations

import shlex
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import TextIO

CONFIG_DIR = "config"
"""Where the sample goes in the site: the default `IVR_CONFIG_DIR`."""
ENV_EXAMPLE = ".env.example"
PACKAGED_SAMPLE = "sample"
PACKAGED_ENV_EXAMPLE = "env.example"
YAML_SUFFIXES = (".yaml", ".yml")


def sources() -> dict[Path, Traversable]:
    """Each file `ivr init` writes, relative to the site, and where its text ships."""
    package = files("ivr.config")
    sample = (package / PACKAGED_SAMPLE).iterdir()
    found = {Path(CONFIG_DIR, f.name): f for f in sample if f.name.endswith(YAML_SUFFIXES)}
    found[Path(ENV_EXAMPLE)] = package / PACKAGED_ENV_EXAMPLE
    return dict(sorted(found.items()))


def run(site: Path, out: TextIO, err: TextIO) -> int:
    """Write the sample into `site` and say what to do next; 1 (and nothing written) if a
    file is already there, or the site cannot be written."""
    planned = sources()
    taken = [str(site / name) for name in planned if (site / name).exists()]
    if taken:
        print(f"ivr init: not overwriting {', '.join(taken)}", file=err)
        print("Move them away, or give another directory: `ivr init DIR`.", file=err)
        return 1
    try:
        for name, source in planned.items():
            write(site / name, source.read_bytes())
    except OSError as exc:
        print(f"ivr init: cannot write the site: {exc}", file=err)
        return 1
    print(next_steps(site, len(planned) - 1), file=out)
    return 0


def write(path: Path, content: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)


def next_steps(site: Path, config_files: int) -> str:
    """What was written, and the commands that use it."""
    config, env = site / CONFIG_DIR, site / ENV_EXAMPLE
    lines = [f"Wrote the sample business's config to {config}/ ({config_files} files) and {env}."]
    lines.append("Next:")
    if site.resolve() != Path.cwd().resolve():
        lines.append(f"  cd {shlex.quote(str(site))}")
    lines += [
        "  ivr demo               # a scripted morning of callers, all on this machine",
        "  ivr call               # call the menu from your terminal",
        "  cp .env.example .env   # then set TWILIO_AUTH_TOKEN and PUBLIC_BASE_URL in .env",
        "  ivr serve",
        f"Describe your business in {CONFIG_DIR}/*.yaml; `ivr check` validates it.",
    ]
    return "\n".join(lines)
