"""The aistudio program under the real supervisord: up with no profile, restarted when killed."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import openai
import psutil
import pytest
import yaml

from aistudio import ProfileStore
from ops.probe import probe
from ops.programs import Manifest, build_manifest
from ops.status import collect
from ops.supervise import start, stop
from suite.config import load_config
from tests.fakes.aistudio_site import FakeAIStudio

from .conftest import MODEL, chromium_path

MGMT = "mgmt-supervised-0123456789"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_config(base: Path, site: FakeAIStudio, router_port: int, health_port: int) -> Path:
    data: dict[str, Any] = {
        "server": {"host": "127.0.0.1", "port": router_port, "shutdown_grace_seconds": 2},
        "management": {"key": MGMT},
        "services": {"token": "svc-supervised-0123456789"},
        "auth": {"dir": str(base / "auth")},
        "providers": {
            "aistudio": {
                "kind": "aistudio",
                "browser": {
                    "engine": "chromium",
                    "executable_path": chromium_path(),
                    "pages": 1,
                    "max_instances": 1,
                },
                "page": {"url": site.url, "signin_hosts": [site.signin_host], "load_timeout": 15},
                "health": {"port": health_port},
            }
        },
        "models": {"routing": [{"pattern": "-aistudio$", "providers": ["aistudio"]}]},
        "logging": {"dir": str(base / "logs"), "level": "info"},
        "health": {"interval_seconds": 1, "failures_before_restart": 3, "timeout_seconds": 2},
    }
    path = base / "config.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


async def services(url: str) -> list[dict[str, Any]]:
    import aiohttp

    async with aiohttp.ClientSession() as s:
        r = await s.get(url + "/v1/auth/aistudio/services", headers={"X-Management-Key": MGMT})
        data: dict[str, Any] = await r.json()
    return list(data["services"])


async def until(check: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await check():
            return True
        await asyncio.sleep(0.1)
    return bool(await check())


class Suite:
    def __init__(self, base: Path, site: FakeAIStudio) -> None:
        self.router_port = free_port()
        self.health_port = free_port()
        self.config = load_config(write_config(base, site, self.router_port, self.health_port))
        self.manifest: Manifest = build_manifest(self.config, run_dir=base / "run")
        self.url = f"http://127.0.0.1:{self.router_port}"

    def aistudio_pid(self) -> int | None:
        for p in collect(self.manifest).processes:
            if p.program == "aistudio" and p.state in ("RUNNING", "STARTING"):
                return p.pid
        return None


@pytest.fixture
async def suite(tmp_path: Path) -> AsyncIterator[tuple[Suite, FakeAIStudio]]:
    site = await FakeAIStudio().start()
    s = Suite(tmp_path, site)
    try:
        yield s, site
    finally:
        await asyncio.to_thread(stop, s.manifest.paths.run_dir, 30.0, True)
        await site.close()


async def test_starts_healthy_without_a_profile(suite: tuple[Suite, FakeAIStudio]) -> None:
    s, _ = suite
    assert await asyncio.to_thread(start, s.config, s.manifest, 60.0) == 0
    result = await asyncio.to_thread(probe, f"http://127.0.0.1:{s.health_port}/healthz", 5.0)
    assert result.ok and result.detail == "no profile signed in: run login"
    row = next(p for p in collect(s.manifest).processes if p.program == "aistudio")
    assert (
        row.state in ("RUNNING", "STARTING")
        and row.healthy
        and row.detail == "no profile signed in: run login"
    )
    assert await until(lambda: _has_peer(s), 10)


async def _has_peer(s: Suite, capacity: int = 0) -> bool:
    found = await services(s.url)
    return bool(found) and found[0]["capacity"] >= capacity


async def test_killed_service_is_restarted_reconnects_and_serves(
    suite: tuple[Suite, FakeAIStudio],
) -> None:
    s, site = suite
    ProfileStore(s.config.auth.dir).save("default", site.storage_state())
    assert await asyncio.to_thread(start, s.config, s.manifest, 60.0) == 0
    assert await until(lambda: _has_peer(s, 1), 30)
    client = openai.AsyncOpenAI(base_url=s.url + "/v1", api_key="x", max_retries=0)
    try:
        done = await client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "a"}]
        )
        assert done.choices[0].message.content == "Hello from the fake AI Studio page."
        pid = s.aistudio_pid()
        assert pid is not None
        browsers = [p.pid for p in psutil.Process(pid).children(recursive=True)]
        os.kill(pid, signal.SIGKILL)
        # The router notices at once (the socket closed) and reports no service.
        assert await until(lambda: _no_peer(s), 5)
        with pytest.raises(openai.APIStatusError) as err:
            await client.chat.completions.create(
                model=MODEL, messages=[{"role": "user", "content": "b"}]
            )
        assert err.value.status_code == 503
        log = (s.manifest.paths.log_dir / "router_00.log").read_text()
        assert any(
            json.loads(line).get("event") == "relay service disconnected"
            for line in log.splitlines()
            if line.startswith("{")
        )
        # supervisord restarts it; it reconnects and serves again.
        assert await until(lambda: _has_peer(s, 1), 40)
        assert s.aistudio_pid() not in (None, pid)
        done = await client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "c"}]
        )
        assert done.choices[0].message.content == "Hello from the fake AI Studio page."
    finally:
        await client.close()
    # The killed service's browser did not outlive it.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(
        psutil.pid_exists(b) and psutil.Process(b).status() != psutil.STATUS_ZOMBIE
        for b in browsers
    ):
        await asyncio.sleep(0.2)
    left = [
        b
        for b in browsers
        if psutil.pid_exists(b) and psutil.Process(b).status() != psutil.STATUS_ZOMBIE
    ]
    assert not left, left


async def _no_peer(s: Suite) -> bool:
    return not await services(s.url)
