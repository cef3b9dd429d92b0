"""A worker process for test_processes.py: ``python -m tests.router.shared._worker``.

``hammer KIND WHERE KEY ATTEMPTS DIR NAME``: ATTEMPTS uses of KEY (60 per 60 s),
8 at a time, then prints ``{"allowed": N, ...}``. ``publish KIND WHERE DIR COUNT``:
COUNT credential rests at random moments (seeded), then prints when each was
published (a later one may replace an earlier one before anyone reads it). Both open the store, create ``DIR/ready-NAME`` and wait for
``DIR/go``, so that the processes start together (bounded: 60 s).
"""

from __future__ import annotations

import asyncio
import random
import sys
import time
from pathlib import Path

import orjson

from router.shared import (
    HostBackend,
    LocalBackend,
    PostgresBackend,
    SharedBackend,
    SharedState,
    StateRecord,
)

LIMIT, WINDOW = 60, 60.0


def backend(kind: str, where: str) -> SharedBackend:
    if kind == "host":
        return HostBackend(Path(where))
    if kind == "postgres":
        return PostgresBackend(where)
    return LocalBackend()  # one per process: shares nothing (the control case)


async def barrier(directory: Path, name: str) -> None:
    (directory / f"ready-{name}").touch()
    deadline = time.monotonic() + 60
    while not (directory / "go").exists():
        if time.monotonic() > deadline:
            raise SystemExit("no go within 60 s")
        await asyncio.sleep(0.005)


async def hammer(
    kind: str, where: str, key: str, attempts: int, directory: Path, name: str
) -> None:
    store = backend(kind, where)
    await store.open()
    await barrier(directory, name)
    gate = asyncio.Semaphore(8)

    async def one() -> bool:
        async with gate:
            return (await store.hit(key, WINDOW, LIMIT)).allowed

    started = time.perf_counter()
    answers = await asyncio.gather(*(one() for _ in range(attempts)))
    spent = time.perf_counter() - started
    await store.close()
    print(orjson.dumps({"allowed": sum(answers), "seconds": spent}).decode())


async def publish(kind: str, where: str, directory: Path, count: int) -> None:
    state = SharedState(backend(kind, where), origin="writer")
    await state.start()
    await barrier(directory, "writer")
    rng = random.Random(13)
    sent = []
    for i in range(count):
        await asyncio.sleep(rng.uniform(0.05, 0.4))  # anywhere in the reader's poll cycle
        rec = StateRecord(cooling_until=time.time() + 60, strikes=i + 1)
        sent.append(state.publish("p/key1", None, rec).updated_at)
    await state.flush()
    await state.close()
    print(orjson.dumps(sent).decode())


def main(argv: list[str]) -> None:
    if argv[0] == "hammer":
        kind, where, key, attempts, directory, name = argv[1:7]
        asyncio.run(hammer(kind, where, key, int(attempts), Path(directory), name))
    elif argv[0] == "publish":
        kind, where, directory, count = argv[1:5]
        asyncio.run(publish(kind, where, Path(directory), int(count)))
    else:
        raise SystemExit(f"unknown command {argv[0]!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
