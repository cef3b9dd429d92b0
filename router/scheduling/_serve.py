"""The failover loop: try a walk's candidates until one serves.

Transport-free: ``attempt`` does the upstream call (through whatever executor
it holds), ``final`` shapes the answer for an error that must not be retried
elsewhere, ``sleep`` and ``connected`` are the waiting and the client's
connection. ``router.api`` gives the real ones; the tests a ``FakeExecutor``
and a fake clock.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from router.errors import UpstreamError
from router.routing import Candidate

from ._walk import Walk

__all__ = ["serve"]

T = TypeVar("T")


async def serve(
    walk: Walk,
    attempt: Callable[[Candidate], Awaitable[T]],
    final: Callable[[Candidate, UpstreamError], T],
    *,
    failed: Callable[[Candidate, UpstreamError], None] | None = None,
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    connected: Callable[[], bool] = lambda: True,
) -> T:
    """The first candidate's answer that ``attempt`` returns without an
    ``UpstreamError``; raises the walk's error when none serves (after waiting, within
    ``server.retry.max_wait_seconds``, for a rest to end while the client is there)."""
    while True:
        cand = walk.next()
        if cand is None:
            delay = walk.wait_time()
            if delay is None or not connected():
                raise walk.error()
            await sleep(delay)
            if not connected():
                raise walk.error()
            walk.waited_for(delay)
            continue
        try:
            return await attempt(cand)
        except UpstreamError as exc:
            retry = walk.failed(cand, exc)
            if failed is not None:
                failed(cand, exc)
            if not retry:
                return final(cand, exc)
