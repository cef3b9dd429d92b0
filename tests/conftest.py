"""Shared fixtures: a router running in-process on loopback, configured in code."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from router.app import create_app
from suite.config import Config, parse_config


def build_config(
    providers: dict[str, dict[str, Any]],
    routing: list[dict[str, Any]],
    *,
    api_keys: list[str] | None = None,
    server: dict[str, Any] | None = None,
) -> Config:
    """A validated Config from plain dicts (no environment is read)."""
    srv: dict[str, Any] = {"api_keys": api_keys or [], "timeouts": {"connect": 2, "first_byte": 5, "idle": 5}}
    srv.update(server or {})
    return parse_config(
        {"server": srv, "providers": providers, "models": {"routing": routing}}, environ={}
    )


@dataclass
class RunningRouter:
    app: web.Application
    server: TestServer

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.port}"


StartRouter = Callable[..., Awaitable[RunningRouter]]


@pytest.fixture
async def start_router() -> AsyncIterator[StartRouter]:
    """Factory: ``await start_router(config)`` serves a router on 127.0.0.1 until the test ends."""
    servers: list[TestServer] = []

    async def start(config: Config) -> RunningRouter:
        app = create_app(config)
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        servers.append(server)
        return RunningRouter(app, server)

    yield start
    for server in servers:
        await server.close()
