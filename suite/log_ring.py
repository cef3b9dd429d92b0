"""The last log lines of this process, kept in memory for the console's Logs screen.

Two bounded rings of lines exactly as they were written (already scrubbed of
secrets and cut to their bounds by ``suite.logging``): every access line
(one per request), and every warning or error with the events that tell of
one request (``upstream attempt failed``, ``credential cooling down``). Appending is one
``deque.append`` of bytes the logger built anyway (about 50 ns), so the
request path pays nothing noticeable; the oldest lines fall off. Each process
keeps its own: with several router workers, the console shows the lines of
the worker that answered. Nothing here is written to disk.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping

import orjson

__all__ = ["ACCESS_LINES", "LOG_RING", "LogRing", "PROBLEM_LINES"]

ACCESS_LINES = 2000
PROBLEM_LINES = 500
_PROBLEM_LEVELS = frozenset({"warning", "error", "critical", "exception"})


class LogRing:
    """Recent access lines and recent warnings/errors, newest last."""

    def __init__(self, access: int = ACCESS_LINES, problems: int = PROBLEM_LINES) -> None:
        self.access: deque[bytes] = deque(maxlen=access)
        self.problems: deque[bytes] = deque(maxlen=problems)

    def problem(self, level: str, line: bytes | str) -> None:
        """Keep a structlog or ``logging`` line if it is a warning or worse."""
        if level in _PROBLEM_LEVELS:
            self.problems.append(line.encode() if isinstance(line, str) else line)

    def problem_event(self, event: Mapping[str, object]) -> None:
        """A structlog event (already scrubbed), rendered once, if it is a warning or worse
        or tells of one request (an upstream attempt that failed, a credential it rested):
        those are written only when something went wrong, and searching a request id
        should find them."""
        level = event.get("level")
        if (isinstance(level, str) and level in _PROBLEM_LEVELS) or "request_id" in event:
            self.problems.append(orjson.dumps(event, default=str))

    def clear(self) -> None:
        self.access.clear()
        self.problems.clear()


LOG_RING = LogRing()
