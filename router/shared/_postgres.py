"""The postgres back-end: router instances sharing the credential store's database.

Two tables (created if missing, under an advisory lock so that routers
starting together do not race) and one sequence. A state write takes a
transaction-scoped advisory lock before it draws its sequence number, so
numbers commit in the order they are drawn: a poller that has seen number N
has seen everything below it (without the lock, a slower transaction could
commit a smaller number after the poller moved past it).

Counters are one ``INSERT … ON CONFLICT DO UPDATE … RETURNING`` that reads
the time from the database (``clock_timestamp()``), so the routers' windows
agree even if their clocks do not.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from suite.postgres import ERRORS, Pool, why

from ._backend import NO_MODEL, PAGE, Row, SharedBackend, check_window, read_row
from ._records import Count, Hit, SharedStateError, StateRecord

__all__ = ["PostgresBackend"]

STATES = "cliproxy_shared_states"
COUNTERS = "cliproxy_shared_counters"
SEQUENCE = "cliproxy_shared_seq"
_SCHEMA_LOCK = 0x73686172  # creating the tables
_WRITE_LOCK = 0x73746174  # state writes: numbers commit in order
_TOMBSTONE_SECONDS = 600.0
_ROW_SECONDS = 7 * 86400.0

_SCHEMA = (
    f"CREATE SEQUENCE IF NOT EXISTS {SEQUENCE}",
    f"CREATE TABLE IF NOT EXISTS {STATES} (credential text NOT NULL, model text NOT NULL,"
    " origin text NOT NULL, data text, seq bigint NOT NULL,"
    " written double precision NOT NULL, PRIMARY KEY (credential, model, origin))",
    f"CREATE INDEX IF NOT EXISTS {STATES}_seq ON {STATES} (seq)",
    f"CREATE TABLE IF NOT EXISTS {COUNTERS} (key text NOT NULL, win double precision NOT NULL,"
    " start double precision NOT NULL, until double precision NOT NULL,"
    " count double precision NOT NULL, ok boolean NOT NULL, seen double precision NOT NULL,"
    " PRIMARY KEY (key, win))",
)
_NOW = "extract(epoch FROM clock_timestamp())::float8"
# $1 key, $2 window, $3 limit, $4 cost, $5 aligned. See _sqlite.HIT_SQL for the logic.
HIT_SQL = f"""
WITH c AS (SELECT {_NOW} AS now),
w AS (SELECT now, CASE WHEN $5::bool THEN floor(now / $2::float8) * $2::float8 ELSE now END
      AS start FROM c)
INSERT INTO {COUNTERS} AS t (key, win, start, until, count, ok, seen)
SELECT $1, $2::float8, w.start, w.start + $2::float8,
       CASE WHEN $4::float8 <= $3::float8 THEN $4::float8 ELSE 0 END, $4::float8 <= $3::float8, w.now
FROM w
ON CONFLICT (key, win) DO UPDATE SET
  count = CASE WHEN t.until <= EXCLUDED.seen THEN EXCLUDED.count
               WHEN t.count + $4::float8 <= $3::float8 THEN t.count + $4::float8 ELSE t.count END,
  ok = CASE WHEN t.until <= EXCLUDED.seen THEN EXCLUDED.ok ELSE t.count + $4::float8 <= $3::float8 END,
  start = CASE WHEN t.until <= EXCLUDED.seen THEN EXCLUDED.start ELSE t.start END,
  until = CASE WHEN t.until <= EXCLUDED.seen THEN EXCLUDED.until ELSE t.until END,
  seen = EXCLUDED.seen
