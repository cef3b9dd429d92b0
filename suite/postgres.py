"""One way to hold a PostgreSQL pool: the credential, client key, shared state and usage stores.

Each store keeps a small asyncpg pool, opened on start with its tables created
inside a transaction under an advisory lock (routers starting together would
otherwise race on ``CREATE … IF NOT EXISTS``). What differs between the
stores is only the size of the pool, the schema and the error they raise, so
those are the parameters; the pool is closed again if its tables cannot be
made, so a failed start leaves no connection behind.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

import asyncpg

__all__ = ["ERRORS", "Pool", "why"]

# What a database that is down, slow or refusing raises: each store turns these into its own error.
ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, asyncio.TimeoutError)
_CONNECT_SECONDS = 10.0


def why(exc: BaseException) -> str:
    """The first line of an error, bounded: enough to act on, never a dump of a query."""
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:200]


class Pool:
    """An asyncpg pool opened on demand, its tables created first; failures raise ``error``."""

    def __init__(
        self,
        dsn: str,
        what: str,
        error: Callable[[str], Exception],
        *,
        max_size: int,
        command_timeout: float,
        schema_lock: int,
        schema: Sequence[str],
    ) -> None:
        self._dsn = dsn
        self._what = what
        self._error = error
        self._max_size = max_size
        self._command_timeout = command_timeout
        self._schema_lock = schema_lock
        self._schema = schema
        self._pool: asyncpg.Pool | None = None

    async def open(self) -> None:
        if self._pool is not None:
            return
        try:
            pool = await asyncpg.create_pool(
                self._dsn,
                min_size=1,
                max_size=self._max_size,
                timeout=_CONNECT_SECONDS,
                command_timeout=self._command_timeout,
            )
        except ERRORS as exc:
            raise self._error(f"postgres: cannot open {self._what} ({why(exc)})") from None
        try:
            async with pool.acquire() as conn, conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock($1)", self._schema_lock)
                for statement in self._schema:
                    await conn.execute(statement)
        except ERRORS as exc:
            await pool.close()
            raise self._error(
                f"postgres: cannot create the tables of {self._what} ({why(exc)})"
            ) from None
        self._pool = pool

    async def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()

    def get(self) -> asyncpg.Pool:
        if self._pool is None:
            raise self._error(f"postgres: {self._what} is not open")
        return self._pool
