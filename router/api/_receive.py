"""Receiving a client's request body: bounded in size and in time, and telling a client
that went away from one that sent something broken.

aiohttp's ``request.read()`` waits as long as the client likes between two chunks
of a body, and a client that closes its connection half-way surfaces as an
exception the middleware would log and count as a 500. Here a body must arrive
within ``server.limits.body_seconds`` in all, with no silence longer than
``body_idle_seconds`` (else 408 in the client's format), and a client gone
mid-body is :class:`ClientGone` (status 499 in the access log and the metrics:
nobody is left to answer).
"""

from __future__ import annotations

import asyncio

from aiohttp import StreamReader, web

from router.errors import BadRequest, ErrorKind, PayloadTooLarge, ProxyError

from ._context import CONTEXT
from ._keys import STATE

__all__ = ["CLIENT_GONE_STATUS", "ClientGone", "RequestTimeout", "client_gone", "receive"]

#: nginx's "client closed request": the status logged when nobody is left to answer.
CLIENT_GONE_STATUS = 499


class RequestTimeout(ProxyError):
    status = 408
    kind = ErrorKind.TIMEOUT


class ClientGone(Exception):
    """The client closed its connection before the router could answer."""


def client_gone(request: web.Request) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


async def receive(request: web.Request, limit: int) -> bytes:
    """The whole body, at most ``limit`` bytes, within the configured times."""
    length = request.content_length
    if length is not None and length > limit:
        raise PayloadTooLarge(f"request body is larger than the limit of {limit} bytes")
    content = request.content
    if content.is_eof() and content.exception() is None:
        # The whole body came with its head (or is in already): nothing to wait for, so
        # no clock to arm and cancel (a request's fixed cost, docs/performance.md).
        body = content.read_nowait()
        if len(body) > limit:
            raise PayloadTooLarge(f"request body is larger than the limit of {limit} bytes")
    else:
        body = await _arrive(request, content, limit)
    ctx = request.get(CONTEXT)
    if ctx is not None and ctx.capture is not None:
        ctx.capture.request_body(body)
    return body


async def _arrive(request: web.Request, content: StreamReader, limit: int) -> bytes:
    """The rest of a body still on its way, within the configured times."""
    limits = request.app[STATE].current.config.server.limits
    loop = asyncio.get_running_loop()
    idle, end = limits.body_idle_seconds, loop.time() + limits.body_seconds
    chunks: list[bytes] = []
    size = 0
    try:
        # One timer for the whole body, moved after each chunk (no timer per read).
        async with asyncio.timeout(min(end, loop.time() + idle)) as clock:
            while chunk := await content.readany():
                size += len(chunk)
                if size > limit:
                    raise PayloadTooLarge(f"request body is larger than the limit of {limit} bytes")
                chunks.append(chunk)
                clock.reschedule(min(end, loop.time() + idle))
    except TimeoutError:
        if loop.time() >= end:
            raise RequestTimeout(
                f"the request body did not arrive within {limits.body_seconds:g} s "
                "(server.limits.body_seconds)"
            ) from None
        raise RequestTimeout(
            f"the request body stalled for {idle:g} s (server.limits.body_idle_seconds)"
        ) from None
    except (OSError, web.RequestPayloadError) as exc:  # ConnectionResetError, a broken chunk
        if client_gone(request):
            raise ClientGone from None
        raise BadRequest(f"the request body could not be read: {exc}") from None
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)
