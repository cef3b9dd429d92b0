"""The host back-end: several workers of one host share an SQLite file.

The file (``shared-state.sqlite3``, 0600) lives in the run directory the
workers already share. WAL mode lets readers go on while one process writes,
``synchronous=NORMAL`` skips the fsync per commit (a power cut may lose the
last counts, never corrupt the file), and every write is one statement or one
short ``BEGIN IMMEDIATE`` transaction, so writers of several processes queue
on SQLite's lock (``busy_timeout``) instead of failing.

Counters are one ``INSERT … ON CONFLICT DO UPDATE … RETURNING``: the read,
the check against the limit and the increment happen under the write lock,
so two processes can never both take the last unit of a window. sqlite3 calls
block, so they run on one dedicated thread per process, never on the loop.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from ._backend import NO_MODEL, PAGE, Row, SharedBackend, check_window, fresh_window, read_row
from ._records import Count, Hit, SharedStateError, StateRecord

__all__ = ["FILE_NAME", "HostBackend"]

T = TypeVar("T")
FILE_NAME = "shared-state.sqlite3"
_BUSY_MS = 5000
_TOMBSTONE_SECONDS = 600.0
_ROW_SECONDS = 7 * 86400.0  # a record nobody rewrote for a week belongs to no live worker

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS meta (id INTEGER PRIMARY KEY CHECK (id = 1), seq INTEGER NOT NULL)",
    "INSERT OR IGNORE INTO meta (id, seq) VALUES (1, 0)",
    "CREATE TABLE IF NOT EXISTS states (credential TEXT NOT NULL, model TEXT NOT NULL,"
    " origin TEXT NOT NULL, data TEXT, seq INTEGER NOT NULL, written REAL NOT NULL,"
    " PRIMARY KEY (credential, model, origin))",
    "CREATE INDEX IF NOT EXISTS states_seq ON states (seq)",
    "CREATE TABLE IF NOT EXISTS counters (key TEXT NOT NULL, win REAL NOT NULL,"
    " start REAL NOT NULL, until REAL NOT NULL, count REAL NOT NULL, ok INTEGER NOT NULL,"
    " seen REAL NOT NULL, PRIMARY KEY (key, win)) WITHOUT ROWID",
)
# A window that ended (``until <= seen``) starts again with this use; otherwise the
# use counts only if it fits. ``ok`` tells the caller which; SET sees the old row.
HIT_SQL = """
INSERT INTO counters (key, win, start, until, count, ok, seen)
VALUES (:key, :win, :start, :until, :fresh, :fresh_ok, :now)
ON CONFLICT (key, win) DO UPDATE SET
  count = CASE WHEN until <= excluded.seen THEN excluded.count
               WHEN count + :cost <= :lim THEN count + :cost ELSE count END,
  ok = CASE WHEN until <= excluded.seen THEN excluded.ok ELSE count + :cost <= :lim END,
  start = CASE WHEN until <= excluded.seen THEN excluded.start ELSE start END,
  until = CASE WHEN until <= excluded.seen THEN excluded.until ELSE until END,
  seen = excluded.seen
