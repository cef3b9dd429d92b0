"""``SharedState``: one worker's handle on the shared store.

It keeps every worker's records in memory, merged per key (``record()`` is a
dict lookup, fit for the request path), writes this worker's records behind
the request (``publish`` returns at once; a background flush writes them a
moment later, several changes of one key collapsing into one write), and
polls the store every ``poll_seconds`` for what the other workers wrote,
telling its listeners about each key whose merged view changed. With a
flush that starts at once and a poll every 0.25 s (host) or 0.5 s
(postgres), another worker sees a change well within a second.

With a back-end that is not shared (one worker, ``local``) nothing is
written or polled: ``publish`` only updates the view.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import secrets
import socket
import time
from collections.abc import Callable
from dataclasses import replace

from suite.logging import get_logger
from suite.tasks import spawn, stop

from ._backend import PAGE, Row, SharedBackend
from ._records import Count, Hit, SharedStateError, StateChange, StateRecord, merge_records

__all__ = ["Listener", "SharedState", "default_origin"]

log = get_logger("router.shared")
Listener = Callable[[StateChange], None]
_Key = tuple[str, str | None]
PURGE_SECONDS = 60.0
_WARN_SECONDS = 60.0
_OPEN_RETRY_MAX_SECONDS = 30.0  # one warning a minute while the store is unreachable


def default_origin() -> str:
    """This worker's name in the store: host, pid and a nonce (a pid can be reused)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


