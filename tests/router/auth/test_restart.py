"""Rotation survives ``kill -9``: the new refresh token is stored before it is used."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import httpx
import orjson

from router.auth import FileStore
from tests.fakes import FakeAnthropic, Hang, Reply
from tests.fakes.oauth import CLAUDE_CLIENT_ID, FakeOAuth
from tests.router.auth._support import (
    CLIENT_KEY,
    claude_record,
    provider_configs,
    raw_config,
    start_router_process,
    wait_for,
    write_cliproxy_file,
)

BODY = {"model": "claude-x-test", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}
NAME = "claude-user@example.com"


async def test_kill_9_right_after_a_refresh(tmp_path: Path) -> None:
    async with FakeOAuth("claude") as oauth, FakeAnthropic() as api:
        api.api_keys = oauth.access
        old_access, old_refresh = oauth.issue()
        write_cliproxy_file(
            tmp_path / "auth", claude_record(old_access, old_refresh, time.time() - 60)
        )
        cfg = raw_config(
            provider_configs(claude=oauth, anthropic=api),
            {"dir": str(tmp_path / "auth")},
            api_keys=[CLIENT_KEY],
        )
        router = await start_router_process(tmp_path, cfg)
        api.enqueue(
            Hang()
        )  # the first use of the new token stays in flight: the kill lands mid-use
        async with httpx.AsyncClient(timeout=10, headers={"x-api-key": CLIENT_KEY}) as http:
            task = asyncio.ensure_future(http.post(f"{router.url}/v1/messages", json=BODY))
            await wait_for(lambda: len(api.requests) == 1, what="the first use of the new token")
            await router.stop(signal.SIGKILL)
            try:
                await task
            except httpx.TransportError:
                pass
            assert oauth.refresh_calls == 1
            used = api.requests[0].headers["Authorization"].removeprefix("Bearer ")
            stored = await FileStore(tmp_path / "auth").get(NAME)
            assert stored is not None and stored.access_token == used
            new_refresh = stored.refresh_token
            assert new_refresh != old_refresh and oauth.is_live_refresh(new_refresh)
            refused = await http.post(
                oauth.token_url,
                content=orjson.dumps(
                    {
                        "grant_type": "refresh_token",
                        "refresh_token": old_refresh,
                        "client_id": CLAUDE_CLIENT_ID,
                    }
                ),
                headers={"Content-Type": "application/json"},
            )
            assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"
            # Restart; the access token has lapsed upstream, so the stored refresh token must work.
            oauth.revoke_access()
            calls = oauth.refresh_calls  # ours so far, plus the refused probe above
            api.default = Reply(text="after restart")
            again = await start_router_process(tmp_path, cfg, "router-2")
            try:
                answer = await http.post(f"{again.url}/v1/messages", json=BODY)
            finally:
                await again.stop()
        assert answer.status_code == 200, answer.text
        assert answer.json()["content"][0]["text"] == "after restart"
        assert oauth.refresh_calls == calls + 1
        final = await FileStore(tmp_path / "auth").get(NAME)
        assert (
            final is not None
            and final.refresh_token != new_refresh
            and not oauth.is_live_refresh(new_refresh)
        )
