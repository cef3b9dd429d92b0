"""Request capture for debugging (``logging.capture``): what one request carried.

A :class:`Capture` rides on a request's context while capture is on and
collects, as they pass, the client's request body, the body the client was
answered with (a stream chunk by chunk, as it is written), and for each
upstream attempt the body sent and the body (or error) that came back. It only
keeps references to the bytes, each body up to a bound (``body_limit``; past it
the rest is counted, not kept, and the record says so): decoding, scrubbing
and writing happen on the store's writer thread (``_capture_store``). With
capture off no Capture exists, and the request path pays one ``is None`` check
at each tap.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

from router.auth import Credential
from router.errors import UpstreamError, UpstreamHTTPError
from router.executors import Executor, UpstreamCall, UpstreamReply

if TYPE_CHECKING:
    from aiohttp import web

    from ._capture_store import CaptureStore

__all__ = ["Capture", "CapturedBody"]

#: Upstream attempts one capture keeps (a failover storm records its first ones).
MAX_ATTEMPTS = 8


class CapturedBody:
    """A body as it passed: its first ``limit`` bytes, and how many there were."""

    __slots__ = ("parts", "size", "kept", "limit")

    def __init__(self, limit: int) -> None:
        self.parts: list[bytes] = []
        self.size = 0
        self.kept = 0
        self.limit = limit

    def add(self, data: bytes) -> None:
        self.size += len(data)
        room = self.limit - self.kept
        if room > 0 and data:
            piece = data if len(data) <= room else data[:room]
            self.parts.append(piece)
            self.kept += len(piece)

    @property
    def truncated(self) -> bool:
        return self.size > self.kept


class _Attempt:
    """One upstream call: what went, what came back."""

    __slots__ = ("provider", "action", "model", "stream", "request", "response", "status", "error")

    def __init__(self, provider: str, call: UpstreamCall, limit: int) -> None:
        self.provider = provider
        self.action = call.action
        self.model = call.model
        self.stream = call.stream
        self.request = CapturedBody(limit)
        self.request.add(call.body.encoded())
        self.response = CapturedBody(limit)
        self.status: int | None = None
        self.error: str | None = None


class Capture:
    """The bodies of one request (client and upstream side), collected as they pass."""

    __slots__ = (
        "store",
        "started",
        "method",
        "path",
        "query",
        "headers",
        "client_request",
        "client_response",
        "attempts",
    )

    def __init__(self, store: CaptureStore, request: web.BaseRequest) -> None:
        limit = store.body_limit
        self.store = store
        self.started = time.time()
        self.method = request.method
        self.path = request.path
        self.query = request.query_string
        self.headers = tuple(request.headers.items())
        self.client_request = CapturedBody(limit)
        self.client_response = CapturedBody(limit)
        self.attempts: list[_Attempt] = []

    # -- taps ------------------------------------------------------------------------

    def request_body(self, body: bytes) -> None:
        self.client_request.add(body)

    def teed(self, write: Callable[[bytes], Awaitable[None]]) -> Callable[[bytes], Awaitable[None]]:
        """``write`` that also keeps what it wrote (a streamed answer, piece by piece)."""
        keep = self.client_response.add

        async def tee(data: bytes) -> None:
            await write(data)
            keep(data)

        return tee

    def tap(self, executor: Executor) -> Executor:
        """``executor``, recording each call it makes and the answer it gets."""
        return _TapExecutor(executor, self)

    def attempt(self, provider: str, call: UpstreamCall) -> _Attempt | None:
        if len(self.attempts) >= MAX_ATTEMPTS:
            return None
        att = _Attempt(provider, call, self.store.body_limit)
        self.attempts.append(att)
        return att

    # -- the end ---------------------------------------------------------------------

    def finish(self, ctx: Any, response: web.StreamResponse) -> None:
        """The request is answered: hand the record to the store's writer (no I/O here)."""
        body = getattr(response, "body", None)
        if not response.prepared or self.client_response.size == 0:
            if isinstance(body, bytes | bytearray):
                self.client_response.add(bytes(body))
        facts = {
            "request_id": ctx.request_id,
            "status": ctx.status,
            "format": ctx.fmt.value,
            "model": ctx.model,
            "provider": ctx.provider,
            "credential": ctx.credential,
            "stream": ctx.stream,
            "error": ctx.error,
            "response_headers": tuple(response.headers.items()),
            "seconds": round(time.time() - self.started, 3),
        }
        self.store.submit(self, facts)


class _TapExecutor:
    """An executor that records its calls into a Capture (``Capture.tap``)."""

    __slots__ = ("_inner", "_capture", "wire", "name")

    def __init__(self, inner: Executor, capture: Capture) -> None:
        self._inner = inner
        self._capture = capture
        self.wire = inner.wire
        self.name = inner.name

    async def send(self, call: UpstreamCall, credential: Credential) -> UpstreamReply:
        att = self._capture.attempt(self.name, call)
        try:
            reply = await self._inner.send(call, credential)
        except UpstreamError as exc:
            if att is not None:
                att.status = exc.status
                att.error = exc.message
                if isinstance(exc, UpstreamHTTPError):
                    att.response.add(exc.body)
            raise
        if att is None:
            return reply
        att.status = reply.status
        return _TapReply(reply, att)

    async def close(self) -> None:
        await self._inner.close()


class _TapReply:
    """An upstream reply whose body is kept as it is read (``Capture.tap``)."""

    __slots__ = ("_inner", "_att", "status", "content_type")

    def __init__(self, inner: UpstreamReply, att: _Attempt) -> None:
        self._inner = inner
        self._att = att
        self.status = inner.status
        self.content_type = inner.content_type

    def __getattr__(self, name: str) -> Any:  # e.g. the headers a subscription reads
        return getattr(self._inner, name)

    async def chunks(self) -> AsyncIterator[bytes]:
        keep = self._att.response.add
        try:
            async for chunk in self._inner.chunks():
                keep(chunk)
                yield chunk
        except UpstreamError as exc:
            self._att.error = exc.message
            raise

    async def read(self) -> bytes:
        try:
            data = await self._inner.read()
        except UpstreamError as exc:
            self._att.error = exc.message
            raise
        self._att.response.add(data)
        return data

    def close(self) -> None:
        self._inner.close()
