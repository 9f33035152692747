"""Reading Lua scripts: each layer keeps its own in a `lua/` folder next to its modules.

`queues/lua/` holds the routing scripts, `callbacks/lua/` the callback, survey and job
scripts, and `ivr/core/lua/` the call session's. Each script opens with a header that
documents its KEYS, ARGV and return value.
"""

from __future__ import annotations

from functools import cache
from importlib import resources


@cache
def read(package: str, name: str) -> str:
    """The text of `<package>/lua/<name>.lua`."""
    return (resources.files(package) / "lua" / f"{name}.lua").read_text()
