"""The local back-end: one process, plain dicts, no I/O.

The default for one worker on the file store: sharing costs nothing there
because there is no one to share with. Its methods are coroutines only to
keep the interface; none of them awaits.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from ._backend import NO_MODEL, PAGE, Row, SharedBackend, check_window, fresh_window
from ._records import Count, Hit, StateRecord

__all__ = ["LocalBackend"]

_TOMBSTONE_SECONDS = 600.0


@dataclass(slots=True)
class _Window:
    start: float
    until: float
    count: float


class LocalBackend(SharedBackend):
    name = "local"
    shared = False
    poll_seconds = 0.25

    def __init__(self) -> None:
        self._seq = 0
        # (credential, model, origin) -> (seq, record or None, written at)
        self._rows: dict[tuple[str, str, str], tuple[int, StateRecord | None, float]] = {}
        self._windows: dict[tuple[str, float], _Window] = {}

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        return None

    # -- credential states -----------------------------------------------------------

    async def publish(self, credential_id: str, model: str | None, record: StateRecord) -> int:
        self._seq += 1
        key = (credential_id, model or NO_MODEL, record.origin)
        self._rows[key] = (self._seq, record, time.time())
        return self._seq

    async def clear(self, credential_id: str, origin: str) -> int:
        now = time.time()
        keys = [k for k in self._rows if k[0] == credential_id]
        keys = [k for k in keys if k != (credential_id, NO_MODEL, origin)]
        for key in [*keys, (credential_id, NO_MODEL, origin)]:
            self._seq += 1
            self._rows[key] = (self._seq, None, now)
        return self._seq

    async def changes(self, since: int) -> Sequence[Row]:
        newer = sorted((seq, key, rec) for key, (seq, rec, _) in self._rows.items() if seq > since)[
            :PAGE
        ]
        return [
            Row(seq, cid, model or None, origin, rec) for seq, (cid, model, origin), rec in newer
        ]

    async def last_seq(self) -> int:
        return self._seq

    # -- window counters ---------------------------------------------------------------

    async def hit(
        self,
        key: str,
        window_seconds: float,
        limit: float,
        cost: float = 1.0,
        *,
        aligned: bool = False,
    ) -> Hit:
        check_window(window_seconds, cost)
        now = time.time()
        win = self._window(key, window_seconds, aligned, now)
        if win.count + cost <= limit:
            win.count += cost
            return Hit(True, win.count, 0.0, win.until)
        return Hit(False, win.count, max(0.0, win.until - now), win.until)

    async def peek(self, key: str, window_seconds: float, *, aligned: bool = False) -> Count:
        check_window(window_seconds, 0.0)
        win = self._windows.get((key, window_seconds))
        now = time.time()
        if win is None or win.until <= now:
            return Count(0.0, fresh_window(now, window_seconds, aligned)[1])
        return Count(win.count, win.until)

    def _window(self, key: str, seconds: float, aligned: bool, now: float) -> _Window:
        win = self._windows.get((key, seconds))
        if win is None or win.until <= now:
            start, until = fresh_window(now, seconds, aligned)
            win = self._windows[(key, seconds)] = _Window(start, until, 0.0)
        return win

    async def purge(self, now: float) -> None:
        self._windows = {k: w for k, w in self._windows.items() if w.until > now}
        self._rows = {
            k: v
            for k, v in self._rows.items()
            if v[1] is not None or now - v[2] < _TOMBSTONE_SECONDS
        }
