"""The PostgreSQL store of client keys: table ``cliproxy_client_keys`` in ``auth.dsn``.

One row per key (its stored form as JSON, with the name and the hash as unique
columns). Every write takes the next number of the sequence
``cliproxy_client_keys_seq`` as the row's version, so ``version()`` (the row
count and the largest version, one small query) changes with every write in
any router. A change is made in a transaction holding the row (``FOR UPDATE``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncpg
import orjson

from suite.logging import get_logger
from suite.postgres import ERRORS, Pool, why

from ._errors import Change, KeyExists, KeyStoreError
from ._key import ClientKey

__all__ = ["TABLE", "PostgresKeyStore"]

log = get_logger("router.keys")
TABLE = "cliproxy_client_keys"
_SEQ = f"{TABLE}_seq"
_SCHEMA = (
    f"CREATE SEQUENCE IF NOT EXISTS {_SEQ}",
    f"""CREATE TABLE IF NOT EXISTS {TABLE} (
        id         text PRIMARY KEY,
        name       text NOT NULL UNIQUE,
        sha256     text NOT NULL UNIQUE,
        data       jsonb NOT NULL,
        version    bigint NOT NULL,
        updated_at timestamptz NOT NULL DEFAULT now()
    )""",
)
_SCHEMA_LOCK = 0x636B6579  # serialises CREATE of routers starting together


class PostgresKeyStore:
    def __init__(self, dsn: str) -> None:
        self._db = Pool(
            dsn,
            "the client key store",
            KeyStoreError,
            max_size=2,
            command_timeout=30,
            schema_lock=_SCHEMA_LOCK,
            schema=_SCHEMA,
        )

    def describe(self) -> str:
        return f"postgres table {TABLE}"

    async def open(self) -> None:
        await self._db.open()

    async def close(self) -> None:
        await self._db.close()

    async def version(self) -> str:
        try:
            row = await self._db.get().fetchrow(
                f"SELECT count(*) AS n, coalesce(max(version), 0) AS v FROM {TABLE}"
            )
        except ERRORS as exc:
            raise KeyStoreError(f"postgres: cannot read {TABLE} ({why(exc)})") from None
        return f"{row['n']}-{row['v']}"

    async def load(self) -> Sequence[ClientKey]:
        try:
            rows = await self._db.get().fetch(
                f"SELECT id, data::text AS data FROM {TABLE} ORDER BY id"
            )
        except ERRORS as exc:
            raise KeyStoreError(f"postgres: cannot read {TABLE} ({why(exc)})") from None
        out: list[ClientKey] = []
        for row in rows:
            try:
                doc = orjson.loads(row["data"])
                if not isinstance(doc, dict):
                    raise ValueError("not an object")
                out.append(ClientKey.from_json(doc))
            except ValueError as exc:
                log.error("client key skipped", table=TABLE, id=row["id"], error=str(exc))
        return out

    async def create(self, key: ClientKey) -> None:
        try:
            await self._db.get().execute(
                f"INSERT INTO {TABLE} (id, name, sha256, data, version) "
                f"VALUES ($1, $2, $3, $4::jsonb, nextval('{_SEQ}'))",
                key.id,
                key.name,
                key.digest,
                orjson.dumps(key.to_json()).decode(),
            )
        except asyncpg.UniqueViolationError:
            raise KeyExists(f"a key named {key.name!r} exists already") from None
        except ERRORS as exc:
            raise KeyStoreError(f"postgres: cannot add a key ({why(exc)})") from None

    async def update(self, ref: str, change: Change) -> ClientKey | None:
        try:
            async with self._db.get().acquire() as conn, conn.transaction():
                row = await _row(conn, "id", ref) or await _row(conn, "name", ref)
                if row is None:
                    return None
                try:
                    key = ClientKey.from_json(orjson.loads(row["data"]))
                except ValueError as exc:
                    raise KeyStoreError(f"{TABLE} row {row['id']!r}: unreadable ({exc})") from None
                new = change(key)
                await conn.execute(
                    f"UPDATE {TABLE} SET name = $2, data = $3::jsonb,"
                    f" version = nextval('{_SEQ}'), updated_at = now() WHERE id = $1",
                    key.id,
                    new.name,
                    orjson.dumps(new.to_json()).decode(),
                )
                return new
        except asyncpg.UniqueViolationError:
            raise KeyExists("a key with this name exists already") from None
        except ERRORS as exc:
            raise KeyStoreError(f"postgres: cannot change a key ({why(exc)})") from None


async def _row(conn: Any, column: str, value: str) -> Any:
    return await conn.fetchrow(
        f"SELECT id, data::text AS data FROM {TABLE} WHERE {column} = $1 FOR UPDATE", value
    )
