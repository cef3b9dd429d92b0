"""The PostgreSQL store: credentials shared by several routers.

One table, created on start. ``version`` grows on every write and a write
names the version it read (optimistic update). ``lock(name)`` is a
session-level advisory lock held on one pooled connection, so a refresh is
done by one router while the others wait and then re-read its result.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

import asyncpg

from ._record import AuthRecord, check_name
from ._store import Conflict, StoreError

__all__ = ["PostgresStore"]

TABLE = "cliproxy_credentials"
_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    name       text PRIMARY KEY,
    type       text NOT NULL,
    data       jsonb NOT NULL,
    version    bigint NOT NULL DEFAULT 1,
    updated_at timestamptz NOT NULL DEFAULT now()
)
"""
_SCHEMA_LOCK = 0x636C6970  # serialises CREATE TABLE of routers starting together
_LOCK_WAIT_SECONDS = 30.0
_CONNECT_SECONDS = 10.0
_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, asyncio.TimeoutError)


def _lock_key(name: str) -> int:
    digest = hashlib.sha256(b"cliproxy-credential:" + name.encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class PostgresStore:
    def __init__(self, dsn: str) -> None:
        self._dsn = dsn
        self._pool: asyncpg.Pool | None = None

    def describe(self, name: str) -> str:
        return f"postgres table {TABLE}, row {name!r}"

    async def open(self) -> None:
        if self._pool is not None:
            return
        try:
            pool = await asyncpg.create_pool(
                self._dsn, min_size=1, max_size=10, timeout=_CONNECT_SECONDS, command_timeout=30
            )
            async with pool.acquire() as conn, conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock($1)", _SCHEMA_LOCK)
                await conn.execute(_SCHEMA)
        except _ERRORS as exc:
            raise StoreError(f"postgres: cannot open the credential store ({_why(exc)})") from None
        self._pool = pool

    async def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()

    def _p(self) -> asyncpg.Pool:
        if self._pool is None:
            raise StoreError("postgres: the credential store is not open")
        return self._pool

    async def versions(self) -> Mapping[str, str]:
        try:
            rows = await self._p().fetch(f"SELECT name, version FROM {TABLE}")
        except _ERRORS as exc:
            raise StoreError(f"postgres: cannot list credentials ({_why(exc)})") from None
        return {str(r["name"]): str(r["version"]) for r in rows}

    async def get(self, name: str) -> AuthRecord | None:
        check_name(name)
        try:
            row = await self._p().fetchrow(
                f"SELECT data::text AS data, version FROM {TABLE} WHERE name = $1", name
            )
        except _ERRORS as exc:
            raise StoreError(f"postgres: cannot read {name!r} ({_why(exc)})") from None
        if row is None:
            return None
        try:
            return AuthRecord.from_json(name, row["data"].encode(), str(row["version"]))
        except ValueError as exc:
            raise StoreError(f"{self.describe(name)}: not a valid credential ({exc})") from None

    async def put(self, record: AuthRecord, expect: str | None) -> AuthRecord:
        check_name(record.name)
        data = record.to_json().decode()
        try:
            if expect is None:
                version: Any = await self._p().fetchval(
                    f"INSERT INTO {TABLE} (name, type, data) VALUES ($1, $2, $3::jsonb) "
                    f"ON CONFLICT (name) DO UPDATE SET type = EXCLUDED.type, data = EXCLUDED.data, "
                    f"version = {TABLE}.version + 1, updated_at = now() RETURNING version",
                    record.name,
                    record.type,
                    data,
                )
            else:
                version = await self._p().fetchval(
                    f"UPDATE {TABLE} SET data = $2::jsonb, version = version + 1, updated_at = now() "
                    f"WHERE name = $1 AND version = $3 RETURNING version",
                    record.name,
                    data,
                    int(expect or 0),
                )
        except _ERRORS as exc:
            raise StoreError(f"postgres: cannot write {record.name!r} ({_why(exc)})") from None
        if version is None:
            raise Conflict(f"{self.describe(record.name)} changed since it was read")
        return AuthRecord(record.name, record.type, record.data, str(version))

    async def delete(self, name: str) -> bool:
        check_name(name)
        try:
            status = await self._p().execute(f"DELETE FROM {TABLE} WHERE name = $1", name)
        except _ERRORS as exc:
            raise StoreError(f"postgres: cannot delete {name!r} ({_why(exc)})") from None
        return str(status).endswith(" 1")

    @contextlib.asynccontextmanager
    async def lock(self, name: str) -> AsyncIterator[None]:
        key = _lock_key(check_name(name))
        try:
            conn = await self._p().acquire(timeout=_CONNECT_SECONDS)
        except _ERRORS as exc:
            raise StoreError(f"postgres: cannot lock {name!r} ({_why(exc)})") from None
        try:
            await self._take(conn, key, name)
            try:
                yield
            finally:
                with contextlib.suppress(*_ERRORS):
                    await conn.execute("SELECT pg_advisory_unlock($1)", key)
        finally:
            with contextlib.suppress(*_ERRORS):
                await self._p().release(conn)

    @staticmethod
    async def _take(conn: Any, key: int, name: str) -> None:
        deadline = time.monotonic() + _LOCK_WAIT_SECONDS
        try:
            while not await conn.fetchval("SELECT pg_try_advisory_lock($1)", key):
                if time.monotonic() > deadline:
                    raise StoreError(f"postgres: {name!r} stayed locked by another router")
                await asyncio.sleep(0.02)
        except _ERRORS as exc:
            raise StoreError(f"postgres: lock on {name!r} failed ({_why(exc)})") from None


def _why(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:200]
