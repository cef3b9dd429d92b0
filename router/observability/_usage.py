"""Usage records: queued in memory on the hot path, written in batches off it.

``add`` appends a tuple to a list; a background task writes what piled up
every ``interval`` seconds (sooner when a batch is full) in one transaction.
A clean stop writes everything left. If the store cannot take it then (the
database is down), the records go to a spool file in the data dir, which
the next start writes first, so a clean stop never loses a record. While the
store is unreachable, at most ``limit`` records wait in memory; older ones
beyond that are dropped and counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Callable
from pathlib import Path

import orjson

from suite.logging import get_logger
from suite.tasks import spawn, stop

from ._usage_sql import UsageQuery, UsageRecord, UsageRow
from ._usage_store import Row, UsageStore, UsageStoreError

__all__ = ["UsageRecorder"]

log = get_logger("router.usage")

_PRUNE_EVERY = 3600.0
_BACKOFF_MAX = 30.0
_SPOOL = "usage-spool-"


class UsageRecorder:
    def __init__(
        self,
        store: UsageStore,
        spool_dir: Path,
        retention_days: int,
        *,
        interval: float = 1.0,
        batch: int = 1000,
        limit: int = 200_000,
        on_flush: Callable[[int, int, int], None] | None = None,
    ) -> None:
        self.store = store
        self.spool_dir = spool_dir
        self.retention = retention_days * 86400.0
        self.interval = interval
        self.batch = batch
        self.limit = limit
        self.on_flush = on_flush  # (written, dropped, still pending)
        self._pending: list[UsageRow] = []
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._opened = False
        self._failing = False

    # -- hot path ---------------------------------------------------------------

    def add(self, record: UsageRow) -> None:
        pending = self._pending
        pending.append(record)
        if len(pending) == self.batch:
            self._wake.set()

    @property
    def pending(self) -> int:
        return len(self._pending)

    # -- lifecycle --------------------------------------------------------------

    async def start(self) -> None:
        """Start the writer. The store opens with the first record (a router that serves
        nothing creates no file), or now when a spool file waits to be written."""
        if self._spools():
            await self._open()
            if self._opened:
                await self._replay_spools()
        self._task = spawn(self._run(), name="usage-writer")

    async def close(self) -> None:
        """Stop the writer, write every record left (or spool it), close the store."""
        await stop(self._task)
        self._task = None
        if not await self.flush() and not await self.flush():  # one retry, then the spool
            self._spool()
        await self.store.close()
        self._opened = False

    async def _open(self) -> None:
        if self._opened:
            return
        try:
            await self.store.open()
        except UsageStoreError as exc:
            if not self._failing:
                log.error("usage store unavailable; records wait in memory", error=str(exc))
            self._failing = True
            return
        self._opened = True

    async def _run(self) -> None:
        failures = 0
        next_prune = 0.0  # the first time the store is open
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.interval)
            self._wake.clear()
            if await self.flush():
                failures = 0
                if self._opened and time.monotonic() >= next_prune:
                    next_prune = time.monotonic() + _PRUNE_EVERY
                    await self._prune()
            else:
                failures += 1
                await asyncio.sleep(min(_BACKOFF_MAX, 0.5 * 2**failures))

    # -- writing ----------------------------------------------------------------

    async def flush(self) -> bool:
        """Write every queued record; False when the store refused (they stay queued)."""
        async with self._lock:
            written = 0
            ok = True
            if self._pending:
                await self._open()
            while self._pending and self._opened:
                batch = self._pending[: self.batch]
                try:
                    await self.store.write(batch)
                except UsageStoreError as exc:
                    if not self._failing:
                        log.error("usage records not written; will retry", error=str(exc))
                    self._failing = True
                    ok = False
                    break
                del self._pending[: len(batch)]  # newer ones were appended behind them
                written += len(batch)
            ok = ok and (self._opened or not self._pending)
            if ok and self._failing:
                log.info("usage store reachable again", written=written)
                self._failing = False
            dropped = self._trim()
            if self.on_flush is not None:
                self.on_flush(written, dropped, len(self._pending))
            return ok

    def _trim(self) -> int:
        excess = len(self._pending) - self.limit
        if excess <= 0:
            return 0
        del self._pending[:excess]
        log.warning("usage records dropped: the store stays unreachable", dropped=excess)
        return excess

    async def _prune(self) -> None:
        try:
            gone = await self.store.prune(time.time() - self.retention)
        except UsageStoreError as exc:
            log.warning("usage retention not applied", error=str(exc))
            return
        if gone:
            log.info("usage records past retention deleted", deleted=gone)

    # -- spool files (a stop while the store is down) -----------------------------

    def _spool(self) -> None:
        if not self._pending:
            return
        path = self.spool_dir / f"{_SPOOL}{os.getpid()}-{time.time_ns()}.jsonl"
        try:
            self.spool_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            with open(path, "wb") as fh:
                for rec in self._pending:
                    fh.write(orjson.dumps(list(rec), option=orjson.OPT_APPEND_NEWLINE))
        except OSError as exc:
            log.error(
                "usage records lost: cannot write the spool file", path=str(path), error=str(exc)
            )
            return
        log.warning(
            "usage store unavailable at stop: records spooled",
            path=str(path),
            records=len(self._pending),
        )
        self._pending.clear()

    def _spools(self) -> list[Path]:
        try:
            return sorted(self.spool_dir.glob(f"{_SPOOL}*.jsonl"))
        except OSError:
            return []

    async def _replay_spools(self) -> None:
        for path in self._spools():
            claimed = path.with_name(f".{path.name}.{os.getpid()}")
            try:
                path.rename(claimed)  # another router starting at once takes another file
                rows = [
                    UsageRecord(*orjson.loads(line))[:]
                    for line in claimed.read_bytes().splitlines()
                    if line
                ]
            except (OSError, orjson.JSONDecodeError, TypeError) as exc:
                log.warning("usage spool file skipped", path=str(path), error=str(exc))
                continue
            try:
                await self.store.write(rows)  # one transaction: a retry cannot duplicate
            except UsageStoreError:
                claimed.rename(path)
                return
            claimed.unlink(missing_ok=True)
            log.info("usage spool written", path=str(path), records=len(rows))

    # -- reading ----------------------------------------------------------------

    async def totals(self, query: UsageQuery) -> list[Row]:
        """Totals over what is stored, after writing what is queued (so they include it)."""
        await self.flush()
        await self._open()
        rows = await self.store.totals(query)
        return [
            {k: (0 if v is None and k != "latency_ms_avg" else v) for k, v in r.items()}
            for r in rows
        ]

    async def errors(self, limit: int) -> list[Row]:
        await self.flush()
        await self._open()
        return await self.store.errors(limit)
