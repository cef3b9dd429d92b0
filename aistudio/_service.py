"""The aistudio service: browser pool + relay client + health endpoint, in one process."""

from __future__ import annotations

import asyncio
import os
import socket
import time
from typing import Any

import orjson
from aiohttp import web

from suite.logging import get_logger
from suite.relay_protocol import AuthResult, Hello, HttpRequest, Status
from suite.tasks import spawn

from ._engines import Engine, EngineMissing, choose_engine
from ._login import LoginFailed, login
from ._pool import BrowserPool
from ._profiles import ProfileStore
from ._relay import RelayClient
from ._settings import Settings
from ._worker import serve_request

__all__ = ["Service"]

log = get_logger("aistudio.service")
NO_PROFILE = "no profile signed in: run login"
VERSION = "0.1.0"


class Service:
    def __init__(self, settings: Settings, engine: Engine | None = None) -> None:
        self.settings = settings
        self.instance = settings.instance or f"{socket.gethostname()}-{os.getpid()}"
        self.store = ProfileStore(settings.auth_dir)
        self.engine_problem = ""
        if engine is None:
            try:
                engine = choose_engine(settings.browser, settings.proxy)
            except EngineMissing as exc:
                if settings.browser.engine == "camoufox":
                    raise
                self.engine_problem = str(exc)  # auto: stay up, say why nothing is served
        self.engine = engine
        self.pool: BrowserPool | None = None
        if engine is not None:
            self.pool = BrowserPool(settings, self.store, engine, self._changed)
        self.relay = RelayClient(
            settings.relay_url,
            settings.token,
            self.hello,
            self.status,
            self._on_request,
            self._on_login,
        )
        self.started = time.time()
        self._runner: web.AppRunner | None = None
        self._tasks: list[asyncio.Task[Any]] = []
        self._login_lock = asyncio.Lock()

    # -- what the router hears ----------------------------------------------------------

    def _changed(self) -> None:
        self.relay.status_changed()

    def hello(self) -> Hello:
        pool = self.pool
        return Hello(
            service="aistudio",
            instance=self.instance,
            version=VERSION,
            capacity=pool.capacity() if pool else 0,
            profiles=tuple(pool.states()) if pool else (),
        )

    def status(self) -> Status:
        pool = self.pool
        if pool is None:
            return Status(0, (), 0)
        return Status(pool.free(), tuple(pool.states()), pool.capacity())

    async def _on_request(self, req: HttpRequest, send: Any) -> None:
        if self.pool is None:
            from suite.relay_protocol import Error

            await send(Error(self.engine_problem or "no browser", 503))
            return
        await serve_request(self.pool, req, send, self.settings.model_suffix)

    async def _on_login(self, profile: str) -> AuthResult:
        if self.engine is None or self.pool is None:
            return AuthResult(profile, False, self.engine_problem or "no browser")
        async with self._login_lock:
            try:
                await login(self.settings, self.store, self.engine, profile)
            except LoginFailed as exc:
                return AuthResult(profile, False, str(exc))
            await self.pool.add_profile(profile)
        state = next((s.state for s in self.pool.states() if s.name == profile), "missing")
        return AuthResult(
            profile, state == "ready", "" if state == "ready" else f"profile is {state}"
        )

    # -- health ----------------------------------------------------------------------------

    def health(self) -> dict[str, object]:
        pool = self.pool
        states = [s.to_json() for s in pool.states()] if pool else []
        ready = [s for s in states if s["state"] in ("ready", "rate_limited")]
        if self.engine_problem:
            detail = self.engine_problem
        elif not states:
            detail = NO_PROFILE
        elif not ready:
            detail = "no profile signed in: every profile needs login (run login)"
        elif not self.relay.connected:
            detail = f"not connected to the router: {self.relay.last_error or 'connecting'}"
        else:
            detail = ""
        browser = pool.browser if pool else None
        return {
            "status": "ok" if not detail else "degraded",
            "detail": detail,
            "relay": {"url": self.settings.relay_url, "connected": self.relay.connected},
            "engine": self.engine.name if self.engine else None,
            "browser": {
                "up": bool(browser and browser.is_connected()),
                "restarts": pool.restarts if pool else 0,
                "pages_replaced": pool.replaced_pages if pool else 0,
            },
            "pages": {"free": pool.free() if pool else 0, "busy": pool.busy() if pool else 0},
            "profiles": states,
            "uptime_s": round(time.time() - self.started, 1),
        }

    async def _healthz(self, request: web.Request) -> web.Response:
        # Always 200: a missing login or router is a state to show, not a crash to restart.
        return web.Response(body=orjson.dumps(self.health()), content_type="application/json")

    async def _start_health(self) -> None:
        app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/", self._healthz)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.settings.health_host, self.settings.health_port)
        await site.start()

    @property
    def health_port(self) -> int:
        if self._runner is None or not self._runner.addresses:
            return self.settings.health_port
        return int(self._runner.addresses[0][1])

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        await self._start_health()
        if self.pool is not None:
            await self.pool.start()
            self._tasks.append(spawn(self.pool.maintain(), name="aistudio-maintain"))
        self._tasks.append(spawn(self.relay.run(), name="aistudio-relay"))
        h = self.health()
        log.info("aistudio service started", health_port=self.health_port, detail=h["detail"])

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            try:
                await task
            except (asyncio.CancelledError, Exception):  # noqa: B036 - shutting down anyway
                pass
        try:
            await self.relay.close()
        finally:
            try:
                if self.pool is not None:
                    await self.pool.close()
            finally:
                if self._runner is not None:
                    await self._runner.cleanup()
