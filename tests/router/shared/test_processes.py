"""Across processes: two worker processes on one store, as supervisord runs them.

* A key limited to 60 per minute, hammered by two processes with 200 attempts
  each, gets exactly 60, on the host store (one SQLite file) and on PostgreSQL
  (two processes, two connections). The control: with a local store per process
  (nothing shared) the same load gets 120.
* A rest published by one process is seen by another within a second.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from pathlib import Path

import orjson
import pytest

from router.shared import SharedState, StateChange

from .conftest import Store

pytestmark = pytest.mark.timeout(120)
ROOT = Path(__file__).resolve().parents[3]
WORKER = "tests.router.shared._worker"


async def _start(*args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        WORKER,
        *args,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def _go_when_ready(directory: Path, names: list[str], procs: list) -> None:
    deadline = time.monotonic() + 60
    while not all((directory / f"ready-{n}").exists() for n in names):
        for proc in procs:
            if proc.returncode is not None:
                _, err = await proc.communicate()
                pytest.fail(f"a worker ended before starting: {err.decode()[-2000:]}")
        assert time.monotonic() < deadline, "workers not ready within 60 s"
        await asyncio.sleep(0.02)
    (directory / "go").touch()


async def _finish(proc: asyncio.subprocess.Process) -> bytes:
    try:
        out, err = await asyncio.wait_for(proc.communicate(), 60)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        pytest.fail("a worker did not finish within 60 s")
    assert proc.returncode == 0, err.decode()[-2000:]
    return out


async def _hammer(kind: str, where: str, directory: Path) -> list[dict]:
    names = ["w1", "w2"]
    procs = [
        await _start("hammer", kind, where, "key:rpm", "200", str(directory), n) for n in names
    ]
    await _go_when_ready(directory, names, procs)
    return [orjson.loads(await _finish(p)) for p in procs]


async def test_a_limit_of_60_holds_across_two_processes(shared_store: Store, tmp_path) -> None:
    results = await _hammer(shared_store.kind, shared_store.where, tmp_path)
    allowed = [r["allowed"] for r in results]
    per_hit = [r["seconds"] / 200 * 1e6 for r in results]
    print(
        f"{shared_store.kind}: allowed {allowed} (sum {sum(allowed)}),"
        f" {per_hit[0]:.0f}/{per_hit[1]:.0f} us per attempt"
    )
    assert sum(allowed) == 60


async def test_without_a_shared_store_each_process_counts_alone(tmp_path) -> None:
    """The control for the test above: what two workers did before (120, not 60)."""
    results = await _hammer("local", "", tmp_path)
    assert [r["allowed"] for r in results] == [60, 60]


async def test_a_rest_reaches_another_process_within_a_second(
    shared_store: Store, tmp_path
) -> None:
    """A record is a state, not an event: two rests published between two polls reach
    the reader as the second one. So for each rest, the time until the reader holds it
    or a newer one (``strikes`` counts them)."""
    reader = SharedState(shared_store.backend(), origin="reader")
    await reader.start()
    heard: list[tuple[float, int]] = []  # (when, strikes) as the reader's listener heard it

    def on_change(change: StateChange) -> None:
        if change.record is not None:
            heard.append((time.time(), change.record.strikes))

    reader.listen(on_change)
    count = 8
    try:
        writer = await _start(
            "publish", shared_store.kind, shared_store.where, str(tmp_path), str(count)
        )
        await _go_when_ready(tmp_path, ["writer"], [writer])
        sent = orjson.loads(await _finish(writer))
        deadline = time.monotonic() + 5
        while not heard or heard[-1][1] < count:
            assert time.monotonic() < deadline, f"heard only {heard}"
            await asyncio.sleep(0.05)
    finally:
        await reader.close()
    assert len(sent) == count
    latencies = [
        min(at for at, strikes in heard if strikes >= n) - published
        for n, published in enumerate(sent, start=1)
    ]
    print(
        f"{shared_store.kind}: another process held each rest after median"
        f" {statistics.median(latencies) * 1000:.0f} ms, max {max(latencies) * 1000:.0f} ms"
        f" ({len(heard)} changes heard for {count} published)"
    )
    assert max(latencies) < 1.0
