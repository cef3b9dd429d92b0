"""Two router workers under supervisord share one key's limit of 60 requests a minute.

The key is made with ``python -m router keys add`` before the suite starts (both
workers load it at start), then 200 requests, 8 at a time, each on a new
connection so that the kernel spreads them over both workers (SO_REUSEPORT), go to
one fake upstream. Between them the workers let 60 ±5% through (57-63; the host
store makes it exactly 60) and answer the rest 429 with Retry-After, and each
worker's access log shows it served and refused some. With nothing shared (each
worker counting alone) the same load gets up to 120.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.fakes import FakeOpenAI, Reply
from tests.ops.conftest import TEST_MODEL, force_cleanup, log_lines, make_suite, wait_for

pytestmark = pytest.mark.timeout(180)
ROOT = Path(__file__).resolve().parents[3]
ATTEMPTS, AT_ONCE, LIMIT = 200, 8, 60


def _edit(upstream: str):
    def edit(data: dict[str, Any]) -> None:
        data["server"].update(workers=2)
        data["logging"]["max_bytes"] = 4_000_000  # every access line stays in one file
        # A loaded machine may take seconds to start a worker: no restart for being slow.
        data["health"].update(failures_before_restart=20)
        data["providers"]["suite-test"]["base_url"] = upstream
        for prov in data["providers"].values():
            if prov.get("kind") in ("aistudio", "webai"):
                prov["enabled"] = False  # no browser pool in this test

    return edit


async def _hammer(url: str, key: str) -> list[tuple[int, str | None]]:
    """``(status, Retry-After)`` of each attempt; a new connection per request."""
    body = {"model": TEST_MODEL, "messages": [{"role": "user", "content": "hi"}]}
    headers = {"Authorization": f"Bearer {key}"}
    gate = asyncio.Semaphore(AT_ONCE)
    timeout = aiohttp.ClientTimeout(total=30)
    connector = aiohttp.TCPConnector(force_close=True, limit=AT_ONCE)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:

        async def one() -> tuple[int, str | None]:
            async with gate:
                url_ = f"{url}/v1/chat/completions"
                async with http.post(url_, json=body, headers=headers) as resp:
                    await resp.read()
                    return resp.status, resp.headers.get("Retry-After")

        return await asyncio.gather(*(one() for _ in range(ATTEMPTS)))


def _served(log: Path) -> dict[int, int]:
    """Requests of the key ``team`` in one worker's access log, by status."""
    out: dict[int, int] = {}
    for line in log_lines(log):
        if line.get("event") == "request" and line.get("client") == "team":
            out[line["status"]] = out.get(line["status"], 0) + 1
    return out


async def test_a_limit_of_60_holds_across_two_supervised_workers(tmp_path: Path) -> None:
    async with FakeOpenAI() as fake:
        fake.default = Reply(text="ok", usage=(1, 1))
        suite = make_suite(tmp_path / "suite", _edit(fake.base_url))
        add = subprocess.run(
            [sys.executable, "-m", "router", "keys", "add", "team", "--rpm", str(LIMIT)],
            env=suite.env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert add.returncode == 0, add.stderr
        key = next(x for x in add.stdout.split() if x.startswith("cpa-"))
        logs = [suite.base / "logs" / f"router_0{i}.log" for i in range(2)]
        try:
            started = await asyncio.to_thread(suite.run, "start.sh")
            assert started.returncode == 0, started.stdout + started.stderr

            def loaded() -> bool:
                return all(
                    any(
                        x.get("event") == "client keys loaded" and x.get("count") == 1
                        for x in log_lines(log)
                    )
                    for log in logs
                )

            assert await asyncio.to_thread(wait_for, loaded, 30), "workers did not load the key"
            began = time.monotonic()
            answers = await _hammer(suite.url, key)
            spent = time.monotonic() - began
            allowed = sum(1 for status, _ in answers if status == 200)
            refused = [after for status, after in answers if status == 429]
            assert allowed + len(refused) == ATTEMPTS, sorted({s for s, _ in answers})
            assert spent < 50, "the load must fit in one window"
            assert 57 <= allowed <= 63, allowed
            assert all(after is not None and 1 <= int(after) <= 60 for after in refused)
            assert fake.requests and len(fake.requests) == allowed  # refused: never upstream

            def logged() -> bool:
                return sum(sum(_served(log).values()) for log in logs) == ATTEMPTS

            assert await asyncio.to_thread(wait_for, logged, 15), [_served(x) for x in logs]
            per_worker = [_served(log) for log in logs]
            print(f"allowed {allowed} of {ATTEMPTS} in {spent:.1f} s; per worker {per_worker}")
            for seen in per_worker:
                assert seen.get(200, 0) > 0 and seen.get(429, 0) > 0, per_worker
            show = await asyncio.to_thread(
                subprocess.run,
                [sys.executable, "-m", "router", "keys", "show", "team", "--json"],
                env=suite.env,
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert show.returncode == 0, show.stderr
            assert json.loads(show.stdout)["usage"]["requests_this_minute"] == allowed
            assert key not in show.stdout
        finally:
            await asyncio.to_thread(force_cleanup, suite)
