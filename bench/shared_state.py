"""``python -m bench.shared_state``: what the shared state costs, per back-end, side by side.

For each back-end (local; host: an SQLite file in a temp dir; postgres: the
``--dsn`` given, else a throw-away server started like the tests' when the
PostgreSQL binaries are installed) it times, one call after another on one
event loop:

* ``hit``: one use counted against a limit (what a limited client key costs
  per request), and the same with 8 calls in flight;
* ``add``: tokens added to a day's counter (after a request);
* ``publish``: one credential state written (``SharedState.flush``);
* ``poll, nothing new``: what each worker pays every 0.25 s / 0.5 s.

``wall`` is the time a caller waits; ``loop`` is the CPU the event loop's
thread spends (the host back-end's SQLite work runs on its own thread, so a
request's loop pays only the hand-off). A measurement, not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from router.shared import (
    HostBackend,
    LocalBackend,
    PostgresBackend,
    SharedBackend,
    SharedState,
    StateRecord,
)

Op = Callable[[int], Awaitable[object]]
ROWS = ["hit", "hit, 8 in flight", "add", "publish", "poll, nothing new"]


async def _time(op: Op, count: int, parallel: int = 1) -> tuple[float, float]:
    """(wall µs, loop-thread CPU µs) per call, best of 3 rounds."""
    rounds = []
    gate = asyncio.Semaphore(parallel)
    for _ in range(3):
        wall, cpu = time.perf_counter(), time.thread_time()
        if parallel == 1:
            for i in range(count):
                await op(i)
        else:
            await asyncio.gather(*(_gated(op, i, gate) for i in range(count)))
        rounds.append(
            ((time.perf_counter() - wall) / count * 1e6, (time.thread_time() - cpu) / count * 1e6)
        )
    return min(rounds)


async def _gated(op: Op, i: int, gate: asyncio.Semaphore) -> None:
    async with gate:
        await op(i)


async def measure(backend: SharedBackend, count: int) -> dict[str, tuple[float, float]]:
    state = SharedState(backend, origin="bench")
    await state.start()
    try:
        for i in range(100):  # warm up: connections, statements, pages
            await state.hit(f"bench:warm{i % 3}", 60, 1e12)
        out = {
            "hit": await _time(lambda i: state.hit("bench:rpm", 60, 1e12), count),
            "hit, 8 in flight": await _time(lambda i: state.hit("bench:rpm", 60, 1e12), count, 8),
            "add": await _time(lambda i: state.add("bench:tpd", 86400, 1234, aligned=True), count),
        }

        async def publish(i: int) -> None:
            state.publish(f"bench/key{i % 8}", None, StateRecord(cooling_until=time.time() + 60))
            await state.flush()

        out["publish"] = await _time(publish, max(1, count // 4))
        await state.poll()
        out["poll, nothing new"] = await _time(lambda i: backend.changes(10**15), count)
        return out
    finally:
        await state.close()


@contextmanager
def _postgres(dsn: str | None) -> Iterator[tuple[str | None, str]]:
    """(DSN or None, note)."""
    if dsn:
        yield dsn, "given"
        return
    try:
        from tests.fakes.postgres import PostgresUnavailable, private_postgres
    except ImportError:
        yield None, "n/a (no --dsn, tests not installed)"
        return
    with ExitStack() as stack:
        try:
            base = stack.enter_context(private_postgres())
        except PostgresUnavailable as exc:
            yield None, f"n/a ({str(exc)[:80]})"
            return
        yield f"{base}/postgres", "a private server"


def _table(results: dict[str, dict[str, tuple[float, float]] | None]) -> str:
    names = list(results)
    head = f"{'µs per call (wall / loop)':<26}" + "".join(f"{n:>20}" for n in names)
    lines = [head, "-" * len(head)]
    for row in ROWS:
        cells = []
        for name in names:
            got = results[name]
            cells.append(f"{got[row][0]:>11.1f} / {got[row][1]:>5.1f}" if got else f"{'n/a':>20}")
        lines.append(f"{row:<26}" + "".join(f"{c:>20}" for c in cells))
    return "\n".join(lines)


async def _run(count: int, dsn: str | None) -> None:
    results: dict[str, dict[str, tuple[float, float]] | None] = {}
    with tempfile.TemporaryDirectory(prefix="cliproxy-bench-shared-") as tmp:
        results["local"] = await measure(LocalBackend(), count)
        results["host"] = await measure(HostBackend(Path(tmp) / "shared-state.sqlite3"), count)
        with _postgres(dsn) as (pg, note):
            if pg is not None:
                print(f"postgres: {note}")
                results["postgres"] = await measure(PostgresBackend(pg), count)
            else:
                print(f"postgres: {note}")
                results["postgres"] = None
    print(_table(results))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.shared_state", description=__doc__)
    parser.add_argument("--count", type=int, default=2000, help="calls per row and round")
    parser.add_argument(
        "--dsn",
        help="a scratch PostgreSQL database to measure (it gets bench:* rows); default: start"
        " a private server when the PostgreSQL binaries are installed",
    )
    args = parser.parse_args(argv)
    asyncio.run(_run(args.count, args.dsn))


if __name__ == "__main__":
    main()
