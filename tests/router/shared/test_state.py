"""SharedState: two workers' handles on one store (host, postgres), and the local one.

Each "worker" is a SharedState with its own back-end object (own connection,
own poll loop) on the same store, as two processes would have.
"""

from __future__ import annotations

import asyncio
import secrets
import statistics
import time
from collections.abc import AsyncIterator, Callable

import asyncpg
import pytest

from router.shared import (
    Breaker,
    LocalBackend,
    PostgresBackend,
    SharedState,
    SharedStateError,
    StateChange,
    StateRecord,
)

from .conftest import Store

pytestmark = pytest.mark.timeout(60)
WITHIN_S = 1.0  # the promise: another worker honours a change within a second


@pytest.fixture
async def workers(shared_store: Store) -> AsyncIterator[Callable[[str], object]]:
    opened: list[SharedState] = []

    async def make(name: str) -> SharedState:
        state = SharedState(shared_store.backend(), origin=name)
        await state.start()
        opened.append(state)
        return state

    yield make
    for state in opened:
        await state.close()


class Inbox:
    """A listener that keeps what it heard, with when."""

    def __init__(self, state: SharedState) -> None:
        self.changes: list[tuple[float, StateChange]] = []
        self._arrived = asyncio.Event()
        state.listen(self)

    def __call__(self, change: StateChange) -> None:
        self.changes.append((time.time(), change))
        self._arrived.set()

    async def wait_for(self, test: Callable[[StateChange], bool], within: float = 5.0) -> float:
        """When (time.time()) the first change passing ``test`` arrived."""
        deadline = time.monotonic() + within
        while True:
            for at, change in self.changes:
                if test(change):
                    return at
            left = deadline - time.monotonic()
            assert left > 0, f"no such change within {within} s: {self.changes}"
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), left)
            except TimeoutError:
                pass


async def test_a_rest_published_by_one_worker_reaches_the_other_within_a_second(
    workers, shared_store: Store
) -> None:
    a, b = await workers("A"), await workers("B")
    inbox = Inbox(b)
    latencies = []
    for i in range(6):
        await asyncio.sleep(0.07 * i)  # publish at different points of B's poll cycle
        sent = time.time()
        a.publish("p/key1", None, StateRecord(cooling_until=sent + 30, strikes=i + 1))
        got = await inbox.wait_for(
            lambda c, n=i + 1: c.record is not None and c.record.strikes == n
        )
        latencies.append(got - sent)
    print(
        f"{shared_store.kind}: published -> seen by the other worker: median"
        f" {statistics.median(latencies) * 1000:.0f} ms, max {max(latencies) * 1000:.0f} ms"
    )
    assert max(latencies) < WITHIN_S
    rec = b.record("p/key1")
    assert rec is not None and rec.origin == "A" and rec.cooling_until > time.time() + 20


async def test_views_of_two_workers_merge(workers) -> None:
    a, b = await workers("A"), await workers("B")
    inbox_a, inbox_b = Inbox(a), Inbox(b)
    now = time.time()
    a.publish("p/k", None, StateRecord(cooling_until=now + 100, updated_at=now - 1))
    b.publish(
        "p/k",
        None,
        StateRecord(
            breaker=Breaker("open", now + 20, 3, "timeout"),
            headroom={"seen_at": now, "five_hour": {"used_percent": 40.0}},
            updated_at=now,
        ),
    )
    await inbox_a.wait_for(lambda c: c.origin == "B")
    await inbox_b.wait_for(lambda c: c.origin == "A")
    for state in (a, b):
        rec = state.record("p/k")
        assert rec is not None
        assert rec.cooling_until == now + 100  # A's rest holds for both
        assert rec.breaker.state == "open" and rec.breaker.reason == "timeout"  # B's, newer
        assert rec.headroom == {"seen_at": now, "five_hour": {"used_percent": 40.0}}


async def test_a_model_record_is_its_own_key(workers) -> None:
    a, b = await workers("A"), await workers("B")
    inbox = Inbox(b)
    a.publish("p/k", "claude-opus-4-1", StateRecord(cooling_until=time.time() + 60))
    await inbox.wait_for(lambda c: c.model == "claude-opus-4-1")
    assert b.record("p/k") is None
    assert set(b.records("p/k")) == {"claude-opus-4-1"}


