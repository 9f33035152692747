"""Closing with a bound: tasks cancelled until they end or time runs out, and an event loop
that always returns.

A close that waits without a bound is how the benchmark used to hang after its last
window: Python 3.11's `asyncio.wait_for` returns its awaitable's result, dropping the
cancellation, when both arrive in the same turn of the loop, and a webhook worker that
missed its cancellation went back to its queue for ever. Here every wait is bounded,
a task still running is cancelled again, and what is left at the end is named.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Collection, Coroutine
from typing import Any, TypeVar

import uvloop

from bench.capacity.defaults import CANCEL_AGAIN_S, CLOSE_TIMEOUT_S

T = TypeVar("T")
Task = asyncio.Task[Any]


async def cancel_and_wait(tasks: Collection[Task], timeout_s: float) -> set[Task]:
    """Cancel `tasks`, again every `CANCEL_AGAIN_S` while any runs, for up to `timeout_s`;
    the tasks still running then."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    pending = {task for task in tasks if not task.done()}
    while pending:
        left = deadline - loop.time()
        if left <= 0:
            break
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=min(CANCEL_AGAIN_S, left))
    return pending


def describe(task: Task) -> str:
    """A task's name and where it waits."""
    frames = task.get_stack(limit=1)
    where = f"{frames[-1].f_code.co_name}:{frames[-1].f_lineno}" if frames else "?"
    return f"{task.get_coro()!r} at {where}"


def report_stuck(what: str, stuck: Collection[Task], timeout_s: float = CLOSE_TIMEOUT_S) -> None:
    """Say which tasks did not end when cancelled (they are abandoned)."""
    if not stuck:
        return
    print(
        f"  {len(stuck)} {what} still running {timeout_s:g} s after cancelling; left:", flush=True
    )
    for task in list(stuck)[:3]:
        print(f"    {describe(task)}", flush=True)


def run_bounded(main: Coroutine[Any, Any, T]) -> T:
    """`main` on a fresh uvloop loop; then every task left is cancelled and waited for at
    most `CLOSE_TIMEOUT_S` (not for ever, as `asyncio.run` would), and the loop closed."""
    loop = uvloop.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        return loop.run_until_complete(main)
    finally:
        try:
            close_loop(loop)
        finally:
            asyncio.set_event_loop(None)
            loop.close()


def close_loop(loop: asyncio.AbstractEventLoop) -> None:
    """Cancel what is left on `loop` and shut its async generators down, both bounded."""
    left = asyncio.all_tasks(loop)
    stuck = loop.run_until_complete(cancel_and_wait(left, CLOSE_TIMEOUT_S))
    report_stuck("tasks of the event loop", stuck)
    loop.run_until_complete(bounded(loop.shutdown_asyncgens(), "async generators"))


async def bounded(work: Coroutine[Any, Any, None], what: str) -> None:
    """Await `work` for at most `CLOSE_TIMEOUT_S`; say so when it takes longer."""
    try:
        async with asyncio.timeout(CLOSE_TIMEOUT_S):
            await work
    except TimeoutError:
        print(f"  closing {what} took over {CLOSE_TIMEOUT_S:g} s; left", flush=True)


def stray_threads() -> list[threading.Thread]:
    """Threads that would keep the interpreter from exiting."""
    main = threading.main_thread()
    return [t for t in threading.enumerate() if t is not main and not t.daemon and t.is_alive()]
