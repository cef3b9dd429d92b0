"""The part every fake upstream shares: lifecycle, recording, scripting.

A fake is a real aiohttp server on 127.0.0.1 so the router under test goes
through its real HTTP client, connection pool and error mapping. Providers
subclass :class:`FakeServer` and supply routes, auth, validation and
rendering; this module turns the scripted :mod:`behaviours
<tests.fakes._behaviours>` into bytes on the socket (delays, hangs, resets
and paced streams behave the same for every provider).
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import secrets
import socket
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

import orjson
from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy

from ._behaviours import Behaviour, Delay, Fail, FailAfter, Hang, Reply, ResetAfter

__all__ = ["Call", "FakeServer", "Recorded", "request_json", "unused_port", "usage_of"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
ErrorRenderer = Callable[[int, str | None, float | None, str | None], web.Response]


@dataclass(frozen=True, slots=True)
class Recorded:
    """One request exactly as the fake received it (auth failures included)."""

    method: str
    path: str
    query: dict[str, str]
    headers: CIMultiDictProxy[str]
    body: bytes
    json: Any


@dataclass(slots=True)
class Call:
    """What the renderers need to know about one model request."""

    model: str
    stream: bool
    body: dict[str, Any]
    input_tokens: int
    rid: str
    created: int
    api: str = ""


_RECORD_KEY = web.RequestKey("fake_recorded", Recorded)


def unused_port() -> int:
    """A 127.0.0.1 TCP port that nothing listens on (for refused connections).

    The port comes from the kernel's ephemeral range and is released at
    once; no listen() ever happens on it, so a connect gets ECONNREFUSED.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def request_json(request: web.Request) -> Any:
    """The parsed JSON body recorded for ``request`` (``None`` if not JSON)."""
    return request[_RECORD_KEY].json


