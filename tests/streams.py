"""Reading Redis streams in tests: every entry as its id and its fields."""

from __future__ import annotations

from typing import cast

import redis

Entry = tuple[str, dict[str, str]]


def entries(r: redis.Redis, key: str) -> list[Entry]:
    """The stream's entries, oldest first; `[]` for a stream that does not exist."""
    # The test client decodes responses, so ids and fields are str; redis-py types
    # them for either mode (bytes | str, and None for a missing field map).
    return cast(list[Entry], r.xrange(key))
