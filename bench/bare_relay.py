"""The floor of what a Python relay costs: an aiohttp forwarder with no features.

``python -m bench.bare_relay --port P --upstream http://127.0.0.1:F``

One pooled ``ClientSession``; per request it reads the body, POSTs it to the
same path upstream and relays the answer: whole for JSON, chunk by chunk as
it arrives for ``text/event-stream``. No JSON parsing, routing, auth, logging
or failover, so the router's cost over this is the price of its features.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

__all__ = ["create_app", "main"]

_SESSION: web.AppKey[aiohttp.ClientSession] = web.AppKey("session", aiohttp.ClientSession)
_UPSTREAM: web.AppKey[str] = web.AppKey("upstream", str)
_SSE_HEADERS = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}


async def relay(request: web.Request) -> web.StreamResponse:
    body = await request.read()
    session = request.app[_SESSION]
    url = request.app[_UPSTREAM] + request.path
    headers = {"Content-Type": "application/json"}
    async with session.post(url, data=body, headers=headers) as up:
        if not up.content_type.startswith("text/event-stream"):
            data = await up.read()
            return web.Response(body=data, status=up.status, content_type=up.content_type)
        resp = web.StreamResponse(status=up.status, headers=_SSE_HEADERS)
        await resp.prepare(request)
        async for chunk in up.content.iter_any():
            await resp.write(chunk)
        await resp.write_eof()
        return resp


async def healthz(request: web.Request) -> web.Response:
    return web.Response(text="ok")


def create_app(upstream: str) -> web.Application:
    app = web.Application()
    app[_UPSTREAM] = upstream.rstrip("/")

    async def session_ctx(app: web.Application) -> AsyncIterator[None]:
        connector = aiohttp.TCPConnector(limit=512, keepalive_timeout=30)
        app[_SESSION] = aiohttp.ClientSession(connector=connector)
        yield
        await app[_SESSION].close()

    app.cleanup_ctx.append(session_ctx)
    app.router.add_get("/healthz", healthz)
    app.router.add_post("/{tail:.+}", relay)
    return app


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.bare_relay", description=__doc__)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--upstream", required=True, help="e.g. http://127.0.0.1:9000")
    args = p.parse_args(argv)
    try:
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    except ImportError:  # pragma: no cover
        pass
    web.run_app(
        create_app(args.upstream), host=args.host, port=args.port, access_log=None, print=None
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