RETURNING count, until, ok, seen
"""
_PEEK_SQL = f"""
SELECT t.count, t.until, c.now FROM (SELECT {_NOW} AS now) c
LEFT JOIN {COUNTERS} t ON t.key = $1 AND t.win = $2::float8
"""
_UPSERT_STATE = (
    f"INSERT INTO {STATES} (credential, model, origin, data, seq, written)"
    f" VALUES ($1, $2, $3, $4, nextval('{SEQUENCE}'), $5)"
    " ON CONFLICT (credential, model, origin) DO UPDATE SET data = EXCLUDED.data,"
    " seq = EXCLUDED.seq, written = EXCLUDED.written RETURNING seq"
)


class PostgresBackend(SharedBackend):
    name = "postgres"
    shared = True
    poll_seconds = 0.5

    def __init__(self, dsn: str) -> None:
        self._db = Pool(
            dsn,
            "the shared state store",
            SharedStateError,
            max_size=4,
            command_timeout=10,
            schema_lock=_SCHEMA_LOCK,
            schema=_SCHEMA,
        )

    async def open(self) -> None:
        await self._db.open()

    async def close(self) -> None:
        await self._db.close()

    # -- credential states -----------------------------------------------------------

    async def publish(self, credential_id: str, model: str | None, record: StateRecord) -> int:
        data = record.dumps().decode()
        try:
            async with self._db.get().acquire() as conn, conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock($1)", _WRITE_LOCK)
                seq: Any = await conn.fetchval(
                    _UPSERT_STATE,
                    credential_id,
                    model or NO_MODEL,
                    record.origin,
                    data,
                    time.time(),
                )
        except ERRORS as exc:
            raise SharedStateError(f"shared state: cannot publish ({why(exc)})") from None
        return int(seq)

    async def clear(self, credential_id: str, origin: str) -> int:
        seq = 0
        try:
            async with self._db.get().acquire() as conn, conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock($1)", _WRITE_LOCK)
                rows = await conn.fetch(
                    f"SELECT model, origin FROM {STATES} WHERE credential = $1", credential_id
                )
                keys = {(str(r["model"]), str(r["origin"])) for r in rows} - {(NO_MODEL, origin)}
                now = time.time()
                for model, owner in [*sorted(keys), (NO_MODEL, origin)]:
                    seq = int(
                        await conn.fetchval(_UPSERT_STATE, credential_id, model, owner, None, now)
                    )
        except ERRORS as exc:
            raise SharedStateError(f"shared state: cannot clear ({why(exc)})") from None
        return seq

    async def changes(self, since: int) -> Sequence[Row]:
        try:
            rows = await self._db.get().fetch(
                f"SELECT seq, credential, model, origin, data FROM {STATES}"
                " WHERE seq > $1 ORDER BY seq LIMIT $2",
                since,
                PAGE,
            )
        except ERRORS as exc:
            raise SharedStateError(f"shared state: cannot poll ({why(exc)})") from None
        read = (
            read_row(r["seq"], r["credential"], r["model"], r["origin"], r["data"]) for r in rows
        )
        return [row for row in read if row is not None]

    async def last_seq(self) -> int:
        try:
            value: Any = await self._db.get().fetchval(
                f"SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM {SEQUENCE}"
            )
        except ERRORS as exc:
            raise SharedStateError(f"shared state: cannot poll ({why(exc)})") from None
        return int(value)

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
        try:
            row = await self._db.get().fetchrow(
                HIT_SQL, key, float(window_seconds), float(limit), float(cost), aligned
            )
        except ERRORS as exc:
            raise SharedStateError(f"shared state: cannot count ({why(exc)})") from None
        assert row is not None  # an upsert always returns its row
        count, until, now = float(row["count"]), float(row["until"]), float(row["seen"])
        if row["ok"]:
            return Hit(True, count, 0.0, until)
        return Hit(False, count, max(0.0, until - now), until)

    async def peek(self, key: str, window_seconds: float, *, aligned: bool = False) -> Count:
        check_window(window_seconds, 0.0)
        try:
            row = await self._db.get().fetchrow(_PEEK_SQL, key, float(window_seconds))
        except ERRORS as exc:
            raise SharedStateError(f"shared state: cannot read a counter ({why(exc)})") from None
        assert row is not None
        now = float(row["now"])
        if row["until"] is None or float(row["until"]) <= now:
            start = (now // window_seconds) * window_seconds if aligned else now
            return Count(0.0, start + window_seconds)
        return Count(float(row["count"]), float(row["until"]))

    async def purge(self, now: float) -> None:
        try:
            async with self._db.get().acquire() as conn:
                await conn.execute(f"DELETE FROM {COUNTERS} WHERE until <= {_NOW}")
                await conn.execute(
                    f"DELETE FROM {STATES} WHERE (data IS NULL AND written < $1) OR written < $2",
                    now - _TOMBSTONE_SECONDS,
                    now - _ROW_SECONDS,
                )
        except ERRORS as exc:
            raise SharedStateError(f"shared state: cannot purge ({why(exc)})") from None
