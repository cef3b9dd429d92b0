"""Background tasks that cannot be garbage-collected mid-flight.

The event loop keeps only weak references to tasks, so a task started with
``asyncio.create_task`` and dropped can vanish. ``spawn`` keeps a strong
reference until the task is done; it is the one place allowed to create tasks.
``stop`` is how a service ends the background task it spawned.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["spawn", "stop"]

T = TypeVar("T")
_running: set[asyncio.Task[Any]] = set()


def spawn(coro: Coroutine[Any, Any, T], *, name: str | None = None) -> asyncio.Task[T]:
    task = asyncio.create_task(coro, name=name)  # noqa: TID251 - the one allowed place
    _running.add(task)
    task.add_done_callback(_running.discard)
    return task


async def stop(task: asyncio.Task[Any] | None) -> None:
    """Cancel ``task`` (if any) and wait until it has ended."""
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
