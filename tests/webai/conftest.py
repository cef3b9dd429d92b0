"""webai under test: settings from a real config mapping, the app on a loopback port."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from suite.config import Config, parse_config
from tests.fakes import unused_port
from tests.fakes.gemini_web import FakeGeminiWeb
from webai import WebAISettings, create_app, load_settings

from .providers import ALL


def webai_config(
    base: Path,
    fake: FakeGeminiWeb | None = None,
    *,
    port: int | None = None,
    fallback: tuple[str, ...] = (),
    cookies: dict[str, str] | None = None,
    gemini: dict[str, Any] | None = None,
    token: str = "",
    timeouts: dict[str, float] | None = None,
    extra_providers: dict[str, Any] | None = None,
    routing: list[dict[str, Any]] | None = None,
    api_keys: list[str] | None = None,
) -> Config:
    """A validated config with one webai provider (Gemini web through ``fake`` if given)."""
    gem: dict[str, Any] = {"enabled": fake is not None, "cookie_sync_seconds": 0.2}
    if fake is not None:
        gem.update(proxy=fake.proxy_url, ca_bundle=str(fake.ca_file), init_timeout=20)
        gem["cookies"] = (
            cookies
            if cookies is not None
            else {"__Secure-1PSID": fake.account.psid, "__Secure-1PSIDTS": fake.account.psidts}
        )
    gem.update(gemini or {})
    webai: dict[str, Any] = {
        "kind": "webai",
        "url": f"http://127.0.0.1:{port or unused_port()}",
        "gemini": gem,
        "fallback": [{"provider": f"tests.webai.providers:{name}"} for name in fallback],
        "backend_timeouts": timeouts or {"first_byte": 10, "idle": 10, "total": 60},
    }
    data: dict[str, Any] = {
        "server": {
            "api_keys": api_keys or [],
            "timeouts": {"connect": 2, "first_byte": 30, "idle": 10},
        },
        "services": {"token": token},
        "auth": {"dir": str(base / "auth")},
        "providers": {"webai": webai, **(extra_providers or {})},
        "models": {"routing": routing or []},
    }
    return parse_config(data, environ={})


@dataclass
class RunningWebAI:
    app: web.Application
    server: TestServer
    settings: WebAISettings

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.port}"

    async def get(self, path: str) -> tuple[int, Any]:
        async with aiohttp.ClientSession() as s, s.get(self.url + path) as r:
            return r.status, await r.json()

    async def post(self, body: Any, headers: dict[str, str] | None = None) -> tuple[int, Any, str]:
        async with aiohttp.ClientSession() as s:
            async with s.post(f"{self.url}/v1/chat/completions", json=body, headers=headers) as r:
                text = await r.text()
                try:
                    data = await r.json(content_type=None)
                except ValueError:
                    data = None
                return r.status, data, text

    async def health_settled(self) -> tuple[int, Any]:
        """/healthz once no backend is still signing in (bounded: 10 s)."""
        for _ in range(200):
            status, body = await self.get("/healthz")
            if body["status"] != "starting":
                return status, body
            await asyncio.sleep(0.05)
        return status, body


StartWebAI = Callable[..., Awaitable[RunningWebAI]]


@pytest.fixture
async def start_webai() -> AsyncIterator[StartWebAI]:
    """``await start_webai(config)`` serves webai on its configured port until stopped."""
    running: list[RunningWebAI] = []

    async def start(config: Config) -> RunningWebAI:
        settings = load_settings(config)
        app = create_app(settings)
        server = TestServer(app, host="127.0.0.1", port=settings.port)
        await server.start_server()
        r = RunningWebAI(app, server, settings)
        running.append(r)
        return r

    yield start
    for r in running:
        await r.server.close()


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """gemini-webapi's cache dir is process-wide (an env var): restore it after each test."""
    monkeypatch.setenv("GEMINI_COOKIE_PATH", str(tmp_path / "unused-library-cache"))
    for provider in ALL:
        provider.reset()
    yield


@pytest.fixture
async def gemini_web() -> AsyncIterator[FakeGeminiWeb]:
    async with FakeGeminiWeb() as fake:
        yield fake


def sse_events(text: str) -> list[Any]:
    """The JSON payloads of an OpenAI SSE body (``[DONE]`` as the string)."""
    import orjson

    out: list[Any] = []
    for line in text.splitlines():
        if line.startswith("data: "):
            data = line[6:]
            out.append(data if data == "[DONE]" else orjson.loads(data))
    return out