RETURNING count, until, ok
"""
_UPSERT_STATE = (
    "INSERT INTO states (credential, model, origin, data, seq, written) VALUES (?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (credential, model, origin) DO UPDATE SET data = excluded.data,"
    " seq = excluded.seq, written = excluded.written"
)
_NEXT_SEQ = "UPDATE meta SET seq = seq + 1 WHERE id = 1 RETURNING seq"


class HostBackend(SharedBackend):
    name = "host"
    shared = True
    poll_seconds = 0.25

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db: sqlite3.Connection | None = None
        # One thread: sqlite3 blocks, and one connection is used by one thread at a time.
        self._thread: ThreadPoolExecutor | None = None

    def describe(self) -> str:
        return f"SQLite file {self.path}"

    async def open(self) -> None:
        if self._thread is None:
            self._thread = ThreadPoolExecutor(1, thread_name_prefix="shared-state")
        if self._db is None:
            await self._run(self._open)

    def _open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        os.close(os.open(self.path, os.O_CREAT | os.O_RDWR, 0o600))  # 0600 before SQLite
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        try:
            db.execute(f"PRAGMA busy_timeout = {_BUSY_MS}")
            db.execute("PRAGMA journal_mode = WAL")
            db.execute("PRAGMA synchronous = NORMAL")
            with _immediate(db):
                for stmt in _SCHEMA:
                    db.execute(stmt)
        except BaseException:
            db.close()
            raise
        self._db = db

    async def close(self) -> None:
        if self._thread is None:
            return
        thread, self._thread = self._thread, None
        db, self._db = self._db, None
        if db is not None:
            await asyncio.get_running_loop().run_in_executor(thread, db.close)
        thread.shutdown(wait=False)

    async def _run(self, fn: Callable[[], T]) -> T:
        if self._thread is None:
            raise SharedStateError("shared state: the host store is not open")
        try:
            return await asyncio.get_running_loop().run_in_executor(self._thread, fn)
        except (sqlite3.Error, OSError) as exc:
            raise SharedStateError(f"shared state: {self.describe()}: {exc}") from None

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            raise sqlite3.ProgrammingError("not open")
        return self._db

    # -- credential states -----------------------------------------------------------

    async def publish(self, credential_id: str, model: str | None, record: StateRecord) -> int:
        data = record.dumps().decode()

        def write() -> int:
            db = self._conn()
            with _immediate(db):
                seq = int(db.execute(_NEXT_SEQ).fetchone()[0])
                db.execute(
                    _UPSERT_STATE,
                    (credential_id, model or NO_MODEL, record.origin, data, seq, time.time()),
                )
            return seq

        return await self._run(write)

    async def clear(self, credential_id: str, origin: str) -> int:
        def write() -> int:
            db = self._conn()
            now = time.time()
            with _immediate(db):
                rows = db.execute(
                    "SELECT model, origin FROM states WHERE credential = ?", (credential_id,)
                ).fetchall()
                keys = {(str(m), str(o)) for m, o in rows} - {(NO_MODEL, origin)}
                seq = 0
                for model, owner in [*sorted(keys), (NO_MODEL, origin)]:
                    seq = int(db.execute(_NEXT_SEQ).fetchone()[0])
                    db.execute(_UPSERT_STATE, (credential_id, model, owner, None, seq, now))
            return seq

        return await self._run(write)

    async def changes(self, since: int) -> Sequence[Row]:
        def read() -> list[Row]:
            rows = self._conn().execute(
                "SELECT seq, credential, model, origin, data FROM states"
                " WHERE seq > ? ORDER BY seq LIMIT ?",
                (since, PAGE),
            )
            return [row for r in rows if (row := read_row(*r)) is not None]

        return await self._run(read)

    async def last_seq(self) -> int:
        return await self._run(
            lambda: int(self._conn().execute("SELECT seq FROM meta WHERE id = 1").fetchone()[0])
        )

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

        def write() -> Hit:
            now = time.time()
            start, until = fresh_window(now, window_seconds, aligned)
            fits = cost <= limit
            params = {
                "key": key,
                "win": window_seconds,
                "start": start,
                "until": until,
                "fresh": cost if fits else 0.0,
                "fresh_ok": fits,
                "now": now,
                "cost": cost,
                "lim": limit,
            }
            count, ends, ok = self._conn().execute(HIT_SQL, params).fetchone()
            if ok:
                return Hit(True, float(count), 0.0, float(ends))
            return Hit(False, float(count), max(0.0, float(ends) - now), float(ends))

        return await self._run(write)

    async def peek(self, key: str, window_seconds: float, *, aligned: bool = False) -> Count:
        check_window(window_seconds, 0.0)

        def read() -> Count:
            now = time.time()
            row = (
                self._conn()
                .execute(
                    "SELECT count, until FROM counters WHERE key = ? AND win = ?",
                    (key, window_seconds),
                )
                .fetchone()
            )
            if row is None or float(row[1]) <= now:
                return Count(0.0, fresh_window(now, window_seconds, aligned)[1])
            return Count(float(row[0]), float(row[1]))

        return await self._run(read)

    async def purge(self, now: float) -> None:
        def write() -> None:
            db = self._conn()
            db.execute("DELETE FROM counters WHERE until <= ?", (now,))
            db.execute(
                "DELETE FROM states WHERE (data IS NULL AND written < ?) OR written < ?",
                (now - _TOMBSTONE_SECONDS, now - _ROW_SECONDS),
            )

        await self._run(write)


class _immediate:
    """``BEGIN IMMEDIATE`` … ``COMMIT`` (``ROLLBACK`` on error): takes the write lock
    first, so a transaction never has to upgrade a read lock and deadlock."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind: object, *_: object) -> None:
        self.db.execute("ROLLBACK" if kind is not None else "COMMIT")
