"""Shared fixtures: a router running in-process on loopback, configured in code."""

from __future__ import annotations

import atexit
import faulthandler
import gc
import io
import os
import shutil
import sys
import tempfile
import threading
import types
from collections.abc import AsyncIterator, Awaitable, Callable, Generator
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from router.app import create_app
from suite.config import Config, UsageConfig, env_flag, parse_config

# A test that is still running after this long (setup, call and teardown together)
# is stuck: its stacks and asyncio tasks are printed and the run ends at once, so a
# hang costs minutes with a diagnosis, not the whole CI budget. pytest-timeout fails
# a test at 120 s, but it stops watching once a test has raised (its timer is
# cancelled when pytest reports the exception), and a hang in the teardown that
# follows would go unnoticed.
HARD_LIMIT_S = 240.0


def _await_chains() -> str:
    """Every suspended coroutine and async generator, outermost first, followed down the
    chain of what it awaits (a task's own stack stops at its first frame)."""
    live = [
        o
        for o in gc.get_objects()
        if type(o) in (types.CoroutineType, types.AsyncGeneratorType)  # type(): proxies raise
        and (o.cr_frame if type(o) is types.CoroutineType else o.ag_frame) is not None
    ]
    awaited = {id(getattr(o, "cr_await", None) or getattr(o, "ag_await", None)) for o in live}
    out = io.StringIO()
    for root in (o for o in live if id(o) not in awaited):
        out.write("--- awaiting:\n")
        node: Any = root
        while node is not None:
            frame = getattr(node, "cr_frame", None) or getattr(node, "ag_frame", None)
            if frame is not None:
                code = frame.f_code
                out.write(f"  {code.co_filename}:{frame.f_lineno} in {code.co_name}\n")
            node = getattr(node, "cr_await", None) or getattr(node, "ag_await", None)
    return out.getvalue()


def _dump_and_exit(item: pytest.Item) -> None:
    """On the timer thread: stop pytest's capturing (as pytest-timeout's thread method
    does) so the text reaches the real stderr, then end the run."""
    try:
        text = f"\n!!! {item.nodeid} still running after {HARD_LIMIT_S:.0f} s\n"
        try:
            text += _await_chains()
        except Exception as exc:  # the tasks changed under us: the thread stacks still help
            text += f"(asyncio tasks unavailable: {exc!r})\n"
        capture = item.config.pluginmanager.getplugin("capturemanager")
        if capture is not None:
            capture.suspend_global_capture(in_=True)
        sys.stderr.write(text)
        sys.stderr.flush()
        faulthandler.dump_traceback(file=sys.stderr, all_threads=True)
        sys.stderr.flush()
    finally:
        os._exit(3)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Generator[None, None, None]:
    timer = threading.Timer(HARD_LIMIT_S, _dump_and_exit, (item,))
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()


def chromium_path() -> str:
    """Debian's Chromium, which the aistudio and status-page tests drive; without it they
    skip on a developer machine and fail in CI (``CI`` set), where ``make test`` installs it."""
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        msg = "Debian's chromium is not installed (make test installs it as root: apt-get install chromium)"
        if env_flag("CI"):
            pytest.fail(msg)
        pytest.skip(msg)
    return path


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
