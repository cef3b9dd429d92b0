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

from suite.postgres import ERRORS, Pool, why

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


def _lock_key(name: str) -> int:
    digest = hashlib.sha256(b"cliproxy-credential:" + name.encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class PostgresStore:
    def __init__(self, dsn: str) -> None:
        self._db = Pool(
            dsn,
            "the credential store",
            StoreError,
            max_size=10,
            command_timeout=30,
            schema_lock=_SCHEMA_LOCK,
            schema=(_SCHEMA,),
        )

    def describe(self, name: str) -> str:
        return f"postgres table {TABLE}, row {name!r}"

    async def open(self) -> None:
        await self._db.open()

    async def close(self) -> None:
        await self._db.close()

    async def versions(self) -> Mapping[str, str]:
        try:
            rows = await self._db.get().fetch(f"SELECT name, version FROM {TABLE}")
        except ERRORS as exc:
            raise StoreError(f"postgres: cannot list credentials ({why(exc)})") from None
        return {str(r["name"]): str(r["version"]) for r in rows}

    async def get(self, name: str) -> AuthRecord | None:
        check_name(name)
        try:
            row = await self._db.get().fetchrow(
                f"SELECT data::text AS data, version FROM {TABLE} WHERE name = $1", name
            )
        except ERRORS as exc:
            raise StoreError(f"postgres: cannot read {name!r} ({why(exc)})") from None
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
                version: Any = await self._db.get().fetchval(
                    f"INSERT INTO {TABLE} (name, type, data) VALUES ($1, $2, $3::jsonb) "
                    f"ON CONFLICT (name) DO UPDATE SET type = EXCLUDED.type, data = EXCLUDED.data, "
                    f"version = {TABLE}.version + 1, updated_at = now() RETURNING version",
                    record.name,
                    record.type,
                    data,
                )
            else:
                version = await self._db.get().fetchval(
                    f"UPDATE {TABLE} SET data = $2::jsonb, version = version + 1, updated_at = now() "
                    f"WHERE name = $1 AND version = $3 RETURNING version",
                    record.name,
                    data,
                    int(expect or 0),
                )
        except ERRORS as exc:
            raise StoreError(f"postgres: cannot write {record.name!r} ({why(exc)})") from None
        if version is None:
            raise Conflict(f"{self.describe(record.name)} changed since it was read")
        return AuthRecord(record.name, record.type, record.data, str(version))

    async def delete(self, name: str) -> bool:
        check_name(name)
        try:
            status = await self._db.get().execute(f"DELETE FROM {TABLE} WHERE name = $1", name)
        except ERRORS as exc:
            raise StoreError(f"postgres: cannot delete {name!r} ({why(exc)})") from None
        return str(status).endswith(" 1")

    @contextlib.asynccontextmanager
    async def lock(self, name: str) -> AsyncIterator[None]:
        key = _lock_key(check_name(name))
        try:
            conn = await self._db.get().acquire(timeout=_CONNECT_SECONDS)
        except ERRORS as exc:
            raise StoreError(f"postgres: cannot lock {name!r} ({why(exc)})") from None
        try:
            await self._take(conn, key, name)
            try:
                yield
            finally:
                with contextlib.suppress(*ERRORS):
                    await conn.execute("SELECT pg_advisory_unlock($1)", key)
        finally:
            with contextlib.suppress(*ERRORS):
                await self._db.get().release(conn)

    @staticmethod
    async def _take(conn: Any, key: int, name: str) -> None:
        deadline = time.monotonic() + _LOCK_WAIT_SECONDS
        try:
            while not await conn.fetchval("SELECT pg_try_advisory_lock($1)", key):
                if time.monotonic() > deadline:
                    raise StoreError(f"postgres: {name!r} stayed locked by another router")
                await asyncio.sleep(0.02)
        except ERRORS as exc:
            raise StoreError(f"postgres: lock on {name!r} failed ({why(exc)})") from None
