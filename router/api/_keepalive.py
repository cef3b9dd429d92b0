"""Keep-alive while the upstream thinks (``server.keepalive_seconds``, docs/routing.md).

A proxy in front of the router (Cloudflare cuts at 100 s) ends a response whose
first byte takes longer, and a thinking model's first token can take minutes.
With keep-alive on, a turn whose upstream has sent no content after N seconds
gets its status committed (200, the format's content type) and the client
format's own idle signal every N seconds until the content comes:

* OpenAI Chat and Responses: an SSE comment, ``: keep-alive``.
* Anthropic: ``event: ping``, the event Anthropic itself sends and its SDKs skip.
* Gemini with ``alt=sse``: an empty line. SSE dispatches nothing for it; a
  comment would be read as a broken JSON error body by google-genai (Python),
  which treats every line not starting with ``data:`` as raw JSON.
* Gemini's JSON array (no ``alt=sse``): whitespace, valid JSON before ``[``.
* A non-stream answer (only with ``server.keepalive_nonstream``): whitespace
  before the JSON body.

Failover still works until the first content: nothing of a failed attempt reached
the client, so the next candidate's stream continues the same response
(``_proxy._relay`` takes the open response from here). When every candidate
fails, the open stream ends with the format's one error event (a non-stream body
with the format's error JSON, under the status 200 already sent).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

from aiohttp import web

from router.errors import ErrorKind, ProxyError
from router.formats import Format, StreamTranslator, error_body
from suite.logging import clip, get_logger
from suite.tasks import spawn

from ._context import RequestContext

__all__ = ["KEEPALIVE", "KeepAlive", "kept_alive"]

log = get_logger("router.keepalive")

_MESSAGE_LIMIT = 4096  # as api._errors: an error message quoted to the client
_SSE_COMMENT = b": keep-alive\n\n"
_ANTHROPIC_PING = b'event: ping\ndata: {"type": "ping"}\n\n'
_BLANK_LINE = b"\r\n"  # Gemini SSE separates events with CRLF CRLF
_WHITESPACE = b"\n"


class KeepAlive:
    """The idle signal of one request until its first content, and the response it
    opened, if it did. ``take`` hands that response over to the relay."""

    __slots__ = (
        "_request",
        "_ctx",
        "_fmt",
        "_stream",
        "_array",
        "_seconds",
        "_signal",
        "_stop",
        "_task",
        "_resp",
        "pings",
    )

    def __init__(
        self,
        request: web.Request,
        ctx: RequestContext,
        fmt: Format,
        *,
        stream: bool,
        sse: bool,
        seconds: float,
    ) -> None:
        self._request = request
        self._ctx = ctx
        self._fmt = fmt
        self._stream = stream
        self._array = stream and fmt is Format.GEMINI and not sse
        self._seconds = seconds
        self._signal = _signal(fmt, stream=stream, sse=sse)
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._resp: web.StreamResponse | None = None
        self.pings = 0

    @property
    def committed(self) -> bool:
        """Whether the status is out: errors can no longer change it."""
        return self._resp is not None

    def start(self) -> None:
        self._task = spawn(self._tick(), name="keepalive")

    async def take(self) -> web.StreamResponse | None:
        """Stop the signal (a write in progress finishes first); the response it opened,
        which the caller now writes its content to, or None when it opened none."""
        await self._halt()
        return self._resp

    async def run(self, work: Awaitable[web.StreamResponse]) -> web.StreamResponse:
        """``work``'s answer; once the status is out, an error or an answer that did not
        take the open response is written into it instead."""
        try:
            try:
                result = await work
            except ProxyError as exc:
                await self._halt()
                if self._resp is None:
                    raise
                return await self._fail(exc.kind, exc.status, exc.message)
            except Exception as exc:  # a bug: no second response after the open one
                await self._halt()
                if self._resp is None:
                    raise
                log.exception("unhandled error", request_id=self._ctx.request_id)
                message = (
                    f"internal error ({type(exc).__name__}); request id {self._ctx.request_id}"
                )
                return await self._fail(ErrorKind.API_ERROR, 500, message)
            await self._halt()
            if self._resp is None or result is self._resp or result.prepared:
                return result
            return await self._adopt(result)
        finally:
            if self._task is not None and not self._task.done():
                self._task.cancel()  # cancelled (the client went away): stop at once

    async def _halt(self) -> None:
        self._stop.set()
        task = self._task
        if task is not None and not task.done():
            await asyncio.wait((task,))

    async def _tick(self) -> None:
        try:
            while True:
                try:
                    await asyncio.wait_for(self._stop.wait(), self._seconds)
                    return
                except TimeoutError:
                    pass
                if self._resp is None:
                    await self._open()
                assert self._resp is not None
                await self._resp.write(self._signal)
                self.pings += 1
        except ConnectionError:
            # The client went away: the handler is cancelled and the relay sees it too.
            self._ctx.error = "client went away"

    async def _open(self) -> None:
        if self._stream and not self._array:
            content_type = "text/event-stream"
        else:
            content_type = "application/json"
        resp = web.StreamResponse(
            status=200,
            headers={
                "Content-Type": content_type,
                "Cache-Control": "no-cache",
                "X-Request-Id": self._ctx.request_id,
                "X-Accel-Buffering": "no",
            },
        )
        self._resp = resp
        self._ctx.status = 200
        await resp.prepare(self._request)

    async def _fail(self, kind: ErrorKind, status: int, message: str) -> web.StreamResponse:
        """No candidate served: the format's error, in the response already open."""
        message = clip(message, _MESSAGE_LIMIT)
        self._ctx.error = message
        if not self._stream:
            return await self._finish(error_body(self._fmt, status, kind, message))
        # What the translated path says for a stream that fails before its first event
        # (a Responses stream opens with response.created, as its SDK requires).
        ctx = self._ctx
        fresh = StreamTranslator(
            self._fmt, self._fmt, ctx.model or "", ctx.request_id, sse=not self._array
        )
        return await self._finish(fresh.error(kind, message))

    async def _adopt(self, result: web.StreamResponse) -> web.StreamResponse:
        """An answer built as a whole (a non-stream body, or an error already in the
        client's format) goes out as the body of the open response; a stream's client
        reads events, so there an error is said as the format's error event."""
        if self._stream:
            message = self._ctx.error or f"upstream answered {result.status}"
            return await self._fail(ErrorKind.of_status(result.status), result.status, message)
        body = result.body if isinstance(result, web.Response) else None
        return await self._finish(body if isinstance(body, bytes) else b"")

    async def _finish(self, data: bytes) -> web.StreamResponse:
        resp = self._resp
        assert resp is not None
        try:
            await resp.write(data)
            await resp.write_eof()
        except ConnectionError:
            self._ctx.error = "client went away"
            self._ctx.status = 499
        return resp


def _signal(fmt: Format, *, stream: bool, sse: bool) -> bytes:
    if not stream or (fmt is Format.GEMINI and not sse):
        return _WHITESPACE
    if fmt is Format.ANTHROPIC:
        return _ANTHROPIC_PING
    if fmt is Format.GEMINI:
        return _BLANK_LINE
    return _SSE_COMMENT


KEEPALIVE: web.RequestKey[KeepAlive] = web.RequestKey("cliproxy_keepalive", KeepAlive)


async def kept_alive(
    request: web.Request,
    ctx: RequestContext,
    fmt: Format,
    *,
    stream: bool,
    sse: bool,
    seconds: float,
    nonstream: bool,
    work: Awaitable[web.StreamResponse],
) -> web.StreamResponse:
    """``work``'s answer, kept alive when ``seconds`` > 0 (and, for a non-stream
    request, ``nonstream``): see the module docstring."""
    if seconds <= 0 or not (stream or nonstream):
        return await work
    keep = KeepAlive(request, ctx, fmt, stream=stream, sse=sse, seconds=seconds)
    request[KEEPALIVE] = keep
    keep.start()
    return await keep.run(work)
