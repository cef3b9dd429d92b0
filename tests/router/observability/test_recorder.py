"""The usage writer: batches, a store that is down (spool, bounded memory), retention, PostgreSQL."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

import pytest

from router.observability import (
    PostgresUsageStore,
    SQLiteUsageStore,
    UsageQuery,
    UsageRecord,
    UsageRecorder,
    UsageStoreError,
)


def record(i: int, *, ts: float | None = None, model: str = "m", status: int = 200) -> UsageRecord:
    return UsageRecord(
        ts=time.time() if ts is None else ts,
        request_id=f"req-{i:06d}",
        client_key="key-abc",
        format="openai",
        model=model,
        provider="p",
        credential="p/key1",
        status=status,
        stream=False,
        attempts=1,
        tokens_in=2,
        tokens_out=3,
        tokens_cached=0,
        tokens_reasoning=1,
        latency_ms=1.5,
        ttfb_ms=1.0,
        error=None if status < 400 else "boom",
    )


class DownStore:
    """A store whose database is down: every call fails."""

    def __init__(self) -> None:
        self.closed = False

    def describe(self) -> str:
        return "down"

    async def open(self) -> None:
        raise UsageStoreError("connection refused")

    async def write(self, rows: Sequence[UsageRecord]) -> None:
        raise UsageStoreError("connection refused")

    async def prune(self, before: float) -> int:
        raise UsageStoreError("connection refused")

    async def totals(self, query: UsageQuery) -> list[dict[str, object]]:
        raise UsageStoreError("connection refused")

    async def errors(self, limit: int) -> list[dict[str, object]]:
        raise UsageStoreError("connection refused")

    async def close(self) -> None:
        self.closed = True


async def test_a_stop_while_the_store_is_down_spools_and_the_next_start_writes_it(tmp_path) -> None:
    down = UsageRecorder(DownStore(), tmp_path, 30, interval=0.05)
    await down.start()
    for i in range(25):
        down.add(record(i))
    await down.close()
    spooled = list(tmp_path.glob("usage-spool-*.jsonl"))
    assert len(spooled) == 1 and len(spooled[0].read_text().splitlines()) == 25

    up = UsageRecorder(SQLiteUsageStore(tmp_path / "usage.sqlite3"), tmp_path, 30)
    await up.start()
    try:
        assert not list(tmp_path.glob("usage-spool-*"))  # written, then removed
        (total,) = await up.totals(UsageQuery(0, time.time() + 1))
        assert total["requests"] == 25 and total["tokens_reasoning"] == 25
    finally:
        await up.close()


async def test_memory_stays_bounded_while_the_store_is_down(tmp_path) -> None:
    seen: list[tuple[int, int, int]] = []
    rec = UsageRecorder(DownStore(), tmp_path, 30, limit=5, on_flush=lambda *a: seen.append(a))
    for i in range(8):
        rec.add(record(i))
    assert not await rec.flush()
    assert rec.pending == 5 and seen[-1] == (0, 3, 5)


async def test_batches_and_retention(tmp_path) -> None:
    store = SQLiteUsageStore(tmp_path / "u.sqlite3")
    rec = UsageRecorder(store, tmp_path, retention_days=1, interval=0.02, batch=10)
    assert not (tmp_path / "u.sqlite3").exists()  # nothing to write: no file yet
    await rec.start()
    try:
        rec.add(record(0, ts=time.time() - 3 * 86400))  # older than the retention
        for i in range(1, 36):
            rec.add(record(i, model="new"))
        deadline = time.monotonic() + 5
        while rec.pending and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        assert rec.pending == 0  # written by the background task, in batches of 10
        await asyncio.sleep(0.1)  # the first pass after opening also prunes
        rows = await rec.totals(UsageQuery(0, time.time() + 1, ("model",)))
        assert [(r["model"], r["requests"]) for r in rows] == [("new", 35)]
        assert (tmp_path / "u.sqlite3").stat().st_mode & 0o777 == 0o600
    finally:
        await rec.close()


async def test_postgres_store(postgres_dsn: str, tmp_path) -> None:  # noqa: F811
    rec = UsageRecorder(PostgresUsageStore(postgres_dsn), tmp_path, 30)
    await rec.start()
    try:
        for i in range(12):
            rec.add(record(i, model="a" if i % 3 else "b", status=200 if i else 502))
        rows = await rec.totals(UsageQuery(0, time.time() + 1, ("model", "day")))
        assert [(r["model"], r["requests"], r["tokens_in"]) for r in rows] == [
            ("a", 8, 16),
            ("b", 4, 8),
        ]
        assert rows[0]["day"] == time.strftime("%Y-%m-%d", time.gmtime())
        hours = await rec.totals(UsageQuery(0, time.time() + 1, ("hour",)))
        assert hours[0]["hour"] == int(time.time() // 3600 * 3600) and hours[0]["requests"] == 12
        (err,) = await rec.errors(5)
        assert (err["request_id"], err["status"], err["error"]) == ("req-000000", 502, "boom")
        assert await rec.store.prune(time.time() + 1) == 12
    finally:
        await rec.close()


@pytest.mark.parametrize("bad", ["/proc/no-such-dir/usage.sqlite3"])
async def test_an_unwritable_sqlite_path_is_an_error_not_a_crash(tmp_path, bad: str) -> None:
    from pathlib import Path

    rec = UsageRecorder(SQLiteUsageStore(Path(bad)), tmp_path, 30)
    await rec.start()
    rec.add(record(1))
    assert not await rec.flush()
    with pytest.raises(UsageStoreError):
        await rec.totals(UsageQuery(0, time.time()))
    await rec.close()
    assert len(list(tmp_path.glob("usage-spool-*.jsonl"))) == 1
