"""Fail on an import inside a function or class: it hides a layer in the wrong place.

Only the CLI may load a command's modules lazily (`ivr/cli.py`), so `ivr --help` stays
fast. Usage: `python scripts/no_inline_imports.py ivr queues callbacks`.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ALLOWED = {Path("ivr/cli.py")}


def inline_imports(path: Path) -> list[str]:
    """`file:line: import inside name` for each import below module level."""
    found: dict[int, str] = {}
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            for inner in ast.walk(node):
                if isinstance(inner, ast.Import | ast.ImportFrom):
                    found[inner.lineno] = f"{path}:{inner.lineno}: import inside {node.name}"
    return [found[line] for line in sorted(found)]


def main(folders: list[str]) -> int:
    found = [
        line
        for folder in folders
        for path in sorted(Path(folder).rglob("*.py"))
        if path not in ALLOWED
        for line in inline_imports(path)
    ]
    print(*found, sep="\n", file=sys.stderr) if found else None
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
