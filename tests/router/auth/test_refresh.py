"""Refresh: single-flight under a storm, rotation stored first, refusal disables, outages retry."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx

from router.api import STATE
from router.auth import AuthManager, FileStore
from tests.fakes import Fail, FakeAnthropic, Reply
from tests.fakes.oauth import FakeOAuth
from tests.router.auth._support import (
    CLIENT_KEY,
    claude_record,
    config,
    provider_configs,
    wait_for,
    write_cliproxy_file,
)

NAME = "claude-user@example.com"
BODY = {"model": "claude-x-test", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}


def _stored(tmp: Path, oauth: FakeOAuth, expires_in: float) -> tuple[str, str]:
    access, refresh = oauth.issue()
    write_cliproxy_file(tmp / "auth", claude_record(access, refresh, time.time() + expires_in))
    return access, refresh


async def test_refresh_storm_makes_one_refresh_call_and_serves_everyone(
    start_router, tmp_path: Path
) -> None:
    async with FakeOAuth("claude") as oauth, FakeAnthropic() as api:
        api.api_keys = oauth.access
        api.default = Reply(text="ok")
        oauth.refresh_delay = 0.2  # every request arrives while the one refresh is under way
        _, old_refresh = _stored(tmp_path, oauth, expires_in=-60)  # expired an hour... a minute ago
        cfg = config(
            provider_configs(claude=oauth, anthropic=api),
            {"dir": str(tmp_path / "auth")},
            api_keys=[CLIENT_KEY],
        )
        r = await start_router(cfg)
        limits = httpx.Limits(max_connections=250, max_keepalive_connections=250)
        async with httpx.AsyncClient(base_url=r.url, timeout=30, limits=limits) as http:
            started = time.perf_counter()
            answers = await asyncio.gather(
                *[
                    http.post("/v1/messages", json=BODY, headers={"x-api-key": CLIENT_KEY})
                    for _ in range(200)
                ]
            )
            took = time.perf_counter() - started
    assert [a.status_code for a in answers] == [200] * 200
    assert oauth.refresh_calls == 1
    print(f"refresh storm: 200 requests, {oauth.refresh_calls} refresh call, {took * 1000:.0f} ms")
    stored = await FileStore(tmp_path / "auth").get(NAME)
    assert stored is not None and stored.refresh_token != old_refresh
    assert oauth.is_live_refresh(stored.refresh_token) and not oauth.is_live_refresh(old_refresh)
    assert {rq.headers["Authorization"] for rq in api.requests} == {f"Bearer {stored.access_token}"}


async def test_ahead_of_expiry_in_the_background(tmp_path: Path) -> None:
    async with FakeOAuth("claude") as oauth, FakeAnthropic() as api:
        _stored(tmp_path, oauth, expires_in=30)  # inside a 60 s lead: due now
        cfg = config(
            provider_configs(claude=oauth, anthropic=api, lead=60), {"dir": str(tmp_path / "auth")}
        )
        manager = AuthManager(cfg)
        await manager.start()
        try:
            await wait_for(lambda: oauth.refresh_calls == 1, what="a scheduled refresh")
            await wait_for(
                lambda: manager.get(NAME).current.expires_at > time.time() + 3000,
                what="the new token",
            )
        finally:
            await manager.close()


async def test_refused_refresh_disables_with_a_reason(start_router, tmp_path: Path) -> None:
    async with FakeOAuth("claude") as oauth, FakeAnthropic() as api:
        access, refresh = oauth.issue()
        rec = claude_record(access, refresh + "-revoked", time.time() - 1)
        write_cliproxy_file(tmp_path / "auth", rec)
        cfg = config(
            provider_configs(claude=oauth, anthropic=api),
            {"dir": str(tmp_path / "auth")},
            api_keys=[CLIENT_KEY],
        )
        r = await start_router(cfg)
        auth = r.app[STATE].auth
        await wait_for(lambda: auth.get(NAME).record.refresh_refused, what="the refusal")
        listed = auth.summaries()
        async with httpx.AsyncClient(base_url=r.url, timeout=10) as http:
            after = await http.post("/v1/messages", json=BODY, headers={"x-api-key": CLIENT_KEY})
    assert listed[0]["state"] == "refresh_failed"
    assert "invalid_grant" in listed[0]["reason"]
    assert after.status_code == 404  # no usable credential left for the model
    assert oauth.refresh_calls == 1  # a refused credential is not hammered
    stored = await FileStore(tmp_path / "auth").get(NAME)
    assert stored is not None and stored.refresh_refused


async def test_outage_retries_with_backoff_then_recovers(tmp_path: Path) -> None:
    async with FakeOAuth("claude") as oauth, FakeAnthropic() as api:
        oauth.fail_refresh = 503
        _stored(tmp_path, oauth, expires_in=-1)
        cfg = config(provider_configs(claude=oauth, anthropic=api), {"dir": str(tmp_path / "auth")})
        manager = AuthManager(cfg)
        await manager.start()
        try:
            await wait_for(lambda: oauth.refresh_calls >= 1, what="the first try")
            h = manager.get(NAME)
            assert h.error and h.retry_at > time.time() and h.record.state == "active"
            await asyncio.sleep(0.3)
            assert oauth.refresh_calls == 1  # backing off, not hammering
            oauth.fail_refresh = None
            await wait_for(
                lambda: h.current.expires_at > time.time(), timeout=15, what="a retry that works"
            )
            assert oauth.refresh_calls == 2 and not h.error
        finally:
            await manager.close()


async def test_disabled_and_cooling_credentials_are_still_refreshed(
    start_router, tmp_path: Path
) -> None:
    async with FakeOAuth("claude") as oauth, FakeAnthropic() as api:
        api.api_keys = oauth.access
        _stored(tmp_path, oauth, expires_in=3600)
        other = claude_record(*oauth.issue(), time.time() + 3600, email="other@example.com")
        write_cliproxy_file(tmp_path / "auth", other)
        cfg = config(
            provider_configs(claude=oauth, anthropic=api, lead=60),
            {"dir": str(tmp_path / "auth")},
            api_keys=[CLIENT_KEY],
        )
        r = await start_router(cfg)
        state = r.app[STATE]
        await state.auth.set_disabled(NAME, True)
        api.enqueue(Fail(429, retry_after=600))  # the other one cools down for ten minutes
        async with httpx.AsyncClient(base_url=r.url, timeout=10) as http:
            cooled = await http.post("/v1/messages", json=BODY, headers={"x-api-key": CLIENT_KEY})
        assert cooled.status_code == 429
        for name in (NAME, "claude-other@example.com"):  # both now lapse within the lead
            store = state.auth.store
            rec = await store.get(name)
            await store.put(rec.with_data(expired="2020-01-01T00:00:00Z"), rec.version)
        await wait_for(lambda: oauth.refresh_calls == 2, what="both refreshed on schedule")
        assert state.auth.get(NAME).record.disabled  # refreshed, still disabled


async def test_a_caller_going_away_mid_refresh_does_not_lose_the_rotated_token(
    tmp_path: Path,
) -> None:
    async with FakeOAuth("claude") as oauth, FakeAnthropic() as api:
        oauth.refresh_delay = 0.3
        _, old_refresh = _stored(tmp_path, oauth, expires_in=-1)
        manager = AuthManager(
            config(provider_configs(claude=oauth, anthropic=api), {"dir": str(tmp_path / "auth")})
        )
        await manager.ensure_open(background=False)  # no scheduler: only the caller refreshes
        try:
            caller = asyncio.ensure_future(manager.get(NAME).token())
            await wait_for(lambda: oauth.refresh_calls == 1, what="the refresh to start")
            caller.cancel()  # e.g. the client disconnected
            store = FileStore(tmp_path / "auth")

            async def stored_new() -> bool:
                rec = await store.get(NAME)
                return rec is not None and rec.refresh_token != old_refresh

            await wait_for(stored_new, what="the rotated token to be stored anyway")
            rec = await store.get(NAME)
            assert rec is not None and oauth.is_live_refresh(rec.refresh_token)
        finally:
            await manager.close()
