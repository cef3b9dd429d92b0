"""What the workers share: a credential's state, and what a window counter answers.

A ``StateRecord`` is one worker's whole view of a credential (or of one model
of a credential): every time in it is absolute (epoch seconds), so a record
left behind by a worker that died simply stops mattering when its times pass.
Records are small and JSON-able; they are stored as one JSON text per
``(credential, model, origin)``.

``merge_records`` is the one rule by which the views of several workers
become one: a rest (cooldown, disabled) lasts as long as any worker says,
the breaker and the headroom come from whoever saw the credential last.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson

__all__ = [
    "BREAKER_STATES",
    "Breaker",
    "BreakerState",
    "Count",
    "Hit",
    "SharedStateError",
    "StateChange",
    "StateRecord",
    "merge_records",
]

BreakerState = Literal["closed", "open", "half_open"]
BREAKER_STATES: tuple[BreakerState, ...] = ("closed", "open", "half_open")


class SharedStateError(Exception):
    """The shared store could not be read or written (database down, file unwritable).

    Callers decide what an outage means: a rate limit usually lets the request
    through (fail open), a credential state keeps the worker's own view.
    """


@dataclass(frozen=True, slots=True)
class Breaker:
    """A circuit breaker: ``open`` until ``open_until``, then one probe (``half_open``)."""

    state: BreakerState = "closed"
    open_until: float = 0.0
    failures: int = 0  # in a row
    reason: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "open_until": self.open_until,
            "failures": self.failures,
            "reason": self.reason,
        }

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> Breaker:
        state = doc.get("state", "closed")
        if state not in BREAKER_STATES:
            raise ValueError(f"unknown breaker state {state!r}")
        return cls(
            state=state,
            open_until=_float(doc.get("open_until")),
            failures=int(doc.get("failures") or 0),
            reason=_text(doc.get("reason")),
        )


CLOSED = Breaker()


@dataclass(frozen=True, slots=True)
class StateRecord:
    """One worker's view of a credential (``model`` None) or of one of its models.

    ``headroom`` is what the upstream last said is left (a quota snapshot such as
    ``router.auth.Quota.to_json()``); it must be JSON-able. ``updated_at`` is when
    the worker changed the record and ``origin`` which worker it is (filled in by
    ``SharedState.publish`` when left empty).
    """

    cooling_until: float = 0.0
    strikes: int = 0
    breaker: Breaker = CLOSED
    disabled_until: float = 0.0
    disabled_reason: str | None = None
    headroom: Mapping[str, Any] | None = field(default=None, hash=False, compare=True)
    updated_at: float = 0.0
    origin: str = ""

    def resting_until(self) -> float:
        """When nothing in this record keeps the credential from serving any more."""
        breaker = self.breaker.open_until if self.breaker.state == "open" else 0.0
        return max(self.cooling_until, self.disabled_until, breaker)

    def to_json(self) -> dict[str, Any]:
        return {
            "cooling_until": self.cooling_until,
            "strikes": self.strikes,
            "breaker": self.breaker.to_json(),
            "disabled_until": self.disabled_until,
            "disabled_reason": self.disabled_reason,
            "headroom": self.headroom,
            "updated_at": self.updated_at,
            "origin": self.origin,
        }

    def dumps(self) -> bytes:
        return orjson.dumps(self.to_json())

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> StateRecord:
        breaker = doc.get("breaker")
        headroom = doc.get("headroom")
        return cls(
            cooling_until=_float(doc.get("cooling_until")),
            strikes=int(doc.get("strikes") or 0),
            breaker=Breaker.from_json(breaker) if isinstance(breaker, Mapping) else CLOSED,
            disabled_until=_float(doc.get("disabled_until")),
            disabled_reason=_text(doc.get("disabled_reason")),
            headroom=headroom if isinstance(headroom, Mapping) else None,
            updated_at=_float(doc.get("updated_at")),
            origin=str(doc.get("origin") or ""),
        )

    @classmethod
    def loads(cls, data: bytes | str) -> StateRecord:
        doc = orjson.loads(data)
        if not isinstance(doc, dict):
            raise ValueError("a state record is a JSON object")
        return cls.from_json(doc)


@dataclass(frozen=True, slots=True)
class StateChange:
    """A key's merged view changed, as ``SharedState`` tells its listeners.

    ``record`` is the merged view of every worker after the change (``None``: nothing
    is known any more). ``cleared``: the credential was reset (management call); the
    listener forgets every rest, breaker and headroom it holds for it, every model
    included, then keeps only what ``SharedState.records()`` still has (states
    published after the reset). ``origin`` is the worker that made the change and
    ``seq`` its place in the store (0 where there is no store).
    """

    credential_id: str
    model: str | None
    record: StateRecord | None
    origin: str
    seq: int
    cleared: bool = False


@dataclass(frozen=True, slots=True)
class Hit:
    """What ``hit`` answers: whether this use fits in the window, the window's count
    after it (a refused use does not count), and when to try again if refused."""

    allowed: bool
    count: float
    retry_after: float  # seconds; 0 when allowed
    resets_at: float  # epoch seconds: when the window ends


@dataclass(frozen=True, slots=True)
class Count:
    """A counter's total in its current window and when that window ends."""

    total: float
    resets_at: float


def merge_records(records: Iterable[StateRecord]) -> StateRecord | None:
    """One view from several workers' records of the same key.

    Rests add up to the longest (a 429 seen by one worker rests the credential
    for all); the breaker and headroom are the newest (a probe that closed the
    breaker anywhere closes it everywhere). ``updated_at``/``origin`` are the
    newest record's. ``None`` for no records.
    """
    newest: StateRecord | None = None
    cooling = disabled = 0.0
    strikes = 0
    reason: str | None = None
    headroom: Mapping[str, Any] | None = None
    headroom_at = -math.inf
    for rec in records:
        if newest is None or rec.updated_at > newest.updated_at:
            newest = rec
        cooling = max(cooling, rec.cooling_until)
        strikes = max(strikes, rec.strikes)
        if rec.disabled_until > disabled:
            disabled, reason = rec.disabled_until, rec.disabled_reason
        if rec.headroom is not None and _seen(rec) > headroom_at:
            headroom, headroom_at = rec.headroom, _seen(rec)
    if newest is None:
        return None
    return StateRecord(
        cooling_until=cooling,
        strikes=strikes,
        breaker=newest.breaker,
        disabled_until=disabled,
        disabled_reason=reason,
        headroom=headroom,
        updated_at=newest.updated_at,
        origin=newest.origin,
    )


def _seen(rec: StateRecord) -> float:
    """When the headroom was read: its own ``seen_at`` if it has one, else the record's."""
    seen = rec.headroom.get("seen_at") if rec.headroom else None
    return float(seen) if isinstance(seen, int | float) else rec.updated_at


def _float(value: Any) -> float:
    try:
        out = float(value or 0.0)
    except (TypeError, ValueError):
        return 0.0
    return out if math.isfinite(out) else 0.0


def _text(value: Any) -> str | None:
    return None if value is None else str(value)
