"""Liveness, readiness and the root page: cheap, open, no secrets."""

from __future__ import annotations

import orjson
from aiohttp import web

from router import __version__

from ._keys import STATE

__all__ = ["healthz", "index", "readyz"]

_HEALTHY = orjson.dumps({"status": "ok"})


async def healthz(request: web.Request) -> web.StreamResponse:
    return web.Response(body=_HEALTHY, content_type="application/json")


async def readyz(request: web.Request) -> web.StreamResponse:
    snap = request.app[STATE].current
    providers = [
        {
            "name": name,
            "kind": prov.kind,
            "credentials": len(snap.table.credentials(name)),
            "served": name in snap.table.servable,
        }
        for name, prov in snap.config.providers.items()
        if prov.enabled
    ]
    body = {
        "status": "ready",
        "config": str(snap.config.source) if snap.config.source else None,
        "providers": providers,
        "rules": len(snap.table.rules),
        "models": len(snap.table.listed_models()),
        "warnings": list(snap.warnings),
    }
    return web.json_response(body, dumps=lambda o: orjson.dumps(o).decode())


async def index(request: web.Request) -> web.StreamResponse:
    return web.json_response({"name": "cli-proxy-api", "version": __version__})
