"""Two routers (two ``python -m router`` processes) sharing one PostgreSQL share a key's
limit: 200 requests alternating between them, 8 at a time, let 60 ±5% through (57-63;
the counters make it exactly 60) and answer the rest 429 with Retry-After. The key
is made with ``python -m router keys add`` on the same database, and its
revocation reaches both routers within a second.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
import yaml

from tests.fakes import FakeOpenAI, Reply, unused_port

pytestmark = pytest.mark.timeout(180)
ROOT = Path(__file__).resolve().parents[3]
ATTEMPTS, AT_ONCE, LIMIT = 200, 8, 60
BODY = {"model": "gpt-test", "messages": [{"role": "user", "content": "hi"}]}


def _config(tmp_path: Path, name: str, port: int, dsn: str, upstream: str) -> Path:
    path = tmp_path / f"{name}.yaml"
    data = {
        "server": {"port": port, "timeouts": {"connect": 2, "first_byte": 5, "idle": 5}},
        "auth": {"store": "postgres", "dsn": dsn, "dir": str(tmp_path / name)},
        "logging": {"dir": str(tmp_path / "logs"), "level": "info"},
        "usage": {"enabled": False},
        "providers": {
            "oa": {"kind": "openai-compatible", "base_url": upstream, "api_keys": ["sk-up"]}
        },
        "models": {"routing": [{"pattern": "^gpt-", "providers": ["oa"]}]},
    }
    path.write_text(yaml.safe_dump(data))
    return path


async def _run(*args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "router",
        *args,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode or 0, out.decode(), err.decode()


@contextlib.asynccontextmanager
async def _router(config: Path, log: Path) -> AsyncIterator[None]:
    with open(log, "wb") as sink:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "router",
            "--config",
            str(config),
            cwd=ROOT,
            stdout=sink,
            stderr=asyncio.subprocess.STDOUT,
        )
    try:
        yield
    finally:
        if proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 20)
            except TimeoutError:
                proc.kill()
                await proc.wait()


async def _ready(http: aiohttp.ClientSession, url: str, log: Path) -> None:
    deadline = time.monotonic() + 60
    while True:
        with contextlib.suppress(aiohttp.ClientError):
            async with http.get(f"{url}/healthz") as resp:
                if resp.status == 200:
                    return
        assert time.monotonic() < deadline, log.read_text(errors="replace")[-3000:]
        await asyncio.sleep(0.1)


async def _post(http: aiohttp.ClientSession, url: str, key: str) -> tuple[int, str | None]:
    headers = {"Authorization": f"Bearer {key}"}
    async with http.post(f"{url}/v1/chat/completions", json=BODY, headers=headers) as resp:
        await resp.read()
        return resp.status, resp.headers.get("Retry-After")


async def test_two_routers_on_postgres_share_a_limit_of_60(postgres_dsn, tmp_path) -> None:
    async with FakeOpenAI() as fake:
        fake.default = Reply(text="ok", usage=(1, 1))
        ports = [unused_port(), unused_port()]
        configs = [
            _config(tmp_path, f"r{i}", port, postgres_dsn, fake.base_url)
            for i, port in enumerate(ports)
        ]
        code, out, err = await _run(
            "keys", "--config", str(configs[0]), "add", "team", "--rpm", str(LIMIT)
        )
        assert code == 0, err
        key = next(x for x in out.split() if x.startswith("cpa-"))
        urls = [f"http://127.0.0.1:{p}" for p in ports]
        logs = [tmp_path / f"r{i}.out" for i in range(2)]
        async with (
            _router(configs[0], logs[0]),
            _router(configs[1], logs[1]),
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http,
        ):
            for url, log in zip(urls, logs, strict=True):
                await _ready(http, url, log)  # keys are loaded before a router listens
            gate = asyncio.Semaphore(AT_ONCE)

            async def one(i: int) -> tuple[int, int, str | None]:
                async with gate:
                    return (i % 2, *await _post(http, urls[i % 2], key))

            began = time.monotonic()
            answers = await asyncio.gather(*(one(i) for i in range(ATTEMPTS)))
            spent = time.monotonic() - began
            allowed = [r for r, status, _ in answers if status == 200]
            refused = [after for _, status, after in answers if status == 429]
            per_router = [
                (allowed.count(r), sum(1 for x, s, _ in answers if x == r and s == 429))
                for r in (0, 1)
            ]
            print(
                f"allowed {len(allowed)} of {ATTEMPTS} in {spent:.1f} s; (200, 429) per router {per_router}"
            )
            assert len(allowed) + len(refused) == ATTEMPTS, sorted({s for _, s, _ in answers})
            assert spent < 50, "the load must fit in one window"
            assert 57 <= len(allowed) <= 63
            assert all(after is not None and 1 <= int(after) <= 60 for after in refused)
            assert all(ok > 0 and no > 0 for ok, no in per_router), per_router
            assert len(fake.requests) == len(allowed)

            code, _, err = await _run("keys", "--config", str(configs[1]), "revoke", "team")
            assert code == 0, err
            revoked = time.monotonic()
            waiting = set(urls)
            while waiting:
                for url in list(waiting):
                    if (await _post(http, url, key))[0] == 401:
                        waiting.discard(url)
                assert time.monotonic() - revoked < 5, f"{waiting} still serve a revoked key"
                await asyncio.sleep(0.02)
            took = time.monotonic() - revoked
            print(f"the revocation reached both routers in {took:.2f} s")
            assert took < 1.0
