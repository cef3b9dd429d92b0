"""Stored sign-ins on /metrics and /status.json: refreshes counted, states named."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from router.api import STATE
from router.observability import credential_views
from tests.fakes import FakeAnthropic
from tests.fakes.oauth import FakeOAuth
from tests.router.auth._support import (
    CLIENT_KEY,
    MANAGEMENT_KEY,
    claude_record,
    config,
    provider_configs,
    wait_for,
    write_cliproxy_file,
)

from ._support import scrape, value

MGMT = {"Authorization": f"Bearer {MANAGEMENT_KEY}"}


def _config(tmp_path: Path, oauth: FakeOAuth, api: FakeAnthropic):
    cfg = config(
        provider_configs(claude=oauth, anthropic=api),
        {"dir": str(tmp_path / "auth")},
        api_keys=[CLIENT_KEY],
    )
    assert cfg.usage.path == tmp_path / "auth" / "usage.sqlite3"  # the data dir by default
    return cfg


async def test_a_refresh_is_counted_and_the_credential_shows_its_expiry(
    start_router, tmp_path
) -> None:
    async with FakeOAuth("claude") as oauth, FakeAnthropic() as api:
        access, refresh = oauth.issue()
        write_cliproxy_file(tmp_path / "auth", claude_record(access, refresh, time.time() - 60))
        oauth.refresh_delay = 0.3
        r = await start_router(_config(tmp_path, oauth, api))
        states = lambda: [v.state for v in credential_views(r.app[STATE])]  # noqa: E731
        await wait_for(lambda: states() == ["refreshing"], what="a refresh under way")
        await wait_for(
            lambda: oauth.refresh_calls == 1 and states() == ["ready"], what="the refresh"
        )
        async with httpx.AsyncClient(timeout=10) as http:
            m = await scrape(http, r.url)
            doc = (await http.get(f"{r.url}/status.json", headers=MGMT)).json()
    assert value(m, "cliproxy_credential_refreshes_total", provider="claude", result="ok") == 1
    assert value(m, "cliproxy_credential_refreshes_total", result="failed") == 0
    assert value(m, "cliproxy_credentials", provider="llmux-claude", state="ready") == 1
    (prov,) = [p for p in doc["providers"] if p["name"] == "llmux-claude"]
    (cred,) = prov["credentials"]
    assert cred["state"] == "ready" and cred["account"] == "user@example.com"
    assert cred["expires_at"] and cred["expires_at"].endswith("Z")


async def test_a_refused_refresh_is_a_failure_and_needs_a_login(start_router, tmp_path) -> None:
    async with FakeOAuth("claude") as oauth, FakeAnthropic() as api:
        access, refresh = oauth.issue()
        write_cliproxy_file(
            tmp_path / "auth", claude_record(access, refresh + "-revoked", time.time() - 1)
        )
        r = await start_router(_config(tmp_path, oauth, api))
        auth = r.app[STATE].auth
        await wait_for(
            lambda: auth.get("claude-user@example.com").record.refresh_refused, what="the refusal"
        )
        async with httpx.AsyncClient(timeout=10) as http:
            m = await scrape(http, r.url)
            doc = (await http.get(f"{r.url}/status.json", headers=MGMT)).json()
    assert value(m, "cliproxy_credential_refreshes_total", provider="claude", result="failed") == 1
    assert value(m, "cliproxy_credentials", provider="llmux-claude", state="login_required") == 1
    assert value(m, "cliproxy_credentials", provider="llmux-claude", state="ready") == 0
    (prov,) = [p for p in doc["providers"] if p["name"] == "llmux-claude"]
    (cred,) = prov["credentials"]
    assert cred["state"] == "login_required" and "invalid_grant" in cred["reason"]
    assert [v.state for v in credential_views(r.app[STATE])] == ["login_required"]
