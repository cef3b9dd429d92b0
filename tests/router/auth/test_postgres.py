"""The PostgreSQL store, and two router processes sharing one real server."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest

from router.auth import AuthRecord, Conflict
from router.auth._postgres import PostgresStore
from tests.fakes import FakeAnthropic, Reply
from tests.fakes.ctonew import FakeCtoNew
from tests.fakes.oauth import FakeOAuth
from tests.router.auth._support import (
    CLIENT_KEY,
    MANAGEMENT_KEY,
    claude_record,
    provider_configs,
    raw_config,
    start_router_process,
    wait_for,
)

BODY = {"model": "claude-x-test", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}


async def test_schema_versions_conflicts_and_lock(postgres_dsn: str) -> None:
    one, two = PostgresStore(postgres_dsn), PostgresStore(postgres_dsn)
    await asyncio.gather(one.open(), two.open())  # two routers creating the schema at once
    try:
        rec = await one.put(
            AuthRecord("codex-a@example.com", "codex", {"email": "a@example.com"}), None
        )
        assert await two.versions() == {"codex-a@example.com": rec.version}
        newer = await two.put(rec.with_data(n=1), rec.version)
        with pytest.raises(Conflict):
            await one.put(rec.with_data(n=2), rec.version)
        assert (await one.get(rec.name)).data["n"] == 1 and int(newer.version) == int(
            rec.version
        ) + 1
        order: list[str] = []

        async def hold(store: PostgresStore, tag: str) -> None:
            async with store.lock(rec.name):
                order.append(f"{tag}+")
                await asyncio.sleep(0.1)
                order.append(f"{tag}-")

        await asyncio.gather(hold(one, "a"), hold(two, "b"))
        assert order in (["a+", "a-", "b+", "b-"], ["b+", "b-", "a+", "a-"])
        assert await one.delete(rec.name) and not await two.delete(rec.name)
    finally:
        await one.close()
        await two.close()


async def test_two_routers_refresh_once_and_share_new_credentials(
    tmp_path: Path, postgres_dsn: str
) -> None:
    async with FakeOAuth("claude") as oauth, FakeAnthropic() as api, FakeCtoNew() as cto:
        api.api_keys = oauth.access
        api.default = Reply(text="shared")
        oauth.refresh_delay = 0.3
        store = PostgresStore(postgres_dsn)
        await store.open()
        access, refresh = oauth.issue()
        await store.put(claude_record(access, refresh, time.time() - 60), None)  # expired
        provs = provider_configs(claude=oauth, anthropic=api, cto=cto)
        cfg = raw_config(provs, {"store": "postgres", "dsn": postgres_dsn}, api_keys=[CLIENT_KEY])
        a, b = await asyncio.gather(
            start_router_process(tmp_path, cfg, "router-a"),
            start_router_process(tmp_path, cfg, "router-b"),
        )
        try:
            limits = httpx.Limits(max_connections=200)
            async with httpx.AsyncClient(
                timeout=30, limits=limits, headers={"x-api-key": CLIENT_KEY}
            ) as http:
                started = time.perf_counter()
                answers = await asyncio.gather(
                    *[
                        http.post(f"{url}/v1/messages", json=BODY)
                        for url in (a.url, b.url)
                        for _ in range(50)
                    ]
                )
                took = time.perf_counter() - started
                assert [r.status_code for r in answers] == [200] * 100, answers[0].text
                assert oauth.refresh_calls == 1
                print(
                    f"two routers: 100 requests, {oauth.refresh_calls} refresh call, {took * 1000:.0f} ms"
                )
                stored = await store.get("claude-user@example.com")
                assert stored is not None and oauth.is_live_refresh(stored.refresh_token)
                # A cto.new sign-in uploaded to router A serves requests on router B.
                cookie = cto.add_account("shared@example.com")
                up = await http.post(
                    f"{a.url}/v1/auth/ctonew",
                    json={"cookie": cookie},
                    headers={"X-Management-Key": MANAGEMENT_KEY},
                )
                assert up.status_code == 201, up.text

                async def b_serves() -> bool:
                    r = await http.post(
                        f"{b.url}/v1/chat/completions",
                        json={"model": "glm-5.1", "messages": [{"role": "user", "content": "hi"}]},
                        headers={"Authorization": f"Bearer {CLIENT_KEY}"},
                    )
                    return r.status_code == 200

                await wait_for(b_serves, timeout=15, what="router B to serve the new credential")
        finally:
            await asyncio.gather(a.stop(), b.stop())
            await store.close()
