"""The one middleware: request id, client key check, errors, access log.

Kept as a single pass on purpose: every request pays for it, so it does the
least work that keeps the guarantees (every response has an X-Request-Id,
every error is in the client's format, every request writes one log line).
"""

from __future__ import annotations

import asyncio
import ipaddress
import time
from collections.abc import Awaitable, Callable
from functools import lru_cache

from aiohttp import web

from router.errors import MethodNotAllowed, NotFound, PayloadTooLarge, ProxyError, Unauthorized
from router.keys import CLIENT_KEYS, LOCAL, REQUEST_KEY, ActiveKey, Ring, settle_request
from router.observability import OBSERVER
from suite.logging import access_log, get_logger

from ._context import CONTEXT, RequestContext, client_format, new_request_id
from ._errors import error_response
from ._keys import STATE
from ._receive import CLIENT_GONE_STATUS, ClientGone, client_gone

__all__ = ["OPEN_PATHS", "SELF_AUTH_PREFIXES", "is_loopback", "proxy_middleware"]

log = get_logger("router.access")
OPEN_PATHS = frozenset({"/", "/healthz", "/readyz"})
# Paths whose handlers check their own credentials (services token, management key).
SELF_AUTH_PREFIXES = (
    "/v1/ws",
    "/v1/auth/",
    "/v1/usage",
    "/v1/requests/",
    "/v1/keys",
    "/metrics",
    "/status",
    "/console",  # the console's page (loopback) and /v1/console/* (management key)
    "/v1/console/",
)
# Logged at debug: health probes every 30 s and scrapes every 15 s are not news.
_QUIET = OPEN_PATHS | {"/metrics"}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@lru_cache(maxsize=1024)
def is_loopback(remote: str | None) -> bool:
    if not remote:
        return False
    try:
        return ipaddress.ip_address(remote.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def _presented_key(request: web.Request) -> str | None:
    h = request.headers
    auth = h.get("Authorization")
    if auth:
        scheme, _, value = auth.partition(" ")
        if scheme.lower() == "bearer" and value:
            return value.strip()
    return h.get("x-api-key") or h.get("x-goog-api-key") or request.query.get("key")


def check_client(request: web.Request, ring: Ring) -> ActiveKey:
    """Raise Unauthorized unless the caller may use the proxy; return the key it presented
    (``LOCAL`` for a loopback caller when there is no key at all).

    With keys (``server.api_keys`` or managed ones, docs/client-keys.md), the presented
    key is hashed and looked up: one SHA-256 and one dict lookup, whatever the number
    of keys. A revoked or expired key gets 401 saying so. With none, only loopback
    callers are served.
    """
    if ring.empty:
        if is_loopback(request.remote):
            return LOCAL
        raise Unauthorized(
            "this proxy has no API keys configured and serves only local clients; "
            "set server.api_keys to allow remote clients"
        )
    presented = _presented_key(request)
    if not presented:
        raise Unauthorized(
            "missing API key: send it as 'Authorization: Bearer <key>' or 'x-api-key'"
        )
    found = ring.find(presented)
    if found is None:
        raise Unauthorized("invalid API key")
    if found.key is not None:
        found.refuse_if_unusable(time.time())
    return found


@web.middleware
async def proxy_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    ctx = RequestContext(
        request_id=new_request_id(), fmt=client_format(request), started=time.perf_counter()
    )
    request[CONTEXT] = ctx
    err: ProxyError | None = None
    path = request.path
    guarded = path not in OPEN_PATHS and not path.startswith(SELF_AUTH_PREFIXES)
    try:
        if guarded:
            ring = request.app[CLIENT_KEYS].ring(request.app[STATE].current.client_keys)
            active = check_client(request, ring)
            ctx.client = active.label
            if active.limited:  # models or limits to enforce (docs/client-keys.md)
                request[REQUEST_KEY] = active
            capture = request.app[OBSERVER].capture
            if capture is not None:
                ctx.capture = capture.begin(request)
        response = await handler(request)
        if ctx.tokens_in is not None and REQUEST_KEY in request:  # the key's token limits
            await settle_request(request, ctx.tokens_in + (ctx.tokens_out or 0))
    except ProxyError as exc:
        err = exc
    except web.HTTPRequestEntityTooLarge:
        limit = request.app[STATE].current.config.server.max_body_bytes
        err = PayloadTooLarge(f"request body is larger than the limit of {limit} bytes")
    except web.HTTPNotFound:
        err = NotFound(f"no such endpoint: {request.method} {request.path}")
    except web.HTTPMethodNotAllowed as exc:
        allowed = ", ".join(sorted(exc.allowed_methods))
        err = MethodNotAllowed(
            f"{exc.method} is not allowed on {request.path} (allowed: {allowed})"
        )
    except ClientGone:
        response = _gone(ctx)
    except asyncio.CancelledError:
        # The client went away and its handler was cancelled (RouterRunner cancels them,
        # so that upstream calls stop too): still one access line and one count.
        if client_gone(request):
            _gone(ctx)
            if guarded:
                request.app[OBSERVER].finish(ctx)
            _access(ctx, path)
        raise
    except web.HTTPException as exc:
        exc.headers["X-Request-Id"] = ctx.request_id
        ctx.status = exc.status
        if guarded:
            request.app[OBSERVER].finish(ctx)
        _access(ctx, path)
        raise
    except Exception as exc:  # the last guard: a bug must not leak a traceback to a client
        if isinstance(exc, ConnectionError | web.RequestPayloadError) and client_gone(request):
            response = _gone(ctx)
        else:
            log.exception("unhandled error", request_id=ctx.request_id, path=request.path)
            err = ProxyError(f"internal error ({type(exc).__name__}); request id {ctx.request_id}")
    if err is not None:
        ctx.error = err.message
        response = error_response(ctx.fmt, err, ctx.request_id)
        # Its traceback holds this frame, which holds it: without this, every failed
        # request's frames (and its body) wait for the garbage collector.
        err = None
    if not response.prepared:
        response.headers["X-Request-Id"] = ctx.request_id
    ctx.status = ctx.status or response.status
    if guarded:
        request.app[OBSERVER].finish(ctx)  # metrics and the usage record: no I/O
        if ctx.capture is not None:
            ctx.capture.finish(ctx, response)  # queued for the capture writer: no I/O
    _access(ctx, path)
    return response


def _gone(ctx: RequestContext) -> web.Response:
    """The client closed its connection first: not a server error, and no usage error.
    The response goes nowhere; its status is what the log and the metrics record."""
    ctx.status = CLIENT_GONE_STATUS
    return web.Response(status=CLIENT_GONE_STATUS)


def _access(ctx: RequestContext, path: str) -> None:
    if ctx.status >= 500 or ctx.error:
        level = "warning"
    elif path in _QUIET:
        level = "debug"
    else:
        level = "info"
    fields = ctx.access_fields()
    fields["path"] = path
    access_log.emit(level, "request", fields)
