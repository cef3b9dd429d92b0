"""Where usage records are kept: SQLite in the data dir, or PostgreSQL (``auth.store``).

SQLite runs on one dedicated thread (its connection belongs to that thread),
so the event loop never waits on a disk write; WAL mode lets several router
processes write the same file. PostgreSQL uses a small asyncpg pool on the
credential store's DSN.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from itertools import chain
from pathlib import Path
from typing import Any, Protocol, TypeVar

import asyncpg

from suite.config import Config
from suite.postgres import ERRORS, Pool, why

from ._usage_sql import (
    Dialect,
    UsageQuery,
    UsageRow,
    cutoff_sql,
    errors_sql,
    insert_sql,
    schema_sql,
    totals_sql,
)

__all__ = ["PostgresUsageStore", "SQLiteUsageStore", "UsageStore", "UsageStoreError", "open_usage"]

T = TypeVar("T")
_ROWS_PER_STATEMENT = 200  # x 17 columns: well under SQLite's 32766 parameters
Row = dict[str, object]
_SCHEMA_LOCK = 0x75736167  # serialises CREATE of routers starting together


class UsageStoreError(Exception):
    """The usage store cannot be reached or written (records stay queued)."""


class UsageStore(Protocol):
    """``write`` is atomic: all of the rows or none."""

    def describe(self) -> str: ...

    async def open(self) -> None: ...

    async def write(self, rows: Sequence[UsageRow]) -> None: ...

    async def prune(self, before: float) -> int: ...

    async def totals(self, query: UsageQuery) -> list[Row]: ...

    async def errors(self, limit: int) -> list[Row]: ...

    async def close(self) -> None: ...


def open_usage(config: Config) -> UsageStore:
    """The store ``config`` asks for (no I/O until ``open``)."""
    if config.auth.store == "postgres":
        return PostgresUsageStore(config.auth.dsn)
    return SQLiteUsageStore(config.usage.path)


class SQLiteUsageStore:
    dialect: Dialect = "sqlite"

    def __init__(self, path: Path) -> None:
        self.path = path
        self._pool: ThreadPoolExecutor | None = None
        self._db: sqlite3.Connection | None = None

    def describe(self) -> str:
        return f"sqlite {self.path}"

    async def _run(self, fn: Callable[[], T]) -> T:
        if self._pool is None:
            raise UsageStoreError("the usage store is not open")
        try:
            return await asyncio.get_running_loop().run_in_executor(self._pool, fn)
        except sqlite3.Error as exc:
            raise UsageStoreError(f"sqlite {self.path}: {exc}") from None
        except OSError as exc:
            raise UsageStoreError(f"sqlite {self.path}: {exc.strerror or exc}") from None

    async def open(self) -> None:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="usage-sqlite")
        await self._run(self._connect)

    def _connect(self) -> None:
        if self._db is not None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        db = sqlite3.connect(self.path, timeout=10.0, isolation_level=None)
        try:
            self.path.chmod(0o600)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            for stmt in schema_sql("sqlite"):
                db.execute(stmt)
        except BaseException:
            db.close()
            raise
        self._db = db

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            self._connect()
        assert self._db is not None
        return self._db

    async def write(self, rows: Sequence[UsageRow]) -> None:
        """One transaction. Rows go in 200 to a statement: ``executemany`` releases and
        takes back the GIL around every row, and that ping-pong with the event loop's
        thread cost more than the insert itself."""
        one, many = insert_sql("sqlite"), insert_sql("sqlite", _ROWS_PER_STATEMENT)

        def work() -> None:
            db = self._conn()
            db.execute("BEGIN IMMEDIATE")
            try:
                full = len(rows) - len(rows) % _ROWS_PER_STATEMENT
                for i in range(0, full, _ROWS_PER_STATEMENT):
                    db.execute(many, list(chain.from_iterable(rows[i : i + _ROWS_PER_STATEMENT])))
                db.executemany(one, rows[full:])
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

        await self._run(work)

    async def prune(self, before: float) -> int:
        return await self._run(
            lambda: self._conn().execute(cutoff_sql("sqlite"), (before,)).rowcount
        )

    async def totals(self, query: UsageQuery) -> list[Row]:
        sql, params = totals_sql("sqlite", query)

        def work() -> list[Row]:
            cur = self._conn().execute(sql, params)
            names = [d[0] for d in cur.description]
            return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

        return await self._run(work)

    async def errors(self, limit: int) -> list[Row]:
        sql, names = errors_sql("sqlite", limit)

        def work() -> list[Row]:
            rows = self._conn().execute(sql).fetchall()
            return [dict(zip(names, row, strict=True)) for row in rows]

        return await self._run(work)

    async def close(self) -> None:
        if self._pool is None:
            return

        def shut() -> None:
            if self._db is not None:
                self._db.close()
                self._db = None

        try:
            await self._run(shut)
        finally:
            self._pool.shutdown(wait=True)
            self._pool = None


class PostgresUsageStore:
    dialect: Dialect = "postgres"

    def __init__(self, dsn: str) -> None:
        self._db = Pool(
            dsn,
            "the usage store",
            UsageStoreError,
            max_size=2,
            command_timeout=30,
            schema_lock=_SCHEMA_LOCK,
            schema=schema_sql("postgres"),
        )

    def describe(self) -> str:
        return "postgres table cliproxy_usage"

    async def open(self) -> None:
        await self._db.open()

    async def _call(self, fn: Callable[[asyncpg.Pool], Any]) -> Any:
        pool = self._db.get()
        try:
            return await fn(pool)
        except ERRORS as exc:
            raise UsageStoreError(f"postgres: {why(exc)}") from None

    async def write(self, rows: Sequence[UsageRow]) -> None:
        """All of ``rows`` or none (one transaction)."""
        sql = insert_sql("postgres")

        async def work(pool: asyncpg.Pool) -> None:
            async with pool.acquire() as conn, conn.transaction():
                await conn.executemany(sql, rows)

        await self._call(work)

    async def prune(self, before: float) -> int:
        status = await self._call(lambda pool: pool.execute(cutoff_sql("postgres"), before))
        try:
            return int(str(status).rsplit(" ", 1)[-1])
        except ValueError:
            return 0

    async def totals(self, query: UsageQuery) -> list[Row]:
        sql, params = totals_sql("postgres", query)
        rows = await self._call(lambda pool: pool.fetch(sql, *params))
        return [{k: _plain(v) for k, v in r.items()} for r in rows]

    async def errors(self, limit: int) -> list[Row]:
        sql, _ = errors_sql("postgres", limit)
        rows = await self._call(lambda pool: pool.fetch(sql))
        return [dict(r.items()) for r in rows]

    async def close(self) -> None:
        await self._db.close()


def _plain(value: object) -> object:
    """asyncpg answers SUM() as Decimal and AVG() as Decimal/float: plain numbers for JSON."""
    if value is None or isinstance(value, (int, float, str)):
        return value
    try:
        number = float(str(value))
    except ValueError:
        return str(value)
    return int(number) if number.is_integer() else number
