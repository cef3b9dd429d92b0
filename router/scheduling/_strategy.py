"""How the credentials of one provider take turns (``strategy:``, docs/routing.md).

* ``round-robin`` (the default): each request starts one further along.
* ``fill-first``: the configured order; the first healthy credential serves
  until it rests, so the others' windows stay fresh for later.
* ``sticky``: a conversation's credential first, for as long as it is
  healthy (its prompt cache is warm there); new conversations round-robin.
* ``quota-aware``: the most room left first (``_limits.room``); ties take turns.

Failover still walks every credential: a strategy only sets the order.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

from router.auth import Credential

from ._limits import room

__all__ = ["StickyTable", "Turns", "order"]


class Turns:
    """Round-robin positions per provider, kept across requests and reloads."""

    __slots__ = ("_at",)

    def __init__(self) -> None:
        self._at: dict[str, int] = {}

    def next(self, key: str, n: int) -> int:
        at = self._at.get(key, 0) % n
        self._at[key] = at + 1
        return at


class StickyTable:
    """Conversation → credential id, bounded in size (least recently used goes first)
    and in time (an entry not used for ``ttl`` seconds is forgotten)."""

    __slots__ = ("ttl", "limit", "_pins")

    def __init__(self, ttl: float = 3600.0, limit: int = 65536) -> None:
        self.ttl = ttl
        self.limit = limit
        self._pins: OrderedDict[str, tuple[str, float]] = OrderedDict()

    def get(self, key: str, now: float) -> str | None:
        pin = self._pins.get(key)
        if pin is None:
            return None
        if pin[1] <= now:
            del self._pins[key]
            return None
        return pin[0]

    def pin(self, key: str, credential_id: str, now: float) -> None:
        self._pins[key] = (credential_id, now + self.ttl)
        self._pins.move_to_end(key)
        while len(self._pins) > self.limit:
            self._pins.popitem(last=False)

    def __len__(self) -> int:
        return len(self._pins)


def order(
    strategy: str,
    creds: Sequence[Credential],
    turns: Turns,
    key: str,
    now: float,
    pinned: str | None = None,
) -> list[Credential]:
    """``creds`` in the order ``strategy`` tries them (``pinned``: a sticky session's)."""
    n = len(creds)
    if n <= 1:
        return list(creds)
    if strategy == "fill-first":
        out = list(creds)
    else:
        start = turns.next(key, n)
        out = [creds[(start + k) % n] for k in range(n)]
        if strategy == "quota-aware":
            out.sort(key=lambda c: -room(c, now))  # stable: ties keep the turn order
    if pinned is not None:
        for i, cred in enumerate(out):
            if cred.id == pinned:
                if i:
                    out.insert(0, out.pop(i))
                break
    return out
