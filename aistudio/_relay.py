"""The service's side of ``/v1/ws``: connect, say hello, serve, reconnect.

Each ``http_request`` runs as its own task; ``cancel`` cancels that task
(the page's stop button is pressed on the way out). A lost connection
cancels every task, since the router has already failed those requests,
then the client reconnects with exponential backoff and jitter.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection, connect

from suite.logging import get_logger
from suite.relay_protocol import (
    AuthRequest,
    AuthResult,
    Cancel,
    Error,
    Hello,
    HttpRequest,
    Payload,
    Ping,
    Pong,
    ProtocolError,
    Status,
    decode,
    encode,
)
from suite.tasks import spawn

__all__ = ["RelayClient"]

log = get_logger("aistudio.relay")

RequestHandler = Callable[[HttpRequest, Callable[[Payload], Awaitable[None]]], Awaitable[None]]
LoginHandler = Callable[[str], Awaitable[AuthResult]]

_BACKOFF_BASE = 0.5
_BACKOFF_CAP = 30.0
_STABLE = 10.0  # a connection that lasted this long resets the backoff


class RelayClient:
    def __init__(
        self,
        url: str,
        token: str,
        hello: Callable[[], Hello],
        status: Callable[[], Status],
        on_request: RequestHandler,
        on_login: LoginHandler,
    ) -> None:
        self.url = url
        self.token = token
        self._hello = hello
        self._status = status
        self._on_request = on_request
        self._on_login = on_login
        self._ws: ClientConnection | None = None
        self._send_lock = asyncio.Lock()
        self._tasks: dict[str, asyncio.Task[Any]] = {}
        self.connected = False
        self.connects = 0
        self.last_error = ""
        self._status_dirty = asyncio.Event()

    # -- sending -------------------------------------------------------------------

    async def send(self, frame_id: str, payload: Payload) -> None:
        ws = self._ws
        if ws is None:
            raise ConnectionError("relay not connected")
        async with self._send_lock:
            await ws.send(encode(frame_id, payload))

    def status_changed(self) -> None:
        self._status_dirty.set()

    async def _status_loop(self) -> None:
        """Coalesce status changes: at most one ``status`` frame per 50 ms."""
        while True:
            await self._status_dirty.wait()
            await asyncio.sleep(0.05)
            self._status_dirty.clear()
            try:
                await self.send("", self._status())
            except (ConnectionError, websockets.ConnectionClosed):
                continue

    # -- the connection loop -----------------------------------------------------------------

    async def run(self) -> None:
        """Connect and serve forever (until cancelled), reconnecting on any loss."""
        failures = 0
        status_task = spawn(self._status_loop(), name="relay-status")
        try:
            while True:
                began = time.monotonic()
                try:
                    await self._session()
                    self.last_error = "connection closed by the router"
                except (OSError, websockets.WebSocketException, TimeoutError) as exc:
                    self.last_error = _reason(exc)
                finally:
                    self._lost()
                if time.monotonic() - began >= _STABLE:
                    failures = 0
                failures += 1
                delay = min(_BACKOFF_CAP, _BACKOFF_BASE * 2 ** min(failures - 1, 10))
                delay *= 0.5 + random.random()  # jitter: services do not reconnect in step
                log.warning("relay disconnected", error=self.last_error, retry_in=round(delay, 2))
                await asyncio.sleep(delay)
        finally:
            status_task.cancel()

    async def _session(self) -> None:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        async with connect(
            self.url,
            additional_headers=headers,
            max_size=64 * 1024 * 1024,
            open_timeout=10,
            ping_interval=20,
            ping_timeout=20,
            proxy=None,
        ) as ws:
            self._ws = ws
            self.connected = True
            self.connects += 1
            self.last_error = ""
            await self.send("", self._hello())
            log.info("relay connected", url=self.url)
            async for message in ws:
                await self._on_message(message)

    def _lost(self) -> None:
        self._ws = None
        self.connected = False
        tasks, self._tasks = self._tasks, {}
        for task in tasks.values():  # the router failed these already
            task.cancel()

    async def _on_message(self, message: str | bytes) -> None:
        try:
            frame = decode(message)
        except ProtocolError as exc:
            log.debug("relay frame ignored", error=str(exc))
            return
        p = frame.payload
        if isinstance(p, HttpRequest):
            self._start(frame.id, self._serve(frame.id, p))
        elif isinstance(p, Cancel):
            task = self._tasks.pop(frame.id, None)
            if task is not None:
                log.info("request cancelled by the router", id=frame.id)
                task.cancel()
        elif isinstance(p, AuthRequest):
            self._start(frame.id, self._login(frame.id, p.profile))
        elif isinstance(p, Ping):
            await self.send(frame.id, Pong())

    def _start(self, frame_id: str, coro: Awaitable[None]) -> None:
        async def run() -> None:
            try:
                await coro
            finally:
                self._tasks.pop(frame_id, None)

        self._tasks[frame_id] = spawn(run(), name=f"relay-{frame_id[:8]}")

    async def _serve(self, frame_id: str, req: HttpRequest) -> None:
        async def send(payload: Payload) -> None:
            await self.send(frame_id, payload)

        try:
            await self._on_request(req, send)
        except (ConnectionError, websockets.ConnectionClosed):
            return  # the router is gone; it failed the request on its side
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # never leave a request without an answer
            log.exception("request failed", id=frame_id)
            try:
                await send(Error(f"aistudio service error: {type(exc).__name__}: {exc}", 500))
            except (ConnectionError, websockets.ConnectionClosed):
                return

    async def _login(self, frame_id: str, profile: str) -> None:
        result = await self._on_login(profile)
        try:
            await self.send(frame_id, result)
        except (ConnectionError, websockets.ConnectionClosed):
            return

    async def close(self) -> None:
        ws = self._ws
        if ws is not None:
            await ws.close()


def _reason(exc: BaseException) -> str:
    if isinstance(exc, websockets.InvalidStatus):
        return f"router refused the connection: HTTP {exc.response.status_code}"
    if isinstance(exc, OSError):
        return exc.strerror or type(exc).__name__
    return str(exc) or type(exc).__name__
