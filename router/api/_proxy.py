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
from typing import Any, Protocol

import orjson
from aiohttp import web

from router.errors import (
    ErrorKind,
    NoCapacity,
    NotFound,
    ProxyError,
    UpstreamError,
    UpstreamHTTPError,
    UpstreamTimeout,
)
from router.executors import Action, Executor, UpstreamCall, client_headers
from router.formats import (
    SIGNATURE_TAG,
    Format,
    StreamWatcher,
    TokenUsage,
    error_body,
    ir,
    stream_error_event,
    strip_foreign_signatures,
    usage_from_body,
)
from router.observability import OBSERVER
from router.routing import Candidate, Route
from router.state import Snapshot
from suite.config import ProviderConfig
from suite.logging import get_logger, redact
from suite.secrets import SECRETS

from ._context import RequestContext, model_ref
from ._translate import (
    StreamTranslator,
    request_ir,
    translate_body,
    translate_response,
    translated_chunks,
)

__all__ = ["Attempt", "Forward", "forward"]

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
    route = snap.table.route(fwd.model)
    if route is None or not route.rule.providers:
        raise NotFound(
            f"model '{model_ref(fwd.model)}' is not served here:"
            " no routing rule with a usable provider matches it"
        )
    ctx.rule = route.rule.source
    candidates, wake = snap.table.candidates(route, time.monotonic())
    if fallback is not None:
        candidates = [c for c in candidates if snap.executors[c.provider.name].wire is fwd.fmt]
        if not candidates and not _has_same_format(snap, route, fwd.fmt):
            return fallback(route)
    if attempt is not None:
        if not any(attempt.usable(p) for p in route.rule.providers):
            raise attempt.unusable(fwd.model)
        candidates = [c for c in candidates if attempt.usable(c.provider)]
    if not candidates:
        raise _all_resting(fwd.model, wake)
    plan = _Plan(fwd, route.upstream_model, _forward_headers(request, fwd.fmt))
    plan.client, plan.client_headers = ctx.client or "", client_headers(request.headers, fwd.fmt)
    last: UpstreamError | None = None
    for cand in candidates:
        executor = snap.executors[cand.provider.name]
        if ctx.capture is not None:
            executor = ctx.capture.tap(executor)
        ctx.attempts += 1
        ctx.provider = cand.provider.name
        ctx.credential = cand.credential.id
        try:
            if attempt is not None:
                return await attempt(executor, cand, route.upstream_model)
            if executor.wire is fwd.fmt:
                return await _passthrough(request, ctx, fwd, plan, executor, cand)
            return await _translated(request, ctx, fwd, plan, executor, cand)
        except UpstreamError as exc:
            ctx.attempt_failed(cand.provider.name, str(exc.status))
            _record_failure(snap, cand, exc, ctx.request_id)
            if not exc.retryable:
                return _upstream_error_response(fwd.fmt, executor.wire, exc, ctx)
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


def _has_same_format(snap: Snapshot, route: Route, fmt: Format) -> bool:
    return any(snap.executors[p.name].wire is fmt for p in route.rule.providers)


