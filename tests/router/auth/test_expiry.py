"""Wild expiries and misbehaving token endpoints: observability stays up, rotated tokens
are kept, failed refreshes back off.

A credential file or a token answer may carry any expiry (``1e20``, ``-1e20``,
``"nan"``, a year past 9999): it is clamped, never an overflow. A refresh
whose answer cannot be used still stores the refresh token the provider has
just rotated, and the next try waits for the backoff.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from router.auth import AuthManager, AuthRecord, FileStore, RefreshFailed
from router.auth._live import BACKOFF_BASE_SECONDS
from router.auth._record import MAX_LIFETIME_SECONDS, rfc3339
from tests.fakes import FakeAnthropic, FakeOpenAI
from tests.fakes.oauth import FakeOAuth
from tests.router.auth._support import (
    CLIENT_KEY,
    MANAGEMENT_KEY,
    claude_record,
    codex_record,
    config,
    provider_configs,
    wait_for,
    write_cliproxy_file,
)

MGMT = {"Authorization": f"Bearer {MANAGEMENT_KEY}"}
NAME = "claude-user@example.com"
WILD = [1e20, -1e20, "nan", "99999-01-01T00:00:00Z", "9999-12-31T23:59:59-12:00", 1e300, "1e20"]


@pytest.mark.parametrize("expired", [1e20, -1e20, 1e300, "9999-12-31T23:59:59-12:00"], ids=str)
def test_a_wild_expiry_is_clamped(expired: Any) -> None:
    rec = AuthRecord(NAME, "claude", {"type": "claude", "access_token": "a", "expired": expired})
    now = time.time()
    assert 0.0 <= rec.expires_at <= now + MAX_LIFETIME_SECONDS + 1
    summary = rec.summary()  # raised OverflowError / ValueError before
    assert summary["expires_at"] is None or summary["expires_at"].endswith("Z")
    assert abs(rec.token().expires_at - rec.expires_at) < 5  # clamped against the clock


@pytest.mark.parametrize("ts", [1e20, -1e20, float("nan"), float("inf"), -float("inf")], ids=str)
def test_rfc3339_gives_a_date_for_any_float(ts: float) -> None:
    assert rfc3339(ts)[:2] in ("19", "99")


async def test_wild_expiries_in_files_leave_the_observability_endpoints_up(
    start_router, tmp_path: Path
) -> None:
    async with FakeOAuth("claude") as oauth, FakeAnthropic() as api:
        oauth.fail_refresh = 503  # the expired ones are not repaired behind the test's back
        for i, expired in enumerate(WILD):
            access, refresh = oauth.issue()
            rec = claude_record(access, refresh, 0, email=f"user{i}@example.com")
            write_cliproxy_file(tmp_path / "auth", rec.with_data(expired=expired))
        cfg = config(
            provider_configs(claude=oauth, anthropic=api),
            {"dir": str(tmp_path / "auth")},
            api_keys=[CLIENT_KEY],
        )
        r = await start_router(cfg)
        async with httpx.AsyncClient(base_url=r.url, headers=MGMT, timeout=10) as http:
            listed = await http.get("/v1/auth/credentials")
            status = await http.get("/status.json")
            metrics = await http.get("/metrics")
    assert (listed.status_code, status.status_code, metrics.status_code) == (200, 200, 200)
    creds = listed.json()["credentials"]
    assert len(creds) == len(WILD) and all(c["state"] == "active" for c in creds)
    assert "cliproxy_credentials" in metrics.text


@pytest.mark.parametrize("flavour", ["claude", "codex"])
async def test_expires_in_1e20_keeps_the_rotated_token_and_is_not_retried(
    tmp_path: Path, flavour: str
) -> None:
    api = FakeAnthropic() if flavour == "claude" else FakeOpenAI()
    async with FakeOAuth(flavour, expires_in=1e20) as oauth, api:
        if flavour == "claude":
            rec = claude_record(*oauth.issue(), time.time() - 60)
            kinds = {"claude": oauth, "anthropic": api}
        else:
            rec = codex_record(oauth, time.time() - 60)
            kinds = {"codex": oauth, "openai": api}
        old_refresh = rec.refresh_token
        write_cliproxy_file(tmp_path / "auth", rec)
        manager = AuthManager(config(provider_configs(**kinds), {"dir": str(tmp_path / "auth")}))
        await manager.start()  # polls every 0.1 s
        store = FileStore(tmp_path / "auth")
        try:

            async def rotated_on_disk() -> bool:
                stored = await store.get(rec.name)
                return stored is not None and stored.refresh_token != old_refresh

            await wait_for(rotated_on_disk, what="the rotated refresh token on disk")
            stored = await store.get(rec.name)
            assert stored is not None and oauth.is_live_refresh(stored.refresh_token)
            assert time.time() < stored.expires_at <= time.time() + MAX_LIFETIME_SECONDS
            # Twenty polls: the refreshed token is good for a year, nothing is due.
            await asyncio.sleep(2.0)
            assert oauth.refresh_calls == 1
            h = manager.get(rec.name)
            assert h is not None and not h.error and h.record.state == "active"
        finally:
            await manager.close()


async def test_an_unusable_answer_still_stores_the_rotated_token_and_backs_off(
    tmp_path: Path,
) -> None:
    async with FakeOAuth("claude") as oauth, FakeAnthropic() as api:
        oauth.refresh_extra = {"access_token": None}  # rotates, but hands out no access token
        access, old_refresh = oauth.issue()
        write_cliproxy_file(tmp_path / "auth", claude_record(access, old_refresh, time.time() - 60))
        manager = AuthManager(
            config(provider_configs(claude=oauth, anthropic=api), {"dir": str(tmp_path / "auth")})
        )
        await manager.start()
        store = FileStore(tmp_path / "auth")
        try:

            async def rotated_on_disk() -> bool:
                stored = await store.get(NAME)
                return stored is not None and stored.refresh_token != old_refresh

            await wait_for(rotated_on_disk, what="the rotated refresh token on disk")
            stored = await store.get(NAME)
            assert stored is not None and oauth.is_live_refresh(stored.refresh_token)
            h = manager.get(NAME)
            assert h is not None and "without an access token" in h.error
            assert h.record.state == "active"  # not mistaken for a refusal
            # Until the backoff ends (2 s after the first failure; the store is polled
            # every 0.1 s meanwhile) the endpoint is not called again.
            assert h.retry_at - time.time() > BACKOFF_BASE_SECONDS - 1.0
            await asyncio.sleep(max(0.0, h.retry_at - time.time() - 0.2))
            assert oauth.refresh_calls == 1
            # Once the endpoint behaves, the retry presents the stored (rotated) token.
            oauth.refresh_extra = {}
            await wait_for(
                lambda: h.current.expires_at > time.time() + 600, timeout=15, what="the retry"
            )
            assert oauth.refresh_calls == 2 and not h.error
        finally:
            await manager.close()


async def test_a_401_during_the_backoff_does_not_call_the_token_endpoint(tmp_path: Path) -> None:
    async with FakeOAuth("claude") as oauth, FakeAnthropic() as api:
        oauth.fail_refresh = 503
        access, refresh = oauth.issue()
        write_cliproxy_file(tmp_path / "auth", claude_record(access, refresh, time.time() + 3600))
        manager = AuthManager(
            config(provider_configs(claude=oauth, anthropic=api), {"dir": str(tmp_path / "auth")})
        )
        await manager.ensure_open(background=False)  # no scheduler: only callers refresh
        try:
            h = manager.get(NAME)
            assert h is not None
            with pytest.raises(RefreshFailed):
                await h.refreshed(h.current)  # the upstream said 401
            assert oauth.refresh_calls == 1 and h.backing_off()
            for _ in range(20):  # a storm of 401s while the endpoint is down
                with pytest.raises(RefreshFailed, match="retry in"):
                    await h.refreshed(h.current)
            assert oauth.refresh_calls == 1
        finally:
            await manager.close()
