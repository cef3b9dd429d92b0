"""One relayed request, start to end: Gemini request in, relay frames out.

Every request ends in exactly one terminal frame (``stream_end``,
``http_response`` or ``error``) unless the router cancelled it. A page that
breaks before anything was streamed is replaced and the request retried on
another page; a quota toast rests that profile and tries another one.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Awaitable, Callable

from suite.logging import get_logger
from suite.relay_protocol import (
    Error,
    HttpRequest,
    HttpResponse,
    Payload,
    StreamChunk,
    StreamEnd,
    StreamStart,
)

from ._driver import LoginRequired, PageBroken
from ._gemini import Job, RequestError, StreamRenderer, build_job, full_response, parse_target
from ._pool import BrowserPool, NoPage

__all__ = ["Send", "serve_request"]

log = get_logger("aistudio.worker")
Send = Callable[[Payload], Awaitable[None]]
_ATTEMPTS = 3
_SSE_HEADERS = {"Content-Type": ("text/event-stream",)}
_JSON_HEADERS = {"Content-Type": ("application/json",)}


async def serve_request(pool: BrowserPool, req: HttpRequest, send: Send, suffix: str) -> None:
    try:
        target = parse_target(req.url, suffix)
        try:
            body = json.loads(req.body or "{}")
        except ValueError:
            raise RequestError(400, "request body is not JSON") from None
        job = build_job(body, target.model)
        if target.action == "countTokens":
            count = {"totalTokens": max(1, math.ceil(len(job.prompt) / 4))}
            await send(HttpResponse(200, _JSON_HEADERS, json.dumps(count)))
            return
        await _generate(pool, job, target.stream, target.sse, send)
    except RequestError as exc:
        retry = 60.0 if exc.status == 429 else None
        await send(Error(exc.message, exc.status, retry))
    except NoPage as exc:
        await send(Error(str(exc), exc.status))


async def _generate(pool: BrowserPool, job: Job, stream: bool, sse: bool, send: Send) -> None:
    timeout = pool.settings.browser.acquire_timeout
    avoid: set[str] = set()
    last: RequestError | None = None
    for attempt in range(_ATTEMPTS):
        slot = await pool.acquire(timeout, avoid)
        render = StreamRenderer(job, sse)
        started = False
        try:
            async for delta in slot.driver.run(job):
                if not stream:
                    render.delta(delta.kind, delta.text)
                    continue
                if not started:
                    await send(StreamStart(200, _SSE_HEADERS if sse else _JSON_HEADERS))
                    started = True
                await send(StreamChunk(render.delta(delta.kind, delta.text)))
        except PageBroken as exc:
            log.warning("page broke during a request", profile=slot.profile, error=str(exc)[:200])
            await pool.replace(slot)
            if started:
                raise RequestError(502, "the browser page crashed mid-answer") from None
            last = RequestError(502, "the browser page crashed")
            continue
        except LoginRequired:
            pool.login_required(slot.profile)
            await pool.replace(slot)
            avoid.add(slot.profile)
            last = RequestError(503, f"profile {slot.profile} is signed out: run login")
            if started:
                raise last from None
            continue
        except RequestError as exc:
            pool.give_back(slot)
            if exc.status == 429 and not started:
                pool.rest(slot.profile)
                avoid.add(slot.profile)
                last = exc
                if attempt + 1 < _ATTEMPTS and pool.capacity() > 0:
                    continue
            raise
        except asyncio.CancelledError:
            await slot.driver.stop()
            pool.give_back(slot)
            raise
        except BaseException:
            pool.give_back(slot)
            raise
        pool.give_back(slot)  # the page resets while the answer goes out
        if not stream:
            await send(
                HttpResponse(200, _JSON_HEADERS, full_response(job, render.text, render.thoughts))
            )
            return
        if not started:
            await send(StreamStart(200, _SSE_HEADERS if sse else _JSON_HEADERS))
        await send(StreamChunk(render.final()))
        await send(StreamEnd())
        return
    raise last or RequestError(502, "no page could answer")
