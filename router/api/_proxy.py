"""The failover engine: route, try candidates in order, relay the answer.

Everything before the first byte reaches the client may be retried on the
next candidate; after it, a failure becomes the client format's own error
event and the stream is closed cleanly. Streams are relayed chunk by chunk
as they arrive, never buffered whole.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web

from router.errors import (
    NoCapacity,
    NotFound,
    NotImplementedYet,
    ProxyError,
    UpstreamError,
    UpstreamHTTPError,
    UpstreamTimeout,
)
from router.executors import Action, UpstreamCall
from router.formats import Format, StreamWatcher, stream_error_event, usage_from_body
from router.routing import Candidate, Route
from router.state import Snapshot
from suite.logging import get_logger

from ._context import RequestContext

__all__ = ["Forward", "forward"]

log = get_logger("router.proxy")

# Client headers an upstream of the same format should see.
_FORWARDED = {
    Format.ANTHROPIC: ("anthropic-version", "anthropic-beta"),
    Format.OPENAI: ("openai-organization", "openai-project"),
    Format.GEMINI: (),
    Format.RESPONSES: (),
}


@dataclass(slots=True)
class Forward:
    """One client request, parsed enough to route it."""

    fmt: Format
    model: str
    body: dict[str, Any]
    raw: bytes
    stream: bool
    action: Action = "generate"
    sse: bool = True  # Gemini streams: SSE (alt=sse) or a JSON array


async def forward(
    request: web.Request,
    snap: Snapshot,
    ctx: RequestContext,
    fwd: Forward,
    *,
    fallback: Callable[[Route], web.StreamResponse] | None = None,
) -> web.StreamResponse:
    ctx.model = fwd.model
    ctx.stream = fwd.stream
    route = snap.table.route(fwd.model)
    if route is None or not route.rule.providers:
        raise NotFound(
            f"model '{fwd.model}' is not served here: no routing rule with a usable provider matches it"
        )
    ctx.rule = route.rule.source
    candidates, wake = snap.table.candidates(route, time.monotonic())
    same = [c for c in candidates if snap.executors[c.provider.name].wire is fwd.fmt]
    if not same:
        if fallback is not None:
            return fallback(route)
        if candidates:
            kinds = ", ".join(sorted({c.provider.kind for c in candidates}))
            raise NotImplementedYet(
                f"model '{fwd.model}' is served by {kinds}, which speaks another API format than "
                f"this endpoint; translation between formats is not available yet"
            )
        raise _all_resting(fwd.model, wake)
    forward_headers = _forward_headers(request, fwd.fmt)
    body = _upstream_body(fwd, route)
    last: UpstreamError | None = None
    for cand in same:
        ctx.attempts += 1
        ctx.provider = cand.provider.name
        ctx.credential = cand.credential.id
        call = UpstreamCall(
            action=fwd.action,
            model=route.upstream_model,
            body=body,
            stream=fwd.stream,
            forward_headers=forward_headers,
            sse=fwd.sse,
        )
        try:
            return await _attempt(request, snap, ctx, fwd, cand, call)
        except UpstreamError as exc:
            _record_failure(snap, cand, exc)
            if not exc.retryable:
                return _upstream_error_response(fwd.fmt, exc, ctx)
            log.info(
                "upstream attempt failed",
                request_id=ctx.request_id,
                provider=cand.provider.name,
                credential=cand.credential.id,
                status=exc.status,
                error=exc.message,
            )
            last = exc
    _, wake = snap.table.candidates(route, time.monotonic())
    raise _exhausted(fwd.model, last, wake)


async def _attempt(
    request: web.Request,
    snap: Snapshot,
    ctx: RequestContext,
    fwd: Forward,
    cand: Candidate,
    call: UpstreamCall,
) -> web.StreamResponse:
    executor = snap.executors[cand.provider.name]
    reply = await executor.send(call, cand.credential)
    if not fwd.stream:
        try:
            data = await reply.read()
        finally:
            reply.close()
        cand.credential.succeeded()
        ctx.mark_first_byte()
        _note_usage(ctx, usage_from_body(fwd.fmt, data))
        return web.Response(body=data, status=reply.status, content_type="application/json")
    chunks = reply.chunks().__aiter__()
    try:
        first = await _first_chunk(chunks)
    except BaseException:
        reply.close()
        raise
    cand.credential.succeeded()
    return await _relay(request, ctx, fwd, reply.content_type, first, chunks, reply.close)


async def _first_chunk(chunks: AsyncIterator[bytes]) -> bytes:
    """The first non-empty piece; a stream that ends before it is a failed attempt."""
    async for chunk in chunks:
        if chunk:
            return chunk
    raise UpstreamTimeout("upstream closed the stream before sending anything")


async def _relay(
    request: web.Request,
    ctx: RequestContext,
    fwd: Forward,
    content_type: str,
    first: bytes,
    chunks: AsyncIterator[bytes],
    close: Callable[[], None],
) -> web.StreamResponse:
    resp = web.StreamResponse(
        status=200,
        headers={
            "Content-Type": content_type
            if fwd.fmt is Format.GEMINI and not fwd.sse
            else "text/event-stream",
            "Cache-Control": "no-cache",
            "X-Request-Id": ctx.request_id,
            "X-Accel-Buffering": "no",
        },
    )
    watcher = StreamWatcher(fwd.fmt)
    ctx.status = 200
    try:
        await resp.prepare(request)
        watcher.feed(first)
        await resp.write(first)
        ctx.mark_first_byte()
        try:
            async for chunk in chunks:
                watcher.feed(chunk)
                await resp.write(chunk)
        except UpstreamError as exc:
            ctx.error = exc.message
            await resp.write(_stream_error(fwd, exc.kind, exc.message))
        else:
            if not watcher.done:
                ctx.error = "upstream ended the stream before it finished"
                await resp.write(_stream_error(fwd, "api_error", ctx.error))
        await resp.write_eof()
    except (ConnectionResetError, ConnectionError):
        ctx.error = "client went away"
        ctx.status = 499
    finally:
        close()
        _note_usage(ctx, watcher.usage)
    return resp


def _stream_error(fwd: Forward, kind: str, message: str) -> bytes:
    return stream_error_event(fwd.fmt, kind, message, gemini_array=not fwd.sse)


def _note_usage(ctx: RequestContext, usage: Any) -> None:
    if usage.input or usage.output:
        ctx.tokens_in = usage.input
        ctx.tokens_out = usage.output
        ctx.tokens_cached = usage.cached


def _upstream_body(fwd: Forward, route: Route) -> bytes:
    """The client's bytes as they came, unless the upstream knows the model by another name."""
    if fwd.fmt is Format.GEMINI or route.upstream_model == fwd.model:
        return fwd.raw
    return orjson.dumps({**fwd.body, "model": route.upstream_model})


