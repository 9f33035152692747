"""The Queues REST resource and its Members: create, list, fetch, update and delete.

A queue `<Enqueue>` made, or one created here, stays in the account until it is
deleted, as on Twilio; only an empty queue can be deleted.
"""

from __future__ import annotations

import re
from typing import Any

from ivr.devtools.emulator.queues import MAX_SIZE, Queue
from ivr.devtools.emulator.resources import RestError, member_resource, queue_resource
from ivr.devtools.emulator.switchboard import Switchboard

ROUTE = re.compile(
    r"^/2010-04-01/Accounts/(?P<account>AC\w+)/Queues"
    r"(?:/(?P<sid>\w+)(?P<members>/Members(?:/(?P<member>\w+))?)?)?\.json$"
)
NAME_MAX = 64
"""A queue's FriendlyName is at most this long."""
INVALID = 20001
"""The code the emulator answers a bad Queue parameter with (Twilio's own is not documented)."""
NOT_EMPTY = 20009
"""The code the emulator answers deleting a queue someone is in with."""
Answer = tuple[int, dict[str, Any] | None]


class QueuesApi:
    """`client.queues` and `client.queues(sid).members` against the switchboard's queues."""

    def __init__(self, board: Switchboard) -> None:
        self.board = board

    def handle(self, method: str, match: re.Match[str], data: dict[str, Any]) -> Answer:
        sid = match["sid"]
        if sid is None:
            return self.create(data) if method == "POST" else self.list()
        queue = self.board.queue_by_sid(sid)
        if queue is None:
            raise RestError(404, 20404, f"The requested resource Queue {sid} was not found")
        if match["members"]:
            return self.members(queue, match["member"])
        if method == "DELETE":
            return self.delete(queue)
        if method == "POST":
            self.update(queue, data)
        return 200, self._resource(queue)

    def create(self, data: dict[str, Any]) -> Answer:
        name = _name(data)
        size = _size(data)
        with self.board.lock:
            taken = name in self.board.queues
        if taken:
            raise RestError(400, INVALID, f"A queue named {name!r} already exists")
        queue = self.board.queue(name, size)
        return 201, self._resource(queue)

    def list(self) -> Answer:
        queues = [self._resource(q) for q in list(self.board.queues.values())]
        return 200, {"queues": queues, "next_page_uri": None, "page": 0}

    def update(self, queue: Queue, data: dict[str, Any]) -> None:
        if "MaxSize" in data:
            queue.max_size = _size(data)
        if "FriendlyName" in data:
            name = _name(data)
            with self.board.lock:
                if name != queue.name and name in self.board.queues:
                    raise RestError(400, INVALID, f"A queue named {name!r} already exists")
                self.board.queues[name] = self.board.queues.pop(queue.name)
                queue.name = name
        queue.updated_at = self.board.now()

    def delete(self, queue: Queue) -> Answer:
        if not self.board.delete_queue(queue):
            raise RestError(400, NOT_EMPTY, f"Queue {queue.sid} is not empty")
        return 204, None

    def members(self, queue: Queue, member: str | None) -> Answer:
        now = self.board.now()
        waiting = list(queue.members_)
        if member is None:
            found = [member_resource(queue, m, now) for m in waiting]
            return 200, {"queue_members": found, "next_page_uri": None, "page": 0}
        chosen = waiting[:1] if member == "Front" else [m for m in waiting if m.call.sid == member]
        if not chosen:
            raise RestError(404, 20404, f"The requested resource Member {member} was not found")
        return 200, member_resource(queue, chosen[0], now)

    def _resource(self, queue: Queue) -> dict[str, Any]:
        return queue_resource(queue, self.board.account_sid, self.board.now())


def _name(data: dict[str, Any]) -> str:
    name = str(data.get("FriendlyName") or "")
    if not name or len(name) > NAME_MAX:
        raise RestError(400, INVALID, f"FriendlyName must be 1 to {NAME_MAX} characters")
    return name


def _size(data: dict[str, Any]) -> int:
    """MaxSize from the request: 0 (the default) when absent; 1 to 5000 otherwise."""
    raw = data.get("MaxSize")
    if raw is None:
        return 0
    try:
        size = int(str(raw))
    except ValueError:
        size = 0
    if not 1 <= size <= MAX_SIZE:
        raise RestError(400, INVALID, f"MaxSize must be between 1 and {MAX_SIZE}")
    return size