class _Plan:
    """What goes upstream, built once per request and per target format."""

    __slots__ = ("fwd", "model", "headers", "client", "client_headers", "_ir", "_bodies")

    def __init__(self, fwd: Forward, model: str, headers: dict[str, str]) -> None:
        self.fwd = fwd
        self.model = model
        self.headers = headers
        self.client = ""  # the client key's id; and its identifying headers (subscriptions)
        self.client_headers: dict[str, str] = {}
        self._ir: ir.Request | None = None
        self._bodies: dict[Format, bytes] = {}

    def passthrough_body(self) -> bytes:
        """The client's bytes as they came, unless the upstream knows the model by another
        name or they hold signatures tagged for another provider (after a failover)."""
        fwd = self.fwd
        body = fwd.body
        if SIGNATURE_TAG in fwd.raw:
            body = strip_foreign_signatures(fwd.fmt, body) or body
        if body is fwd.body and (fwd.fmt is Format.GEMINI or self.model == fwd.model):
            return fwd.raw
        if fwd.fmt is Format.GEMINI:
            return orjson.dumps(body)
        return orjson.dumps({**body, "model": self.model})

    def request_ir(self) -> ir.Request:
        if self._ir is None:
            self._ir = request_ir(self.fwd.fmt, self.fwd.body)
        return self._ir

    def body_for(self, target: Format) -> bytes:
        body = self._bodies.get(target)
        if body is None:
            body = translate_body(self.request_ir(), target, self.model, self.fwd.stream)
            self._bodies[target] = body
        return body

    def call(self, body: bytes, *, same_format: bool) -> UpstreamCall:
        fwd = self.fwd
        return UpstreamCall(
            action=fwd.action,
            model=self.model,
            body=body,
            stream=fwd.stream,
            forward_headers=self.headers if same_format else {},
            sse=fwd.sse if same_format else True,
            client=self.client,
            client_headers=self.client_headers if same_format else {},
        )


async def _passthrough(
    request: web.Request,
    ctx: RequestContext,
    fwd: Forward,
    plan: _Plan,
    executor: Executor,
    cand: Candidate,
) -> web.StreamResponse:
    reply = await executor.send(
        plan.call(plan.passthrough_body(), same_format=True), cand.credential
    )
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
    plan: _Plan,
    executor: Executor,
    cand: Candidate,
) -> web.StreamResponse:
    body = plan.body_for(executor.wire)
    reply = await executor.send(plan.call(body, same_format=False), cand.credential)
    if not fwd.stream:
        try:
            data = await reply.read()
        finally:
            reply.close()
        out, usage = translate_response(data, executor.wire, fwd.fmt, fwd.model, plan.request_ir())
        cand.credential.succeeded()
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
            raise _stream_failure(translator.failure)
    except BaseException:
        reply.close()
        raise
    cand.credential.succeeded()

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
    resp = web.StreamResponse(
        status=200,
        headers={
            "Content-Type": (content_type or "application/json") if array else "text/event-stream",
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


def _stream_failure(error: ir.StreamError) -> UpstreamHTTPError:
    """An error the upstream streamed before anything reached the client: treated like
    the same error as an HTTP status, so it fails over (or not) the same way."""
    return UpstreamHTTPError(error.kind.status, f"upstream stream failed: {error.message}")


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


def _record_failure(snap: Snapshot, cand: Candidate, exc: UpstreamError, request_id: str) -> None:
    if not isinstance(exc, UpstreamHTTPError):
        return
    now = time.monotonic()
    policy = snap.config.server.cooldown
    if exc.is_rate_limit:
        wait = cand.credential.rate_limited(now, exc.retry_after, policy)
        log.info(
            "credential cooling down",
            request_id=request_id,
            credential=cand.credential.id,
            seconds=round(wait, 1),
        )
    elif exc.is_auth_failure:
        cand.credential.auth_failed(now, f"upstream answered {exc.status}", policy)
        log.warning(
            "credential rejected by upstream",
            request_id=request_id,
            credential=cand.credential.id,
            status=exc.status,
        )


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


def _all_resting(model: str, wake: float | None) -> ProxyError:
    if wake is None:
        return NotFound(f"model '{model_ref(model)}' has no usable credentials")
    wait = max(1.0, wake - time.monotonic())
    return NoCapacity(
        f"every credential for model '{model_ref(model)}' is cooling down after rate limits;"
        f" retry in {wait:.0f}s",
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
    err = UpstreamError(
        f"every provider for model '{model_ref(model)}' failed; last: {last.message}"
    )
    if isinstance(last, UpstreamTimeout):
        err.status, err.kind = 504, ErrorKind.TIMEOUT
    elif isinstance(last, UpstreamHTTPError) and last.status in (503, 529):
        err.status, err.kind, err.retry_after = 503, ErrorKind.OVERLOADED, last.retry_after
    return err
