"""Shared fixtures: a router running in-process on loopback, configured in code."""

from __future__ import annotations

import atexit
import faulthandler
import gc
import http.client
import io
import os
import shutil
import sys
import tempfile
import threading
import time
import types
import urllib.parse
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path
from typing import Any

# ruff: noqa: E402 (the private HOME below must be in place before the project is imported)

# Tests never touch the real home: the default data dir (~/.cli-proxy-api: usage
# database, auth files, management key, captures) is resolved from HOME, partly when
# suite.config is first imported (the dataclass defaults private_usage compares with),
# and every subprocess a test starts inherits HOME. So the session gets a HOME of its
# own before the project is imported, and a test that still writes into its default
# data dir fails (see _default_data_dir_untouched) instead of passing by luck.
TEST_HOME = Path(tempfile.mkdtemp(prefix="cliproxy-home-"))
os.environ["HOME"] = str(TEST_HOME)
atexit.register(shutil.rmtree, TEST_HOME, True)

import pytest
import structlog
from aiohttp import web
from aiohttp.test_utils import TestServer

from router.app import RouterRunner, create_app
from suite.config import Config, Environment, UsageConfig, parse_config
from suite.logging import processors
from tests.fakes.postgres import postgres_dsn, postgres_server  # noqa: F401 (fixtures)

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


@pytest.fixture(autouse=True)
def _default_data_dir_untouched() -> Iterator[None]:
    """Fails the test that left something in the default data dir: such a test would
    write into ~/.cli-proxy-api of whoever runs the suite without the private HOME.
    Give it a data dir of its own (``auth.dir`` under tmp_path, or private_usage)."""
    yield
    data = TEST_HOME / ".cli-proxy-api"
    if data.exists():
        left = sorted(str(p.relative_to(data)) for p in data.rglob("*"))
        shutil.rmtree(data, ignore_errors=True)
        pytest.fail(f"the test wrote into the default data dir ~/.cli-proxy-api: {left}")


@contextmanager
def production_logging() -> Iterator[None]:
    """structlog's production chain (scrubber and JSON) writing to this test's stdout
    (captured by capsys), as the services log; the old configuration is put back after."""
    old = structlog.get_config()
    structlog.configure(
        processors=processors(),
        logger_factory=structlog.WriteLoggerFactory(file=sys.stdout),
        cache_logger_on_first_use=False,
    )
    try:
        yield
    finally:
        structlog.configure(**old)


def chromium_path() -> str:
    """Debian's Chromium, which the aistudio and status-page tests drive; without it they
    skip on a developer machine and fail in CI (``CI`` set), where ``make test`` installs it."""
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        msg = "Debian's chromium is not installed (make test installs it as root: apt-get install chromium)"
        if Environment.read().ci:
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


class RouterTestServer(TestServer):
    """A TestServer on the router's own runner: tests meet the server.limits that run."""

    async def _make_runner(self, **kwargs: Any) -> RouterRunner:
        return RouterRunner(self.app, **kwargs)


@pytest.fixture
async def start_router() -> AsyncIterator[StartRouter]:
    """Factory: ``await start_router(config)`` serves a router on 127.0.0.1 until the test ends."""
    servers: list[TestServer] = []

    async def start(config: Config) -> RunningRouter:
        app = create_app(private_usage(config))
        server = RouterTestServer(app, host="127.0.0.1")
        await server.start_server()
        servers.append(server)
        return RunningRouter(app, server)

    yield start
    for server in servers:
        await server.close()


class HealthWatch:
    """Probes ``/healthz`` from a thread of its own while an attack runs.

    The probe must not share the router's event loop: a blocked loop would
    delay the probe and the attack alike and hide the stall. A plain socket
    client in a thread measures what an outside caller sees. ``worst`` is the
    slowest answer (a probe that got no answer within ``timeout`` counts as
    ``timeout``); ``count`` how many probes ran, so a test can check that the
    watch really covered the attack.
    """

    def __init__(self, url: str, *, every: float = 0.02, timeout: float = 2.0) -> None:
        parsed = urllib.parse.urlsplit(url)
        self._host = parsed.hostname or "127.0.0.1"
        self._port = parsed.port or 80
        self._every = every
        self._timeout = timeout
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="healthz-watch", daemon=True)
        self.latencies: list[float] = []
        self.failures = 0

    def _probe(self) -> tuple[float, bool]:
        started = time.perf_counter()
        conn = http.client.HTTPConnection(self._host, self._port, timeout=self._timeout)
        try:
            conn.request("GET", "/healthz")
            resp = conn.getresponse()
            resp.read()
            ok = resp.status == 200
        except OSError:
            return self._timeout, False
        finally:
            conn.close()
        return time.perf_counter() - started, ok

    def _run(self) -> None:
        while not self._stop.is_set():
            latency, ok = self._probe()
            if self._stop.is_set():
                # Cut short by __exit__: the loop that would answer it may be the one
                # that is now waiting in __exit__, so its result says nothing.
                return
            self.latencies.append(latency)
            self.failures += not ok
            self._stop.wait(self._every)

    @property
    def worst(self) -> float:
        return max(self.latencies, default=0.0)

    @property
    def count(self) -> int:
        return len(self.latencies)

    def __enter__(self) -> HealthWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        # No join: a probe in flight needs the event loop this thread usually runs,
        # and would wait for its timeout. The daemon thread ends after that probe.
        self._stop.set()

    def assert_fast(self, limit: float = 0.1, min_probes: int = 3) -> None:
        """Every probe answered 200 within ``limit`` seconds, and enough of them ran."""
        assert self.count >= min_probes, f"only {self.count} health probes ran"
        assert self.failures == 0, f"{self.failures} health probes failed"
        assert self.worst < limit, f"/healthz took {self.worst * 1000:.0f} ms during the attack"
