"""The usage table, one record type, and the totals query, for SQLite and PostgreSQL.

Both backends keep the same columns; ``ts`` is Unix seconds (UTC) of the
request's end, and the one index (an index on ``request_id`` too would cost
a sixth more per row written; looking one request up is rare and may scan).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, NamedTuple

__all__ = [
    "COLUMNS",
    "DIMENSIONS",
    "METRICS",
    "UsageQuery",
    "UsageRecord",
    "UsageRow",
    "cutoff_sql",
    "errors_sql",
    "insert_sql",
    "schema_sql",
    "totals_sql",
]

Dialect = Literal["sqlite", "postgres"]
TABLE = "cliproxy_usage"


# One answered request as the hot path builds it and the stores bind it: a plain tuple
# (sqlite3 binds a tuple subclass such as UsageRecord about 1 µs a row slower).
UsageRow = tuple[
    float,
    str,
    str,
    str,
    str,
    str,
    str,
    int,
    bool,
    int,
    int,
    int,
    int,
    int,
    float,
    float | None,
    str | None,
]


class UsageRecord(NamedTuple):
    """The fields of a ``UsageRow``, by name (tests, spool files, readers)."""

    ts: float
    request_id: str
    client_key: str
    format: str
    model: str
    provider: str
    credential: str
    status: int
    stream: bool
    attempts: int
    tokens_in: int
    tokens_out: int
    tokens_cached: int
    tokens_reasoning: int
    latency_ms: float
    ttfb_ms: float | None
    error: str | None


COLUMNS: tuple[str, ...] = UsageRecord._fields

_TYPES = {
    "sqlite": {"float": "REAL", "text": "TEXT", "int": "INTEGER", "bool": "INTEGER"},
    "postgres": {"float": "double precision", "text": "text", "int": "bigint", "bool": "boolean"},
}
_COLUMN_TYPES = {
    "ts": "float",
    "status": "int",
    "stream": "bool",
    "attempts": "int",
    "tokens_in": "int",
    "tokens_out": "int",
    "tokens_cached": "int",
    "tokens_reasoning": "int",
    "latency_ms": "float",
    "ttfb_ms": "float",
}
_NULLABLE = frozenset({"ttfb_ms", "error"})


def schema_sql(dialect: Dialect) -> list[str]:
    types = _TYPES[dialect]
    cols = []
    for name in COLUMNS:
        sql_type = types[_COLUMN_TYPES.get(name, "text")]
        null = "" if name in _NULLABLE else " NOT NULL"
        cols.append(f"{name} {sql_type}{null}")
    return [
        f"CREATE TABLE IF NOT EXISTS {TABLE} ({', '.join(cols)})",
        f"CREATE INDEX IF NOT EXISTS {TABLE}_ts ON {TABLE} (ts)",
    ]


def insert_sql(dialect: Dialect, rows: int = 1) -> str:
    """``INSERT`` of ``rows`` rows (several: SQLite only, parameters flattened)."""
    names = ", ".join(COLUMNS)
    if dialect == "sqlite":
        one = "(" + ", ".join("?" for _ in COLUMNS) + ")"
        return f"INSERT INTO {TABLE} ({names}) VALUES {', '.join([one] * rows)}"
    marks = ", ".join(f"${i}" for i in range(1, len(COLUMNS) + 1))
    return f"INSERT INTO {TABLE} ({names}) VALUES ({marks})"


# group_by names -> the SQL expression per dialect.
DIMENSIONS: dict[str, dict[Dialect, str]] = {
    "day": {
        "sqlite": "strftime('%Y-%m-%d', ts, 'unixepoch')",
        "postgres": "to_char(to_timestamp(ts) AT TIME ZONE 'UTC', 'YYYY-MM-DD')",
    },
    "hour": {
        "sqlite": "CAST(ts / 3600 AS INTEGER) * 3600",
        "postgres": "(floor(ts / 3600) * 3600)::bigint",
    },
    "model": {"sqlite": "model", "postgres": "model"},
    "provider": {"sqlite": "provider", "postgres": "provider"},
    "credential": {"sqlite": "credential", "postgres": "credential"},
    "client_key": {"sqlite": "client_key", "postgres": "client_key"},
    "key": {"sqlite": "client_key", "postgres": "client_key"},  # the same, shorter
    "status": {"sqlite": "status", "postgres": "status"},
}

_AGGREGATES: dict[str, dict[Dialect, str]] = {
    "requests": {"sqlite": "COUNT(*)", "postgres": "COUNT(*)"},
    "errors": {
        "sqlite": "SUM(CASE WHEN status >= 400 THEN 1 ELSE 0 END)",
        "postgres": "SUM(CASE WHEN status >= 400 THEN 1 ELSE 0 END)",
    },
    "tokens_in": {"sqlite": "SUM(tokens_in)", "postgres": "SUM(tokens_in)"},
    "tokens_out": {"sqlite": "SUM(tokens_out)", "postgres": "SUM(tokens_out)"},
    "tokens_cached": {"sqlite": "SUM(tokens_cached)", "postgres": "SUM(tokens_cached)"},
    "tokens_reasoning": {"sqlite": "SUM(tokens_reasoning)", "postgres": "SUM(tokens_reasoning)"},
    "latency_ms_avg": {"sqlite": "AVG(latency_ms)", "postgres": "AVG(latency_ms)"},
}
METRICS: tuple[str, ...] = tuple(_AGGREGATES)


@dataclass(frozen=True, slots=True)
class UsageQuery:
    """Totals of records with ``since <= ts < until``, grouped by ``group_by`` (may be empty)."""

    since: float
    until: float
    group_by: tuple[str, ...] = ()


def totals_sql(dialect: Dialect, query: UsageQuery) -> tuple[str, list[object]]:
    """``SELECT dims..., aggregates...`` with parameters; the dimensions come from a fixed
    table (``DIMENSIONS``), never from the caller's text."""
    dims = [DIMENSIONS[d][dialect] for d in query.group_by]
    selects = [f"{expr} AS {name}" for expr, name in zip(dims, query.group_by, strict=True)]
    selects += [f"{agg[dialect]} AS {name}" for name, agg in _AGGREGATES.items()]
    where = "ts >= ? AND ts < ?" if dialect == "sqlite" else "ts >= $1 AND ts < $2"
    sql = f"SELECT {', '.join(selects)} FROM {TABLE} WHERE {where}"
    if dims:
        order = ", ".join(str(i) for i in range(1, len(dims) + 1))
        sql += f" GROUP BY {order} ORDER BY {order}"
    return sql, [query.since, query.until]


_ERROR_COLUMNS = ("ts", "request_id", "status", "model", "provider", "credential", "error")


def errors_sql(dialect: Dialect, limit: int) -> tuple[str, Sequence[str]]:
    """The latest failed requests (an error status, or an answer that ended in an error)."""
    sql = (
        f"SELECT {', '.join(_ERROR_COLUMNS)} FROM {TABLE}"
        f" WHERE status >= 400 OR error IS NOT NULL ORDER BY ts DESC LIMIT {int(limit)}"
    )
    return sql, _ERROR_COLUMNS


def cutoff_sql(dialect: Dialect) -> str:
    return f"DELETE FROM {TABLE} WHERE ts < " + ("?" if dialect == "sqlite" else "$1")
