"""Two router workers under supervisord share a cooldown within a second.

``server.workers: 2``; the test model's rule lists two providers, each a local
OpenAI fake that counts its hits. Requests, each on a new connection so that
the kernel spreads them over both workers (SO_REUSEPORT), go on until both
workers' access logs show they served. Then the first provider answers one
429 (``retry-after: 60``): the worker that met it fails over to the second
provider and rests the credential. One second later, every request through
either worker is served by the second provider and none reaches the resting
one. With ``server.shared_state: local`` (each worker keeping its own rests,
the behaviour before shared state) the worker that did not see the 429 keeps
sending to the first provider, and the hit count check fails.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.fakes import Fail, FakeOpenAI, Reply
from tests.ops.conftest import TEST_MODEL, force_cleanup, log_lines, make_suite, wait_for

pytestmark = pytest.mark.timeout(180)
BACKEND = "auto"  # "host" with two workers; "local" is the pre-shared-state behaviour
AT_ONCE = 4
WARM_MAX = 60  # requests at most until both workers have served
AFTER_MAX = 60  # requests at most after the rest, until each worker served MIN_EACH
MIN_EACH = 5
SHARED_WITHIN = 1.0  # seconds: the contract (docs/shared-state.md)


def _edit(primary: str, secondary: str):
    def edit(data: dict[str, Any]) -> None:
        data["server"].update(workers=2, shared_state=BACKEND)
        data["logging"]["max_bytes"] = 4_000_000  # every access line stays in one file
        # A loaded machine may take seconds to start a worker: no restart for being slow.
        data["health"].update(failures_before_restart=20)
        data["providers"]["suite-test"]["base_url"] = primary
        data["providers"]["suite-second"] = {
            "kind": "openai-compatible",
            "base_url": secondary,
            "api_keys": ["sk-suite-second-000000"],
            "models": [TEST_MODEL],
        }
        data["models"]["routing"][0]["providers"] = ["suite-test", "suite-second"]
        for prov in data["providers"].values():
            if prov.get("kind") in ("aistudio", "webai"):
                prov["enabled"] = False  # no browser pool in this test

    return edit


async def _send(url: str, count: int) -> list[tuple[int, str, str]]:
    """``(status, request id, body)`` of ``count`` requests, a new connection each."""
    body = {"model": TEST_MODEL, "messages": [{"role": "user", "content": "hi"}]}
    gate = asyncio.Semaphore(AT_ONCE)
    timeout = aiohttp.ClientTimeout(total=30)
    connector = aiohttp.TCPConnector(force_close=True, limit=AT_ONCE)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:

        async def one() -> tuple[int, str, str]:
            async with gate:
                async with http.post(f"{url}/v1/chat/completions", json=body) as resp:
                    text = await resp.text()
                    return resp.status, resp.headers.get("X-Request-Id", ""), text

        return await asyncio.gather(*(one() for _ in range(count)))


def _workers(logs: list[Path], ids: set[str]) -> dict[str, int]:
    """Which worker (index of its log) served each request id found so far."""
    out: dict[str, int] = {}
    for index, log in enumerate(logs):
        for line in log_lines(log):
            if line.get("event") == "request" and line.get("request_id") in ids:
                out[line["request_id"]] = index
    return out


async def _served_by(logs: list[Path], ids: set[str]) -> dict[str, int]:
    """As ``_workers``, once every id has its access line (bounded wait)."""
    assert await asyncio.to_thread(wait_for, lambda: len(_workers(logs, ids)) == len(ids), 15)
    return _workers(logs, ids)


async def test_a_429_in_one_worker_rests_the_credential_in_the_other(tmp_path: Path) -> None:
    async with (
        FakeOpenAI(default=Reply(text="one", usage=(1, 1))) as primary,
        FakeOpenAI(default=Reply(text="two", usage=(1, 1))) as secondary,
    ):
        suite = make_suite(tmp_path / "suite", _edit(primary.base_url, secondary.base_url))
        logs = [suite.base / "logs" / f"router_0{i}.log" for i in range(2)]
        try:
            started = await asyncio.to_thread(suite.run, "start.sh")
            assert started.returncode == 0, started.stdout + started.stderr

            def opened() -> bool:
                return all(
                    any(x.get("event") == "shared state" for x in log_lines(log)) for log in logs
                )

            assert await asyncio.to_thread(wait_for, opened, 30), "workers did not start"
            # Both workers serve through the first provider.
            warm: dict[str, int] = {}
            while len(set(warm.values())) < 2:
                assert len(warm) < WARM_MAX, f"one worker served all of {len(warm)}"
                answers = await _send(suite.url, AT_ONCE)
                assert all(s == 200 and "one" in t for s, _, t in answers), answers
                warm.update(await _served_by(logs, {rid for _, rid, _ in answers}))
            # One 429 from the first provider, met by one worker: served by the second.
            primary.enqueue(Fail(429, retry_after=60))
            [(status, rid, text)] = await _send(suite.url, 1)
            rested_at = time.monotonic()
            assert status == 200 and "two" in text, (status, text)
            hits = len(primary.requests)
            met = (await _served_by(logs, {rid}))[rid]
            # Within a second the other worker knows too.
            await asyncio.sleep(max(0.0, rested_at + SHARED_WITHIN - time.monotonic()))
            after: dict[str, int] = {}
            while min(list(after.values()).count(i) for i in range(2)) < MIN_EACH:
                assert len(after) < AFTER_MAX, f"workers served {after}"
                answers = await _send(suite.url, AT_ONCE)
                assert len(primary.requests) == hits, (
                    f"the resting credential was called again ({len(primary.requests) - hits}"
                    f" hits; the 429 was met by worker {met})"
                )
                assert all(s == 200 and "two" in t for s, _, t in answers), answers
                after.update(await _served_by(logs, {rid for _, rid, _ in answers}))
            print(
                f"429 met by worker {met}; after it, per worker: "
                f"{[list(after.values()).count(i) for i in range(2)]}, primary hits {hits}"
            )
            for log in logs:
                text = log.read_text(errors="replace")
                assert "shared state unreachable" not in text
        finally:
            await asyncio.to_thread(force_cleanup, suite)
