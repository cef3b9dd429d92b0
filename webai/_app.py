"""The webai HTTP service: app factory, routes and handlers.

    POST /v1/chat/completions   OpenAI Chat Completions, stream or not
    GET  /v1/models             what the backends can answer
    GET  /healthz               backends ready, cookie state (503 when cookies need renewing)

A request walks the backends in order (Gemini web first, then the g4f
fallback chain) until one produces its first byte; the HTTP status is sent
only then, so every failure before it still has its own status.
"""

from __future__ import annotations

import contextlib
import hmac
import importlib.util
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import asdict

import orjson
from aiohttp import web

from suite.config import ConfigError
from suite.logging import get_logger

from ._chain import Backend, Opened, Timeouts, open_first
from ._cookies import CookieStore, Secrets, SessionCookies
from ._errors import BackendError, RequestError, Unauthorized, WebAIError
from ._g4f import G4FBackend, resolve_provider
from ._gemini import GeminiWebBackend
from ._logs import forward_library_logs
from ._messages import ChatRequest, parse_chat_request
from ._render import ChunkWriter, completion, error_body, error_event, model_list
from ._settings import WebAISettings

__all__ = ["SECRETS", "SERVICE", "Service", "build_backends", "create_app"]

log = get_logger("webai")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Service:
    """The backends of one webai process, in the order they are tried."""

    def __init__(self, settings: WebAISettings, backends: Sequence[Backend]) -> None:
        self.settings = settings
        self.backends = tuple(backends)
        self.timeouts = Timeouts(
            settings.first_byte_timeout, settings.idle_timeout, settings.total_timeout
        )

    def models(self) -> list[str]:
        names: list[str] = []
        found = [m for b in self.backends for m in b.models()]
        found += [e.model for e in self.settings.fallback if e.model]
        found += [m.removesuffix("-webai") for m in self.settings.models]
        for name in found:
            if name not in names:
                names.append(name)
        return names

    def health(self) -> tuple[int, dict[str, object]]:
        states = [b.health() for b in self.backends]
        problems = [_line(h.name, h.state, h.detail) for h in states if not h.healthy]
        if not states:
            problems = ["no backend configured: enable gemini or add fallback providers"]
        waiting = [_line(h.name, h.state, h.detail) for h in states if h.healthy and not h.ready]
        ready = any(h.ready for h in states)
        if problems:
            status = "unhealthy"
        elif ready:
            status = "ok"
        else:  # alive, nothing to answer with yet: signing in, or retrying a failed sign-in
            status = "starting" if any(h.state == "starting" for h in states) else "not ready"
        body: dict[str, object] = {
            "status": status,
            "detail": "; ".join(problems or ([] if ready else waiting)),
            "ready": ready,
            "backends": [asdict(h) for h in states],
        }
        return (503 if problems else 200), body


def _line(name: str, state: str, detail: str) -> str:
    return f"{name}: {state}: {detail}" if detail else f"{name}: {state}"


SERVICE = web.AppKey("webai_service", Service)
SECRETS = web.AppKey("webai_secrets", Secrets)


def build_backends(settings: WebAISettings, secrets: Secrets) -> list[Backend]:
    """Gemini web (if enabled), then each fallback provider; ConfigError if one cannot load."""
    backends: list[Backend] = []
    gem = settings.gemini
    if gem.enabled and importlib.util.find_spec("gemini_webapi") is None:
        raise ConfigError(
            f"providers.{settings.provider}.gemini",
            "gemini-webapi is not installed: pip install -e '.[webai]' (or set enabled: false)",
        )
    if gem.enabled:
        seed = SessionCookies(gem.secure_1psid, gem.secure_1psidts) if gem.secure_1psid else None
        store = CookieStore(settings.cookie_file, seed, secrets)
        backends.append(GeminiWebBackend(gem, store, settings.library_cache_dir, secrets))
    for i, entry in enumerate(settings.fallback):
        try:
            provider = resolve_provider(entry.provider)
        except ValueError as exc:
            key = f"providers.{settings.provider}.fallback[{i}].provider"
            raise ConfigError(key, str(exc)) from None
        backends.append(G4FBackend(entry, provider))
    return backends


def create_app(
    settings: WebAISettings,
    *,
    backends: Sequence[Backend] | None = None,
    secrets: Secrets | None = None,
) -> web.Application:
    """Build the app; backends start and stop with it (cleanup context)."""
    secrets = secrets or Secrets()
    app = web.Application(middlewares=[_auth], client_max_size=settings.max_body_bytes)
    chosen = build_backends(settings, secrets) if backends is None else backends
    app[SERVICE] = Service(settings, chosen)
    app[SECRETS] = secrets
    app.cleanup_ctx.append(_lifecycle)
    app.router.add_post("/v1/chat/completions", chat_completions)
    app.router.add_get("/v1/models", models)
    app.router.add_get("/healthz", healthz)
    return app


