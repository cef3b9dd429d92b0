"""The interface every shared-state back-end implements (local, host, postgres).

Two parts, both keyed by plain strings:

* **Credential states.** ``publish`` stores one worker's record of a
  ``(credential, model)``; each row is also keyed by the record's ``origin`` so
  two workers never overwrite each other's view (they are merged on read, see
  ``merge_records``). Every write takes the next number of one sequence, and
  ``changes(since)`` returns the rows written after ``since`` in that order:
  a worker polls it to learn what the others did. ``clear`` replaces every row
  of a credential by a tombstone (``record`` None), so that the clear itself
  travels to the other workers.
* **Window counters.** ``hit`` counts one use against a limit and ``add`` adds
  an amount without one (tokens), atomically across every process sharing the
  store. A window starts at the first use after the previous one ended
  (``aligned``: at a multiple of its length since the epoch, i.e. UTC days for
  86400 s) and lasts ``window_seconds``; a refused ``hit`` does not count.

Back-ends know nothing of the event loop beyond not blocking it: ``SharedState``
(``_state.py``) adds the polling, the merged view and the listeners.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from ._records import Count, Hit, StateRecord

__all__ = ["Row", "SharedBackend", "fresh_window", "read_row"]

NO_MODEL = ""  # how a credential-wide record (model None) is stored
NO_LIMIT = 1e300  # ``add``: a limit nothing reaches
PAGE = 500  # rows per ``changes`` answer; the poller asks again while pages are full


@dataclass(frozen=True, slots=True)
class Row:
    """One stored row as ``changes`` returns it; ``record`` None is a tombstone."""

    seq: int
    credential_id: str
    model: str | None
    origin: str
    record: StateRecord | None


class SharedBackend(Protocol):
    """Where the workers' states and counters live. All methods are safe to call from
    the event loop: none blocks it. Failures raise ``SharedStateError``. The back-ends
    subclass it to inherit ``add``."""

    name: str  # "local", "host" or "postgres"
    shared: bool  # False: one process only (nothing to poll)
    poll_seconds: float  # how often a worker should ask for ``changes``

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    # -- credential states -----------------------------------------------------------

    async def publish(self, credential_id: str, model: str | None, record: StateRecord) -> int:
        """Store ``record`` as ``record.origin``'s view; returns its sequence number."""
        ...

    async def clear(self, credential_id: str, origin: str) -> int:
        """Tombstone every row of the credential, and a credential-wide one by ``origin``;
        returns the last sequence number used."""
        ...

    async def changes(self, since: int) -> Sequence[Row]:
        """Rows written after ``since``, oldest first, at most ``PAGE`` of them."""
        ...

    async def last_seq(self) -> int:
        """The newest sequence number handed out (0 for an empty store)."""
        ...

    # -- window counters ---------------------------------------------------------------

    async def hit(
        self,
        key: str,
        window_seconds: float,
        limit: float,
        cost: float = 1.0,
        *,
        aligned: bool = False,
    ) -> Hit: ...

    async def add(
        self, key: str, window_seconds: float, amount: float, *, aligned: bool = False
    ) -> Count:
        """A ``hit`` that no limit refuses: every back-end counts tokens the same way."""
        hit = await self.hit(key, window_seconds, NO_LIMIT, amount, aligned=aligned)
        return Count(hit.count, hit.resets_at)

    async def peek(self, key: str, window_seconds: float, *, aligned: bool = False) -> Count: ...

    async def purge(self, now: float) -> None:
        """Drop ended windows and old tombstones (housekeeping, once a minute)."""
        ...


def read_row(seq: int, credential: str, model: str, origin: str, data: str | None) -> Row | None:
    """A stored row as ``changes`` returns it; None for a record this version cannot
    read (written by a newer router, say): skipped, never taken for a tombstone."""
    record = None
    if data is not None:
        try:
            record = StateRecord.loads(data)
        except ValueError:
            return None
    return Row(int(seq), credential, model or None, origin, record)


def fresh_window(now: float, window_seconds: float, aligned: bool) -> tuple[float, float]:
    """``(start, end)`` of a window opened at ``now``."""
    if aligned:
        start = (now // window_seconds) * window_seconds
        return start, start + window_seconds
    return now, now + window_seconds


def check_window(window_seconds: float, amount: float) -> None:
    """Reject nonsense early, with the caller's values in the message."""
    if not window_seconds > 0:
        raise ValueError(f"window_seconds must be > 0, got {window_seconds!r}")
    if amount < 0:
        raise ValueError(f"a count only grows: got {amount!r}")
