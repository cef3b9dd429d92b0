"""The SharedBackend contract, run against every back-end (local, host, postgres).

Two back-end objects on one store stand for two workers (for ``local`` they are
one object: one process). The cross-process proofs are in test_processes.py.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from router.shared import Breaker, SharedStateError, StateRecord

from .conftest import Store

pytestmark = pytest.mark.timeout(60)


def rec(origin: str, **kw: object) -> StateRecord:
    return StateRecord(origin=origin, updated_at=time.time(), **kw)  # type: ignore[arg-type]


async def test_published_rows_come_back_in_order_newest_version_only(open_backend) -> None:
    a, b = await open_backend(), await open_backend()
    start = await b.last_seq()
    s1 = await a.publish("p/key1", None, rec("A", cooling_until=100.0))
    s2 = await a.publish("p/key1", "opus", rec("A", strikes=2))
    s3 = await a.publish("p/key1", None, rec("A", cooling_until=200.0))
    assert start < s1 < s2 < s3 == await b.last_seq()
    rows = await b.changes(start)
    assert [(r.seq, r.credential_id, r.model, r.origin) for r in rows] == [
        (s2, "p/key1", "opus", "A"),
        (s3, "p/key1", None, "A"),
    ]
    assert rows[1].record is not None and rows[1].record.cooling_until == 200.0
    assert [r.seq for r in await b.changes(s2)] == [s3]
    assert await b.changes(s3) == []


async def test_two_origins_keep_their_own_rows(open_backend) -> None:
    a, b = await open_backend(), await open_backend()
    await a.publish("p/k", None, rec("A", cooling_until=50.0))
    await b.publish("p/k", None, rec("B", breaker=Breaker("open", 60.0, 3, "timeout")))
    rows = {r.origin: r.record for r in await a.changes(0)}
    assert rows["A"] is not None and rows["A"].cooling_until == 50.0
    assert rows["B"] is not None and rows["B"].breaker == Breaker("open", 60.0, 3, "timeout")


async def test_record_survives_the_store_unchanged(open_backend) -> None:
    a = await open_backend()
    sent = rec(
        "A",
        cooling_until=1.5,
        strikes=3,
        breaker=Breaker("half_open", 2.5, 4, "5xx"),
        disabled_until=3.5,
        disabled_reason="401 from upstream",
        headroom={"seen_at": 1.0, "five_hour": {"used_percent": 12.5}},
    )
    await a.publish("p/k", "m", sent)
    (row,) = await a.changes(0)
    assert row.record == sent


async def test_clear_tombstones_every_row_of_the_credential(open_backend) -> None:
    a, b = await open_backend(), await open_backend()
    await a.publish("p/k", None, rec("A", cooling_until=50.0))
    await a.publish("p/k", "opus", rec("A", cooling_until=60.0))
    await b.publish("p/k", "opus", rec("B", cooling_until=70.0))
    await a.publish("p/other", None, rec("A", cooling_until=80.0))
    before = await a.last_seq()
    last = await b.clear("p/k", "B")
    rows = await a.changes(before)
    assert last == rows[-1].seq
    assert {(r.model, r.origin) for r in rows} == {
        (None, "A"),
        ("opus", "A"),
        ("opus", "B"),
        (None, "B"),
    }
    assert all(r.record is None and r.credential_id == "p/k" for r in rows)
    assert (rows[-1].model, rows[-1].origin) == (None, "B")  # the credential-wide one last
    live = {(r.credential_id, r.origin) for r in await a.changes(0) if r.record is not None}
    assert live == {("p/other", "A")}


async def test_hit_counts_up_to_the_limit_and_refuses_after(open_backend) -> None:
    a, b = await open_backend(), await open_backend()
    answers = [await (a if i % 2 else b).hit("key:rpm", 60, 3) for i in range(5)]
    assert [h.allowed for h in answers] == [True, True, True, False, False]
    assert [h.count for h in answers] == [1, 2, 3, 3, 3]  # a refused use does not count
    assert answers[0].retry_after == 0
    assert 55 < answers[-1].retry_after <= 60
    assert answers[-1].resets_at == pytest.approx(answers[0].resets_at)


async def test_hit_with_a_cost_takes_only_what_fits(open_backend) -> None:
    a = await open_backend()
    assert (await a.hit("k", 60, 10, cost=7)).allowed
    refused = await a.hit("k", 60, 10, cost=4)
    assert not refused.allowed and refused.count == 7
    assert (await a.hit("k", 60, 10, cost=3)).count == 10
    assert not (await a.hit("other", 60, 2, cost=3)).allowed  # more than a whole window


async def test_concurrent_hits_from_two_workers_are_exact(open_backend) -> None:
    a, b = await open_backend(), await open_backend()
    hits = await asyncio.gather(*((a if i % 2 else b).hit("key:burst", 60, 60) for i in range(150)))
    assert sum(h.allowed for h in hits) == 60
    assert max(h.count for h in hits) == 60


async def test_a_window_starts_again_once_it_ended(open_backend) -> None:
    a = await open_backend()
    first = await a.hit("short", 0.3, 1)
    assert first.allowed and not (await a.hit("short", 0.3, 1)).allowed
    deadline = time.monotonic() + 5
    while not (await a.hit("short", 0.3, 1)).allowed:  # the window ends 0.3 s after the first
        assert time.monotonic() < deadline, "the window never ended"
        await asyncio.sleep(0.05)
    assert time.time() >= first.resets_at - 0.05


async def test_add_and_peek_count_tokens(open_backend) -> None:
    a, b = await open_backend(), await open_backend()
    assert (await a.peek("key:tpd", 86400, aligned=True)).total == 0
    await a.add("key:tpd", 86400, 1200, aligned=True)
    total = await b.add("key:tpd", 86400, 800, aligned=True)
    assert total.total == 2000
    assert total.resets_at % 86400 == 0  # aligned: the next UTC midnight
    assert total.resets_at - 86400 <= time.time() < total.resets_at
    assert (await b.peek("key:tpd", 86400, aligned=True)).total == 2000
    assert (await b.peek("key:tpd", 3600)).total == 0  # another window is another counter


async def test_nonsense_is_refused(open_backend) -> None:
    a = await open_backend()
    with pytest.raises(ValueError, match="window_seconds"):
        await a.hit("k", 0, 10)
    with pytest.raises(ValueError, match="only grows"):
        await a.add("k", 60, -5)


async def test_purge_keeps_live_windows_and_rows(open_backend) -> None:
    a = await open_backend()
    await a.hit("live", 60, 10)
    await a.publish("p/k", None, rec("A", cooling_until=1.0))
    await a.purge(time.time())
    assert (await a.peek("live", 60)).total == 1
    assert len(await a.changes(0)) == 1


async def test_a_closed_store_says_so(store: Store) -> None:
    if store.kind == "local":
        pytest.skip("nothing to open")
    backend = store.backend()
    with pytest.raises(SharedStateError, match="not open"):
        await backend.hit("k", 60, 1)
