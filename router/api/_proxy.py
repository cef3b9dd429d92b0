"""The failover engine: route, try candidates in order, relay the answer.

Everything before the first byte reaches the client may be retried on the
next candidate; after it, a failure becomes the client format's own error
event and the stream is closed cleanly. Streams are relayed chunk by chunk
as they arrive, never buffered whole.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Protocol

from aiohttp import web

from router.errors import (
    BadRequest,
    ErrorKind,
    NotFound,
    ProxyError,
    UpstreamError,
    UpstreamHTTPError,
    UpstreamTimeout,
)
from router.executors import Executor, client_headers
from router.formats import (
    Format,
    StreamTranslator,
    StreamWatcher,
    TokenUsage,
    error_body,
    stream_error_event,
    translated_chunks,
    usage_from_body,
)
from router.keys import admit_request
from router.observability import OBSERVER
from router.routing import MAX_MODEL_CHARS, Candidate, Route
from router.scheduling import Change, Walk, serve, session_key, stream_failure
from router.state import Snapshot
from suite.config import ProviderConfig
from suite.logging import get_logger, redact
from suite.secrets import SECRETS

from ._context import RequestContext, model_ref
from ._keepalive import KEEPALIVE, kept_alive
from ._plan import Forward, Plan
from ._translate import translate_response

__all__ = ["Attempt", "Forward", "forward"]

log = get_logger("router.proxy")

# Client headers an upstream of the same format should see.
_FORWARDED = {
    Format.ANTHROPIC: ("anthropic-version", "anthropic-beta"),
    Format.OPENAI: ("openai-organization", "openai-project"),
    Format.GEMINI: (),
    Format.RESPONSES: (),
}


class Attempt(Protocol):
    """Serves a routed request other than a turn (embeddings), one candidate at a time:
    ``forward`` keeps the routing, the failover and the error answers."""

    def usable(self, provider: ProviderConfig) -> bool:
        """Whether a provider of the rule can serve this request at all."""
        ...

    def unusable(self, model: str) -> ProxyError:
        """The error when no provider of the rule can."""
        ...

    async def __call__(
        self, executor: Executor, cand: Candidate, model: str
    ) -> web.StreamResponse: ...


async def forward(
    request: web.Request,
    snap: Snapshot,
    ctx: RequestContext,
    fwd: Forward,
    *,
    fallback: Callable[[Route], web.StreamResponse] | None = None,
    attempt: Attempt | None = None,
) -> web.StreamResponse:
    """Serve ``fwd`` from the first candidate that answers.

    ``fallback`` serves requests only an upstream of the client's own format can
    answer (token counting) when the model has none. ``attempt`` serves each candidate
    instead of the turn paths, and only the providers it can use are tried.
    """
    ctx.model = fwd.model
    ctx.stream = fwd.stream
    if len(fwd.model) > MAX_MODEL_CHARS:
        raise BadRequest(f"model name is longer than {MAX_MODEL_CHARS} characters", param="model")
    await admit_request(request, fwd.model)  # the client key's models and limits
    usable = _usable(snap, fwd, fallback, attempt)
    walk = snap.scheduler.walk(
        snap.table,
        fwd.model,
        snap.policy,
        session=lambda: session_key(fwd.body, request.headers, ctx.client or ""),
        usable=usable,
        label=model_ref(fwd.model),
    )
    if walk is None:
        raise NotFound(
            f"model '{model_ref(fwd.model)}' is not served here:"
            " no routing rule with a usable provider matches it"
        )
    route = walk.route
    ctx.rule = route.rule.source
    if usable is not None and not any(usable(p) for p in route.rule.providers):
        if attempt is not None:
            raise attempt.unusable(fwd.model)
        if fallback is not None:
            return fallback(route)
    plan = Plan(fwd, _forward_headers(request, fwd.fmt))
    plan.client, plan.client_headers = ctx.client or "", client_headers(request.headers, fwd.fmt)

    async def one(cand: Candidate) -> web.StreamResponse:
        executor = snap.executors[cand.provider.name]
        if ctx.capture is not None:
            executor = ctx.capture.tap(executor)
        ctx.attempts += 1
        ctx.provider = cand.provider.name
        ctx.credential = cand.credential.id
        if attempt is not None:
            resp = await attempt(executor, cand, cand.model)
            walk.succeeded(cand)
            return resp
        if executor.wire is fwd.fmt:
            return await _passthrough(request, ctx, fwd, plan, executor, cand, walk)
        return await _translated(request, ctx, fwd, plan, executor, cand, walk)

    def final(cand: Candidate, exc: UpstreamError) -> web.StreamResponse:
        wire = snap.executors[cand.provider.name].wire
        return _upstream_error_response(fwd.fmt, wire, exc, ctx)

    def failed(cand: Candidate, exc: UpstreamError) -> None:
        ctx.attempt_failed(cand.provider.name, str(exc.status))
        _log_failure(ctx.request_id, cand, exc, walk.change)

    def connected() -> bool:
        return request.transport is not None and not request.transport.is_closing()

    served = serve(walk, one, final, failed=failed, connected=connected)
    if attempt is not None or fallback is not None:
        return await served
    server = snap.config.server  # keep-alive until the first content (docs/routing.md)
    return await kept_alive(
        request,
        ctx,
        fwd.fmt,
        stream=fwd.stream,
        sse=fwd.sse,
        seconds=server.keepalive_seconds,
        nonstream=server.keepalive_nonstream,
        work=served,
    )


def _usable(
    snap: Snapshot, fwd: Forward, fallback: object | None, attempt: Attempt | None
) -> Callable[[ProviderConfig], bool] | None:
    """Which providers of the rule can serve this request: an attempt's, or for
    token counting those that speak the client's format."""
    if attempt is not None:
        return attempt.usable
    if fallback is not None:
        return lambda p: snap.executors[p.name].wire is fwd.fmt
    return None


