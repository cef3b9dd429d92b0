"""StateRecord: how several workers' records merge, and records that cannot be read."""

from __future__ import annotations

import sqlite3

import asyncpg
import pytest

from router.shared import Breaker, HostBackend, PostgresBackend, StateRecord, merge_records


def test_merging_nothing_is_nothing() -> None:
    assert merge_records([]) is None


def test_rests_last_as_long_as_the_longest_and_the_rest_is_the_newest() -> None:
    old = StateRecord(
        cooling_until=500.0,
        strikes=4,
        breaker=Breaker("open", 300.0, 3, "timeout"),
        disabled_until=900.0,
        disabled_reason="401 from upstream",
        headroom={"seen_at": 80.0, "five_hour": {"used_percent": 90.0}},
        updated_at=100.0,
        origin="A",
    )
    new = StateRecord(
        cooling_until=200.0,
        strikes=1,
        breaker=Breaker("closed"),  # a probe succeeded here: the breaker closes for all
        headroom={"seen_at": 50.0, "five_hour": {"used_percent": 10.0}},  # read earlier
        updated_at=200.0,
        origin="B",
    )
    merged = merge_records([old, new])
    assert merged == StateRecord(
        cooling_until=500.0,
        strikes=4,
        breaker=Breaker("closed"),
        disabled_until=900.0,
        disabled_reason="401 from upstream",
        headroom={"seen_at": 80.0, "five_hour": {"used_percent": 90.0}},
        updated_at=200.0,
        origin="B",
    )
    assert merge_records([new, old]) == merged  # whatever the order
    assert merged.resting_until() == 900.0


@pytest.mark.parametrize(
    "data",
    [b"[]", b"{not json", b'{"breaker": {"state": "exploded"}}'],
)
def test_an_unreadable_record_is_an_error(data: bytes) -> None:
    with pytest.raises(ValueError):
        StateRecord.loads(data)


def test_odd_values_are_read_safely() -> None:
    rec = StateRecord.loads(b'{"cooling_until": "nan", "strikes": null, "headroom": [1]}')
    assert rec == StateRecord()


async def test_a_row_this_version_cannot_read_is_skipped_not_taken_for_a_reset(
    tmp_path, postgres_dsn: str
) -> None:
    """Say a newer router wrote a breaker state this one does not know: the row is
    ignored; it must not clear the credential (a tombstone would)."""
    junk = '{"breaker": {"state": "forced_open"}}'
    host = HostBackend(tmp_path / "shared-state.sqlite3")
    await host.open()
    await host.publish("p/k", None, StateRecord(cooling_until=5.0, origin="A"))
    db = sqlite3.connect(tmp_path / "shared-state.sqlite3")
    db.execute(
        "INSERT INTO states VALUES ('p/k', '', 'newer', ?, (SELECT seq + 1 FROM meta), 0)", (junk,)
    )
    db.execute("UPDATE meta SET seq = seq + 1")
    db.commit()
    db.close()
    assert [(r.origin, r.record is not None) for r in await host.changes(0)] == [("A", True)]
    await host.close()

    pg = PostgresBackend(postgres_dsn)
    await pg.open()
    await pg.publish("p/k", None, StateRecord(cooling_until=5.0, origin="A"))
    conn = await asyncpg.connect(postgres_dsn)
    await conn.execute(
        "INSERT INTO cliproxy_shared_states VALUES ('p/k', '', 'newer', $1,"
        " nextval('cliproxy_shared_seq'), 0)",
        junk,
    )
    await conn.close()
    assert [(r.origin, r.record is not None) for r in await pg.changes(0)] == [("A", True)]
    await pg.close()
