"""The adapter a scheduler calls: router.auth.Credential <-> shared records."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest

from router.auth import Credential, Quota, QuotaWindow
from router.shared import (
    HostBackend,
    SharedState,
    StateRecord,
    apply_record,
    credential_listener,
    credential_record,
    publish_credential,
)
from suite.config import CooldownConfig

pytestmark = pytest.mark.timeout(60)


def quota(seen_at: float, used: float) -> Quota:
    return Quota(seen_at=seen_at, five_hour=QuotaWindow(used, seen_at + 3600, 300, "allowed"))


def test_a_credential_becomes_a_record_and_back() -> None:
    cred = Credential("p/key1", "p", "sk-secret")
    cred.rate_limited(1000.0, 30.0, CooldownConfig())
    cred.auth_failed(1000.0, "401 from upstream", CooldownConfig())
    cred.quota = quota(999.0, 42.0)
    rec = credential_record(cred)
    assert (rec.cooling_until, rec.strikes, rec.disabled_until) == (1030.0, 1, 1600.0)
    assert rec.disabled_reason == "401 from upstream"
    assert "sk-secret" not in rec.dumps().decode()
    other = Credential("p/key1", "p", "sk-secret")
    apply_record(other, StateRecord.loads(rec.dumps()))
    assert (other.cooling_until, other.strikes, other.disabled_until) == (1030.0, 1, 1600.0)
    assert other.quota == cred.quota


def test_applying_keeps_the_longer_rest_and_the_newer_quota() -> None:
    cred = Credential("p/k", "p", "")
    cred.cooling_until, cred.strikes, cred.quota = 500.0, 3, quota(200.0, 10.0)
    apply_record(
        cred, StateRecord(cooling_until=300.0, strikes=1, headroom=quota(100.0, 90.0).to_json())
    )
    assert (cred.cooling_until, cred.strikes) == (500.0, 3)
    assert cred.quota is not None and cred.quota.seen_at == 200.0
    apply_record(cred, StateRecord(cooling_until=900.0, headroom=quota(300.0, 55.0).to_json()))
    assert cred.cooling_until == 900.0
    assert cred.quota is not None and cred.quota.five_hour is not None
    assert cred.quota.five_hour.used_percent == 55.0


async def _until(test: Callable[[], bool], within: float = 1.0) -> None:
    deadline = time.monotonic() + within
    while not test():
        assert time.monotonic() < deadline, f"not within {within} s"
        await asyncio.sleep(0.02)


async def test_a_429_in_one_worker_rests_the_credential_in_the_other(tmp_path) -> None:
    path = tmp_path / "shared-state.sqlite3"
    one, two = SharedState(HostBackend(path)), SharedState(HostBackend(path))
    await one.start()
    await two.start()
    try:
        mine, theirs = Credential("p/key1", "p", ""), Credential("p/key1", "p", "")
        two.listen(credential_listener(lambda cid: theirs if cid == theirs.id else None))
        one.listen(credential_listener(lambda cid: mine if cid == mine.id else None))
        now = time.time()
        mine.rate_limited(now, 20.0, CooldownConfig())
        publish_credential(one, mine)
        await _until(lambda: not theirs.ready(time.time()))  # within a second
        assert theirs.cooling_until == mine.cooling_until
        await two.clear("p/key1")  # POST .../reset, served by the other worker
        assert theirs.ready(time.time())
        await _until(lambda: mine.ready(time.time()))
        assert mine.strikes == 0
    finally:
        await one.close()
        await two.close()