def _log_failure(
    request_id: str, cand: Candidate, exc: UpstreamError, change: Change | None
) -> None:
    cred = cand.credential.id
    log.info(
        "upstream attempt failed",
        request_id=request_id,
        provider=cand.provider.name,
        credential=cred,
        status=exc.status,
        error=exc.message,
    )
    if change is None or change.what == "breaker_failure":
        return
    if change.what == "refused":
        log.warning(
            "credential rejected by upstream",
            request_id=request_id,
            credential=cred,
            status=exc.status,
        )
    elif change.what == "breaker_open":
        log.warning(
            "credential circuit open",
            request_id=request_id,
            credential=cred,
            seconds=round(change.seconds, 1),
            reason=cand.credential.breaker_reason,
        )
    else:
        log.info(
            "credential cooling down",
            request_id=request_id,
            credential=cred,
            model=change.model,
            seconds=round(change.seconds, 1),
        )


async def _passthrough(
    request: web.Request,
    ctx: RequestContext,
    fwd: Forward,
    plan: Plan,
    executor: Executor,
    cand: Candidate,
    walk: Walk,
) -> web.StreamResponse:
    reply = await executor.send(
        plan.call(plan.passthrough_body(cand.model), cand.model, same_format=True),
        cand.credential,
    )
    if not fwd.stream:
        try:
            data = await reply.read()
        finally:
            reply.close()
        walk.succeeded(cand, getattr(reply, "headers", None))
        ctx.mark_first_byte()
        _note_usage(ctx, usage_from_body(fwd.fmt, data))
        return web.Response(body=data, status=reply.status, content_type="application/json")
    chunks = reply.chunks().__aiter__()
    try:
        first = await _first_chunk(chunks)
    except BaseException:
        reply.close()
        raise
    walk.succeeded(cand, getattr(reply, "headers", None))
    plan.release()  # from here on the answer streams: the request is not needed again
    watcher = StreamWatcher(fwd.fmt)

    def end(failure: tuple[ErrorKind, str] | None) -> bytes:
        if failure is None and watcher.done:
            if watcher.failed:
                ctx.error = "upstream ended the stream with an error event"
            return b""
        kind, message = failure or (
            ErrorKind.API_ERROR,
            "upstream ended the stream before it finished",
        )
        ctx.error = message
        return stream_error_event(
            fwd.fmt,
            kind,
            message,
            gemini_array=not fwd.sse,
            response_id=watcher.response_id,
            sequence=watcher.sequence,
        )

    try:
        return await _relay(request, ctx, fwd, reply.content_type, first, chunks, watcher.feed, end)
    finally:
        reply.close()
        _note_usage(ctx, watcher.usage)