async def _lifecycle(app: web.Application) -> AsyncIterator[None]:
    service = app[SERVICE]
    undo_logs = forward_library_logs(app[SECRETS])
    started: list[Backend] = []
    try:
        for backend in service.backends:
            await backend.start()
            started.append(backend)
        log.info(
            "webai ready",
            backends=[b.name for b in service.backends],
            port=service.settings.port,
        )
        yield
    finally:
        for backend in reversed(started):
            await backend.close()
        undo_logs()


@web.middleware
async def _auth(request: web.Request, handler: Handler) -> web.StreamResponse:
    """With ``services.token`` set, every /v1 call needs ``Authorization: Bearer <token>``."""
    token = request.app[SERVICE].settings.token
    if token and request.path.startswith("/v1/"):
        given = request.headers.get("Authorization", "").encode()
        if not hmac.compare_digest(given, f"Bearer {token}".encode()):
            return _error_response(Unauthorized("missing or wrong service token"), "")
    return await handler(request)


async def healthz(request: web.Request) -> web.StreamResponse:
    status, body = request.app[SERVICE].health()
    return web.Response(status=status, body=orjson.dumps(body), content_type="application/json")


async def models(request: web.Request) -> web.StreamResponse:
    names = request.app[SERVICE].models()
    return web.Response(body=model_list(names), content_type="application/json")


async def chat_completions(request: web.Request) -> web.StreamResponse:
    service = request.app[SERVICE]
    rid = request.headers.get("X-Request-Id") or uuid.uuid4().hex[:16]
    began = time.monotonic()
    try:
        try:
            body = orjson.loads(await request.read())
        except orjson.JSONDecodeError:
            raise RequestError("the request body is not valid JSON") from None
        chat = parse_chat_request(body)
        opened = await open_first(service.backends, chat, service.timeouts)
    except WebAIError as exc:
        _log(rid, began, None, exc)
        return _error_response(exc, rid)
    try:
        if chat.stream:
            return await _stream(request, chat, opened, rid, began)
        return await _complete(chat, opened, rid, began)
    finally:
        await opened.close()


async def _complete(chat: ChatRequest, opened: Opened, rid: str, began: float) -> web.Response:
    text, reasoning = [opened.first.text], [opened.first.reasoning]
    try:
        async with contextlib.aclosing(opened.rest()) as pieces:
            async for piece in pieces:
                text.append(piece.text)
                reasoning.append(piece.reasoning)
    except BackendError as exc:  # the backend had started: no switching to another
        _log(rid, began, opened, exc)
        return _error_response(exc, rid)
    _log(rid, began, opened, None)
    body = completion(chat.model, "".join(text), "".join(reasoning))
    return web.Response(body=body, content_type="application/json", headers={"X-Request-Id": rid})


async def _stream(
    request: web.Request, chat: ChatRequest, opened: Opened, rid: str, began: float
) -> web.StreamResponse:
    resp = web.StreamResponse(
        status=200,
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache",
            "X-Request-Id": rid,
            "X-Accel-Buffering": "no",
        },
    )
    writer = ChunkWriter(chat.model)
    failure: BackendError | None = None
    try:
        await resp.prepare(request)
        await resp.write(writer.delta(opened.first))
        try:
            async with contextlib.aclosing(opened.rest()) as pieces:
                async for piece in pieces:
                    await resp.write(writer.delta(piece))
            tail = writer.finish()
        except BackendError as exc:  # after the first byte: an error event, no switch
            failure = exc
            tail = error_event(exc)
        await resp.write(tail)
        await resp.write_eof()
    except (ConnectionResetError, ConnectionError):
        failure = BackendError("went away mid-answer", backend="client")
        failure.status = 499
    _log(rid, began, opened, failure)
    return resp


def _error_response(exc: WebAIError, rid: str) -> web.Response:
    headers = {"X-Request-Id": rid} if rid else {}
    if exc.retry_after is not None:
        headers["Retry-After"] = str(max(1, round(exc.retry_after)))
    return web.Response(
        status=exc.status, body=error_body(exc), content_type="application/json", headers=headers
    )


def _log(rid: str, began: float, opened: Opened | None, error: WebAIError | None) -> None:
    fields: dict[str, object] = {
        "request_id": rid,
        "ms": round((time.monotonic() - began) * 1000, 1),
        "backend": opened.backend if opened else None,
        "status": error.status if error else 200,
    }
    if opened is not None and opened.failures:
        fields["failed_first"] = [f.line() for f in opened.failures]
    if error is None:
        log.info("chat completion", **fields)
    else:
        text = error.line() if isinstance(error, BackendError) else error.message
        log.warning("chat completion failed", error=text, **fields)