def usage_of(reply: Reply, call: Call) -> tuple[int, int]:
    """``(input, output)`` tokens: scripted, or estimated from sizes (input
    from the request body, output from everything the reply produces)."""
    if reply.usage is not None:
        return reply.usage
    size = len(reply.text) + len(reply.thinking or "")
    size += sum(len(orjson.dumps(dict(t.arguments))) + len(t.name) for t in reply.tool_calls)
    return call.input_tokens, max(1, size // 4)


class FakeServer(abc.ABC):
    """Lifecycle and scripting shared by the provider fakes.

    Behaviours queued with :meth:`enqueue` are consumed one per model
    request (FIFO); with the queue empty, :attr:`default` answers.
    Requests failing auth or validation consume nothing: the real API
    would have refused them before any model ran.
    """

    #: Appended to ``http://127.0.0.1:PORT`` to form :attr:`base_url`.
    base_path: str = ""

    def __init__(
        self,
        api_keys: Sequence[str] = (),
        *,
        port: int = 0,
        models: Sequence[str] | None = None,
        default: Behaviour | None = None,
    ) -> None:
        self.api_keys: frozenset[str] = frozenset(api_keys)
        self.models: tuple[str, ...] | None = tuple(models) if models is not None else None
        self.default: Behaviour = default if default is not None else Reply(text="Hello from fake")
        self.requests: list[Recorded] = []
        #: Off for long benchmarks, where keeping every body would leak.
        self.record_requests = True
        self.port = port
        self.host = "127.0.0.1"
        self._queue: deque[Behaviour] = deque()
        self._runner: web.AppRunner | None = None
        self._closing: asyncio.Event | None = None

    # -- public surface -------------------------------------------------

    @property
    def base_url(self) -> str:
        """What a client or the router takes as this upstream's base URL."""
        return f"http://{self.host}:{self.port}{self.base_path}"

    def enqueue(self, *behaviours: Behaviour) -> None:
        """Script the next model requests, in order."""
        self._queue.extend(behaviours)

    async def start(self) -> Self:
        """Listen on 127.0.0.1 (ephemeral port unless one was given)."""
        self._closing = asyncio.Event()
        app = web.Application(middlewares=[self._middleware], client_max_size=64 * 1024 * 1024)
        app.add_routes(self.routes())
        app.on_response_prepare.append(self._set_server_header)
        # handler_cancellation: a client that goes away cancels its Hang /
        # Delay, as a real server stops work for a vanished client.
        runner = web.AppRunner(
            app, access_log=None, shutdown_timeout=1.0, handler_cancellation=True
        )
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port, backlog=1024)
        await site.start()
        self._runner = runner
        self.port = runner.addresses[0][1]
        return self

    async def close(self) -> None:
        """Stop listening; wakes every Hang/Delay so shutdown never blocks."""
        if self._closing is not None:
            self._closing.set()
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # -- provider hooks ---------------------------------------------------

    @abc.abstractmethod
    def routes(self) -> list[web.RouteDef]:
        """The provider's endpoints."""

    @abc.abstractmethod
    def error_response(
        self, status: int, message: str | None, retry_after: float | None, kind: str | None
    ) -> web.Response:
        """The provider's real error answer for ``status``."""

    @abc.abstractmethod
    def not_found(self, request: web.Request) -> web.Response:
        """The provider's answer for an unknown path or method."""

    @abc.abstractmethod
    def render_json(self, reply: Reply, call: Call) -> bytes:
        """A non-streaming success body."""

    @abc.abstractmethod
    def render_stream(self, reply: Reply, call: Call) -> list[bytes]:
        """A streaming success body, one fully framed event per item."""

    @abc.abstractmethod
    def stream_error(self, status: int, message: str | None, call: Call, sent: int) -> bytes:
        """The provider's in-stream error event, after ``sent`` events."""

    def response_headers(self, call: Call) -> dict[str, str]:
        """Extra headers on every model answer (request ids and the like)."""
        return {}

    #: ``Server`` header the real service sends (aiohttp's own would leak).
    server_header = "cloudflare"
    json_content_type = "application/json"

    def stream_content_type(self, call: Call) -> str:
        """Content-Type of a streamed answer."""
        return "text/event-stream; charset=utf-8"

    # -- helpers for providers -------------------------------------------

    def new_call(
        self, request: web.Request, model: str, stream: bool, body: dict[str, Any], api: str = ""
    ) -> Call:
        """Build the per-request context (token estimate from the body size);
        ``api`` tells renderers of a multi-API fake which one was called."""
        size = len(request[_RECORD_KEY].body)
        return Call(
            model=model,
            stream=stream,
            body=body,
            input_tokens=max(1, size // 4),
            rid=secrets.token_hex(12),
            created=int(time.time()),
            api=api,
        )

    @staticmethod
    def json(
        body: Any, status: int = 200, headers: Mapping[str, str] | None = None
    ) -> web.Response:
        """A JSON response rendered with orjson."""
        return web.Response(
            body=orjson.dumps(body),
            status=status,
            headers=headers,
            content_type="application/json",
        )

    async def answer(
        self, request: web.Request, call: Call, errors: ErrorRenderer | None = None
    ) -> web.StreamResponse:
        """Consume the next behaviour and carry it out for this request.

        ``errors`` renders :class:`Fail` for endpoints whose error shape
        differs from the provider's usual one (the Codex backend).
        """
        behaviour = self._queue.popleft() if self._queue else self.default
        while isinstance(behaviour, Delay):
            if await self._sleep(behaviour.seconds):
                return _abort(request)
            behaviour = behaviour.then if behaviour.then is not None else self.default
        if isinstance(behaviour, Fail):
            render = errors or self.error_response
            return render(
                behaviour.status, behaviour.message, behaviour.retry_after, behaviour.kind
            )
        if isinstance(behaviour, FailAfter):
            if not call.stream:
                render = errors or self.error_response
                return render(behaviour.status, behaviour.message, None, None)
            return await self._fail_after(request, call, behaviour)
        if isinstance(behaviour, Hang):
            assert self._closing is not None
            await self._closing.wait()
            return _abort(request)
        if isinstance(behaviour, ResetAfter):
            reply = behaviour.reply or self._default_reply()
            return await self._reset(request, call, reply, behaviour.chunks)
        if call.stream:
            return await self._stream(request, call, behaviour)
        resp = web.Response(
            body=self.render_json(behaviour, call), headers=self.response_headers(call)
        )
        resp.headers["Content-Type"] = self.json_content_type
        return resp

    # -- internals --------------------------------------------------------

    def _default_reply(self) -> Reply:
        return self.default if isinstance(self.default, Reply) else Reply(text="Hello from fake")

    async def _sleep(self, seconds: float) -> bool:
        """Sleep; True when the fake started closing meanwhile."""
        assert self._closing is not None
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closing.wait(), seconds)
        return self._closing.is_set()

    async def _prepare_stream(self, request: web.Request, call: Call) -> web.StreamResponse:
        resp = web.StreamResponse(status=200, headers=self.response_headers(call))
        resp.headers["Content-Type"] = self.stream_content_type(call)
        await resp.prepare(request)
        return resp

    async def _stream(self, request: web.Request, call: Call, reply: Reply) -> web.StreamResponse:
        frames = self.render_stream(reply, call)
        resp = await self._prepare_stream(request, call)
        if reply.chunk_delay <= 0:
            # One write: the events still arrive as separate SSE frames, and
            # the benchmark path stays a single syscall.
            await resp.write(b"".join(frames))
        else:
            for frame in frames:
                await resp.write(frame)
                if await self._sleep(reply.chunk_delay):
                    return _abort(request, resp)
        await resp.write_eof()
        return resp

    async def _fail_after(
        self, request: web.Request, call: Call, behaviour: FailAfter
    ) -> web.StreamResponse:
        frames = self.render_stream(behaviour.reply or self._default_reply(), call)
        resp = await self._prepare_stream(request, call)
        head = frames[: max(0, behaviour.chunks)]
        error = self.stream_error(behaviour.status, behaviour.message, call, len(head))
        await resp.write(b"".join(head) + error)
        await resp.write_eof()
        return resp

    async def _reset(
        self, request: web.Request, call: Call, reply: Reply, chunks: int
    ) -> web.StreamResponse:
        if call.stream:
            frames = self.render_stream(reply, call)
            resp = await self._prepare_stream(request, call)
            await resp.write(b"".join(frames[: max(0, chunks)]))
        else:
            body = self.render_json(reply, call)
            resp = web.StreamResponse(status=200, headers=self.response_headers(call))
            resp.headers["Content-Type"] = self.json_content_type
            resp.content_length = len(body)
            await resp.prepare(request)
            await resp.write(body[: len(body) // 2])
        await _flush(request)
        return _abort(request, resp)

    async def _set_server_header(self, request: web.Request, resp: web.StreamResponse) -> None:
        resp.headers["Server"] = self.server_header

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        body = await request.read()
        parsed: Any = None
        if body:
            with contextlib.suppress(orjson.JSONDecodeError):
                parsed = orjson.loads(body)
        headers = CIMultiDictProxy(CIMultiDict(request.headers))
        rec = Recorded(request.method, request.path, dict(request.query), headers, body, parsed)
        if self.record_requests:
            self.requests.append(rec)
        request[_RECORD_KEY] = rec
        try:
            return await handler(request)
        except (web.HTTPNotFound, web.HTTPMethodNotAllowed):
            return self.not_found(request)


async def _flush(request: web.Request) -> None:
    """Wait until what was written left the process, so an abort after it
    cuts the stream *after* those events rather than discarding them."""
    transport = request.transport
    for _ in range(1000):
        if transport is None or transport.is_closing() or transport.get_write_buffer_size() == 0:
            return
        await asyncio.sleep(0.001)


def _abort(request: web.Request, resp: web.StreamResponse | None = None) -> web.StreamResponse:
    """Drop the TCP connection (RST, no terminator) and end the handler."""
    if request.transport is not None:
        request.transport.abort()
    return resp if resp is not None else web.Response(status=499)
