"""Shared fixtures: a router running in-process on loopback, configured in code."""

from __future__ import annotations

import atexit
import shutil
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from router.app import create_app
from suite.config import Config, UsageConfig, parse_config


@cache
def _scratch() -> Path:
    """One temp dir per test session for usage databases nobody asked for by path."""
    path = Path(tempfile.mkdtemp(prefix="cliproxy-tests-"))
    atexit.register(shutil.rmtree, path, True)
    return path


def private_usage(config: Config) -> Config:
    """Keep a test router's usage records out of ~/.cli-proxy-api (the default data dir)."""
    if config.usage.path != UsageConfig().path:
        return config
    return replace(config, usage=replace(config.usage, path=_scratch() / "usage.sqlite3"))


def build_config(
    providers: dict[str, dict[str, Any]],
    routing: list[dict[str, Any]],
    *,
    api_keys: list[str] | None = None,
    server: dict[str, Any] | None = None,
) -> Config:
    """A validated Config from plain dicts (no environment is read)."""
    srv: dict[str, Any] = {
        "api_keys": api_keys or [],
        "timeouts": {"connect": 2, "first_byte": 5, "idle": 5},
    }
    srv.update(server or {})
    return private_usage(
        parse_config(
            {"server": srv, "providers": providers, "models": {"routing": routing}}, environ={}
        )
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
        app = create_app(private_usage(config))
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        servers.append(server)
        return RunningRouter(app, server)

    yield start
    for server in servers:
        await server.close()
