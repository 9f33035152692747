"""Only `queues/` touches the routing engine's keys: everyone else asks the `Router`.

An AST scan of the packages outside `queues/` for the `Keys` methods that name routing
state (`ivr.core.keys.ROUTING_KEYS`), the `Layout` methods that name its buckets, and timer
members rebuilt by hand (`f"wrap:{agent}"`).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from ivr.core.keys import ROUTING_KEYS
from queues import timers

ROOT = Path(__file__).resolve().parent.parent
SCANNED = ("ivr", "callbacks", "bench")
"""The packages outside `queues/` whose code must not touch a routing key."""
LAYOUT_KEYS = frozenset({"waiting_key", "available_key"})
"""`queues.layout.Layout` methods that name a bucket's sorted set."""
TIMER_KINDS = (
    timers.RING,
    timers.HOLD,
    timers.WRAP,
    timers.ESCALATE,
    timers.MAX_WAIT,
    timers.NO_AGENTS,
    timers.BACK,
    timers.CONNECT,
)


def _timer_member(node: ast.JoinedStr) -> bool:
    """Whether an f-string builds a routing timer member: `f"<kind>:{ident}"`."""
    head = node.values[0] if node.values else None
    if not isinstance(head, ast.Constant) or not isinstance(head.value, str):
        return False
    return head.value in {f"{kind}:" for kind in TIMER_KINDS} and len(node.values) == 2


def offences(path: Path) -> Iterator[str]:
    """Every routing key or timer member touched in one file, as `file:line: what`."""
    tree = ast.parse(path.read_text(), filename=str(path))
    where = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
    for node in sorted(ast.walk(tree), key=lambda n: getattr(n, "lineno", 0)):
        if isinstance(node, ast.Attribute) and node.attr in ROUTING_KEYS | LAYOUT_KEYS:
            yield f"{where}:{node.lineno}: .{node.attr}"
        elif isinstance(node, ast.JoinedStr) and _timer_member(node):
            yield f"{where}:{node.lineno}: timer member {ast.unparse(node)}"


def scan(roots: list[Path]) -> list[str]:
    """The offences of every Python file under `roots`, sorted."""
    paths = sorted(path for root in roots for path in root.rglob("*.py"))
    return [offence for path in paths for offence in offences(path)]


def test_no_routing_key_outside_queues() -> None:
    """No module of ivr/, callbacks/ or bench/ names a routing key or a timer member."""
    found = scan([ROOT / name for name in SCANNED])
    assert not found, "routing keys touched outside queues/:\n" + "\n".join(found)


@pytest.mark.parametrize(
    ("source", "what"),
    [
        pytest.param("svc.redis.hget(svc.keys.routing_calls(), sid)\n", ".routing_calls", id="key"),
        pytest.param("Keys('main').queue_staffed(q)\n", ".queue_staffed", id="keys-object"),
        pytest.param("layout.waiting_key(bucket)\n", ".waiting_key", id="layout"),
        pytest.param("r.zscore(k, f'wrap:{agent}')\n", "timer member", id="timer"),
    ],
)
def test_scan_names_the_offender(tmp_path: Path, source: str, what: str) -> None:
    """The scan reports a routing key read with its file and line."""
    path = tmp_path / "leak.py"
    path.write_text("import x\n" + source)
    found = scan([tmp_path])
    assert len(found) == 1
    assert found[0].startswith(f"{path}:2: ") and what in found[0]


def test_scan_passes_other_keys(tmp_path: Path) -> None:
    """Keys that are not routing state, and timer-like text that is not a member, pass."""
    path = tmp_path / "fine.py"
    path.write_text("k.offers()\nk.events()\nlog(f'wrap: {n} left')\n")
    assert scan([tmp_path]) == []
