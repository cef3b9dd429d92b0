"""Rests, breakers and resets reach every worker and instance within a second.

Two routers in one test, each with its own shared-state handle, as two
workers of one host (SQLite in the run dir) or two instances on one
PostgreSQL would be; the upstreams are real local fakes.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from pathlib import Path

import anthropic
import httpx

from suite.config import ManagementConfig
from tests.conftest import build_config
from tests.fakes import Fail, FakeAnthropic, Reply

KEY = "sk-client"
MGMT = {"Authorization": "Bearer m-key"}
MSG = [{"role": "user", "content": "hi"}]


def _config(primary: str, secondary: str, backend: str, tmp_path: Path, dsn: str = "") -> object:
    cfg = build_config(
        {
            "primary": {"kind": "anthropic", "base_url": primary, "api_keys": ["k-p"]},
            "secondary": {"kind": "anthropic", "base_url": secondary, "api_keys": ["k-s"]},
        },
        [{"pattern": "^claude-", "providers": ["primary", "secondary"]}],
        api_keys=[KEY],
        server={"breaker": {"failures": 1, "base_seconds": 60}},
    )
    auth = dataclasses.replace(cfg.auth, dir=tmp_path, dsn=dsn)
    server = dataclasses.replace(cfg.server, shared_state=backend)
    mgmt = ManagementConfig(key="m-key")
    return dataclasses.replace(cfg, auth=auth, server=server, management=mgmt)


async def _state(http: httpx.AsyncClient, url: str) -> str:
    doc = (await http.get(f"{url}/status.json", headers=MGMT)).json()
    provs = doc["providers"]
    for prov in provs.values() if isinstance(provs, dict) else provs:
        if prov["name"] == "primary":
            return str(prov["credentials"][0]["state"])
    raise AssertionError(doc)


async def _until(http: httpx.AsyncClient, url: str, state: str, within: float = 1.0) -> float:
    started = time.monotonic()
    while (got := await _state(http, url)) != state:
        assert time.monotonic() - started < within, f"still {got} after {within} s"
        await asyncio.sleep(0.02)
    return time.monotonic() - started


async def test_two_workers_of_a_host_share_rests_breakers_and_resets(
    start_router, tmp_path
) -> None:
    await _shared(start_router, tmp_path, "host")


async def test_two_routers_on_one_postgres_share_rests_breakers_and_resets(
    start_router, tmp_path, postgres_dsn
) -> None:
    await _shared(start_router, tmp_path, "postgres", postgres_dsn)


async def _shared(start_router, tmp_path: Path, name: str, dsn: str = "") -> None:
    async with FakeAnthropic() as one, FakeAnthropic(default=Reply(text="two")) as two:
        cfg = _config(one.base_url, two.base_url, name, tmp_path, dsn)
        a, b = await start_router(cfg), await start_router(cfg)
        ca = anthropic.AsyncAnthropic(base_url=a.url, api_key=KEY, max_retries=0)
        cb = anthropic.AsyncAnthropic(base_url=b.url, api_key=KEY, max_retries=0)
        async with ca, cb, httpx.AsyncClient() as http:
            # A 429 in router A (Anthropic's limits are per model: claude-x rests) ...
            one.enqueue(Fail(429, retry_after=60))
            await ca.messages.create(model="claude-x", max_tokens=9, messages=MSG)
            await _until(http, b.url, "cooling")
            seen = len(one.requests)
            msg = await cb.messages.create(model="claude-x", max_tokens=9, messages=MSG)
            assert msg.content[0].text == "two" and len(one.requests) == seen
            # ... and a reset in B puts it back in both.
            reset = await http.post(
                f"{b.url}/v1/auth/credentials/{_primary_id(a)}/reset", headers=MGMT
            )
            assert reset.status_code == 200, reset.text
            await _until(http, a.url, "ready")
            # A breaker opened in B keeps A away too.
            one.enqueue(Fail(500))
            await cb.messages.create(model="claude-x", max_tokens=9, messages=MSG)
            await _until(http, a.url, "broken")
            seen = len(one.requests)
            await ca.messages.create(model="claude-x", max_tokens=9, messages=MSG)
            assert len(one.requests) == seen


def _primary_id(router) -> str:
    from router.api import STATE

    return router.app[STATE].current.table.credentials("primary")[0].id