async def _translated(
    request: web.Request,
    ctx: RequestContext,
    fwd: Forward,
    plan: Plan,
    executor: Executor,
    cand: Candidate,
    walk: Walk,
) -> web.StreamResponse:
    body = plan.body_for(executor.wire, cand.model)
    reply = await executor.send(plan.call(body, cand.model, same_format=False), cand.credential)
    if not fwd.stream:
        try:
            data = await reply.read()
        finally:
            reply.close()
        out, usage = translate_response(data, executor.wire, fwd.fmt, fwd.model, plan.request_ir())
        walk.succeeded(cand, getattr(reply, "headers", None))
        ctx.mark_first_byte()
        _note_usage(
            ctx,
            TokenUsage(
                usage.input_tokens,
                usage.output_tokens,
                usage.cached_input_tokens,
                usage.reasoning_tokens,
            ),
        )
        return web.Response(body=out, content_type="application/json")
    translator = StreamTranslator(
        executor.wire,
        fwd.fmt,
        fwd.model,
        ctx.request_id,
        sse=fwd.sse,
        tools=plan.request_ir().tools,
    )
    chunks = translated_chunks(reply.chunks(), translator).__aiter__()
    try:
        first = await _first_chunk(chunks)
        if translator.failure is not None:
            raise stream_failure(translator.failure)
    except BaseException:
        reply.close()
        raise
    walk.succeeded(cand, getattr(reply, "headers", None))
    plan.release()  # from here on the answer streams: the request is not needed again

    def end(failure: tuple[ErrorKind, str] | None) -> bytes:
        if failure is None:
            if translator.failure is not None:
                ctx.error = "upstream stream ended in error"
            return b""
        ctx.error = failure[1]
        return translator.error(*failure)

    try:
        return await _relay(request, ctx, fwd, "", first, chunks, None, end)
    finally:
        reply.close()
        u = translator.usage
        _note_usage(
            ctx,
            TokenUsage(u.input_tokens, u.output_tokens, u.cached_input_tokens, u.reasoning_tokens),
        )


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
    watch: Callable[[bytes], None] | None,
    end: Callable[[tuple[ErrorKind, str] | None], bytes],
) -> web.StreamResponse:
    """Send ``first`` and every later chunk as it comes; ``end`` says how the stream closes
    (given the failure as ``(kind, message)``, or None when the upstream simply ended)."""
    array = fwd.fmt is Format.GEMINI and not fwd.sse
    keep = request.get(KEEPALIVE)
    kept = None if keep is None else await keep.take()  # already open with keep-alives
    resp = kept
    if resp is None:
        resp = web.StreamResponse(
            status=200,
            headers={
                "Content-Type": (content_type or "application/json")
                if array
                else "text/event-stream",
                "Cache-Control": "no-cache",
                "X-Request-Id": ctx.request_id,
                "X-Accel-Buffering": "no",
            },
        )
    ctx.status = 200
    obs = request.app[OBSERVER]
    obs.stream_opened()
    write = resp.write if ctx.capture is None else ctx.capture.teed(resp.write)
    try:
        if kept is None:
            await resp.prepare(request)
        if watch is not None:
            watch(first)
        await write(first)
        ctx.mark_first_byte()
        failure: tuple[ErrorKind, str] | None = None
        try:
            async for chunk in chunks:
                if watch is not None:
                    watch(chunk)
                await write(chunk)
        except UpstreamError as exc:
            failure = (exc.kind, exc.message)
        tail = end(failure)
        if tail:
            await write(tail)
        await resp.write_eof()
    except (ConnectionResetError, ConnectionError):
        ctx.error = "client went away"
        ctx.status = 499
    finally:
        obs.stream_closed()
    return resp


def _note_usage(ctx: RequestContext, usage: TokenUsage) -> None:
    if usage.input or usage.output:
        ctx.tokens_in = usage.input
        ctx.tokens_out = usage.output
        ctx.tokens_cached = usage.cached
        ctx.tokens_reasoning = usage.reasoning


def _forward_headers(request: web.Request, fmt: Format) -> dict[str, str]:
    out = {}
    for name in _FORWARDED[fmt]:
        value = request.headers.get(name)
        if value:
            out[name] = value
    return out


def _upstream_error_response(
    fmt: Format, source: Format, exc: UpstreamError, ctx: RequestContext
) -> web.Response:
    """A non-retryable upstream error (e.g. 400): the upstream's own body when it is in
    the client's format, else the same status and message in the client's shape."""
    ctx.error = exc.message
    headers = {"X-Request-Id": ctx.request_id}
    own = exc.body if isinstance(exc, UpstreamHTTPError) and fmt is source else b""
    # An upstream may quote the key it was sent: no known secret goes back to the client.
    own = SECRETS.redact_bytes(own)
    body = own or error_body(fmt, exc.status, exc.kind, redact(exc.message))
    return web.Response(
        status=exc.status, body=body, content_type="application/json", headers=headers
    )