class SharedState:
    """The credential states every worker sees, and the counters they share."""

    def __init__(
        self,
        backend: SharedBackend,
        *,
        origin: str | None = None,
        poll_seconds: float | None = None,
    ) -> None:
        self.backend = backend
        self.origin = origin or default_origin()
        self.poll_seconds = poll_seconds or backend.poll_seconds
        self._views: dict[_Key, dict[str, StateRecord]] = {}  # key -> origin -> record
        self._merged: dict[_Key, StateRecord] = {}
        self._models: dict[str, set[str | None]] = {}  # credential -> keys' models
        self._since = 0
        self._own_seq: dict[_Key, int] = {}  # the sequence number of our last write per key
        self._pending: dict[_Key, StateRecord] = {}
        self._flusher: asyncio.Task[None] | None = None
        self._writing = asyncio.Lock()
        self._poller: asyncio.Task[None] | None = None
        self._listeners: list[Listener] = []
        self._warned_at = -_WARN_SECONDS
        self.polled_at = 0.0  # time.time() of the last successful poll

    # -- lifecycle -------------------------------------------------------------------

    async def start(self) -> None:
        """Open the store, load what the other workers know, start polling.

        A store that cannot be opened (database down) does not stop the router: the
        worker goes on with its own view, counters raise ``SharedStateError`` and
        opening is retried in the background."""
        try:
            await self.backend.open()
        except SharedStateError as exc:
            log.error("shared state unavailable; retrying in the background", error=str(exc))
            self._poller = spawn(self._open_later(), name="shared-state-open")
            return
        if self.backend.shared:
            await self.poll()
            self._poller = spawn(self._poll_forever(), name="shared-state-poll")

    async def close(self) -> None:
        """Stop polling, write what is still pending (best effort), close the store."""
        await stop(self._poller)
        self._poller = None
        with contextlib.suppress(SharedStateError):
            await self.flush()
        await self.backend.close()

    # -- credential states -----------------------------------------------------------

    def listen(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener`` for every key whose merged view another worker changed, and
        for clears (this worker's too). Returns the call that stops it."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def record(self, credential_id: str, model: str | None = None) -> StateRecord | None:
        """Every worker's view of a credential (model None) or one of its models, merged."""
        return self._merged.get((credential_id, model))

    def records(self, credential_id: str) -> dict[str | None, StateRecord]:
        """The merged views of a credential, by model (None: the credential-wide one)."""
        out: dict[str | None, StateRecord] = {}
        for model in self._models.get(credential_id, ()):
            rec = self._merged.get((credential_id, model))
            if rec is not None:
                out[model] = rec
        return out

    def publish(self, credential_id: str, model: str | None, record: StateRecord) -> StateRecord:
        """Make ``record`` this worker's view of the key; the other workers get it
        within a second. Never blocks: the write happens in the background."""
        if not record.origin or not record.updated_at:
            record = replace(
                record,
                origin=record.origin or self.origin,
                updated_at=record.updated_at or time.time(),
            )
        key = (credential_id, model)
        self._apply(key, self.origin, record)
        if self.backend.shared:
            self._pending[key] = record
            if self._flusher is None or self._flusher.done():
                self._flusher = spawn(self._flush_quietly(), name="shared-state-flush")
        return record

    async def flush(self) -> None:
        """Write every pending record now (tests, shutdown)."""
        if self._flusher is not None and not self._flusher.done():
            await asyncio.shield(self._flusher)
        await self._write_pending()

    async def _write_pending(self) -> None:
        async with self._writing:  # one writer: a key's versions reach the store in order
            while self._pending:
                key, record = next(iter(self._pending.items()))
                self._own_seq[key] = await self.backend.publish(key[0], key[1], record)
                if self._pending.get(key) is record:  # not replaced meanwhile
                    del self._pending[key]

    async def clear(self, credential_id: str) -> None:
        """Forget every rest, breaker and headroom of a credential, in every worker
        (the management reset). Raises ``SharedStateError`` if the store is down."""
        for key in [k for k in self._pending if k[0] == credential_id]:
            del self._pending[key]
        seq: float = math.inf
        if self.backend.shared:
            async with self._writing:  # after a write in flight, not before it
                seq = await self.backend.clear(credential_id, self.origin)
        for model in list(self._models.get(credential_id, ())):
            self._drop((credential_id, model), None, seq)
        number = 0 if seq == math.inf else int(seq)
        left = self._merged.get((credential_id, None))
        self._notify(StateChange(credential_id, None, left, self.origin, number, cleared=True))

    async def poll(self) -> int:
        """Apply what the other workers wrote since the last poll; returns how many rows."""
        seen = 0
        while True:
            rows = await self.backend.changes(self._since)
            for row in rows:
                self._since = max(self._since, row.seq)
                self._receive(row)
            seen += len(rows)
            if len(rows) < PAGE:
                break
        self.polled_at = time.time()
        return seen

    # -- window counters (see SharedBackend) -------------------------------------------

    async def hit(
        self,
        key: str,
        window_seconds: float,
        limit: float,
        cost: float = 1.0,
        *,
        aligned: bool = False,
    ) -> Hit:
        return await self.backend.hit(key, window_seconds, limit, cost, aligned=aligned)

    async def add(
        self, key: str, window_seconds: float, amount: float, *, aligned: bool = False
    ) -> Count:
        return await self.backend.add(key, window_seconds, amount, aligned=aligned)

    async def peek(self, key: str, window_seconds: float, *, aligned: bool = False) -> Count:
        return await self.backend.peek(key, window_seconds, aligned=aligned)

    # -- inside ------------------------------------------------------------------------

    def _receive(self, row: Row) -> None:
        key = (row.credential_id, row.model)
        if row.record is None:  # a tombstone: the store's rows of before it are cleared
            clear = row.model is None
            models = list(self._models.get(row.credential_id, ())) if clear else [row.model]
            for model in models:
                gone = (row.credential_id, model)
                if self._drop(gone, None if clear else row.origin, row.seq):
                    change = StateChange(*gone, self._merged.get(gone), row.origin, row.seq)
                    self._notify(change)
            if clear and row.origin != self.origin:
                left = self._merged.get((row.credential_id, None))
                self._notify(
                    StateChange(row.credential_id, None, left, row.origin, row.seq, cleared=True)
                )
            return
        if row.origin == self.origin:
            return  # our own write coming back: the view already has it, or newer
        if self._apply(key, row.origin, row.record):
            self._notify(StateChange(*key, self._merged.get(key), row.origin, row.seq))

    def _drop(self, key: _Key, origin: str | None, seq: float) -> bool:
        """Remove the records of ``key`` (of one origin, or all) written before ``seq``.
        Only this worker's own records can be newer: the others' came from rows already
        applied in order; its own may be pending or written after the tombstone."""
        changed = False
        for owner in list(self._views.get(key, {})) if origin is None else [origin]:
            if owner == self.origin and (key in self._pending or self._own_seq.get(key, 0) > seq):
                continue
            changed = self._apply(key, owner, None) or changed
        return changed

    def _apply(self, key: _Key, origin: str, record: StateRecord | None) -> bool:
        """Set one worker's record of a key; True if the merged view changed."""
        views = self._views.setdefault(key, {})
        if record is None:
            if views.pop(origin, None) is None:
                return False
        else:
            views[origin] = record
        merged = merge_records(views.values())
        before = self._merged.get(key)
        if merged is None:
            self._merged.pop(key, None)
            self._views.pop(key, None)
            models = self._models.get(key[0])
            if models is not None:
                models.discard(key[1])
                if not models:
                    del self._models[key[0]]
        else:
            self._merged[key] = merged
            self._models.setdefault(key[0], set()).add(key[1])
        return merged != before

    def _notify(self, change: StateChange) -> None:
        for listener in list(self._listeners):
            try:
                listener(change)
            except Exception as exc:  # one listener's bug must not stop the others
                log.error("shared state listener failed", error=repr(exc)[:200])

    async def _flush_quietly(self) -> None:
        try:
            await self._write_pending()
        except SharedStateError as exc:
            self._warn("could not publish a credential state", exc)  # the poll loop retries

    async def _open_later(self) -> None:
        wait = 1.0
        while True:
            await asyncio.sleep(wait)
            try:
                await self.backend.open()
                break
            except SharedStateError as exc:
                self._warn("shared state still unavailable", exc)
                wait = min(wait * 2, _OPEN_RETRY_MAX_SECONDS)
        log.info("shared state opened", backend=self.backend.name)
        if self.backend.shared:
            await self._poll_forever()

    async def _poll_forever(self) -> None:
        purge_at = time.monotonic() + PURGE_SECONDS
        while True:
            await asyncio.sleep(self.poll_seconds)
            try:
                if self._pending and (self._flusher is None or self._flusher.done()):
                    await self.flush()
                await self.poll()
                if time.monotonic() >= purge_at:
                    purge_at = time.monotonic() + PURGE_SECONDS
                    await self.backend.purge(time.time())
            except SharedStateError as exc:
                self._warn("shared state unreachable", exc)

    def _warn(self, event: str, exc: Exception) -> None:
        now = time.monotonic()
        if now - self._warned_at >= _WARN_SECONDS:
            self._warned_at = now
            log.warning(event, backend=self.backend.name, error=str(exc)[:300])