def _forward_headers(request: web.Request, fmt: Format) -> dict[str, str]:
    out = {}
    for name in _FORWARDED[fmt]:
        value = request.headers.get(name)
        if value:
            out[name] = value
    return out


def _record_failure(snap: Snapshot, cand: Candidate, exc: UpstreamError) -> None:
    if not isinstance(exc, UpstreamHTTPError):
        return
    now = time.monotonic()
    policy = snap.config.server.cooldown
    if exc.is_rate_limit:
        wait = cand.credential.rate_limited(now, exc.retry_after, policy)
        log.info("credential cooling down", credential=cand.credential.id, seconds=round(wait, 1))
    elif exc.is_auth_failure:
        cand.credential.auth_failed(now, f"upstream answered {exc.status}", policy)
        log.warning(
            "credential rejected by upstream", credential=cand.credential.id, status=exc.status
        )


def _upstream_error_response(fmt: Format, exc: UpstreamError, ctx: RequestContext) -> web.Response:
    """A non-retryable upstream error (e.g. 400): the upstream's own body, same format."""
    ctx.error = exc.message
    assert isinstance(exc, UpstreamHTTPError)
    headers = {"X-Request-Id": ctx.request_id}
    return web.Response(
        status=exc.status, body=exc.body or b"{}", content_type="application/json", headers=headers
    )


def _all_resting(model: str, wake: float | None) -> ProxyError:
    if wake is None:
        return NotFound(f"model '{model}' has no usable credentials")
    wait = max(1.0, wake - time.monotonic())
    return NoCapacity(
        f"every credential for model '{model}' is cooling down after rate limits; retry in {wait:.0f}s",
        retry_after=wait,
    )


def _exhausted(model: str, last: UpstreamError | None, wake: float | None) -> ProxyError:
    """The error for a request every candidate failed, shaped by how the last one failed."""
    if last is None:
        return _all_resting(model, wake)
    if isinstance(last, UpstreamHTTPError) and last.is_rate_limit:
        if wake is None:
            wake = time.monotonic() + (last.retry_after or 1.0)
        return _all_resting(model, wake)
    err = UpstreamError(f"every provider for model '{model}' failed; last: {last.message}")
    if isinstance(last, UpstreamTimeout):
        err.status, err.kind = 504, "timeout"
    elif isinstance(last, UpstreamHTTPError) and last.status in (503, 529):
        err.status, err.kind, err.retry_after = 503, "overloaded", last.retry_after
    return err