async def test_a_clear_resets_every_worker(workers) -> None:
    a, b = await workers("A"), await workers("B")
    inbox_a, inbox_b = Inbox(a), Inbox(b)
    now = time.time()
    a.publish("p/k", None, StateRecord(cooling_until=now + 100))
    a.publish("p/k", "opus", StateRecord(cooling_until=now + 100))
    b.publish("p/other", None, StateRecord(cooling_until=now + 100))
    await inbox_b.wait_for(lambda c: c.model == "opus")
    await inbox_a.wait_for(lambda c: c.credential_id == "p/other")
    await b.clear("p/k")  # the management reset, taken by the other worker
    assert b.records("p/k") == {}
    assert inbox_b.changes[-1][1].cleared  # its own listeners hear it at once
    await inbox_a.wait_for(lambda c: c.cleared and c.credential_id == "p/k")
    assert a.records("p/k") == {}
    assert a.record("p/other") is not None  # only that credential
    # a rest that comes after the reset is shared again
    a.publish("p/k", None, StateRecord(cooling_until=time.time() + 50))
    await inbox_b.wait_for(lambda c: c.credential_id == "p/k" and c.record is not None)


async def test_a_worker_that_starts_later_loads_what_is_known(workers) -> None:
    a = await workers("A")
    a.publish("p/k", None, StateRecord(cooling_until=time.time() + 100))
    await a.flush()
    late = await workers("late")
    rec = late.record("p/k")
    assert rec is not None and rec.origin == "A"


async def test_one_failing_listener_does_not_stop_the_others(workers) -> None:
    a, b = await workers("A"), await workers("B")

    def broken(change: StateChange) -> None:
        raise RuntimeError("bug")

    b.listen(broken)
    inbox = Inbox(b)
    a.publish("p/k", None, StateRecord(strikes=1))
    await inbox.wait_for(lambda c: c.credential_id == "p/k")


async def test_local_state_shares_nothing_and_costs_nothing() -> None:
    backend = LocalBackend()
    state = SharedState(backend, origin="only")
    await state.start()
    heard: list[StateChange] = []
    stop = state.listen(heard.append)
    state.publish("p/k", None, StateRecord(cooling_until=time.time() + 10))
    assert state.record("p/k") is not None and state.record("p/k").origin == "only"  # type: ignore[union-attr]
    assert await backend.changes(0) == []  # nothing written: one worker has no one to tell
    await state.clear("p/k")
    assert state.record("p/k") is None
    assert [c.cleared for c in heard] == [True]
    stop()
    assert (await state.hit("k", 60, 1)).allowed and not (await state.hit("k", 60, 1)).allowed
    await state.close()


async def test_a_database_down_at_start_is_used_once_it_is_up(postgres_server: str) -> None:
    """The router starts without it (counters say so, rests wait), and catches up."""
    name = "t_later_" + secrets.token_hex(4)
    dsn = f"{postgres_server}/{name}"
    state = SharedState(PostgresBackend(dsn), origin="early")
    await state.start()  # no database yet: does not raise
    try:
        with pytest.raises(SharedStateError):
            await state.hit("key:rpm", 60, 10)
        state.publish("p/k", None, StateRecord(cooling_until=time.time() + 60))
        assert state.record("p/k") is not None  # its own view goes on
        admin = await asyncpg.connect(f"{postgres_server}/postgres", timeout=10)
        try:
            await admin.execute(f'CREATE DATABASE "{name}"')
            later = SharedState(PostgresBackend(dsn), origin="later")
            await later.start()
            deadline = time.monotonic() + 15  # the retry backs off: 1 s, 2 s, 4 s...
            while later.record("p/k") is None:
                assert time.monotonic() < deadline, "the pending rest never reached the store"
                await asyncio.sleep(0.1)
                await later.poll()
            assert (await state.hit("key:rpm", 60, 10)).allowed
            await later.close()
        finally:
            await state.close()
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await admin.close()
    finally:
        await state.close()
